package actions

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// goreleaser is the GoReleaser the project releases with.
const goreleaser = "github.com/goreleaser/goreleaser/v2@v2.15.1"

// TestInstallGoreleaserSnapshot builds a snapshot release of policy-gate
// with GoReleaser itself, from goreleaser.yaml cut down to this platform, and
// installs it with install.sh from a local server. It needs GoReleaser built
// from the module proxy, so it runs only when asked (.ci/goreleaser-check
// asks).
func TestInstallGoreleaserSnapshot(t *testing.T) {
	if os.Getenv("MLSHIP_GORELEASER_TEST") == "" {
		t.Skip("SKIPPED, not passed: set MLSHIP_GORELEASER_TEST=1 (as .ci/goreleaser-check does) to install a GoReleaser snapshot")
	}
	needTools(t, "bash", "curl", "tar", "git", "go")
	t.Parallel()

	src, err := os.ReadFile(filepath.Join("..", "goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(src, &cfg); err != nil {
		t.Fatal(err)
	}
	only := func(key string) {
		var keep []any
		for _, e := range cfg[key].([]any) {
			if m := e.(map[string]any); m["id"] == testTool {
				if key == "builds" {
					m["goos"] = []string{runtime.GOOS}
					m["goarch"] = []string{runtime.GOARCH}
				}
				keep = append(keep, m)
			}
		}
		if len(keep) != 1 {
			t.Fatalf("goreleaser.yaml has %d %s for %s", len(keep), key, testTool)
		}
		cfg[key] = keep
	}
	only("builds")
	only("archives")
	tmp := t.TempDir()
	dist := filepath.Join(tmp, "dist")
	cfg["dist"] = dist
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(tmp, "goreleaser.yaml")
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("go", "run", goreleaser, "release", "--snapshot", "--clean", "--config", cfgPath)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser release --snapshot: %v\n%s", err, out)
	}

	var meta struct {
		Version string `json:"version"`
	}
	b, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	tag := "v" + meta.Version
	rel := release{}
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n == "checksums.txt" || strings.HasSuffix(n, ".tar.gz") || strings.HasSuffix(n, ".zip") {
			if rel[n], err = os.ReadFile(filepath.Join(dist, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("snapshot %s: %s", tag, strings.Join(sortedKeys(rel), ", "))

	srv := newServer(t, map[string]release{tag: rel})
	r := newRunner(t, srv)
	r.env["GITHUB_ACTION_PATH"] = actionPath(r.dir, tag)
	bin := r.mustInstall(t, nil)
	if v := version(t, bin); !strings.Contains(v, meta.Version) {
		t.Errorf("--version printed %q, want %s", v, meta.Version)
	}
}

package actions

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/toolset"

	"go.yaml.in/yaml/v3"
)

// goreleaserFile is the part of goreleaser.yaml the installer depends on.
type goreleaserFile struct {
	Version int `yaml:"version"`
	Builds  []struct {
		ID      string   `yaml:"id"`
		Main    string   `yaml:"main"`
		Binary  string   `yaml:"binary"`
		Env     []string `yaml:"env"`
		Flags   []string `yaml:"flags"`
		Ldflags []string `yaml:"ldflags"`
		Goos    []string `yaml:"goos"`
		Goarch  []string `yaml:"goarch"`
	} `yaml:"builds"`
	Archives []struct {
		ID              string   `yaml:"id"`
		IDs             []string `yaml:"ids"`
		NameTemplate    string   `yaml:"name_template"`
		Formats         []string `yaml:"formats"`
		FormatOverrides []struct {
			Goos    string   `yaml:"goos"`
			Formats []string `yaml:"formats"`
		} `yaml:"format_overrides"`
	} `yaml:"archives"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
		Algorithm    string `yaml:"algorithm"`
	} `yaml:"checksum"`
}

func readGoreleaser(t *testing.T) goreleaserFile {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg goreleaserFile
	if err := yaml.Unmarshal(src, &cfg); err != nil {
		t.Fatalf("parsing goreleaser.yaml: %v", err)
	}
	return cfg
}

// TestGoreleaserBuildsEveryTool checks that goreleaser.yaml releases every
// cmd/<tool> under the names install.sh downloads, for every runner.
// (`.ci/goreleaser-check` validates the file with GoReleaser itself.)
func TestGoreleaserBuildsEveryTool(t *testing.T) {
	t.Parallel()
	cfg := readGoreleaser(t)
	if cfg.Version != 2 {
		t.Errorf("version is %d, want 2", cfg.Version)
	}

	mains, err := filepath.Glob(filepath.Join("..", "cmd", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, m := range mains {
		cmds = append(cmds, filepath.Base(filepath.Dir(m)))
	}
	var built []string
	for _, b := range cfg.Builds {
		built = append(built, b.ID)
		if b.Main != "./cmd/"+b.ID || b.Binary != b.ID {
			t.Errorf("build %s: main %q binary %q, want ./cmd/%s and %s", b.ID, b.Main, b.Binary, b.ID, b.ID)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") {
			t.Errorf("build %s: want CGO_ENABLED=0 and -trimpath (env %q, flags %q)", b.ID, b.Env, b.Flags)
		}
		if !slices.Contains(b.Ldflags, "-s -w -X github.com/mlship/mlship/internal/version.Version={{.Version}}") {
			t.Errorf("build %s: ldflags %q do not set internal/version.Version", b.ID, b.Ldflags)
		}
		for _, os := range []string{"linux", "darwin", "windows"} {
			if !slices.Contains(b.Goos, os) {
				t.Errorf("build %s: not built for %s", b.ID, os)
			}
		}
		for _, arch := range []string{"amd64", "arm64"} {
			if !slices.Contains(b.Goarch, arch) {
				t.Errorf("build %s: not built for %s", b.ID, arch)
			}
		}
	}
	for _, c := range cmds {
		if !slices.Contains(built, c) {
			t.Errorf("cmd/%s has no build in goreleaser.yaml: add a build and an archive for it", c)
		}
	}
	for _, b := range built {
		if !slices.Contains(cmds, b) {
			t.Errorf("goreleaser.yaml builds %s, which has no cmd/%s/main.go", b, b)
		}
	}

	// install.sh downloads <tool>_<version>_<os>_<arch>.tar.gz, .zip on
	// Windows, one archive per tool.
	var archived []string
	for _, a := range cfg.Archives {
		if len(a.IDs) != 1 || a.IDs[0] != a.ID {
			t.Errorf("archive %s: ids %q, want [%s] (one archive per tool)", a.ID, a.IDs, a.ID)
		}
		archived = append(archived, a.IDs...)
		if a.NameTemplate != "{{ .Binary }}_{{ .Version }}_{{ .Os }}_{{ .Arch }}" {
			t.Errorf("archive %s: name_template %q is not the name install.sh downloads", a.ID, a.NameTemplate)
		}
		if !slices.Equal(a.Formats, []string{"tar.gz"}) || len(a.FormatOverrides) != 1 ||
			a.FormatOverrides[0].Goos != "windows" || !slices.Equal(a.FormatOverrides[0].Formats, []string{"zip"}) {
			t.Errorf("archive %s: want tar.gz, and zip on windows", a.ID)
		}
	}
	for _, b := range built {
		if !slices.Contains(archived, b) {
			t.Errorf("build %s has no archive", b)
		}
	}
	if cfg.Checksum.NameTemplate != "checksums.txt" || cfg.Checksum.Algorithm != "sha256" {
		t.Errorf("checksum: %+v, want checksums.txt with sha256", cfg.Checksum)
	}
}

// TestReleaseAttestsEveryArchive checks that the release workflow attests
// the build provenance of every archive install.sh downloads, with the
// permissions that needs: the installer refuses an archive whose
// attestation does not verify, and verify: attestation requires one.
func TestReleaseAttestsEveryArchive(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", ".github", "workflows", "release.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On struct {
			Push struct {
				Tags []string `yaml:"tags"`
			} `yaml:"push"`
		} `yaml:"on"`
		Jobs map[string]struct {
			Permissions map[string]string `yaml:"permissions"`
			Steps       []struct {
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(src, &wf); err != nil {
		t.Fatalf("parsing release.yml: %v", err)
	}
	if !slices.Contains(wf.On.Push.Tags, "v[0-9]+.[0-9]+.[0-9]+") {
		t.Errorf("release.yml runs on tags %q, not on every vX.Y.Z", wf.On.Push.Tags)
	}
	found := false
	for name, job := range wf.Jobs {
		for _, s := range job.Steps {
			// The container image's attestation names the image by its
			// digest (internal/image checks that job).
			if !strings.HasPrefix(s.Uses, "actions/attest-build-provenance@") || s.With["subject-digest"] != "" {
				continue
			}
			found = true
			subjects := strings.Fields(s.With["subject-path"])
			for _, want := range []string{"dist/*.tar.gz", "dist/*.zip"} {
				if !slices.Contains(subjects, want) {
					t.Errorf("job %s: attest-build-provenance subject-path %q lacks %s", name, subjects, want)
				}
			}
			if job.Permissions["id-token"] != "write" || job.Permissions["attestations"] != "write" {
				t.Errorf("job %s: permissions %v, want id-token: write and attestations: write", name, job.Permissions)
			}
			if ref := s.Uses[strings.Index(s.Uses, "@")+1:]; len(ref) != 40 {
				t.Errorf("job %s: %s is not pinned by a full commit SHA", name, s.Uses)
			}
		}
	}
	if !found {
		t.Error("release.yml has no actions/attest-build-provenance step: install.sh could not verify a release")
	}
}

// TestEveryBuildHasTheBuildTags checks that the release, the Makefile (its
// build and image targets) and the installer's build from source all build
// with toolset.BuildTags, so that every binary a user runs is the one the
// start-up benchmarks measure.
func TestEveryBuildHasTheBuildTags(t *testing.T) {
	t.Parallel()
	cfg := readGoreleaser(t)
	for _, b := range cfg.Builds {
		if !slices.Contains(b.Flags, "-tags="+toolset.BuildTags) {
			t.Errorf("goreleaser.yaml build %s: flags %q lack -tags=%s", b.ID, b.Flags, toolset.BuildTags)
		}
	}

	makefile, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(makefile), "\nTAGS    := "+toolset.BuildTags+"\n") {
		t.Errorf("Makefile: TAGS is not %q", toolset.BuildTags)
	}
	builds := 0
	for _, line := range strings.Split(string(makefile), "\n") {
		if strings.Contains(line, "$(GO) build") && strings.Contains(line, "./cmd/") {
			builds++
			if !strings.Contains(line, "-tags $(TAGS)") {
				t.Errorf("Makefile builds a tool without -tags $(TAGS): %s", strings.TrimSpace(line))
			}
		}
	}
	if builds < 2 {
		t.Errorf("Makefile: found %d tool builds, want the build and image targets'", builds)
	}

	install, err := os.ReadFile(filepath.Join("install", "install.sh"))
	if err != nil {
		t.Fatal(err)
	}
	builds = 0
	for _, line := range strings.Split(string(install), "\n") {
		if strings.Contains(line, "go build") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			builds++
			if !strings.Contains(line, "-tags "+toolset.BuildTags) {
				t.Errorf("install.sh builds without -tags %s: %s", toolset.BuildTags, strings.TrimSpace(line))
			}
		}
	}
	if builds == 0 {
		t.Error("install.sh: no go build found (the build from source)")
	}
}

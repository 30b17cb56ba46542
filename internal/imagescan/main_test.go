package imagescan

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMainInAWorkflow drives the command as the action runs it: inputs as
// INPUT_* variables, outputs to GITHUB_OUTPUT, one ::error:: line naming
// the findings that failed.
func TestMainInAWorkflow(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	dir := t.TempDir()
	code, stdout, stderr, outs := runMainEnv(t, testDeps(t, nil), map[string]string{
		"INPUT_OCI_LAYOUT":     f.layout,
		"INPUT_CACHE_DIR":      f.cacheDir,
		"INPUT_SKIP_DB_UPDATE": "true",
		"INPUT_FAIL_ON":        "critical",
		"INPUT_SARIF_FILE":     filepath.Join(dir, "r", "scan.sarif"),
		"INPUT_JSON_FILE":      filepath.Join(dir, "r", "scan.json"),
		"INPUT_SUMMARY_FILE":   filepath.Join(dir, "r", "summary.json"),
		"INPUT_DB_REPOSITORY":  "example.com/unused/trivy-db:2\nexample.com/other/trivy-db:2",
	})
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := map[string]string{
		"critical": "2", "high": "1", "medium": "1", "low": "1", "unknown": "1", "total": "6", "passed": "false",
		"sarif-file": filepath.Join(dir, "r", "scan.sarif"), "json-file": filepath.Join(dir, "r", "scan.json"), "summary-file": filepath.Join(dir, "r", "summary.json"),
	}
	for k, v := range want {
		if outs[k] != v {
			t.Errorf("output %s = %q, want %q", k, outs[k], v)
		}
	}
	if len(outs) != len(want) {
		t.Errorf("outputs %v", outs)
	}
	errLines := grep(stdout, "::error::")
	wantErr := "::error::image-scan: 2 findings at or above CRITICAL: CVE-2099-0001 in libcrypto3 3.3.2-r4 (CRITICAL), CVE-2099-0001 in libssl3 3.3.2-r4 (CRITICAL)"
	if len(errLines) != 1 || errLines[0] != wantErr {
		t.Errorf("error lines %q, want [%q]", errLines, wantErr)
	}
	// The full report is shown, the passing findings too.
	for _, s := range []string{"CVE-2099-0003", "CVE-2099-0006", "### ❌ image-scan: failed", "| trivy | 2 | 1 | 1 | 1 | 1 | 6 |"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
	for _, p := range []string{want["sarif-file"], want["json-file"], want["summary-file"]} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("report: %v", err)
		}
	}
}

func TestMainPassesLocally(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t)
	code, stdout, stderr, _ := runMainEnv(t, testDeps(t, nil), map[string]string{"GITHUB_ACTIONS": "false"},
		"--oci-layout", cfg.OCILayout, "--cache-dir", cfg.CacheDir, "--skip-db-update", "--fail-on", "NONE",
		"--sarif-file", cfg.SARIFFile, "--json-file", cfg.JSONFile, "--summary-file", cfg.SummaryFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, s := range []string{"image-scan: report only", "6 findings: 2 CRITICAL, 1 HIGH, 1 MEDIUM, 1 LOW, 1 UNKNOWN",
		"SEVERITY  ID             PACKAGE          INSTALLED    FIXED        SCANNER  GATE",
		"CRITICAL  CVE-2099-0001  libcrypto3       3.3.2-r4     3.3.2-r5     trivy    counted"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
}

// TestBadInput: exit 2 with one line naming the input, before anything is
// fetched or written.
func TestBadInput(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.tar")
	if err := os.WriteFile(garbage, []byte("this is not a tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	badLayout := filepath.Join(dir, "bad-layout")
	if err := os.MkdirAll(badLayout, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badLayout, "index.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	hugeLayout := filepath.Join(dir, "huge-layout")
	if err := os.MkdirAll(hugeLayout, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hugeLayout, "index.json"), nil, 0o644); err != nil || os.Truncate(filepath.Join(hugeLayout, "index.json"), 5<<20) != nil {
		t.Fatal("writing a large index.json")
	}
	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, []byte("ignore:\n"+strings.Repeat("# padding\n", 110000)), 0o644); err != nil {
		t.Fatal(err)
	}
	noReason := filepath.Join(dir, "ignore.yaml")
	if err := os.WriteFile(noReason, []byte("ignore:\n  - id: CVE-2099-0001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ecrImage := "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"malformed image reference", []string{"--image", "Registry.Example.com/App:Bad Tag"}, `--image "Registry.Example.com/App:Bad Tag": not an image reference`},
		{"missing layout", []string{"--oci-layout", filepath.Join(dir, "nope")}, `--oci-layout "` + filepath.Join(dir, "nope") + `": not an OCI image layout (no such file or directory)`},
		{"huge layout index", []string{"--oci-layout", hugeLayout}, `--oci-layout "` + hugeLayout + `": index.json is larger than 4 MiB`},
		{"damaged layout", []string{"--oci-layout", badLayout}, `--oci-layout "` + badLayout + `": reading OCI layout ` + badLayout},
		{"missing tarball", []string{"--tarball", filepath.Join(dir, "nope.tar")}, `--tarball "` + filepath.Join(dir, "nope.tar") + `": no such file or directory`},
		{"damaged tarball", []string{"--tarball", garbage}, `--tarball "` + garbage + `": reading image tarball ` + garbage},
		{"unknown severity", []string{"--oci-layout", f.layout, "--fail-on", "SEVERE"}, `--fail-on "SEVERE": want one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN or NONE`},
		{"unknown scanner", []string{"--oci-layout", f.layout, "--scanner", "grype"}, `--scanner "grype": want trivy, ecr or both`},
		{"unreadable ignore file", []string{"--oci-layout", f.layout, "--ignore-file", filepath.Join(dir, "none.yaml")}, `--ignore-file "` + filepath.Join(dir, "none.yaml") + `": no such file or directory`},
		{"ignore entry without reason", []string{"--oci-layout", f.layout, "--ignore-file", noReason}, `--ignore-file "` + noReason + `": entry 1 (CVE-2099-0001): no reason`},
		{"huge ignore file", []string{"--oci-layout", f.layout, "--ignore-file", huge}, `--ignore-file "` + huge + `": larger than 1024 KiB`},
		{"ignore file is a directory", []string{"--oci-layout", f.layout, "--ignore-file", dir}, `--ignore-file "` + dir + `": `},
		{"ECR image without a tag", []string{"--scanner", "ecr", "--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"}, `--image "123456789012.dkr.ecr.us-east-1.amazonaws.com/app": give a tag`},
		{"bad region", []string{"--oci-layout", f.layout, "--region", "us-east-1; rm -rf /"}, `--region "us-east-1; rm -rf /": not an AWS region name`},
		{"no image", nil, "give exactly one image to scan: --image, --oci-layout or --tarball"},
		{"two images", []string{"--oci-layout", f.layout, "--tarball", f.tarball}, "give exactly one image to scan"},
		{"ecr without an ECR image", []string{"--scanner", "ecr", "--image", "ghcr.io/acme/app:1"}, `--image "ghcr.io/acme/app:1": --scanner ecr reads ECR's findings`},
		{"ecr with a local image", []string{"--scanner", "ecr", "--image", ecrImage, "--tarball", f.tarball}, "--scanner ecr reads ECR's findings for --image"},
		{"bad platform", []string{"--oci-layout", f.layout, "--platform", "amd64"}, `--platform "amd64"`},
		{"zero timeout", []string{"--oci-layout", f.layout, "--timeout", "0s"}, `--timeout "0s": must be more than zero`},
		{"bad database repository", []string{"--oci-layout", f.layout, "--db-repository", "Bad Repo"}, `--db-repository "Bad Repo"`},
		{"unknown flag", []string{"--severity", "HIGH"}, "--severity: no such option (see --help)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			args := append([]string{"--cache-dir", filepath.Join(out, "cache"), "--sarif-file", filepath.Join(out, "s.sarif"),
				"--json-file", filepath.Join(out, "s.json"), "--summary-file", filepath.Join(out, "sum.json")}, tt.args...)
			code, stdout, stderr, outs := runMain(t, testDeps(t, nil), args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			lines := grep(stdout, "::error::")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("error lines %q, want one containing %q", lines, tt.want)
			}
			if msg, _ := strings.CutPrefix(lines[0], "::error::image-scan: "); len(lines) == 1 && !badInputForm.MatchString(msg) {
				t.Errorf("error %q is not in the form --flag \"value\": what is wrong", msg)
			}
			if len(outs) != 0 {
				t.Errorf("outputs written on bad input: %v", outs)
			}
			entries, _ := os.ReadDir(out)
			if len(entries) != 0 {
				t.Errorf("files written on bad input: %v", entries)
			}
		})
	}
}

// badInputForm is the form of a bad-input line: `--flag "value": what is
// wrong`, `--flag: ...`, or, for inputs that only go wrong together, a
// sentence that names them.
var badInputForm = regexp.MustCompile(`^(--[a-z-]+( "[^"]*")?: |give |--scanner [a-z]+ needs |--scanner ecr reads )`)

func grep(s, prefix string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

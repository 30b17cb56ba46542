package actions

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mlship/mlship/internal/toolset"
)

// The installer tests run actions/install/install.sh with bash against a
// local server holding release archives made as goreleaser makes them (see
// goreleaser.yaml): <tool>_<version>_<os>_<arch>.tar.gz (.zip on Windows)
// holding the binary at its root, and checksums.txt with "<sha256>  <file>"
// lines.

const (
	testTool    = "policy-gate"
	testVersion = "1.2.3"
	testTag     = "v" + testVersion
)

var installScript = filepath.Join("install", "install.sh")

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// TestMain removes the binary the installer tests build once for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// releasedBinary builds the tool once per test run, as a release build of
// testVersion.
func releasedBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mlship-install-test-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, testTool)
		cmd := exec.Command("go", "build", "-trimpath", "-tags", toolset.BuildTags,
			"-ldflags", "-s -w -X github.com/mlship/mlship/internal/version.Version="+testVersion,
			"-o", buildBin, "./cmd/"+testTool)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building %s: %v\n%s", testTool, err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func needTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("SKIPPED, not passed: the installer test needs %s, which is not on PATH", n)
		}
	}
}

// targz packs files (name -> content, mode 0755) the way goreleaser's
// tar.gz archives are: flat, no wrapping folder.
func targz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	for _, name := range sortedKeys(files) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipped(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// release is one tag's files on the test server.
type release map[string][]byte

var (
	releasesMu sync.Mutex
	releases   = map[string]release{}
)

// newRelease returns testTag's archive for goos/goarch and checksums.txt, as
// goreleaser would publish them; the caller may change the map. Archives are
// made once per test run (compressing the binary is slow under -race).
func newRelease(t *testing.T, goos, goarch string) (release, string) {
	t.Helper()
	base := fmt.Sprintf("%s_%s_%s_%s", testTool, testVersion, goos, goarch)
	name := base + ".tar.gz"
	if goos == "windows" {
		name = base + ".zip"
	}
	releasesMu.Lock()
	defer releasesMu.Unlock()
	r, ok := releases[name]
	if !ok {
		r = makeRelease(t, goos, goarch, name)
		releases[name] = r
	}
	out := release{}
	for k, v := range r {
		out[k] = v
	}
	return out, name
}

func makeRelease(t *testing.T, goos, goarch, name string) release {
	t.Helper()
	bin, err := os.ReadFile(releasedBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	if goos == "windows" {
		data = zipped(t, map[string][]byte{testTool + ".exe": bin, "README.md": []byte("readme\n")})
	} else {
		data = targz(t, map[string][]byte{testTool: bin, "README.md": []byte("readme\n")})
	}
	// Another archive in the same checksums file, as in a real release.
	other := fmt.Sprintf("%s_%s_%s_%s.tar.gz", testTool, testVersion, "plan9", goarch)
	r := release{name: data, other: []byte("not this one")}
	r["checksums.txt"] = checksums(r)
	return r
}

func checksums(r release) []byte {
	var b strings.Builder
	for _, name := range sortedKeys(r) {
		if name == "checksums.txt" {
			continue
		}
		sum := sha256.Sum256(r[name])
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	return []byte(b.String())
}

// server serves releases under /releases/download/<tag>/ and records every
// request.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newServer(t *testing.T, releases map[string]release) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.Path)
		s.mu.Unlock()
		rest, ok := strings.CutPrefix(r.URL.Path, "/releases/download/")
		tag, file, _ := strings.Cut(rest, "/")
		data, found := releases[tag][file]
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// runner is one runner machine: its tool cache and temp folders survive
// between install runs, as they do between jobs on a self-hosted runner.
type runner struct {
	dir       string
	toolCache string
	env       map[string]string
}

func newRunner(t *testing.T, s *server) *runner {
	t.Helper()
	dir := t.TempDir()
	r := &runner{dir: dir, toolCache: filepath.Join(dir, "tool-cache")}
	os.MkdirAll(filepath.Join(dir, "temp"), 0o755)
	r.env = map[string]string{
		"GITHUB_ACTIONS":     "true",
		"RUNNER_OS":          map[string]string{"linux": "Linux", "darwin": "macOS", "windows": "Windows"}[runtime.GOOS],
		"RUNNER_ARCH":        map[string]string{"amd64": "X64", "arm64": "ARM64"}[runtime.GOARCH],
		"RUNNER_TOOL_CACHE":  r.toolCache,
		"RUNNER_TEMP":        filepath.Join(dir, "temp"),
		"GITHUB_ACTION_PATH": actionPath(dir, testTag),
		"MLSHIP_TOOL":        testTool,
		// Nothing reaches out: no gh of the machine's (the attestation
		// tests put a fake one on PATH) and no git remote but local ones.
		"PATH":                  pathWithout(t, "gh"),
		"MLSHIP_REPOSITORY_URL": filepath.Join(dir, "no-such-repository"),
	}
	if s != nil {
		r.env["MLSHIP_DOWNLOAD_BASE_URL"] = s.URL + "/releases/download/"
	}
	return r
}

// actionPath is where a runner checks out mlship/mlship/actions/<tool>@ref.
func actionPath(dir, ref string) string {
	return filepath.Join(dir, "work", "_actions", "mlship", "mlship", ref, "actions", testTool)
}

type installResult struct {
	code   int
	log    string
	path   string // the "path" step output
	errors []string
}

// install runs install.sh as the action's install step does, with the
// environment of the runner plus extra.
func (r *runner) install(t *testing.T, extra map[string]string) installResult {
	t.Helper()
	f, err := os.CreateTemp(r.dir, "github_output_")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := f.Name()
	env := []string{"GITHUB_OUTPUT=" + out}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "RUNNER_") || strings.HasPrefix(k, "MLSHIP_") || k == "GH_TOKEN" {
			continue
		}
		if _, ok := extra[k]; ok {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range r.env {
		if _, ok := extra[k]; !ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	cmd := exec.Command("bash", installScript)
	cmd.Env = env
	logb, err := cmd.CombinedOutput()
	res := installResult{log: string(logb)}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running install.sh: %v", err)
		}
		res.code = ee.ExitCode()
	}
	for _, line := range strings.Split(res.log, "\n") {
		if strings.HasPrefix(line, "::error") {
			res.errors = append(res.errors, line)
		}
	}
	if b, err := os.ReadFile(out); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "path="); ok {
				res.path = v
			}
		}
	}
	return res
}

// mustInstall runs install.sh, expects success and returns the binary.
func (r *runner) mustInstall(t *testing.T, extra map[string]string) string {
	t.Helper()
	res := r.install(t, extra)
	if res.code != 0 || res.path == "" {
		t.Fatalf("install.sh exited %d, path %q; log:\n%s", res.code, res.path, res.log)
	}
	return res.path
}

// mustFail runs install.sh and expects it to refuse with one ::error:: line
// containing want, having installed nothing.
func (r *runner) mustFail(t *testing.T, extra map[string]string, want string) {
	t.Helper()
	res := r.install(t, extra)
	if res.code == 0 {
		t.Fatalf("install.sh succeeded, want a failure; log:\n%s", res.log)
	}
	if len(res.errors) != 1 || !strings.Contains(res.errors[0], want) {
		t.Errorf("::error lines %q, want one containing %q; log:\n%s", res.errors, want, res.log)
	}
	if res.path != "" {
		t.Errorf("a failed install wrote output path=%s", res.path)
	}
	entries, _ := os.ReadDir(filepath.Join(r.toolCache, "mlship-"+testTool))
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("a failed install left %v in the tool cache", names)
	}
}

func version(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	return string(out)
}

func TestInstallRelease(t *testing.T) {
	needTools(t, "bash", "curl", "tar")
	t.Parallel()
	rel, archive := newRelease(t, runtime.GOOS, runtime.GOARCH)
	srv := newServer(t, map[string]release{testTag: rel})
	r := newRunner(t, srv)

	bin := r.mustInstall(t, nil)
	cached := filepath.Join(r.toolCache, "mlship-"+testTool, testVersion, strings.ToLower(r.env["RUNNER_ARCH"]))
	if bin != filepath.Join(cached, testTool) {
		t.Errorf("installed at %s, want %s", bin, filepath.Join(cached, testTool))
	}
	if _, err := os.Stat(cached + ".complete"); err != nil {
		t.Errorf("no tool cache marker: %v", err)
	}
	if v := version(t, bin); !strings.Contains(v, testVersion) {
		t.Errorf("--version printed %q, want %s", v, testVersion)
	}
	wantReqs := []string{"/releases/download/" + testTag + "/" + archive, "/releases/download/" + testTag + "/checksums.txt"}
	if got := srv.seen(); !slices.Equal(got, wantReqs) {
		t.Errorf("requests %q, want %q", got, wantReqs)
	}

	// A second job on the same runner finds the tool in the cache.
	if again := r.mustInstall(t, nil); again != bin {
		t.Errorf("second install at %s, want the cached %s", again, bin)
	}
	if got := srv.seen(); len(got) != len(wantReqs) {
		t.Errorf("a cache hit downloaded again: requests %q", got)
	}

	// An incomplete cache entry (no marker) is replaced, not used.
	if err := os.Remove(cached + ".complete"); err != nil {
		t.Fatal(err)
	}
	r.mustInstall(t, nil)
	if got := srv.seen(); len(got) != 2*len(wantReqs) {
		t.Errorf("an incomplete cache entry was used: requests %q", got)
	}
}

// TestInstallReleaseWindows installs the .zip a Windows runner gets; the
// binary in it is this platform's, under the .exe name.
func TestInstallReleaseWindows(t *testing.T) {
	needTools(t, "bash", "curl", "unzip")
	t.Parallel()
	rel, _ := newRelease(t, "windows", runtime.GOARCH)
	srv := newServer(t, map[string]release{testTag: rel})
	r := newRunner(t, srv)
	r.env["RUNNER_OS"] = "Windows"
	// The runner gives Windows paths.
	r.env["GITHUB_ACTION_PATH"] = `D:\a\_actions\mlship\mlship\` + testTag + `\actions\` + testTool

	bin := r.mustInstall(t, nil)
	if filepath.Base(bin) != testTool+".exe" {
		t.Errorf("installed %s, want %s.exe", bin, testTool)
	}
	if v := version(t, bin); !strings.Contains(v, testVersion) {
		t.Errorf("--version printed %q, want %s", v, testVersion)
	}
}

func TestInstallRefuses(t *testing.T) {
	needTools(t, "bash", "curl", "tar")
	t.Parallel()
	tests := []struct {
		name   string
		change func(r release, archive string)
		want   string
	}{
		{
			name: "tampered archive",
			change: func(r release, archive string) {
				data := slices.Clone(r[archive])
				data[len(data)/2] ^= 0xff
				r[archive] = data
			},
			want: "refusing to install",
		},
		{
			name: "archive replaced",
			change: func(r release, archive string) {
				r[archive] = targz(t, map[string][]byte{testTool: []byte("#!/bin/sh\necho pwned\n")})
			},
			want: "SHA-256 of " + testTool,
		},
		{
			name: "no checksum entry",
			change: func(r release, archive string) {
				sums := strings.ReplaceAll(string(r["checksums.txt"]), "  "+archive+"\n", "  "+archive+".sig\n")
				r["checksums.txt"] = []byte(sums)
			},
			want: "checksums.txt of " + testTag + " has no entry for",
		},
		{
			name:   "no checksums.txt",
			change: func(r release, _ string) { delete(r, "checksums.txt") },
			want:   "checksums.txt failed",
		},
		{
			name:   "not released for this platform",
			change: func(r release, archive string) { delete(r, archive) },
			want:   "is " + testTag + " released for",
		},
		{
			name: "archive without the binary",
			change: func(r release, archive string) {
				r[archive] = targz(t, map[string][]byte{"README.md": []byte("x")})
				r["checksums.txt"] = checksums(r)
			},
			want: "does not contain " + testTool,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rel, archive := newRelease(t, runtime.GOOS, runtime.GOARCH)
			tt.change(rel, archive)
			srv := newServer(t, map[string]release{testTag: rel})
			newRunner(t, srv).mustFail(t, nil, tt.want)
		})
	}
}

func TestInstallBadSetup(t *testing.T) {
	needTools(t, "bash")
	t.Parallel()
	tests := []struct {
		name  string
		extra map[string]string
		want  string
	}{
		{"tool name", map[string]string{"MLSHIP_TOOL": "../evil"}, "is not a tool name"},
		{"runner OS", map[string]string{"RUNNER_OS": "Plan9"}, "runner OS 'Plan9' is not supported"},
		{"runner arch", map[string]string{"RUNNER_ARCH": "ARM"}, "runner architecture 'ARM' is not supported"},
		{"no source to build", map[string]string{"MLSHIP_ACTION_REF": "main"}, "cannot build " + testTool + " from source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := newRunner(t, nil).install(t, tt.extra)
			if res.code == 0 || len(res.errors) != 1 || !strings.Contains(res.errors[0], tt.want) {
				t.Errorf("exit %d, ::error lines %q, want one containing %q; log:\n%s", res.code, res.errors, tt.want, res.log)
			}
		})
	}
}

// TestInstallMovingTag resolves @v1 to the release on the same commit.
func TestInstallMovingTag(t *testing.T) {
	needTools(t, "bash", "curl", "tar", "git")
	t.Parallel()
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=mlship", "-c", "user.email=mlship@example.com", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("commit", "-q", "--allow-empty", "-m", "one")
	git("tag", "v1.1.0")
	git("tag", "v1.20.0-rc.1")
	git("commit", "-q", "--allow-empty", "-m", "two")
	git("tag", "-a", "-m", "release", testTag)
	git("tag", "v1.2")
	git("tag", "v1")
	git("commit", "-q", "--allow-empty", "-m", "three")
	git("tag", "v1.3.0")

	rel, _ := newRelease(t, runtime.GOOS, runtime.GOARCH)
	srv := newServer(t, map[string]release{testTag: rel})
	for _, ref := range []string{"v1", "v1.2"} {
		t.Run(ref, func(t *testing.T) {
			t.Parallel()
			r := newRunner(t, srv)
			r.env["GITHUB_ACTION_PATH"] = actionPath(r.dir, ref)
			r.env["MLSHIP_REPOSITORY_URL"] = repo
			bin := r.mustInstall(t, nil)
			if v := version(t, bin); !strings.Contains(v, testVersion) {
				t.Errorf("--version printed %q, want %s", v, testVersion)
			}
		})
	}
}

// TestInstallFromSource builds the tool from the action's own checkout when
// the action is used from a branch, a commit, or the repository itself.
func TestInstallFromSource(t *testing.T) {
	needTools(t, "bash", "go")
	t.Parallel()
	releasedBinary(t) // warms the build cache the source builds share
	srv := newServer(t, nil)
	local, err := filepath.Abs(testTool)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("local action", func(t *testing.T) {
		t.Parallel()
		r := newRunner(t, srv)
		r.env["GITHUB_ACTION_PATH"] = local // uses: ./actions/policy-gate
		bin := r.mustInstall(t, nil)
		if v := version(t, bin); !strings.Contains(v, testTool) {
			t.Errorf("--version printed %q", v)
		}
	})

	t.Run("commit is cached", func(t *testing.T) {
		t.Parallel()
		r := newRunner(t, srv)
		r.env["GITHUB_ACTION_PATH"] = local
		commit := strings.Repeat("0123456789", 4)
		extra := map[string]string{"MLSHIP_ACTION_REF": commit}
		bin := r.mustInstall(t, extra)
		want := filepath.Join(r.toolCache, "mlship-"+testTool, commit, strings.ToLower(r.env["RUNNER_ARCH"]), testTool)
		if bin != want {
			t.Errorf("built into %s, want %s", bin, want)
		}
		version(t, bin)
		// The second run finds it without Go.
		extra["PATH"] = pathWithout(t, "go")
		if again := r.mustInstall(t, extra); again != bin {
			t.Errorf("second install at %s, want the cached %s", again, bin)
		}
	})

	t.Run("no Go", func(t *testing.T) {
		t.Parallel()
		r := newRunner(t, srv)
		r.env["GITHUB_ACTION_PATH"] = local
		res := r.install(t, map[string]string{"PATH": pathWithout(t, "go")})
		if res.code == 0 || len(res.errors) != 1 || !strings.Contains(res.errors[0], "needs Go") {
			t.Errorf("exit %d, ::error lines %q, want one saying it needs Go; log:\n%s", res.code, res.errors, res.log)
		}
	})

	if got := srv.seen(); len(got) != 0 {
		t.Errorf("a source build downloaded %q", got)
	}
}

// pathWithout is PATH less the folders holding the command name.
func pathWithout(t *testing.T, name string) string {
	t.Helper()
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			continue
		}
		keep = append(keep, dir)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// TestRefFromPath reads the action's ref from the folder the runner checked
// it out to, on every runner OS.
func TestRefFromPath(t *testing.T) {
	needTools(t, "bash")
	t.Parallel()
	tests := []struct{ path, want string }{
		{"/home/runner/work/_actions/mlship/mlship/v1.2.3/actions/policy-gate", "v1.2.3"},
		{"/home/runner/work/_actions/mlship/mlship/v1/actions/policy-gate/", "v1"},
		{`D:\a\_actions\mlship\mlship\v1.2.3\actions\policy-gate`, "v1.2.3"},
		{"/Users/runner/work/_actions/acme/mlship-fork/feature/x/actions/ecr-push", "feature/x"},
		{"/home/runner/work/_actions/mlship/mlship/0123456789012345678901234567890123456789/actions/policy-gate", "0123456789012345678901234567890123456789"},
		{"/home/runner/work/repo/repo/actions/policy-gate", ""},
		{"", ""},
	}
	for _, tt := range tests {
		out, err := exec.Command("bash", "-c", `source "$1" && ref_from_path "$2"`, "bash", installScript, tt.path).CombinedOutput()
		if err != nil {
			t.Fatalf("ref_from_path %q: %v\n%s", tt.path, err, out)
		}
		if string(out) != tt.want {
			t.Errorf("ref_from_path %q = %q, want %q", tt.path, out, tt.want)
		}
	}
}

// TestInstallScriptShellcheck lints the installer when shellcheck is there;
// in CI, which installs it (.ci/run), a missing shellcheck fails.
func TestInstallScriptShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil && os.Getenv("CI") == "true" {
		t.Fatal("shellcheck is not on PATH, and CI must run this test (.ci/run installs shellcheck)")
	}
	needTools(t, "shellcheck")
	t.Parallel()
	if out, err := exec.Command("shellcheck", installScript).CombinedOutput(); err != nil {
		t.Errorf("shellcheck %s: %v\n%s", installScript, err, out)
	}
}

// fakeGH puts a gh on PATH that behaves as `gh attestation verify` is
// documented to: exit 0 when the file has a build-provenance attestation made
// in the --repo repository, 1 with an error when it has none, 4 when gh is
// not signed in (no GH_TOKEN). attested lists "<sha256> <repo>" lines, the
// attestations the release workflow made. Every call is logged.
type fakeGH struct {
	dir, log, attested string
}

func newFakeGH(t *testing.T, version string) *fakeGH {
	t.Helper()
	dir := t.TempDir()
	g := &fakeGH{dir: dir, log: filepath.Join(dir, "calls.log"), attested: filepath.Join(dir, "attested")}
	script := `#!/usr/bin/env bash
set -u
if [ "${1:-}" = --version ]; then
	echo "gh version ` + version + ` (2026-01-01)"
	echo "https://github.com/cli/cli/releases/tag/v` + version + `"
	exit 0
fi
printf '%s\n' "$*" >>'` + g.log + `'
if [ "${1:-} ${2:-}" != "attestation verify" ] || [ $# -lt 3 ]; then
	echo "unknown command" >&2
	exit 1
fi
if [ -z "${GH_TOKEN:-}" ]; then
	echo "gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment variable. Example:" >&2
	echo "  env:" >&2
	echo "    GH_TOKEN: \${{ github.token }}" >&2
	exit 4
fi
file=$3
shift 3
repo=""
while [ $# -gt 0 ]; do
	case $1 in
	--repo) repo=$2; shift 2 ;;
	*) shift ;;
	esac
done
[ -n "$repo" ] || { echo "error: one of --owner or --repo is required" >&2; exit 1; }
sum=$(sha256sum "$file" | awk '{print $1}')
if [ -f '` + g.attested + `' ] && grep -qx "$sum $repo" '` + g.attested + `'; then
	echo "Loaded digest sha256:$sum for file://$file"
	echo "✓ Verification succeeded!"
	exit 0
fi
echo "Loaded digest sha256:$sum for file://$file"
echo "✗ Loading attestations from GitHub API failed" >&2
echo "Error: failed to fetch attestations from $repo: HTTP 404: Not Found" >&2
exit 1
`
	if err := os.WriteFile(filepath.Join(dir, "gh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return g
}

// attest records an attestation of data made in repo.
func (g *fakeGH) attest(t *testing.T, data []byte, repo string) {
	t.Helper()
	f, err := os.OpenFile(g.attested, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(f, "%s %s\n", hex.EncodeToString(sum[:]), repo)
	f.Close()
}

func (g *fakeGH) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(g.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// path is PATH with the fake gh first and no other gh.
func (g *fakeGH) path(t *testing.T) string {
	return g.dir + string(os.PathListSeparator) + pathWithout(t, "gh")
}

func notices(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "::notice") || strings.HasPrefix(line, "::warning") {
			out = append(out, line)
		}
	}
	return out
}

// TestInstallVerifiesAttestation: with gh on the runner, a release archive
// is installed only when its build-provenance attestation verifies for
// mlship/mlship. A download location that serves a planted archive with a
// checksums.txt to match is refused.
func TestInstallVerifiesAttestation(t *testing.T) {
	needTools(t, "bash", "curl", "tar", "sha256sum")
	t.Parallel()
	rel, archive := newRelease(t, runtime.GOOS, runtime.GOARCH)
	planted := release{}
	for k, v := range rel {
		planted[k] = v
	}
	planted[archive] = targz(t, map[string][]byte{testTool: []byte("#!/bin/sh\necho PWNED\n")})
	planted["checksums.txt"] = checksums(planted)
	token := map[string]string{"GH_TOKEN": "ghs_test"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	t.Run("attested", func(t *testing.T) {
		t.Parallel()
		gh := newFakeGH(t, "2.74.0")
		gh.attest(t, rel[archive], "mlship/mlship")
		r := newRunner(t, newServer(t, map[string]release{testTag: rel}))
		res := r.install(t, with(token, "PATH", gh.path(t)))
		if res.code != 0 || !strings.Contains(res.log, "verified the build-provenance attestation of "+archive+": made by mlship/mlship") {
			t.Fatalf("exit %d; log:\n%s", res.code, res.log)
		}
		if n := notices(res.log); len(n) != 0 {
			t.Errorf("notes on a verified install: %q", n)
		}
		calls := gh.calls(t)
		if len(calls) != 1 || !strings.HasPrefix(calls[0], "attestation verify ") || !strings.HasSuffix(calls[0], "/"+archive+" --repo mlship/mlship") {
			t.Errorf("gh calls %q", calls)
		}
		if v := version(t, res.path); !strings.Contains(v, testVersion) {
			t.Errorf("--version printed %q", v)
		}
		marker, _ := os.ReadFile(filepath.Dir(res.path) + ".complete")
		if !strings.Contains(string(marker), "verified=attestation\n") {
			t.Errorf("marker %q does not record the attestation check", marker)
		}
	})

	refusals := []struct {
		name  string
		rel   release
		repo  string // where the served archive is attested, if anywhere
		extra map[string]string
		want  string
	}{
		{"planted archive with matching checksums", planted, "", token,
			"the build-provenance attestation of " + archive + " does not verify for mlship/mlship: Error: failed to fetch attestations from mlship/mlship: HTTP 404: Not Found; refusing to install it"},
		{"attested by another repository", planted, "evil/mlship", token, "does not verify for mlship/mlship"},
		{"required, gh not signed in", rel, "mlship/mlship", map[string]string{"MLSHIP_VERIFY": "attestation"},
			"cannot verify the build-provenance attestation of " + archive + " (gh is not signed in (set GH_TOKEN)), and verify is attestation; refusing to install it"},
		{"required, gh too old", rel, "mlship/mlship", with(token, "MLSHIP_VERIFY", "attestation", "FAKE_GH_OLD", "1"),
			"(gh 2.66.1 is older than 2.67.0, whose check can pass without an attestation), and verify is attestation"},
		{"required, no gh", rel, "", with(token, "MLSHIP_VERIFY", "attestation", "FAKE_GH_NONE", "1"),
			"(gh is not on PATH), and verify is attestation; refusing to install it"},
		{"required, not a release", rel, "", with(token, "MLSHIP_VERIFY", "attestation", "MLSHIP_ACTION_REF", "main"),
			"verify is attestation, but ref 'main' is not a release"},
		{"not a verify mode", rel, "", with(token, "MLSHIP_VERIFY", "yes"), "verify 'yes' is not auto, attestation or checksum"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			version := "2.74.0"
			if tt.extra["FAKE_GH_OLD"] != "" {
				version = "2.66.1"
			}
			gh := newFakeGH(t, version)
			if tt.repo != "" {
				gh.attest(t, tt.rel[archive], tt.repo)
			}
			extra := with(tt.extra, "PATH", gh.path(t))
			if tt.extra["FAKE_GH_NONE"] != "" {
				extra["PATH"] = pathWithout(t, "gh")
			}
			srv := newServer(t, map[string]release{testTag: tt.rel})
			r := newRunner(t, srv)
			r.mustFail(t, extra, tt.want)
			if tt.extra["FAKE_GH_OLD"] != "" && len(gh.calls(t)) != 0 {
				t.Errorf("an old gh was asked to verify: %q", gh.calls(t))
			}
		})
	}

	// Where it cannot check, auto (the default) installs on the checksum
	// alone and says so in a note.
	notes := []struct {
		name, version, path, want string
		extra                     map[string]string
	}{
		{"no gh", "", "", "is verified by its checksum only: gh is not on PATH, so its build-provenance attestation was not checked (verify: attestation requires it)", token},
		{"gh not signed in", "2.74.0", "", "is verified by its checksum only: gh is not signed in (set GH_TOKEN)", nil},
		{"gh too old", "2.60.0", "", "is verified by its checksum only: gh 2.60.0 is older than 2.67.0", token},
	}
	for _, tt := range notes {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			extra := with(tt.extra, "PATH", pathWithout(t, "gh"))
			if tt.version != "" {
				gh := newFakeGH(t, tt.version)
				extra["PATH"] = gh.path(t)
			}
			r := newRunner(t, newServer(t, map[string]release{testTag: rel}))
			res := r.install(t, extra)
			if res.code != 0 || res.path == "" {
				t.Fatalf("exit %d; log:\n%s", res.code, res.log)
			}
			n := notices(res.log)
			if len(n) != 1 || !strings.HasPrefix(n[0], "::notice title=mlship install::"+archive+" ") || !strings.Contains(n[0], tt.want) {
				t.Errorf("notes %q, want one containing %q", n, tt.want)
			}
			marker, _ := os.ReadFile(filepath.Dir(res.path) + ".complete")
			if !strings.Contains(string(marker), "verified=checksum\n") {
				t.Errorf("marker %q", marker)
			}
		})
	}

	t.Run("checksum only", func(t *testing.T) {
		t.Parallel()
		gh := newFakeGH(t, "2.74.0")
		r := newRunner(t, newServer(t, map[string]release{testTag: rel}))
		res := r.install(t, with(token, "PATH", gh.path(t), "MLSHIP_VERIFY", "checksum"))
		if res.code != 0 || len(gh.calls(t)) != 0 || len(notices(res.log)) != 0 {
			t.Errorf("exit %d, gh calls %q, notes %q", res.code, gh.calls(t), notices(res.log))
		}
	})

	// A binary cached after a checksum-only install is not good enough when
	// the attestation is required: it is installed again, and checked.
	t.Run("required after a checksum-only install", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, map[string]release{testTag: rel})
		r := newRunner(t, srv)
		first := r.mustInstall(t, nil) // no gh: checksum only
		gh := newFakeGH(t, "2.74.0")
		gh.attest(t, rel[archive], "mlship/mlship")
		again := r.mustInstall(t, with(token, "PATH", gh.path(t), "MLSHIP_VERIFY", "attestation"))
		if again != first || len(srv.seen()) != 4 || len(gh.calls(t)) != 1 {
			t.Errorf("installed at %s (first %s), %d requests, gh calls %q", again, first, len(srv.seen()), gh.calls(t))
		}
		// Now cached with the attestation checked: no new download.
		r.mustInstall(t, with(token, "PATH", gh.path(t), "MLSHIP_VERIFY", "attestation"))
		if len(srv.seen()) != 4 {
			t.Errorf("%d requests after a cache hit", len(srv.seen()))
		}
	})
}

// TestInstallRehashesTheCache: a cached binary is re-hashed against the
// SHA-256 recorded when it was installed before it is run. One that changed
// since (a self-hosted runner keeps its cache between jobs) is not run but
// installed again, with a warning.
func TestInstallRehashesTheCache(t *testing.T) {
	needTools(t, "bash", "curl", "tar")
	t.Parallel()
	rel, _ := newRelease(t, runtime.GOOS, runtime.GOARCH)
	srv := newServer(t, map[string]release{testTag: rel})
	r := newRunner(t, srv)
	bin := r.mustInstall(t, nil)
	marker := filepath.Dir(bin) + ".complete"
	b, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(orig)
	if !strings.Contains(string(b), "sha256="+hex.EncodeToString(sum[:])+"\n") {
		t.Fatalf("marker %q does not record the binary's SHA-256", b)
	}

	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho PWNED\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	res := r.install(t, nil)
	if res.code != 0 || res.path != bin {
		t.Fatalf("exit %d, path %s; log:\n%s", res.code, res.path, res.log)
	}
	if !strings.Contains(res.log, "::warning title=mlship install::the cached "+bin+" has SHA-256 ") ||
		!strings.Contains(res.log, "not the "+hex.EncodeToString(sum[:])+" recorded when it was installed; not running it, installing it again") {
		t.Errorf("no warning about the changed binary; log:\n%s", res.log)
	}
	if v := version(t, bin); strings.Contains(v, "PWNED") || !strings.Contains(v, testVersion) {
		t.Errorf("--version printed %q", v)
	}
	if n := len(srv.seen()); n != 4 {
		t.Errorf("%d requests, want the release downloaded again", n)
	}

	// A marker from before checksums were recorded counts as incomplete.
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.mustInstall(t, nil)
	if n := len(srv.seen()); n != 6 {
		t.Errorf("%d requests, want the release downloaded again for a marker without a checksum", n)
	}
}

// TestInstallPinnedCommit: an action pinned by the full commit SHA of a
// release tag installs that release's verified archive; a commit that is
// no release is built from source; when the tags cannot be listed it is
// built from source with a warning.
func TestInstallPinnedCommit(t *testing.T) {
	needTools(t, "bash", "curl", "tar", "git", "go")
	t.Parallel()
	releasedBinary(t) // warms the build cache the source build shares
	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=mlship", "-c", "user.email=mlship@example.com", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("commit", "-q", "--allow-empty", "-m", "one")
	git("tag", "v1.2.2")
	git("commit", "-q", "--allow-empty", "-m", "two")
	git("tag", "-a", "-m", "release", testTag) // annotated: ls-remote lists it peeled
	git("tag", "v1.2.3-rc.1")
	git("tag", "v1")
	released := git("rev-parse", "HEAD")
	git("commit", "-q", "--allow-empty", "-m", "three")
	unreleased := git("rev-parse", "HEAD")
	git("tag", "v2") // a moving tag only: no release

	rel, archive := newRelease(t, runtime.GOOS, runtime.GOARCH)
	srv := newServer(t, map[string]release{testTag: rel})
	local, err := filepath.Abs(testTool)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("release commit", func(t *testing.T) {
		t.Parallel()
		r := newRunner(t, srv)
		r.env["GITHUB_ACTION_PATH"] = actionPath(r.dir, released)
		r.env["MLSHIP_REPOSITORY_URL"] = repo
		res := r.install(t, nil)
		if res.code != 0 || !strings.Contains(res.log, "commit "+released+" is release "+testTag) {
			t.Fatalf("exit %d; log:\n%s", res.code, res.log)
		}
		if v := version(t, res.path); !strings.Contains(v, testVersion) {
			t.Errorf("--version printed %q, want the release %s", v, testVersion)
		}
		if want := "/releases/download/" + testTag + "/" + archive; !slices.Contains(srv.seen(), want) {
			t.Errorf("requests %q, want %s", srv.seen(), want)
		}
	})

	t.Run("commit of no release", func(t *testing.T) {
		t.Parallel()
		r := newRunner(t, srv)
		r.env["GITHUB_ACTION_PATH"] = local
		r.env["MLSHIP_REPOSITORY_URL"] = repo
		res := r.install(t, map[string]string{"MLSHIP_ACTION_REF": unreleased})
		if res.code != 0 || !strings.Contains(res.log, "commit "+unreleased+" is no release of "+repo+"; building "+testTool+" from source") {
			t.Fatalf("exit %d; log:\n%s", res.code, res.log)
		}
		if want := filepath.Join(r.toolCache, "mlship-"+testTool, unreleased); !strings.HasPrefix(res.path, want) {
			t.Errorf("installed %s, want a build cached under %s", res.path, want)
		}
		if v := version(t, res.path); strings.Contains(v, testVersion) {
			t.Errorf("--version printed %q: the release, not a build", v)
		}
		if n := notices(res.log); len(n) != 0 {
			t.Errorf("warnings %q", n)
		}
	})

	t.Run("tags cannot be listed", func(t *testing.T) {
		t.Parallel()
		r := newRunner(t, srv)
		r.env["GITHUB_ACTION_PATH"] = actionPath(r.dir, released) // no checkout there: the build fails
		res := r.install(t, nil)
		want := "could not list the release tags of " + r.env["MLSHIP_REPOSITORY_URL"] + " to find a release on commit " + released + "; building " + testTool + " from source"
		if res.code == 0 || !strings.Contains(res.log, want) || len(res.errors) != 1 || !strings.Contains(res.errors[0], "cannot build "+testTool+" from source") {
			t.Errorf("exit %d, errors %q; log:\n%s", res.code, res.errors, res.log)
		}
	})
}

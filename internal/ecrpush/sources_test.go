package ecrpush

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

// TestMain lets the test binary stand in for docker: invoked through a
// link named "docker", it records its arguments and writes an OCI layout
// where --output says, as docker buildx build does.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "docker" {
		os.Exit(fakeDocker(os.Args[1:]))
	}
	code := m.Run()
	if benchTmpDir != "" {
		os.RemoveAll(benchTmpDir)
	}
	os.Exit(code)
}

func fakeDocker(args []string) int {
	dir := filepath.Dir(os.Args[0])
	if len(args) > 0 && args[0] == "buildx" {
		// A docker without the buildx plugin, as docker answers it.
		if _, err := os.Stat(filepath.Join(dir, "NO_BUILDX")); err == nil {
			fmt.Fprintf(os.Stderr, "docker: unknown command: docker buildx\n\nRun 'docker --help' for more information\n")
			return 1
		}
	}
	if len(args) > 0 && (args[0] == "image" || args[0] == "version" || args[0] == "save") {
		return fakeDockerDaemon(dir, args)
	}
	if len(args) == 2 && args[0] == "buildx" && args[1] == "version" {
		fmt.Println("github.com/docker/buildx v0.24.0 stand-in")
		return 0
	}
	if err := os.WriteFile(filepath.Join(dir, "args"), []byte(strings.Join(args, "\n")), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if len(args) < 2 || args[0] != "buildx" || args[1] != "build" {
		fmt.Fprintln(os.Stderr, "stand-in docker: only buildx build")
		return 2
	}
	var dest, platforms string
	for i, a := range args {
		switch {
		case a == "--output" && i+1 < len(args):
			for _, kv := range strings.Split(args[i+1], ",") {
				if v, ok := strings.CutPrefix(kv, "dest="); ok {
					dest = v
				}
			}
		case a == "--platform" && i+1 < len(args):
			platforms = args[i+1]
		}
	}
	ctxDir := args[len(args)-1]
	if msg, err := os.ReadFile(filepath.Join(ctxDir, "FAIL")); err == nil {
		os.Stderr.Write(msg)
		fmt.Fprintln(os.Stderr, "ERROR: failed to solve: process \"/bin/sh -c false\" did not complete successfully: exit code: 1")
		return 1
	}
	p, err := layout.Write(dest, empty.Index)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if strings.Contains(platforms, ",") {
		idx, _ := random.Index(256, 1, int64(len(strings.Split(platforms, ","))))
		err = p.AppendIndex(idx)
	} else {
		img, _ := random.Image(256, 2)
		err = p.AppendImage(img)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Fprintln(os.Stderr, "#1 exporting to oci image format done")
	return 0
}

// standInDocker puts a "docker" link to the test binary in a new directory
// and returns that directory (for PATH).
func standInDocker(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "docker")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBuild(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	bin := standInDocker(t)
	ctxDir := t.TempDir()
	dockerfile := filepath.Join(ctxDir, "Dockerfile.lambda")
	if err := os.WriteFile(dockerfile, []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := newCommand(func(_ context.Context, _ *Plan, rt *command.Runtime) (Deps, error) {
		d := e.deps()
		d.Log, d.Mask = rt.Action, rt.Mask
		d.Docker = lookPath("docker", rt.Getenv("PATH"))
		return d, nil
	})
	getenv := func(k string) string {
		return map[string]string{"PATH": "/nonexistent" + string(os.PathListSeparator) + bin}[k]
	}
	var stdout, stderr bytes.Buffer
	code := cmd.Main([]string{"ecr-push", "--repository", "app", "--tag", "b1", "--context", ctxDir, "--file", dockerfile,
		"--build-arg", "MODEL=credit", "--build-arg", "VERSION=1.0", "--target", "runtime", "--json"},
		command.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
	if code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	args := strings.Split(readFile(t, filepath.Join(bin, "args")), "\n")
	want := []string{"buildx", "build", "--output", "", "--file", dockerfile, "--target", "runtime",
		"--build-arg", "MODEL=credit", "--build-arg", "VERSION=1.0", "--provenance=false", ctxDir}
	if len(args) != len(want) {
		t.Fatalf("docker args %q", args)
	}
	for i := range want {
		if i == 3 {
			if !strings.HasPrefix(args[i], "type=oci,dest=") || !strings.HasSuffix(args[i], ",tar=false") {
				t.Errorf("--output %q", args[i])
			}
			continue
		}
		if args[i] != want[i] {
			t.Errorf("docker arg %d = %q, want %q", i, args[i], want[i])
		}
	}
	if !strings.Contains(stderr.String(), "exporting to oci image format") {
		t.Errorf("docker output not passed on: %q", stderr.String())
	}
	if !strings.Contains(stdout.String(), `"source": "build"`) {
		t.Errorf("result: %s", stdout.String())
	}
	if _, ok := e.ecr.TagDigest("app", "b1"); !ok {
		t.Error("built image not pushed")
	}

	// A multi-platform build is pushed as an index.
	res, err := runConfig(context.Background(), Config{Repository: "app", Tags: []string{"multi"}, Context: ctxDir, Platform: "linux/amd64,linux/arm64", Jobs: 2},
		Deps{ECR: e.ecr, Log: e.log, Docker: filepath.Join(bin, "docker")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.MediaType, "index") {
		t.Errorf("multi-platform build pushed as %s", res.MediaType)
	}

	// A failed build: exit 1, nothing pushed.
	if err := os.WriteFile(filepath.Join(ctxDir, "FAIL"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runConfig(context.Background(), Config{Repository: "app", Tags: []string{"broken"}, Context: ctxDir, Jobs: 2},
		Deps{ECR: e.ecr, Log: e.log, Docker: filepath.Join(bin, "docker")})
	wantCode(t, err, exitcode.Failed, "docker buildx build failed")

	// No docker: bad input.
	_, err = runConfig(context.Background(), Config{Repository: "app", Tags: []string{"x"}, Context: ctxDir, Jobs: 2}, Deps{ECR: e.ecr})
	wantCode(t, err, exitcode.BadInput, "docker")
}

// daemonImage is where the stand-in docker keeps the daemon's image ref.
func daemonImage(bin, ref string) string {
	return filepath.Join(bin, "images", strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref)+".tar")
}

// fakeDockerDaemon answers the commands that read the Docker daemon's
// images (image inspect, version, save) as docker does, from the images
// under the link's directory; a file NO_DAEMON there is a daemon that
// cannot be reached.
func fakeDockerDaemon(dir string, args []string) int {
	if _, err := os.Stat(filepath.Join(dir, "NO_DAEMON")); err == nil {
		fmt.Fprintln(os.Stderr, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
		return 1
	}
	switch {
	case args[0] == "version":
		fmt.Println("28.2.2")
		return 0
	case args[0] == "image" && len(args) == 5 && args[1] == "inspect":
		if _, err := os.Stat(daemonImage(dir, args[4])); err != nil {
			fmt.Fprintf(os.Stderr, "Error response from daemon: No such image: %s\n", args[4])
			return 1
		}
		fmt.Println("sha256:0123")
		return 0
	case args[0] == "save" && len(args) == 4 && args[1] == "--output":
		b, err := os.ReadFile(daemonImage(dir, args[3]))
		if err == nil {
			err = os.WriteFile(args[2], b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "stand-in docker: unexpected %q\n", args)
	return 2
}

func TestDaemonSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createRepo("app", false)
	img := randomImage(t, 1024, 2)
	bin := standInDocker(t)
	if err := os.MkdirAll(filepath.Join(bin, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("model:local")
	if err := tarball.WriteToFile(daemonImage(bin, "model:local"), tag, img); err != nil {
		t.Fatal(err)
	}
	deps := e.deps()
	deps.Docker = filepath.Join(bin, "docker")
	res, err := runConfig(context.Background(), Config{Repository: "app", Image: "model:local", Tags: []string{"v1"}, Jobs: 2}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageDigest != digestOf(t, img) || res.Source != "daemon" {
		t.Errorf("daemon push: %s from %s", res.ImageDigest, res.Source)
	}
	if left, _ := os.ReadDir(deps.TempDir); len(left) != 0 {
		t.Errorf("the saved image was left behind: %v", left)
	}
	_, err = runConfig(context.Background(), Config{Repository: "app", Image: "other:local", Tags: []string{"v1"}, Jobs: 2}, deps)
	wantCode(t, err, exitcode.BadInput, "no such image")

	// A daemon that does not answer: could not finish, before any ECR call.
	if err := os.WriteFile(filepath.Join(bin, "NO_DAEMON"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	logins := e.ecr.Calls("GetAuthorizationToken")
	_, err = runConfig(context.Background(), Config{Repository: "app", Image: "model:local", Tags: []string{"v1"}, Jobs: 2}, deps)
	wantCode(t, err, exitcode.Incomplete, "Cannot connect to the Docker daemon")
	if n := e.ecr.Calls("GetAuthorizationToken") - logins; n != 0 {
		t.Errorf("logged in to ECR (%d calls) for an image that could not be read", n)
	}
}

// TestOtherRegistry pushes to a plain OCI registry over HTTP (127.0.0.1),
// without any ECR call.
func TestOtherRegistry(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	deps := Deps{Log: &recLog{}, Keychain: authn.NewMultiKeychain()}
	img := randomImage(t, 2048, 2)
	dir := writeLayout(t, img)
	cfg := Config{Registry: host, Repository: "demo/app", OCILayout: dir, Tags: []string{"dev,latest"}, Jobs: 4}
	res, err := runConfig(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if res.Registry != host || res.ImageURI != host+"/demo/app:dev" || res.PushedBytes == 0 {
		t.Errorf("result %+v", res)
	}
	got, err := remote.Head(mustRef(t, host+"/demo/app:latest"))
	if err != nil || got.Digest.String() != digestOf(t, img) {
		t.Fatalf("latest: %v %v", got, err)
	}
	again, err := runConfig(context.Background(), cfg, deps)
	if err != nil || again.PushedBytes != 0 {
		t.Errorf("re-push: %d bytes, %v", again.PushedBytes, err)
	}
	// Promotion and lookup through the registry API.
	promoted, err := runConfig(context.Background(), Config{Registry: host, Repository: "demo/app", SourceTag: "dev", Tags: []string{"prod"}, Jobs: 1}, deps)
	if err != nil || promoted.ImageDigest != digestOf(t, img) {
		t.Errorf("promote: %v %+v", err, promoted)
	}
	cross, err := runConfig(context.Background(), Config{Registry: host, Repository: "demo/other", SourceRepository: "demo/app", SourceTag: "dev", Tags: []string{"prod"}, Jobs: 1}, deps)
	if err != nil || cross.ImageDigest != digestOf(t, img) {
		t.Errorf("promote across repositories: %v %+v", err, cross)
	}
	check, err := runConfig(context.Background(), Config{Registry: host, Repository: "demo/app", Tags: []string{"prod"}, CheckExists: true, Jobs: 1}, deps)
	if err != nil || !check.Exists {
		t.Errorf("check-exists: %v %+v", err, check)
	}
	_, err = runConfig(context.Background(), Config{Registry: host, Repository: "demo/app", Tags: []string{"nope"}, CheckExists: true, Jobs: 1}, deps)
	wantCode(t, err, exitcode.Failed, "nope")
}

// TestOtherRegistryImmutableTag pushes through the registry API only (as to
// a registry that is not ECR) to a registry answering like ECR: the
// TAG_INVALID refusal fails the run with both digests.
func TestOtherRegistryImmutableTag(t *testing.T) {
	t.Parallel()
	f := ecrfake.New()
	reg := f.Registry(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	e := &env{t: t, ecr: f}
	e.createRepo("app", true)
	deps := Deps{Log: &recLog{}, Keychain: authn.NewMultiKeychain()}
	first, second := randomImage(t, 512, 1), randomImage(t, 512, 1)
	if _, err := runConfig(context.Background(), Config{Registry: host, Repository: "app", OCILayout: writeLayout(t, first), Tags: []string{"v1"}, Jobs: 2}, deps); err != nil {
		t.Fatal(err)
	}
	_, err := runConfig(context.Background(), Config{Registry: host, Repository: "app", OCILayout: writeLayout(t, second), Tags: []string{"v1"}, Jobs: 2}, deps)
	wantCode(t, err, exitcode.Failed, "v1", digestOf(t, first), digestOf(t, second))
	if d, _ := f.TagDigest("app", "v1"); d != digestOf(t, first) {
		t.Error("immutable tag moved")
	}
	// A repository the registry does not have: exit 3 with its message.
	_, err = runConfig(context.Background(), Config{Registry: host, Repository: "missing", OCILayout: writeLayout(t, first), Tags: []string{"v1"}, Jobs: 2}, deps)
	wantCode(t, err, exitcode.Incomplete, "NAME_UNKNOWN")
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPlainHTTPOnlyToThisMachine(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "127.0.0.1": true, "[::1]:5000": true,
		"10.0.0.5:5000": false, "192.168.1.2": false, "registry.local:5000": false, "example.com": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %t", host, got)
		}
	}
	// go-containerregistry falls back to HTTP for private addresses; the
	// transport refuses that.
	tr := &countingTransport{base: http.DefaultTransport}
	req := httptest.NewRequest(http.MethodGet, "http://10.0.0.5:5000/v2/", nil)
	req.RequestURI = ""
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refusing plain HTTP") {
		t.Errorf("plain HTTP to a private address: %v", err)
	}
}

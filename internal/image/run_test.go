package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mlship/mlship/internal/toolset"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// The tools are run from the image's own file system, so that an image
// whose tools do not start (a missing or wrong binary, a lost execute bit,
// a dynamic link) cannot ship. The image is the layout named by
// MLSHIP_IMAGE_LAYOUT (what `make image` wrote, bin/image/oci: a relative
// path is from the repository; .ci/run and the release set it), else one
// this test builds with policy-gate and metrics-export.

const repoRoot = "../.."

// testLayout returns the layout to run tools from, and whether it is the
// whole image (every tool of cmd/).
func testLayout(t *testing.T) (dir string, whole bool) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("SKIPPED, not passed: the image's tools are linux binaries; this is %s", runtime.GOOS)
	}
	if dir := os.Getenv("MLSHIP_IMAGE_LAYOUT"); dir != "" {
		if !filepath.IsAbs(dir) { // as make image names it, from the repository
			dir = filepath.Join(repoRoot, dir)
		}
		return dir, true
	}
	bin := t.TempDir()
	for _, tool := range []string{"policy-gate", "metrics-export"} {
		cmd := exec.Command(goCommand(), "build", "-trimpath", "-tags", toolset.BuildTags, "-ldflags", "-X github.com/mlship/mlship/internal/version.Version=v0.0.0-test",
			"-o", filepath.Join(bin, tool), "./cmd/"+tool)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", tool, err, b)
		}
	}
	plat, err := ParsePlatform("linux/" + runtime.GOARCH)
	if err != nil {
		t.Skipf("SKIPPED, not passed: %v", err)
	}
	img, err := Build(Config{
		Tools:     []string{"policy-gate", "metrics-export"},
		Platforms: []Platform{{plat, bin}},
		Version:   "v0.0.0-test",
		Revision:  "0123456789abcdef0123456789abcdef01234567",
		Source:    "https://github.com/mlship/mlship",
		Created:   created,
	}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "oci")
	if err := img.WriteLayout(dir, []string{"test"}); err != nil {
		t.Fatal(err)
	}
	return dir, false
}

// hostImage reads the layout's image for this machine's architecture.
func hostImage(t *testing.T, dir string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil || len(im.Manifests) == 0 {
		t.Fatalf("%s/index.json: %v", dir, err)
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	man, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range man.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("%s has no linux/%s image", dir, runtime.GOARCH)
	return nil
}

// extract lays the image's file system out in dir, with its modes, and
// with its owners when this process may set them.
func extract(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	root := os.Geteuid() == 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, dir+string(filepath.Separator)) {
			t.Fatalf("layer entry %q is outside the root", h.Name)
		}
		mode := os.FileMode(h.Mode).Perm()
		if h.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err == nil {
				_, err = io.Copy(f, tr)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("layer entry %q has type %c; the image holds only files and folders", h.Name, h.Typeflag)
		}
		if err := os.Chmod(name, mode); err != nil {
			t.Fatal(err)
		}
		if root {
			if err := os.Lchown(name, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type ran struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, cmd *exec.Cmd) ran {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", cmd.Path, err)
	}
	return ran{code, stdout.String(), stderr.String()}
}

func TestImageRunsTools(t *testing.T) {
	t.Parallel()
	dir, whole := testLayout(t)
	img := hostImage(t, dir)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	version := cf.Config.Labels[LabelVersion]
	fsRoot := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(fsRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	extract(t, img, fsRoot)

	tools, err := os.ReadDir(filepath.Join(fsRoot, "usr", "local", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range tools {
		names = append(names, e.Name())
	}
	if whole {
		mains, _ := filepath.Glob(filepath.Join(repoRoot, "cmd", "*", "main.go"))
		var want []string
		for _, m := range mains {
			want = append(want, filepath.Base(filepath.Dir(m)))
		}
		if slices.Sort(names); !slices.Equal(names, want) {
			t.Errorf("the image has %q in /usr/local/bin, cmd/ has %q", names, want)
		}
	}
	for _, tool := range names {
		r := run(t, exec.Command(filepath.Join(fsRoot, "usr", "local", "bin", tool), "--version"))
		if want := tool + " version " + version + "\n"; r.code != 0 || r.stdout != want {
			t.Errorf("%s --version: exit %d, %q %q; want %q", tool, r.code, r.stdout, r.stderr, want)
		}
	}
	if !slices.Contains(names, "policy-gate") {
		t.Fatal("the image has no policy-gate")
	}

	// policy-gate on the demo's fixtures: one model allowed, one denied.
	gate := func(model string) *exec.Cmd {
		return exec.Command(filepath.Join(fsRoot, "usr", "local", "bin", "policy-gate"),
			"--policy", "builtin:model-quality", "--data", filepath.Join(repoRoot, "testdata", "demo", "thresholds.yaml"),
			"--set", "accuracy="+model, "--set", "fairness_gap=12.5", "--json")
	}
	if r := run(t, gate("0.934")); r.code != 0 || !strings.Contains(r.stdout, `"allowed": true`) {
		t.Errorf("a good model: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, gate("0.871")); r.code != 1 || !strings.Contains(r.stdout, `"allowed": false`) {
		t.Errorf("a bad model: exit %d, %s %s; want exit 1, denied", r.code, r.stdout, r.stderr)
	}

	t.Run("chroot", func(t *testing.T) {
		// As a container runtime runs it: the image's file system as /,
		// its user, its environment and working directory, nothing of
		// this machine's.
		if os.Geteuid() != 0 {
			t.Skip("SKIPPED, not passed: running in a chroot as the image's user needs root")
		}
		fixture := filepath.Join(fsRoot, "home", "nonroot", "thresholds.yaml")
		b, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "demo", "thresholds.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fixture, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(fixture, UID, UID); err != nil {
			t.Fatal(err)
		}
		var uid, gid uint32
		if _, err := fmt.Sscanf(cf.Config.User, "%d:%d", &uid, &gid); err != nil {
			t.Fatalf("user %q: %v", cf.Config.User, err)
		}
		inImage := func(args ...string) *exec.Cmd {
			cmd := exec.Command(args[0], args[1:]...)
			// exec looks the program up in this machine's PATH; the
			// image's own PATH finds it inside the chroot.
			cmd.Path = args[0]
			cmd.Env = cf.Config.Env
			cmd.Dir = cf.Config.WorkingDir
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: fsRoot, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
			return cmd
		}
		r := run(t, inImage("/usr/local/bin/policy-gate", "--version"))
		if r.code != 0 || r.stdout != "policy-gate version "+version+"\n" {
			t.Errorf("policy-gate --version in the image: exit %d, %q %q", r.code, r.stdout, r.stderr)
		}
		// The decision file goes to /tmp, which the image's user can
		// write to; the data file is read from the working directory.
		r = run(t, inImage("/usr/local/bin/policy-gate", "--policy", "builtin:model-quality", "--data", "thresholds.yaml",
			"--set", "accuracy=0.871", "--set", "fairness_gap=12.5", "--decision-file", "/tmp/decision.json"))
		if r.code != 1 {
			t.Errorf("a bad model in the image: exit %d, %s %s; want 1", r.code, r.stdout, r.stderr)
		}
		d, err := os.ReadFile(filepath.Join(fsRoot, "tmp", "decision.json"))
		if err != nil || !strings.Contains(string(d), `"allowed": false`) {
			t.Errorf("the decision file in the image's /tmp: %v %s", err, d)
		}
	})
}

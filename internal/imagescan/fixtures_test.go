package imagescan

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/trivytest"
)

// fixture is the image and database every Trivy test scans, built once.
type fixture struct {
	img      v1.Image
	layout   string // OCI layout directory
	tarball  string // docker save tarball
	cacheDir string // Trivy cache with the fixture database, shared read-only
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
	fixDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixDir != "" {
		os.RemoveAll(fixDir)
	}
	_ = RemoveTempFiles()
	os.Exit(code)
}

func getFixture(t testing.TB) fixture {
	t.Helper()
	fixOnce.Do(func() {
		fixDir, fixErr = os.MkdirTemp("", "imagescan-fixture-")
		if fixErr != nil {
			return
		}
		fix.img, fixErr = trivytest.AlpineImage(trivytest.AlpinePackages, nil)
		if fixErr != nil {
			return
		}
		fix.layout = filepath.Join(fixDir, "layout")
		if fixErr = trivytest.WriteOCILayout(fix.layout, fix.img, "1.0"); fixErr != nil {
			return
		}
		fix.tarball = filepath.Join(fixDir, "image.tar")
		if fixErr = trivytest.WriteTarball(fix.tarball, fix.img, "registry.example.com/app:1.0"); fixErr != nil {
			return
		}
		fix.cacheDir = filepath.Join(fixDir, "cache")
		fixErr = trivytest.WriteDB(fix.cacheDir, trivytest.AlpineFixture)
	})
	if fixErr != nil {
		t.Fatalf("building the fixture: %v", fixErr)
	}
	return fix
}

// wantTrivy is what Trivy finds in the fixture image with the fixture
// database.
var wantTrivy = []Finding{
	{Scanner: "trivy", ID: "CVE-2099-0001", Package: "libcrypto3", InstalledVersion: "3.3.2-r4", FixedVersion: "3.3.2-r5", Fix: "available", Severity: "CRITICAL", Title: "openssl: remote code execution in the TLS handshake"},
	{Scanner: "trivy", ID: "CVE-2099-0001", Package: "libssl3", InstalledVersion: "3.3.2-r4", FixedVersion: "3.3.2-r5", Fix: "available", Severity: "CRITICAL", Title: "openssl: remote code execution in the TLS handshake"},
	{Scanner: "trivy", ID: "CVE-2099-0002", Package: "busybox", InstalledVersion: "1.37.0-r8", Fix: "none", Severity: "HIGH", Title: "busybox: heap overflow in wget"},
	{Scanner: "trivy", ID: "CVE-2099-0004", Package: "zlib", InstalledVersion: "1.3.1-r2", FixedVersion: "1.3.1-r3", Fix: "available", Severity: "MEDIUM", Title: "zlib: out-of-bounds read in inflate"},
	{Scanner: "trivy", ID: "CVE-2099-0003", Package: "busybox", InstalledVersion: "1.37.0-r8", FixedVersion: "1.37.0-r9", Fix: "available", Severity: "LOW", Title: "busybox: information leak in ash"},
	{Scanner: "trivy", ID: "CVE-2099-0006", Package: "ca-certificates", InstalledVersion: "20241121-r1", FixedVersion: "20250101-r0", Fix: "available", Severity: "UNKNOWN", Title: "ca-certificates: distrusted root still present"},
}

// essentials keeps the fields a test compares.
func essentials(fs []Finding) []Finding {
	out := make([]Finding, 0, len(fs))
	for _, f := range fs {
		out = append(out, Finding{Scanner: f.Scanner, ID: f.ID, Package: f.Package, InstalledVersion: f.InstalledVersion,
			FixedVersion: f.FixedVersion, Fix: f.Fix, Severity: f.Severity, Title: f.Title})
	}
	return out
}

// testDeps are Deps that never wait real seconds.
func testDeps(t testing.TB, api ECRAPI) Deps {
	return Deps{
		ECR: func(context.Context, string) (ECRAPI, error) {
			if api == nil {
				t.Error("ECR was used, but the test gave no fake")
				return nil, context.Canceled
			}
			return api, nil
		},
		PollMin: time.Millisecond, PollMax: 2 * time.Millisecond,
		DBRetryDelay: time.Millisecond,
		Log:          &testLog{t: t},
	}
}

// runConfig validates cfg and runs its plan, as the command does.
func runConfig(ctx context.Context, cfg Config, deps Deps) (*Result, error) {
	p, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	return Run(ctx, p, deps)
}

// testLog logs to the test and keeps the lines and warnings.
type testLog struct {
	t        testing.TB
	mu       sync.Mutex
	lines    []string
	warnings []string
}

func (l *testLog) Logf(f string, a ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
	l.mu.Unlock()
	l.t.Logf(f, a...)
}

// text is every line logged so far.
func (l *testLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *testLog) Warningf(f string, a ...any) {
	l.mu.Lock()
	l.warnings = append(l.warnings, fmt.Sprintf(f, a...))
	l.mu.Unlock()
	l.t.Logf("warning: "+f, a...)
}

// baseConfig scans the fixture's OCI layout with the fixture database and
// writes reports into a fresh directory.
func baseConfig(t testing.TB) Config {
	f := getFixture(t)
	dir := t.TempDir()
	return Config{
		OCILayout: f.layout, Scanner: ScannerTrivy, FailOn: "HIGH",
		CacheDir: f.cacheDir, SkipDBUpdate: true, Timeout: time.Minute,
		SARIFFile: filepath.Join(dir, "scan.sarif"), JSONFile: filepath.Join(dir, "scan.json"), SummaryFile: filepath.Join(dir, "summary.json"),
	}
}

// quietRegistry is an in-process OCI registry.
func quietRegistry() http.Handler {
	return registry.New(registry.Logger(log.New(io.Discard, "", 0)))
}

// pushImage writes img to ref.
func pushImage(t testing.TB, ref string, img v1.Image, opts ...remote.Option) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// redirect sends requests for host to the test server srv, over plain
// HTTP: the tool talks to "ECR" and reaches the fake registry.
type redirect struct {
	host string
	to   *url.URL
}

func (r redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == r.host {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host = r.to.Scheme, r.to.Host
	}
	return http.DefaultTransport.RoundTrip(req)
}

// ecrRegistry serves an ecrfake registry and returns the transport that
// reaches it under the fake's ECR host name. Set RequireAuth once the test
// has pushed what it needs.
func ecrRegistry(t testing.TB, f *ecrfake.Fake) (*ecrfake.Registry, http.RoundTripper) {
	reg := f.Registry(quietRegistry())
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	f.ProxyEndpoint = srv.URL
	return reg, redirect{host: f.Host(), to: u}
}

// run drives the command line as a workflow step and returns the exit
// code, stdout, stderr and the step outputs.
func runMain(t testing.TB, deps Deps, args ...string) (int, string, string, map[string]string) {
	t.Helper()
	return runMainEnv(t, deps, nil, args...)
}

// runMainEnv is runMain with extra environment variables (INPUT_*).
func runMainEnv(t testing.TB, deps Deps, extra map[string]string, args ...string) (int, string, string, map[string]string) {
	t.Helper()
	w := actiontest.NewWorkflow(t, extra)
	var stdout, stderr bytes.Buffer
	cmd := newCommand(func(rt *command.Runtime) Deps {
		d := deps
		if d.Mask == nil {
			d.Mask = rt.Mask
		}
		return d
	})
	code := cmd.Main(append([]string{"image-scan"}, args...), command.Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: w.Getenv,
	})
	if md := w.SummaryText(t); md != "" {
		stdout.WriteString("\n--- step summary ---\n" + md)
	}
	return code, stdout.String(), stderr.String(), w.Outputs(t)
}

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
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/ssmclient"
	"github.com/mlship/mlship/internal/ssmfake"
)

// env is an ECR (API fake plus ECR-like registry in-process) and the
// dependencies a run gets.
type env struct {
	t    *testing.T
	ecr  *ecrfake.Fake
	reg  *ecrfake.Registry
	host string
	ssm  *ssmfake.SSM
	log  *recLog
	// requests counts every request the registry got, of any kind.
	requests atomic.Int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	f := ecrfake.New()
	reg := f.Registry(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	reg.RequireAuth = true
	e := &env{t: t, ecr: f, reg: reg, ssm: ssmfake.New(t), log: &recLog{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.ProxyEndpoint = srv.URL
	e.host = strings.TrimPrefix(srv.URL, "http://")
	return e
}

func (e *env) deps() Deps {
	return Deps{ECR: e.ecr, SSM: e.ssmClient(), Log: e.log, Mask: e.log.Mask, TempDir: e.t.TempDir()}
}

// runConfig validates cfg and runs its plan, as the command does.
func runConfig(ctx context.Context, cfg Config, deps Deps) (*Result, error) {
	p, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	return Run(ctx, p, deps)
}

// run runs ecr-push with cfg (Jobs defaulted) against the env.
func (e *env) run(cfg Config) (*Result, error) {
	e.t.Helper()
	if cfg.Jobs == 0 {
		cfg.Jobs = 4
	}
	return runConfig(context.Background(), cfg, e.deps())
}

// mustRun fails the test on an error.
func (e *env) mustRun(cfg Config) *Result {
	e.t.Helper()
	res, err := e.run(cfg)
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return res
}

// createRepo creates a repository through the fake's API.
func (e *env) createRepo(name string, immutable bool) {
	e.t.Helper()
	mut := ecrtypes.ImageTagMutabilityMutable
	if immutable {
		mut = ecrtypes.ImageTagMutabilityImmutable
	}
	in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(name), ImageTagMutability: mut}
	if _, err := e.ecr.CreateRepository(context.Background(), in); err != nil {
		e.t.Fatal(err)
	}
}

// wantCode checks an error's exit code and that its message holds every
// fragment.
func wantCode(t *testing.T, err error, code int, fragments ...string) {
	t.Helper()
	if got := exitcode.Of(err); got != code {
		t.Fatalf("exit code %d, want %d (error: %v)", got, code, err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

// randomImage returns a random image with n layers of size bytes.
func randomImage(t testing.TB, size int64, n int) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(n))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeLayout writes an OCI layout holding img (a v1.Image or
// v1.ImageIndex) and returns its directory.
func writeLayout(t testing.TB, item any) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	switch v := item.(type) {
	case v1.Image:
		err = p.AppendImage(v)
	case v1.ImageIndex:
		err = p.AppendIndex(v)
	default:
		t.Fatalf("writeLayout: %T", item)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// platformIndex returns a two-platform index of random images.
func platformIndex(t testing.TB) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		adds = append(adds, mutate.IndexAddendum{
			Add:        randomImage(t, 512, 2),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

func digestOf(t testing.TB, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// recLog records what a run logs, warns and masks.
type recLog struct {
	mu    sync.Mutex
	lines []string
	warns []string
	masks []string
}

func (l *recLog) Logf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
}

func (l *recLog) Warningf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warns = append(l.warns, fmt.Sprintf(f, a...))
}

func (l *recLog) Mask(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.masks = append(l.masks, s)
}

// command returns the command with deps from e (logging through the
// run's action).
func (e *env) command() *command.Command {
	return newCommand(func(_ context.Context, _ *Plan, rt *command.Runtime) (Deps, error) {
		d := e.deps()
		d.Log, d.Mask = rt.Action, rt.Mask
		return d, nil
	})
}

// commandWithDocker is command with docker looked up on the step's PATH.
func (e *env) commandWithDocker() *command.Command {
	return newCommand(func(_ context.Context, _ *Plan, rt *command.Runtime) (Deps, error) {
		d := e.deps()
		d.Log, d.Mask = rt.Action, rt.Mask
		d.Docker = lookPath("docker", rt.Getenv("PATH"))
		return d, nil
	})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(b))
}

// ssmClient is the tool's SSM client pointed at the fake SSM.
func (e *env) ssmClient() SSMAPI {
	e.t.Helper()
	c, err := ssmclient.New(context.Background(), e.ssm.Config(), "ecr-push")
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

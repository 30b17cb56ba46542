package ecrpush

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/exitcode"
)

// env is an ECR (API fake plus ECR-like registry in-process) and the
// dependencies a run gets.
type env struct {
	t    *testing.T
	ecr  *ecrfake.Fake
	reg  *ecrfake.Registry
	host string
	ssm  *fakeSSM
	log  *recLog
	// requests counts every request the registry got, of any kind.
	requests atomic.Int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	f := ecrfake.New()
	reg := f.Registry(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	reg.RequireAuth = true
	e := &env{t: t, ecr: f, reg: reg, ssm: newFakeSSM(t), log: &recLog{}}
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
	return Deps{ECR: e.ecr, SSM: e.ssm.client(e.t), Log: e.log, Mask: e.log.Mask, TempDir: e.t.TempDir()}
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

// fakeSSM is an SSM parameter store served over SSM's JSON 1.1 protocol,
// for the tool's own SSM client: GetParameter fails with ParameterNotFound
// for a missing name, PutParameter needs a type to create and Overwrite to
// replace, as in SSM; fail answers every call with that error; throttle
// answers the next calls with ThrottlingException.
type fakeSSM struct {
	mu       sync.Mutex
	params   map[string]ssmParam
	puts     int
	calls    int
	throttle int
	fail     error
	// unsigned counts requests without a Signature V4 Authorization.
	unsigned int
	srv      *httptest.Server
}

type ssmParam struct {
	Name, Value, Type string
	Version           int64
}

func newFakeSSM(t *testing.T) *fakeSSM {
	s := &fakeSSM{params: map[string]ssmParam{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// client is the tool's SSM client pointed at the fake, retrying at once.
func (s *fakeSSM) client(t testing.TB) SSMAPI {
	t.Helper()
	c, err := newSSM(context.Background(), aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(s.srv.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *fakeSSM) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.ssm#" + code, "message": msg})
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(r.Header.Get("Authorization"), "/us-east-1/ssm/aws4_request") {
		s.unsigned++
		fail(400, "IncompleteSignatureException", "not signed")
		return
	}
	if s.throttle > 0 {
		s.throttle--
		fail(400, "ThrottlingException", "Rate exceeded")
		return
	}
	var api smithy.APIError
	if errors.As(s.fail, &api) {
		fail(400, api.ErrorCode(), api.ErrorMessage())
		return
	}
	var in struct {
		Name, Value, Type string
		Overwrite         bool
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(400, "SerializationException", err.Error())
		return
	}
	p, ok := s.params[in.Name]
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSSM.GetParameter":
		if !ok {
			fail(400, "ParameterNotFound", "")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": p})
	case "AmazonSSM.PutParameter":
		switch {
		case ok && !in.Overwrite:
			fail(400, "ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
			return
		case !ok && in.Type == "":
			fail(400, "ValidationException", "A parameter type is required when you create a parameter.")
			return
		}
		if in.Type != "" {
			p.Type = in.Type
		}
		p.Name, p.Value, p.Version = in.Name, in.Value, p.Version+1
		s.params[in.Name] = p
		s.puts++
		_ = json.NewEncoder(w).Encode(map[string]any{"Version": p.Version, "Tier": "Standard"})
	default:
		fail(400, "UnknownOperationException", r.Header.Get("X-Amz-Target"))
	}
}

func (s *fakeSSM) value(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.params[name].Value
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

package healthrollback

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/kube/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m)) }

// server is an HTTP endpoint whose answers the test scripts: one answer per
// request, the last one repeated.
type server struct {
	*httptest.Server
	mu      sync.Mutex
	answers []answer
	n       atomic.Int32
	hosts   []string
}

type answer struct {
	status int
	body   string
	hang   bool // answer only when the client gives up
}

func newServer(t *testing.T, answers ...answer) *server { return newServerB(t, answers...) }

func newServerB(t testing.TB, answers ...answer) *server {
	t.Helper()
	s := &server{answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(s.n.Add(1)) - 1
		s.mu.Lock()
		a := s.answers[min(i, len(s.answers)-1)]
		s.hosts = append(s.hosts, r.Host)
		s.mu.Unlock()
		if a.hang {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(answers ...answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = answers
	s.n.Store(0)
}

var (
	ok200   = answer{status: 200, body: `{"status":"ok","version":"build-42"}`}
	stale   = answer{status: 200, body: `{"status":"ok","version":"build-41"}`}
	down503 = answer{status: 503, body: "upstream connect error or disconnect/reset before headers"}
	hang    = answer{hang: true}
)

// fast are probe settings for tests: little time between attempts.
func fast(cfg *Config) *Config {
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	return cfg
}

// judgeOnly runs cfg with no rollback target.
func judgeOnly(t *testing.T, cfg *Config, d Deps) (*Result, error) {
	t.Helper()
	if err := fast(cfg).Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return Run(context.Background(), cfg, d)
}

// step runs health-rollback as an action step with inputs and the given
// clients.
type step struct {
	code    int
	stdout  string
	stderr  string
	outputs map[string]string
	summary string
}

func runStep(t *testing.T, inputs map[string]string, d func(*Config) Deps) step {
	t.Helper()
	return runStepWatching(t, inputs, d, "", nil)
}

// runStepWatching is runStep that closes seen once the log shows watch.
func runStepWatching(t *testing.T, inputs map[string]string, d func(*Config) Deps, watch string, seen chan struct{}) step {
	t.Helper()
	env := map[string]string{}
	for k, v := range inputs {
		env[command.InputEnv(k)] = v
	}
	wf := actiontest.NewWorkflow(t, env)
	stdout := &syncBuffer{watch: watch, seen: seen}
	var stderr bytes.Buffer
	cmd := newCommand(func(_ context.Context, cfg *Config) (Deps, error) { return d(cfg), nil })
	code := cmd.Main([]string{Name}, command.Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: &stderr, Getenv: wf.Getenv})
	summary, _ := os.ReadFile(wf.Summary)
	return step{code: code, stdout: stdout.String(), stderr: stderr.String(), outputs: wf.Outputs(t), summary: string(summary)}
}

func failedChecks(t *testing.T, s string) []Check {
	t.Helper()
	var cs []Check
	if err := json.Unmarshal([]byte(s), &cs); err != nil {
		t.Fatalf("failed-checks %q: %v", s, err)
	}
	return cs
}

// syncBuffer is a buffer a test may watch while the tool writes it.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	watch string
	seen  chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.seen != nil && strings.Contains(s.b.String(), s.watch) {
		close(s.seen)
		s.seen = nil
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

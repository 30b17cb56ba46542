package modelstaleness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
)

// now is the clock of every test: commits are made days before it.
var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func daysAgo(d float64) time.Time { return now.Add(-time.Duration(d * float64(24*time.Hour))) }

func fixedNow() time.Time { return now }

// testRepo is a real git repository in a temporary directory whose commits
// get the dates the test gives them.
type testRepo struct {
	t   testing.TB
	dir string
}

func newRepo(t testing.TB) *testRepo {
	t.Helper()
	r := &testRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	return r.gitAt(time.Time{}, "", args...)
}

// gitAt runs git with the author and committer dates set to at (when not
// zero) and the author "Name <email>" (when not empty).
func (r *testRepo) gitAt(at time.Time, author string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir, "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if !at.IsZero() {
		d := at.Format(time.RFC3339)
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
	}
	if author != "" {
		name, email, _ := strings.Cut(strings.TrimSuffix(author, ">"), " <")
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitErr runs git and returns its error instead of failing the test.
func (r *testRepo) gitErr(at time.Time, args ...string) error {
	cmd := exec.Command("git", append([]string{"-C", r.dir, "-c", "user.name=Test", "-c", "user.email=test@example.com"}, args...)...)
	d := at.Format(time.RFC3339)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
	return cmd.Run()
}

// commit writes files (an empty content deletes the file) and commits them
// at the given time, by author ("" for the default), and returns the sha.
func (r *testRepo) commit(at time.Time, author, msg string, files map[string]string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if content == "" {
			if err := os.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.gitAt(at, author, "add", "-A")
	r.gitAt(at, author, "commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// spec is a model for the git source in repo dir with a 7-day warning and a
// 14-day error.
func gitSpec(dir string, paths ...string) ModelSpec {
	return ModelSpec{Source: SourceGit, Directory: dir, Paths: paths, WarnAfter: "7d", ErrorAfter: "14d"}
}

func runSpec(t testing.TB, spec ModelSpec, deps Deps) (*Result, error) {
	t.Helper()
	cfg := Config{Model: spec, Timeout: time.Minute}
	if deps.Now == nil {
		deps.Now = fixedNow
	}
	return runConfig(context.Background(), cfg, deps)
}

// runConfig validates cfg and runs its plan, as the command does.
func runConfig(ctx context.Context, cfg Config, deps Deps) (*Result, error) {
	p, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	return Run(ctx, p, deps)
}

// validate is Validate's error alone.
func validate(c Config) error {
	_, err := c.Validate()
	return err
}

// mustRun runs one model and fails the test on an error.
func mustRun(t testing.TB, spec ModelSpec, deps Deps) *ModelResult {
	t.Helper()
	res, err := runSpec(t, spec, deps)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(res.Models) != 1 {
		t.Fatalf("%d models", len(res.Models))
	}
	return &res.Models[0]
}

// wantCode checks an error's exit code and that its message holds every
// part.
func wantCode(t testing.TB, err error, code int, parts ...string) {
	t.Helper()
	if got := exitcode.Of(err); got != code {
		t.Fatalf("exit code %d, want %d (error: %v)", got, code, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// logger records what a run logs.
type logger struct {
	mu    sync.Mutex
	lines []string
	warns []string
}

func (l *logger) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logger) Warningf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warns = append(l.warns, fmt.Sprintf(format, args...))
}

func (l *logger) warnings() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.warns, "\n")
}

func (l *logger) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

package modelstaleness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/wait"
)

// sleeper records the waits a run asks for and returns at once.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func ghDeps(t testing.TB, g *githubServer, token string) (Deps, *sleeper, *logger) {
	t.Helper()
	c, err := NewGitHubClient(g.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, l := &sleeper{}, &logger{}
	return Deps{GitHub: c, Sleep: s.Sleep, Log: l}, s, l
}

func ghSpec(repo string, paths ...string) ModelSpec {
	return ModelSpec{Source: SourceGitHub, Repository: repo, Paths: paths, WarnAfter: "7d", ErrorAfter: "14d"}
}

func sha(n int) string { return fmt.Sprintf("%040x", n) }

// seedRepo is the credit-card repository: the notebook last changed 9 days
// ago by Jane, the README 1 day ago.
func seedRepo(g *githubServer) {
	g.addCommits("my-org/credit-model", "main",
		ghCommit{SHA: sha(1), Date: daysAgo(40), Author: "Jane", Email: "jane@example.com", Login: "jane", Message: "First notebook", Paths: []string{nb}},
		ghCommit{SHA: sha(2), Date: daysAgo(9), Author: "Jane", Email: "jane@example.com", Login: "jane", Message: "Retrain\n\nwith March data", Paths: []string{nb, "data/march.csv"}},
		ghCommit{SHA: sha(3), Date: daysAgo(1), Author: "Sam", Email: "sam@example.com", Login: "sam", Message: "Docs", Paths: []string{"README.md"}},
	)
}

// TestGitHubLastCommit: one request with per_page=1 per path gives the
// newest commit touching it, its committer date, author and link.
func TestGitHubLastCommit(t *testing.T) {
	t.Parallel()
	g := newGitHubServer(t, "")
	g.token = "ghs_secret"
	seedRepo(g)
	deps, _, _ := ghDeps(t, g, "ghs_secret")
	m := mustRun(t, ghSpec("my-org/credit-model", nb), deps)
	if m.State != StateWarn || m.Commit != sha(2) || m.Author != "jane" || m.Subject != "Retrain" ||
		m.LastUpdated != daysAgo(9).Format(time.RFC3339) || m.URL != "https://github.com/my-org/credit-model/commit/"+sha(2) {
		t.Errorf("result %+v", m)
	}
	reqs := g.Requests("GET /repos/my-org/credit-model/commits")
	if len(reqs) != 1 || !strings.Contains(reqs[0], "per_page=1") || !strings.Contains(reqs[0], "path=notebooks%2Fcredit_card_approval.ipynb") {
		t.Errorf("requests %q", reqs)
	}

	// Several paths: the newest of them; a folder covers its files.
	m = mustRun(t, ghSpec("my-org/credit-model", nb, "README.md"), deps)
	if m.Commit != sha(3) || m.State != StateFresh {
		t.Errorf("two paths: %s (%s)", m.Commit, m.State)
	}
	if m = mustRun(t, ghSpec("my-org/credit-model", "data"), deps); m.Commit != sha(2) {
		t.Errorf("folder: %s", m.Commit)
	}
}

// TestGitHubPaginatesPastIgnored: with filters, pages of 100 are read
// through the Link header until a commit passes them.
func TestGitHubPaginatesPastIgnored(t *testing.T) {
	t.Parallel()
	g := newGitHubServer(t, "")
	seedRepo(g)
	var bots []ghCommit
	for i := range 150 {
		bots = append(bots, ghCommit{SHA: sha(100 + i), Date: daysAgo(8).Add(time.Duration(i) * time.Minute), Author: "dependabot[bot]", Email: "49699333+dependabot[bot]@users.noreply.github.com", Login: "dependabot[bot]", Message: "Bump", Paths: []string{nb}})
	}
	g.addCommits("my-org/credit-model", "main", bots...)
	g.addCommits("my-org/credit-model", "main", ghCommit{SHA: sha(999), Date: daysAgo(0.5), Author: "Fmt", Email: "fmt@example.com", Message: "chore: reformat", Paths: []string{nb}})
	deps, _, _ := ghDeps(t, g, "")
	spec := ghSpec("my-org/credit-model", nb)
	spec.IgnoreAuthors, spec.IgnoreMessages = []string{"dependabot[bot]"}, []string{"^chore"}
	m := mustRun(t, spec, deps)
	if m.Commit != sha(2) || !strings.Contains(strings.Join(m.Warnings, ""), "skipped 151 newer commit(s)") {
		t.Errorf("commit %s warnings %q", m.Commit, m.Warnings)
	}
	reqs := g.Requests("GET /repos/my-org/credit-model/commits")
	if len(reqs) != 2 || !strings.Contains(reqs[0], "per_page=100") || !strings.Contains(reqs[1], "page=2") {
		t.Errorf("requests %q", reqs)
	}

	spec.IgnoreAuthors = []string{"*"}
	_, err := runSpec(t, spec, deps)
	wantCode(t, err, exitcode.BadInput, "every commit in my-org/credit-model that touches --path", "(153) is ignored")
}

// TestGitHubNotFound: a repository, path, ref or token GitHub does not know
// is bad input, in one line.
func TestGitHubNotFound(t *testing.T) {
	t.Parallel()
	g := newGitHubServer(t, "")
	g.token = "ghs_secret"
	seedRepo(g)
	g.set(func(g *githubServer) { g.repo("my-org/empty") })
	deps, _, _ := ghDeps(t, g, "ghs_secret")

	_, err := runSpec(t, ghSpec("my-org/missing", nb), deps)
	wantCode(t, err, exitcode.BadInput, "my-org/missing", "not found (404")
	_, err = runSpec(t, ghSpec("my-org/credit-model", "notebooks/typo.ipynb"), deps)
	wantCode(t, err, exitcode.BadInput, `--path "notebooks/typo.ipynb": no commit in my-org/credit-model touches it`)
	spec := ghSpec("my-org/credit-model", nb)
	spec.Ref = "release-9"
	_, err = runSpec(t, spec, deps)
	wantCode(t, err, exitcode.BadInput, "my-org/credit-model@release-9", "404 No commit found for SHA: release-9")
	_, err = runSpec(t, ghSpec("my-org/empty", nb), deps)
	wantCode(t, err, exitcode.BadInput, "409 Git Repository is empty")

	bad, _, _ := ghDeps(t, g, "ghs_wrong")
	_, err = runSpec(t, ghSpec("my-org/credit-model", nb), bad)
	wantCode(t, err, exitcode.BadInput, "GitHub refused the token (401 Bad credentials)")
	if strings.Contains(err.Error(), "ghs_wrong") {
		t.Errorf("the token is in the error: %v", err)
	}
}

// TestGitHubPrimaryRateLimit: an exhausted rate limit (403 or 429 with
// x-ratelimit-remaining: 0) is exit 3 naming the reset time, without
// waiting an hour for it.
func TestGitHubPrimaryRateLimit(t *testing.T) {
	t.Parallel()
	for _, status := range []int{403, 429} {
		g := newGitHubServer(t, "")
		seedRepo(g)
		reset := time.Now().Add(37 * time.Minute).Truncate(time.Second)
		g.set(func(g *githubServer) { g.primaryReset, g.primaryStatus = reset, status })
		deps, s, _ := ghDeps(t, g, "")
		res, err := runSpec(t, ghSpec("my-org/credit-model", nb), deps)
		wantCode(t, err, exitcode.Incomplete, "rate limit exhausted (5000 requests an hour)", "resets at "+reset.UTC().Format(time.RFC3339))
		if len(s.Waits()) != 0 || res.State != StateUnknown {
			t.Errorf("%d: waits %v, state %s", status, s.Waits(), res.State)
		}
	}
}

// TestGitHubSecondaryRateLimit: a secondary limit is waited out for its
// retry-after and the request retried, a bounded number of times and never
// past --timeout.
func TestGitHubSecondaryRateLimit(t *testing.T) {
	t.Parallel()
	t.Run("retry-after", func(t *testing.T) {
		t.Parallel()
		g := newGitHubServer(t, "")
		seedRepo(g)
		g.set(func(g *githubServer) { g.secondary, g.retryAfter = 2, "7" })
		deps, s, log := ghDeps(t, g, "")
		m := mustRun(t, ghSpec("my-org/credit-model", nb), deps)
		if m.Commit != sha(2) {
			t.Errorf("commit %s", m.Commit)
		}
		if w := s.Waits(); len(w) != 2 || w[0] != 7*time.Second || w[1] != 7*time.Second {
			t.Errorf("waits %v, want 7s twice", w)
		}
		if n := len(g.Requests("GET ")); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
		if !strings.Contains(log.text(), "secondary rate limit: waiting 7s before retry 1 of 3") {
			t.Errorf("log: %s", log.text())
		}
	})
	t.Run("without retry-after", func(t *testing.T) {
		t.Parallel()
		g := newGitHubServer(t, "")
		seedRepo(g)
		g.set(func(g *githubServer) { g.secondary = 100 })
		deps, s, _ := ghDeps(t, g, "")
		cfg := Config{Model: ghSpec("my-org/credit-model", nb), Timeout: time.Hour}
		deps.Now = fixedNow
		_, err := runConfig(context.Background(), cfg, deps)
		wantCode(t, err, exitcode.Incomplete, "secondary rate limit still refuses after 3 retries")
		if w := s.Waits(); len(w) != 3 || w[0] != time.Minute || w[1] != 2*time.Minute || w[2] != 4*time.Minute {
			t.Errorf("waits %v, want 1m 2m 4m", w)
		}
		if n := len(g.Requests("GET ")); n != 4 {
			t.Errorf("%d requests, want 4", n)
		}
	})
	t.Run("longer than the timeout", func(t *testing.T) {
		t.Parallel()
		g := newGitHubServer(t, "")
		seedRepo(g)
		g.set(func(g *githubServer) { g.secondary, g.retryAfter = 1, "3600" })
		deps, s, _ := ghDeps(t, g, "")
		_, err := runSpec(t, ghSpec("my-org/credit-model", nb), deps)
		wantCode(t, err, exitcode.Incomplete, "asks to wait 1h0m0s, longer than what is left of --timeout 1m0s")
		if len(s.Waits()) != 0 {
			t.Errorf("waited %v", s.Waits())
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		t.Parallel()
		g := newGitHubServer(t, "")
		seedRepo(g)
		g.set(func(g *githubServer) { g.secondary, g.retryAfter = 1, "5" })
		deps, _, _ := ghDeps(t, g, "")
		ctx, cancel := context.WithCancel(context.Background())
		deps.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); return wait.Sleep(ctx, d) }
		deps.Now = fixedNow
		_, err := runConfig(ctx, Config{Model: ghSpec("my-org/credit-model", nb), Timeout: time.Minute}, deps)
		wantCode(t, err, exitcode.Incomplete, "waiting out GitHub's secondary rate limit: context canceled")
	})
}

// TestGitHubEnterprise: GITHUB_API_URL with an /api/v3 path is where every
// request goes.
func TestGitHubEnterprise(t *testing.T) {
	t.Parallel()
	g := newGitHubServer(t, "/api/v3")
	seedRepo(g)
	deps, _, _ := ghDeps(t, g, "")
	if m := mustRun(t, ghSpec("my-org/credit-model", nb), deps); m.Commit != sha(2) {
		t.Errorf("commit %s", m.Commit)
	}
	if _, err := NewGitHubClient("ftp://example.com", "", nil); exitcode.Of(err) != exitcode.BadInput {
		t.Errorf("ftp URL: %v", err)
	}
}

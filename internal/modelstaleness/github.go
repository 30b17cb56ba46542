package modelstaleness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v93/github"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/version"
)

// NewGitHubClient is a GitHub API client for apiURL (GITHUB_API_URL; empty
// for https://api.github.com), authenticated with token when there is one.
func NewGitHubClient(apiURL, token string, httpClient *http.Client) (*github.Client, error) {
	opts := []github.ClientOptionsFunc{
		github.WithUserAgent("mlship-model-staleness/" + version.String()),
	}
	if httpClient != nil {
		opts = append(opts, github.WithHTTPClient(httpClient))
	} else {
		opts = append(opts, github.WithTimeout(time.Minute), github.WithEnvProxy())
	}
	if token != "" {
		opts = append(opts, github.WithAuthToken(token))
	}
	if apiURL != "" {
		u, err := url.Parse(apiURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, exitcode.BadInputf("GITHUB_API_URL %q: want the API's https URL, e.g. https://github.example.com/api/v3", apiURL)
		}
		base := strings.TrimRight(apiURL, "/") + "/"
		opts = append(opts, github.WithURLs(&base, &base))
	}
	c, err := github.NewClient(opts...)
	if err != nil {
		return nil, exitcode.BadInputf("GitHub client: %v", err)
	}
	return c, nil
}

// Waiting out GitHub's secondary rate limit: how many times a request is
// retried, and how long to wait when GitHub does not say (its docs: at
// least a minute).
const (
	secondaryRetries  = 3
	secondaryFallback = time.Minute
	// maxCommitPages bounds the commits read per path while skipping
	// ignored ones (100 a page).
	maxCommitPages = 10
)

type githubAPI struct {
	client  *github.Client
	sleep   func(context.Context, time.Duration) error
	log     action.Logger
	timeout time.Duration
}

// call runs one GitHub request, waiting out a secondary rate limit (as long
// as its retry-after says, a few times, within --timeout) and reporting a
// primary one with its reset time. Errors carry their exit code.
func (g *githubAPI) call(ctx context.Context, what string, fn func(context.Context) (*github.Response, error)) error {
	for attempt := 0; ; attempt++ {
		_, err := fn(ctx)
		if err == nil {
			return nil
		}
		wait, secondary := secondaryWait(err, attempt)
		if !secondary {
			return githubErr(ctx, what, err)
		}
		if attempt >= secondaryRetries {
			return exitcode.Incompletef("%s: GitHub's secondary rate limit still refuses after %d retries; run again later", what, secondaryRetries)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return exitcode.Incompletef("%s: GitHub's secondary rate limit asks to wait %s, longer than what is left of --timeout %s; run again after %s", what, wait.Round(time.Second), g.timeout, time.Now().Add(wait).UTC().Format(time.RFC3339))
		}
		g.log.Logf("%s: GitHub's secondary rate limit: waiting %s before retry %d of %d", what, wait.Round(time.Second), attempt+1, secondaryRetries)
		if err := g.sleep(ctx, wait); err != nil {
			return exitcode.Incompletef("%s: waiting out GitHub's secondary rate limit: %v", what, err)
		}
		// The client remembers the limit and would refuse the retry itself
		// until the wait it was told is over; the wait is over.
		ctx = context.WithValue(ctx, github.BypassRateLimitCheck, true)
	}
}

// secondaryWait tells whether err is GitHub's secondary rate limit, and how
// long to wait: its retry-after, else a minute, doubled on each retry.
func secondaryWait(err error, attempt int) (time.Duration, bool) {
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) {
		return 0, false
	}
	if abuse.RetryAfter != nil && *abuse.RetryAfter > 0 {
		return *abuse.RetryAfter, true
	}
	return secondaryFallback << attempt, true
}

func githubErr(ctx context.Context, what string, err error) error {
	var rl *github.RateLimitError
	var er *github.ErrorResponse
	switch {
	case ctx.Err() != nil:
		return exitcode.Incompletef("%s: %v", what, ctx.Err())
	case errors.As(err, &rl):
		return exitcode.Incompletef("%s: GitHub API rate limit exhausted (%d requests an hour); it resets at %s", what, rl.Rate.Limit, rl.Rate.Reset.UTC().Format(time.RFC3339))
	case errors.As(err, &er) && er.Response != nil:
		msg := er.Message
		switch er.Response.StatusCode {
		case http.StatusUnauthorized:
			return exitcode.BadInputf("%s: GitHub refused the token (401 %s): check --token or GITHUB_TOKEN", what, msg)
		case http.StatusNotFound:
			return exitcode.BadInputf("%s: not found (404 %s): check the repository and ref, and that the token may read the repository", what, msg)
		case http.StatusConflict, http.StatusUnprocessableEntity:
			return exitcode.BadInputf("%s: GitHub refused it (%d %s)", what, er.Response.StatusCode, msg)
		case http.StatusForbidden:
			return exitcode.Incompletef("%s: forbidden (403 %s): the token lacks a permission (contents: read, issues: write)", what, msg)
		}
		return exitcode.Incompletef("%s: GitHub answered %d %s", what, er.Response.StatusCode, msg)
	}
	return exitcode.Incompletef("%s: %v", what, err)
}

func splitRepo(r string) (string, string) {
	owner, name, _ := strings.Cut(r, "/")
	return owner, name
}

// lastChange finds the newest commit touching any of the model's paths with
// the GitHub API: one request per path when nothing is ignored, else pages
// of 100 read until a commit passes the filters.
func (g *githubAPI) lastChange(ctx context.Context, m *Model) (*change, error) {
	owner, repo := splitRepo(m.Spec.Repository)
	filtered := len(m.Spec.IgnoreAuthors) > 0 || len(m.ignoreMessages) > 0
	perPage := 1
	if filtered {
		perPage = 100
	}
	on := m.Spec.Repository
	if m.Spec.Ref != "" {
		on += "@" + m.Spec.Ref
	}
	var best *change
	ignoredTotal := 0
	for _, p := range m.paths {
		opts := &github.CommitsListOptions{SHA: m.Spec.Ref, Path: p, ListOptions: github.ListOptions{PerPage: perPage}}
		var found *change
		seen, ignored := 0, 0
		for page := 0; found == nil; page++ {
			if page == maxCommitPages {
				return nil, exitcode.Incompletef("%s %q: the newest %d commits in %s that touch it are all ignored; not reading further", m.opt("path"), p, seen, on)
			}
			var commits []*github.RepositoryCommit
			var resp *github.Response
			err := g.call(ctx, fmt.Sprintf("listing the commits of %s that touch %s", on, p), func(ctx context.Context) (*github.Response, error) {
				var err error
				commits, resp, err = g.client.Repositories.ListCommits(ctx, owner, repo, opts)
				return resp, err
			})
			if err != nil {
				return nil, err
			}
			for _, c := range commits {
				seen++
				gc := c.GetCommit()
				if m.ignored(gc.GetAuthor().GetName(), gc.GetAuthor().GetEmail(), c.GetAuthor().GetLogin(), gc.GetMessage()) {
					ignored++
					continue
				}
				at := gc.GetCommitter().GetDate().Time
				if at.IsZero() {
					at = gc.GetAuthor().GetDate().Time
				}
				subject, _, _ := strings.Cut(strings.TrimSpace(gc.GetMessage()), "\n")
				found = &change{at: at, commit: c.GetSHA(), author: cmpOr(c.GetAuthor().GetLogin(), gc.GetAuthor().GetName()), subject: subject, url: c.GetHTMLURL()}
				break
			}
			if found != nil || resp == nil || resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
		switch {
		case seen == 0:
			return nil, exitcode.BadInputf("%s %q: no commit in %s touches it", m.opt("path"), p, on)
		case found == nil:
			return nil, exitcode.BadInputf("every commit in %s that touches %s %q (%d) is ignored by %s/%s", on, m.opt("path"), p, ignored, m.opt("ignore-author"), m.opt("ignore-message"))
		}
		if found.at.IsZero() {
			return nil, exitcode.Incompletef("commit %s in %s has no date", found.commit, on)
		}
		ignoredTotal += ignored
		if best == nil || found.at.After(best.at) {
			best = found
		}
	}
	if ignoredTotal > 0 {
		best.warnings = append(best.warnings, fmt.Sprintf("skipped %d newer commit(s) by ignored authors or messages", ignoredTotal))
	}
	return best, nil
}

package modelstaleness

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// githubServer is a local HTTP server that answers the parts of GitHub's
// REST API model-staleness uses the way GitHub does: commits of a path
// (newest first, paginated with Link headers, an empty list for a path no
// commit touches, 404 for a repository or ref that is not there), the
// issues of a repository (list, create, update, comment), rate-limit
// headers on every answer, and on demand the primary rate limit (403 or
// 429 with x-ratelimit-remaining: 0) and the secondary one (403 with
// retry-after).
type githubServer struct {
	t      testing.TB
	URL    string // the API base URL, as GITHUB_API_URL
	prefix string // "/api/v3" for GitHub Enterprise

	mu    sync.Mutex
	repos map[string]*ghRepo
	// token, when set, is the only one accepted.
	token    string
	requests []string // "METHOD /path?query"
	// primaryReset, when set, makes every request hit the primary rate
	// limit until then; primaryStatus is 403 (default) or 429.
	primaryReset  time.Time
	primaryStatus int
	// secondary requests from now on get the secondary rate limit with
	// retryAfter seconds ("" sends no retry-after header).
	secondary  int
	retryAfter string
	nextIssue  int
}

type ghRepo struct {
	branches map[string][]ghCommit // commits of each branch, newest first
	issues   []*ghIssue
}

type ghCommit struct {
	SHA     string
	Date    time.Time // committer date
	Author  string
	Email   string
	Login   string // "" for a commit GitHub cannot link to a user
	Message string
	Paths   []string
}

type ghIssue struct {
	Number      int
	Title       string
	Body        string
	State       string
	StateReason string
	Labels      []string
	Comments    []string
	PullRequest bool
}

func newGitHubServer(t testing.TB, prefix string) *githubServer {
	t.Helper()
	g := &githubServer{t: t, prefix: prefix, repos: map[string]*ghRepo{}, nextIssue: 1}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	g.URL = srv.URL + prefix
	return g
}

// addCommits adds commits to a branch of a repository (created as needed).
func (g *githubServer) addCommits(repo, branch string, commits ...ghCommit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.repo(repo)
	r.branches[branch] = append(r.branches[branch], commits...)
	sort.SliceStable(r.branches[branch], func(i, j int) bool { return r.branches[branch][i].Date.After(r.branches[branch][j].Date) })
}

func (g *githubServer) repo(name string) *ghRepo {
	r := g.repos[name]
	if r == nil {
		r = &ghRepo{branches: map[string][]ghCommit{}}
		g.repos[name] = r
	}
	return r
}

func (g *githubServer) addIssue(repo string, is ghIssue) *ghIssue {
	g.mu.Lock()
	defer g.mu.Unlock()
	is.Number = g.nextIssue
	g.nextIssue++
	if is.State == "" {
		is.State = "open"
	}
	r := g.repo(repo)
	r.issues = append(r.issues, &is)
	return &is
}

// Issues returns a copy of a repository's issues.
func (g *githubServer) Issues(repo string) []ghIssue {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []ghIssue
	for _, is := range g.repo(repo).issues {
		c := *is
		c.Comments = slices.Clone(is.Comments)
		out = append(out, c)
	}
	return out
}

// Requests returns the requests so far whose "METHOD /path" starts with
// prefix.
func (g *githubServer) Requests(prefix string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, r := range g.requests {
		if strings.HasPrefix(r, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// Writes counts the requests that change something.
func (g *githubServer) Writes() int {
	return len(g.Requests("POST ")) + len(g.Requests("PATCH "))
}

func (g *githubServer) set(fn func(g *githubServer)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fn(g)
}

func (g *githubServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	path, ok := strings.CutPrefix(r.URL.Path, g.prefix)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	g.requests = append(g.requests, r.Method+" "+path+"?"+r.URL.RawQuery)

	reset := now.Add(time.Hour)
	w.Header().Set("X-RateLimit-Limit", "5000")
	w.Header().Set("X-RateLimit-Used", strconv.Itoa(len(g.requests)))
	w.Header().Set("X-RateLimit-Resource", "core")
	if !g.primaryReset.IsZero() {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(g.primaryReset.Unix(), 10))
		status := g.primaryStatus
		if status == 0 {
			status = http.StatusForbidden
		}
		writeJSON(w, status, map[string]string{
			"message":           "API rate limit exceeded for installation ID 1.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit",
		})
		return
	}
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(5000-len(g.requests)))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if g.secondary > 0 {
		g.secondary--
		if g.retryAfter != "" {
			w.Header().Set("Retry-After", g.retryAfter)
		}
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
		return
	}
	if g.token != "" {
		auth := r.Header.Get("Authorization")
		switch {
		case auth == "":
			// GitHub hides private repositories from anonymous requests.
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
			return
		case auth != "Bearer "+g.token && auth != "token "+g.token:
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
			return
		}
	}

	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 4 || parts[0] != "repos" {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	repo, ok := g.repos[parts[1]+"/"+parts[2]]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/commits/commits#list-commits"})
		return
	}
	base := fmt.Sprintf("http://%s%s/repos/%s/%s", r.Host, g.prefix, parts[1], parts[2])
	switch {
	case r.Method == http.MethodGet && len(parts) == 4 && parts[3] == "commits":
		g.listCommits(w, r, repo, base, parts[1]+"/"+parts[2])
	case r.Method == http.MethodGet && len(parts) == 4 && parts[3] == "issues":
		g.listIssues(w, r, repo, base)
	case r.Method == http.MethodPost && len(parts) == 4 && parts[3] == "issues":
		var in struct {
			Title  string   `json:"title"`
			Body   string   `json:"body"`
			Labels []string `json:"labels"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Title == "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
			return
		}
		is := &ghIssue{Number: g.nextIssue, Title: in.Title, Body: in.Body, State: "open", Labels: in.Labels}
		g.nextIssue++
		repo.issues = append(repo.issues, is)
		writeJSON(w, http.StatusCreated, issueJSON(is, base))
	case len(parts) >= 5 && parts[3] == "issues":
		n, err := strconv.Atoi(parts[4])
		var is *ghIssue
		for _, x := range repo.issues {
			if x.Number == n {
				is = x
			}
		}
		if err != nil || is == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		switch {
		case r.Method == http.MethodPatch && len(parts) == 5:
			var in struct {
				Title       *string `json:"title"`
				Body        *string `json:"body"`
				State       *string `json:"state"`
				StateReason *string `json:"state_reason"`
			}
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
				return
			}
			if in.Title != nil {
				is.Title = *in.Title
			}
			if in.Body != nil {
				is.Body = *in.Body
			}
			if in.State != nil {
				if *in.State != "open" && *in.State != "closed" {
					writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
					return
				}
				is.State = *in.State
			}
			if in.StateReason != nil {
				is.StateReason = *in.StateReason
			}
			writeJSON(w, http.StatusOK, issueJSON(is, base))
		case r.Method == http.MethodPost && len(parts) == 6 && parts[5] == "comments":
			var in struct {
				Body string `json:"body"`
			}
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
				return
			}
			is.Comments = append(is.Comments, in.Body)
			writeJSON(w, http.StatusCreated, map[string]any{"id": len(is.Comments), "body": in.Body})
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	}
}

// page cuts items to the page the query asks for and sets the Link header.
func page[T any](w http.ResponseWriter, r *http.Request, base string, items []T) []T {
	q := r.URL.Query()
	per := 30
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		per = min(v, 100)
	}
	p := 1
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		p = v
	}
	last := max(1, (len(items)+per-1)/per)
	link := func(n int, rel string) string {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = v
		}
		q2.Set("page", strconv.Itoa(n))
		q2.Set("per_page", strconv.Itoa(per))
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, base, q2.Encode(), rel)
	}
	var links []string
	if p < last {
		links = append(links, link(p+1, "next"), link(last, "last"))
	}
	if p > 1 {
		links = append(links, link(1, "first"), link(p-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	start := (p - 1) * per
	if start >= len(items) {
		return nil
	}
	return items[start:min(len(items), start+per)]
}

func (g *githubServer) listCommits(w http.ResponseWriter, r *http.Request, repo *ghRepo, base, name string) {
	q := r.URL.Query()
	branch := q.Get("sha")
	if branch == "" {
		branch = "main"
	}
	commits, ok := repo.branches[branch]
	if !ok && len(repo.branches) == 0 {
		writeJSON(w, http.StatusConflict, map[string]string{"message": "Git Repository is empty."})
		return
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "No commit found for SHA: " + branch})
		return
	}
	var matched []ghCommit
	p := strings.Trim(q.Get("path"), "/")
	for _, c := range commits {
		if p == "" || slices.ContainsFunc(c.Paths, func(cp string) bool { return cp == p || strings.HasPrefix(cp, p+"/") }) {
			matched = append(matched, c)
		}
	}
	out := []map[string]any{}
	for _, c := range page(w, r, base+"/commits", matched) {
		d := c.Date.UTC().Format(time.RFC3339)
		item := map[string]any{
			"sha":      c.SHA,
			"html_url": "https://github.com/" + name + "/commit/" + c.SHA,
			"commit": map[string]any{
				"author":    map[string]string{"name": c.Author, "email": c.Email, "date": d},
				"committer": map[string]string{"name": "GitHub", "email": "noreply@github.com", "date": d},
				"message":   c.Message,
			},
			"author": nil,
		}
		if c.Login != "" {
			item["author"] = map[string]any{"login": c.Login, "type": "User"}
		}
		out = append(out, item)
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *githubServer) listIssues(w http.ResponseWriter, r *http.Request, repo *ghRepo, base string) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var labels []string
	if l := q.Get("labels"); l != "" {
		labels = strings.Split(l, ",")
	}
	var matched []*ghIssue
	for _, is := range repo.issues {
		if state != "all" && is.State != state {
			continue
		}
		if !slices.ContainsFunc(labels, func(l string) bool { return !slices.Contains(is.Labels, l) }) {
			matched = append(matched, is)
		}
	}
	if q.Get("direction") != "asc" {
		slices.Reverse(matched)
	}
	out := []map[string]any{}
	for _, is := range page(w, r, base+"/issues", matched) {
		out = append(out, issueJSON(is, base))
	}
	writeJSON(w, http.StatusOK, out)
}

func issueJSON(is *ghIssue, base string) map[string]any {
	labels := []map[string]string{}
	for _, l := range is.Labels {
		labels = append(labels, map[string]string{"name": l})
	}
	m := map[string]any{
		"number": is.Number, "title": is.Title, "body": is.Body, "state": is.State, "labels": labels,
		"html_url": strings.Replace(base, "/repos/", "/", 1) + "/issues/" + strconv.Itoa(is.Number),
	}
	if is.StateReason != "" {
		m["state_reason"] = is.StateReason
	}
	if is.PullRequest {
		m["pull_request"] = map[string]string{"url": base + "/pulls/" + strconv.Itoa(is.Number)}
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

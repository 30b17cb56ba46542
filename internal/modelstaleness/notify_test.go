package modelstaleness

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mlship/mlship/internal/exitcode"
)

const topic = "arn:aws:sns:us-east-1:123456789012:model-alerts"

func runAt(t testing.TB, cfg Config, deps Deps, at time.Time) (*Result, error) {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute
	}
	deps.Now = func() time.Time { return at }
	return runConfig(context.Background(), cfg, deps)
}

func mustRunAt(t testing.TB, cfg Config, deps Deps, at time.Time) *Result {
	t.Helper()
	res, err := runAt(t, cfg, deps, at)
	if err != nil {
		t.Fatalf("run at %s: %v", at.Format(time.RFC3339), err)
	}
	return res
}

func openIssues(g *githubServer, repo string) []ghIssue {
	var out []ghIssue
	for _, is := range g.Issues(repo) {
		if is.State == "open" && !is.PullRequest {
			out = append(out, is)
		}
	}
	return out
}

// TestIssueLifecycle: one issue per model, opened when stale, left alone
// while nothing changes, updated with a comment when the state changes,
// closed with a comment when the model is fresh again, and a new one when
// it goes stale again.
func TestIssueLifecycle(t *testing.T) {
	t.Parallel()
	const repo = "my-org/credit-model"
	g := newGitHubServer(t, "")
	seedRepo(g)
	// Issues that are not this model's: left alone.
	g.addIssue(repo, ghIssue{Title: "Bug", Body: "something broke"})
	g.addIssue(repo, ghIssue{Title: "PR", Body: marker(nb, stateEntry{State: StateWarn}), PullRequest: true})
	other := g.addIssue(repo, ghIssue{Title: "Model retail is stale", Body: marker("retail", stateEntry{State: StateError, Notified: []string{"issue"}})})
	deps, _, _ := ghDeps(t, g, "")
	cfg := Config{Model: ghSpec(repo, nb), Issue: true, IssueLabels: []string{"model-staleness,ml"}, RunURL: "https://github.com/my-org/credit-model/actions/runs/7"}

	// Day 0: 9 days old, warn: the issue is opened.
	res := mustRunAt(t, cfg, deps, now)
	open := openIssues(g, repo)
	if len(open) != 3 {
		t.Fatalf("open issues %+v", open)
	}
	is := open[2]
	if res.Notified[0] != "issue my-org/credit-model#4 opened" || is.Number != 4 || is.Title != "Model "+nb+" is stale" || !slices.Equal(is.Labels, []string{"model-staleness", "ml"}) {
		t.Errorf("notified %q, issue %+v", res.Notified, is)
	}
	name, e, ok := parseMarker(is.Body)
	if !ok || name != nb || e.State != StateWarn || e.LastUpdated != daysAgo(9).Format(time.RFC3339) || !slices.Equal(e.Notified, []string{"issue"}) {
		t.Errorf("marker %q %+v in %q", name, e, is.Body)
	}
	for _, s := range []string{"was last updated **" + daysAgo(9).Format(time.RFC3339) + "**, 9d before this check", "| State | ⚠️ warn (warn after 7d, error after 14d) |", "by [this run](https://github.com/my-org/credit-model/actions/runs/7)", "by jane: Retrain"} {
		if !strings.Contains(is.Body, s) {
			t.Errorf("body lacks %q:\n%s", s, is.Body)
		}
	}

	// An hour later, the same state: nothing is written.
	writes := g.Writes()
	res = mustRunAt(t, cfg, deps, now.Add(time.Hour))
	if g.Writes() != writes || len(res.Notified) != 0 || res.Models[0].Notifications[0].Action != "skipped" {
		t.Errorf("repeated run wrote %d times, notified %q", g.Writes()-writes, res.Notified)
	}

	// Six days later, 15 days old: error. Updated in place, with a comment.
	res = mustRunAt(t, cfg, deps, now.Add(6*24*time.Hour))
	open = openIssues(g, repo)
	if len(open) != 3 || res.Notified[0] != "issue my-org/credit-model#4 updated" {
		t.Fatalf("notified %q, open %d", res.Notified, len(open))
	}
	if _, e, _ := parseMarker(open[2].Body); e.State != StateError || len(open[2].Comments) != 1 || !strings.Contains(open[2].Comments[0], "The state is now ❌ error") {
		t.Errorf("after the change: marker %+v comments %q", e, open[2].Comments)
	}

	// A retrained notebook: fresh again, the issue is closed with a comment.
	g.addCommits(repo, "main", ghCommit{SHA: sha(4), Date: now.Add(6*24*time.Hour + time.Hour), Author: "Jane", Login: "jane", Message: "Retrain", Paths: []string{nb}})
	res = mustRunAt(t, cfg, deps, now.Add(7*24*time.Hour))
	all := g.Issues(repo)
	if res.State != StateFresh || res.Notified[0] != "issue my-org/credit-model#4 closed" || all[3].State != "closed" || all[3].StateReason != "completed" ||
		len(all[3].Comments) != 2 || !strings.Contains(all[3].Comments[1], "fresh again") {
		t.Errorf("closing: notified %q issue %+v", res.Notified, all[3])
	}
	writes = g.Writes()
	if res := mustRunAt(t, cfg, deps, now.Add(7*24*time.Hour+time.Hour)); g.Writes() != writes || len(res.Notified) != 0 {
		t.Errorf("fresh again, repeated: %d writes", g.Writes()-writes)
	}

	// Stale again weeks later: a new issue.
	res = mustRunAt(t, cfg, deps, now.Add(20*24*time.Hour))
	if res.Notified[0] != "issue my-org/credit-model#5 opened" || len(openIssues(g, repo)) != 3 {
		t.Errorf("stale again: %q", res.Notified)
	}
	if got := g.Issues(repo)[2]; got.Body != other.Body || len(got.Comments) != 0 || got.State != "open" {
		t.Errorf("another model's issue was touched: %+v", got)
	}
}

// TestNotifyOncePerState: SNS and SES are sent once for a state, again when
// the state changes, not while the model is fresh; --state-file remembers.
func TestNotifyOncePerState(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(daysAgo(9), "Jane <jane@example.com>", "Retrain", map[string]string{nb: "v1"})
	snsF, sesF := newSNSFake(topic), newSESFake("example.com")
	state := filepath.Join(t.TempDir(), "cache", "staleness.json")
	cfg := Config{
		Model: gitSpec(r.dir, nb), SNSTopicARN: topic, StateFile: state,
		EmailTo: []string{"ml-team@example.com"}, EmailFrom: "Model monitor <monitor@example.com>",
	}
	deps := Deps{SNS: snsF, SES: sesF}

	res := mustRunAt(t, cfg, deps, now)
	if !slices.Equal(res.Notified, []string{"sns published", "email sent"}) || len(snsF.Published()) != 1 || len(sesF.Sent()) != 1 {
		t.Fatalf("first run: notified %q, sns %d, ses %d", res.Notified, len(snsF.Published()), len(sesF.Sent()))
	}
	mail := sesF.Sent()[0]
	if subj := aws.ToString(mail.Content.Simple.Subject.Data); subj != "Model "+nb+" is stale: last updated 9d ago (warn)" {
		t.Errorf("subject %q", subj)
	}
	if body := aws.ToString(mail.Content.Simple.Body.Text.Data); !strings.Contains(body, "was last updated "+daysAgo(9).Format(time.RFC3339)+", 9d ago.") || !strings.Contains(body, "by Jane: Retrain") {
		t.Errorf("body %q", body)
	}
	if p := snsF.Published()[0]; aws.ToString(p.Subject) != "Model "+nb+" is stale: last updated 9d ago (warn)" || p.MessageGroupId != nil {
		t.Errorf("sns %+v", p)
	}
	var sf stateFile
	b, err := os.ReadFile(state)
	if err != nil || json.Unmarshal(b, &sf) != nil {
		t.Fatalf("state file: %v %s", err, b)
	}
	if e := sf.Models[nb]; e == nil || e.State != StateWarn || !slices.Equal(e.Notified, []string{"email", "sns"}) {
		t.Errorf("state file %s", b)
	}

	// The same state the next day: nothing sent, the file unchanged.
	res = mustRunAt(t, cfg, deps, now.Add(24*time.Hour))
	b2, _ := os.ReadFile(state)
	if len(res.Notified) != 0 || len(snsF.Published()) != 1 || len(sesF.Sent()) != 1 || string(b2) != string(b) {
		t.Errorf("repeated: notified %q, sns %d, ses %d, file changed %t", res.Notified, len(snsF.Published()), len(sesF.Sent()), string(b2) != string(b))
	}

	// Error: sent again.
	res = mustRunAt(t, cfg, deps, now.Add(6*24*time.Hour))
	if res.State != StateError || len(snsF.Published()) != 2 || len(sesF.Sent()) != 2 {
		t.Errorf("escalation: %s, sns %d, ses %d", res.State, len(snsF.Published()), len(sesF.Sent()))
	}

	// Fresh: nothing sent; then stale again: sent.
	r.commit(now.Add(6*24*time.Hour+time.Hour), "", "Retrain", map[string]string{nb: "v2"})
	mustRunAt(t, cfg, deps, now.Add(7*24*time.Hour))
	if len(snsF.Published()) != 2 || len(sesF.Sent()) != 2 {
		t.Errorf("fresh: sns %d, ses %d", len(snsF.Published()), len(sesF.Sent()))
	}
	mustRunAt(t, cfg, deps, now.Add(15*24*time.Hour))
	if len(snsF.Published()) != 3 || len(sesF.Sent()) != 3 {
		t.Errorf("stale again: sns %d, ses %d", len(snsF.Published()), len(sesF.Sent()))
	}
}

// TestNotifyFailures: a channel that fails is exit 3 naming the service's
// error; what was sent is recorded, and the next run sends only the rest.
func TestNotifyFailures(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(daysAgo(9), "", "Retrain", map[string]string{nb: "v1"})
	snsF, sesF := newSNSFake(), newSESFake("example.com")
	state := filepath.Join(t.TempDir(), "state.json")
	cfg := Config{Model: gitSpec(r.dir, nb), SNSTopicARN: topic, StateFile: state, EmailTo: []string{"ml@example.com"}, EmailFrom: "monitor@example.com"}
	deps := Deps{SNS: snsF, SES: sesF}

	res, err := runAt(t, cfg, deps, now)
	wantCode(t, err, exitcode.Incomplete, "publishing to SNS topic "+topic+": NotFound: Topic does not exist")
	if !slices.Equal(res.Notified, []string{"email sent"}) || res.Models[0].Notifications[0].Error == "" {
		t.Errorf("notified %q, notifications %+v", res.Notified, res.Models[0].Notifications)
	}

	snsF.set(func(f *snsFake) { f.topics[topic] = true })
	res = mustRunAt(t, cfg, deps, now.Add(time.Hour))
	if !slices.Equal(res.Notified, []string{"sns published"}) || len(sesF.Sent()) != 1 {
		t.Errorf("second run: notified %q, ses %d", res.Notified, len(sesF.Sent()))
	}

	snsF.set(func(f *snsFake) { f.denied = true })
	unverified := cfg
	unverified.EmailFrom, unverified.StateFile = "monitor@other.example", ""
	_, err = runAt(t, unverified, deps, now)
	wantCode(t, err, exitcode.Incomplete, "AuthorizationError", "not authorized to perform: SNS:Publish", "sending email to ml@example.com: MessageRejected: Email address is not verified")
}

// TestMarkerRemembersSNS: with --issue and no state file, the issue's
// marker records that the SNS message went out, so it is not sent twice.
func TestMarkerRemembersSNS(t *testing.T) {
	t.Parallel()
	g := newGitHubServer(t, "")
	seedRepo(g)
	deps, _, _ := ghDeps(t, g, "")
	snsF := newSNSFake(topic)
	deps.SNS = snsF
	cfg := Config{Model: ghSpec("my-org/credit-model", nb), Issue: true, SNSTopicARN: topic}
	mustRunAt(t, cfg, deps, now)
	_, e, _ := parseMarker(openIssues(g, "my-org/credit-model")[0].Body)
	if !slices.Equal(e.Notified, []string{"issue", "sns"}) {
		t.Errorf("marker notified %q", e.Notified)
	}
	res := mustRunAt(t, cfg, deps, now.Add(24*time.Hour))
	if len(snsF.Published()) != 1 || len(res.Notified) != 0 {
		t.Errorf("second run: sns %d, notified %q", len(snsF.Published()), res.Notified)
	}
}

// TestDryRun sends and writes nothing, and says what it would send.
func TestDryRun(t *testing.T) {
	t.Parallel()
	g := newGitHubServer(t, "")
	seedRepo(g)
	deps, _, log := ghDeps(t, g, "")
	snsF, sesF := newSNSFake(topic), newSESFake("example.com")
	deps.SNS, deps.SES = snsF, sesF
	state := filepath.Join(t.TempDir(), "state.json")
	cfg := Config{Model: ghSpec("my-org/credit-model", nb), Issue: true, SNSTopicARN: topic, EmailTo: []string{"ml@example.com"}, EmailFrom: "monitor@example.com", StateFile: state, DryRun: true}
	res := mustRunAt(t, cfg, deps, now)
	if g.Writes() != 0 || len(snsF.Published()) != 0 || len(sesF.Sent()) != 0 || len(res.Notified) != 0 || !res.DryRun {
		t.Errorf("dry run sent: writes %d sns %d ses %d notified %q", g.Writes(), len(snsF.Published()), len(sesF.Sent()), res.Notified)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("dry run wrote the state file: %v", err)
	}
	text := res.Text()
	for _, s := range []string{"dry run: would publish to sns " + topic, "dry run: would send email ml@example.com", "subject: Model " + nb + " is stale: last updated 9d ago (warn)", "dry run: would open issue my-org/credit-model", "| The model " + nb + " was last updated"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
	if !strings.Contains(log.text(), "dry run: would open issue my-org/credit-model") {
		t.Errorf("log: %s", log.text())
	}
	if !strings.Contains(res.Summary(), "dry run: would publish to sns, send email, open issue") {
		t.Errorf("summary:\n%s", res.Summary())
	}
}

// TestTemplates: subjects and bodies from Go templates (text or @file), a
// misspelt field caught before anything is asked, SNS's subject rules and
// FIFO topics.
func TestTemplates(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit(daysAgo(16), "Jane <jane@example.com>", "Retrain", map[string]string{nb: "v1"})
	body := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(body, []byte("{{.Name}} is {{.Age}} old ({{.AgeSeconds}}s), last {{.Commit}} by {{.Author}}; {{.Thresholds}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := "arn:aws:sns:us-east-1:123456789012:alerts.fifo"
	snsF, sesF := newSNSFake(fifo), newSESFake("example.com")
	spec := gitSpec(r.dir, nb)
	spec.Name = "crédit-card"
	cfg := Config{
		Model: spec, SNSTopicARN: fifo, SNSSubject: "Stale: {{.Name}} — {{.State}}\nsecond line",
		EmailTo: []string{"ml@example.com"}, EmailFrom: "monitor@example.com",
		EmailSubject: "[{{.State}}] {{.Name}}", EmailBody: "@" + body,
	}
	mustRunAt(t, cfg, Deps{SNS: snsF, SES: sesF}, now)
	mail := sesF.Sent()[0]
	if s := aws.ToString(mail.Content.Simple.Subject.Data); s != "[error] crédit-card" {
		t.Errorf("email subject %q", s)
	}
	commit := r.git("rev-parse", "HEAD")
	if b := aws.ToString(mail.Content.Simple.Body.Text.Data); b != "crédit-card is 16d old (1382400s), last "+commit+" by Jane; warn after 7d, error after 14d\n" {
		t.Errorf("email body %q", b)
	}
	p := snsF.Published()[0]
	if aws.ToString(p.Subject) != "Stale: cr?dit-card ? error second line" || p.MessageGroupId == nil || len(aws.ToString(p.MessageDeduplicationId)) != 64 {
		t.Errorf("sns subject %q group %v dedup %v", aws.ToString(p.Subject), p.MessageGroupId, p.MessageDeduplicationId)
	}

	bad := cfg
	bad.EmailBody = "{{.Nmae}}"
	_, err := runAt(t, bad, Deps{SNS: snsF, SES: sesF}, now)
	wantCode(t, err, exitcode.BadInput, "--email-body", "Nmae")
	if len(snsF.Published()) != 1 {
		t.Errorf("something was sent before the bad template was caught")
	}
}

// TestStateFileUnreadable: a state file that cannot be read is bad input
// before anything is asked or sent, and is left as it is.
func TestStateFileUnreadable(t *testing.T) {
	t.Parallel()
	g := newGitHubServer(t, "")
	seedRepo(g)
	deps, _, _ := ghDeps(t, g, "")
	snsF := newSNSFake(topic)
	deps.SNS = snsF
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage.json": "{not json",
		"unknown.json": `{"version":1,"models":{},"extra":1}`,
		"version.json": `{"version":2,"models":{}}`,
		"state.json":   `{"version":1,"models":{"x":{"state":"stale","notified":[]}}}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := runAt(t, Config{Model: ghSpec("my-org/credit-model", nb), SNSTopicARN: topic, StateFile: path}, deps, now)
		wantCode(t, err, exitcode.BadInput, `--state-file "`+path+`"`)
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("%s was changed to %s", name, b)
		}
	}
	if n := len(g.Requests("")); n != 0 || len(snsF.Published()) != 0 {
		t.Errorf("%d GitHub requests, %d SNS messages before the state file was read", n, len(snsF.Published()))
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	t.Parallel()
	e := stateEntry{State: StateWarn, LastUpdated: "2026-01-01T00:00:00Z", Notified: []string{"issue", "sns"}}
	for _, name := range []string{"credit", "a --> b <!-- c", "models/**/*.pkl, x y", "é&=%"} {
		m := marker(name, e)
		if strings.Count(m, "-->") != 1 {
			t.Errorf("%q: the name ends the comment: %s", name, m)
		}
		got, ge, ok := parseMarker("text\n" + m + "\nmore")
		if !ok || got != name || ge.State != e.State || ge.LastUpdated != e.LastUpdated || !slices.Equal(ge.Notified, e.Notified) {
			t.Errorf("%q: parsed %q %+v", name, got, ge)
		}
	}
}

package modelstaleness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-github/v93/github"

	"github.com/mlship/mlship/internal/exitcode"
)

// Message is what the notification templates (--email-subject,
// --email-body, --sns-subject, --sns-message, --issue-title) are given.
type Message struct {
	Name        string // the model
	Source      string // git, github, s3, ecr, ssm or sagemaker
	Target      string // what was read: paths, repository, URI, image, ...
	State       string // warn or error
	LastUpdated string // RFC 3339
	Age         string // e.g. "9d 4h"
	AgeSeconds  int64
	WarnAfter   string
	ErrorAfter  string
	Thresholds  string // e.g. "warn after 7d, error after 14d"
	Commit      string // git and github
	Author      string
	Subject     string // the commit's first line
	URL         string // the commit on GitHub (github source)
	Item        string // the object key, image, parameter version or package
	RunURL      string // the workflow run, when in one
}

func sampleMessage() Message {
	return Message{
		Name: "credit-card", Source: SourceGit, Target: "notebooks/model.ipynb", State: StateWarn,
		LastUpdated: "2026-01-01T00:00:00Z", Age: "9d 4h", AgeSeconds: 792000, WarnAfter: "7d",
		Thresholds: "warn after 7d", Commit: "0123456789abcdef0123456789abcdef01234567", Author: "Jane",
		Subject: "Retrain", RunURL: "https://github.com/o/r/actions/runs/1",
	}
}

func messageOf(mr *ModelResult, runURL string) Message {
	m := Message{
		Name: mr.Name, Source: mr.Source, Target: mr.Target, State: mr.State, LastUpdated: mr.LastUpdated,
		Age: mr.AgeHuman, WarnAfter: mr.WarnAfter, ErrorAfter: mr.ErrorAfter, Thresholds: mr.thresholds(),
		Commit: mr.Commit, Author: mr.Author, Subject: mr.Subject, URL: mr.URL, Item: mr.Item, RunURL: runURL,
	}
	if mr.AgeSeconds != nil {
		m.AgeSeconds = *mr.AgeSeconds
	}
	return m
}

func render(t *template.Template, msg Message) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, msg); err != nil {
		return "", exitcode.BadInputf("--%s: %v", t.Name(), err)
	}
	return b.String(), nil
}

func oneLineText(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && (s[cut]&0xC0) == 0x80 {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// Channels, as recorded in the state file and the issue marker.
const (
	chanIssue = "issue"
	chanSNS   = "sns"
	chanEmail = "email"
)

// ---- what was reported before ----

// stateFile is the --state-file: per model, the state last reported and the
// channels it was sent to.
type stateFile struct {
	Version int                    `json:"version"`
	Models  map[string]*stateEntry `json:"models"`
}

type stateEntry struct {
	State       string   `json:"state"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Notified    []string `json:"notified"`
	At          string   `json:"at,omitempty"`
}

const stateFileVersion = 1

// readStateFile reads the state file; a file that is not there yet is an
// empty one. Anything else that cannot be read is bad input: it is not
// taken as empty, and is never written over.
func readStateFile(path string) (*stateFile, error) {
	if path == "" {
		return nil, nil
	}
	b, err := readLimited(path, MaxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return &stateFile{Version: stateFileVersion, Models: map[string]*stateEntry{}}, nil
	}
	if err != nil {
		return nil, exitcode.BadInputf("--state-file %q: %v", path, err)
	}
	var sf stateFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil {
		return nil, exitcode.BadInputf("--state-file %q: not a model-staleness state file: %v", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, exitcode.BadInputf("--state-file %q: not a model-staleness state file: more after the JSON object", path)
	}
	if sf.Version != stateFileVersion {
		return nil, exitcode.BadInputf("--state-file %q: version %d, want %d", path, sf.Version, stateFileVersion)
	}
	if sf.Models == nil {
		sf.Models = map[string]*stateEntry{}
	}
	for name, e := range sf.Models {
		if e == nil || stateRank(e.State) > stateRank(StateError) {
			return nil, exitcode.BadInputf("--state-file %q: model %q: no valid state", path, name)
		}
	}
	return &sf, nil
}

// writeStateFile replaces the state file in one step (a new file renamed
// over the old), so a crash never leaves half of one.
func writeStateFile(path string, sf *stateFile) error {
	b, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return exitcode.Incompletef("writing --state-file %s: %v", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return exitcode.Incompletef("writing --state-file %s: %v", path, unwrapPathError(err))
	}
	f, err := os.CreateTemp(dir, ".model-staleness-state-*")
	if err != nil {
		return exitcode.Incompletef("writing --state-file %s: %v", path, unwrapPathError(err))
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return exitcode.Incompletef("writing --state-file %s: %v", path, unwrapPathError(err))
	}
	return nil
}

// The issue marker: a hidden HTML comment in the issue body that names the
// model and records what was last reported, e.g.
//
//	<!-- mlship:model-staleness last-updated=2026-01-01T00%3A00%3A00Z&model=credit&notified=issue%2Csns&state=warn -->
const markerPrefix = "<!-- mlship:model-staleness "

var markerRe = regexp.MustCompile(`<!-- mlship:model-staleness ([A-Za-z0-9%&=._+~-]*) -->`)

func marker(name string, e stateEntry) string {
	v := url.Values{}
	v.Set("model", name)
	v.Set("state", e.State)
	v.Set("last-updated", e.LastUpdated)
	v.Set("notified", strings.Join(e.Notified, ","))
	return markerPrefix + v.Encode() + " -->"
}

// parseMarker reads the marker of an issue body: the model it is about and
// what it last reported.
func parseMarker(body string) (string, *stateEntry, bool) {
	m := markerRe.FindStringSubmatch(body)
	if m == nil {
		return "", nil, false
	}
	v, err := url.ParseQuery(m[1])
	if err != nil || v.Get("model") == "" {
		return "", nil, false
	}
	e := &stateEntry{State: v.Get("state"), LastUpdated: v.Get("last-updated")}
	for _, ch := range strings.Split(v.Get("notified"), ",") {
		if ch != "" {
			e.Notified = append(e.Notified, ch)
		}
	}
	return v.Get("model"), e, true
}

func sameReport(e *stateEntry, state, lastUpdated string) bool {
	return e != nil && e.State == state && e.LastUpdated == lastUpdated
}

// ---- sending ----

type notifier struct {
	cfg   *Config
	p     *Plan
	deps  Deps
	gh    *githubAPI
	state *stateFile // nil without --state-file
	now   time.Time
	// issues are the open issues of each repository, listed once a run.
	issues       map[string][]*github.Issue
	stateChanged bool
}

// notify sends what the model's state calls for and has not been sent for
// this state before; a fresh model closes its issue. A model that could
// not be judged is left alone: nothing is known to tell.
func (n *notifier) notify(ctx context.Context, m *Model, mr *ModelResult) error {
	if mr.State == StateUnknown {
		return nil
	}
	msg := messageOf(mr, n.cfg.RunURL)

	// What was reported before: the state file, the issue's marker.
	var issue *github.Issue
	var fromIssue *stateEntry
	if n.cfg.Issue {
		var err error
		if issue, fromIssue, err = n.findIssue(ctx, m.issueRepo, mr.Name); err != nil {
			// Without knowing what was sent, nothing is sent.
			return err
		}
	}
	var fromFile *stateEntry
	if n.state != nil {
		fromFile = n.state.Models[mr.Name]
	}
	done := map[string]bool{}
	for _, e := range []*stateEntry{fromFile, fromIssue} {
		if sameReport(e, mr.State, mr.LastUpdated) {
			for _, ch := range e.Notified {
				done[ch] = true
			}
		}
	}
	if len(done) == 0 && n.state == nil && !n.cfg.Issue && (n.cfg.SNSTopicARN != "" || len(n.cfg.EmailTo) > 0) && mr.Stale {
		n.deps.Log.Logf("%s: no --state-file or --issue remembers what was sent: every stale run sends again", mr.Name)
	}

	var errs []error
	if mr.State == StateFresh {
		if issue != nil {
			if err := n.closeIssue(ctx, m.issueRepo, issue, msg, mr); err != nil {
				errs = append(errs, err)
			}
		}
		n.record(mr, nil)
		return errors.Join(errs...)
	}

	if n.cfg.SNSTopicARN != "" {
		if err := n.publish(ctx, msg, mr, done); err != nil {
			errs = append(errs, err)
		}
	}
	if len(n.cfg.EmailTo) > 0 {
		if err := n.email(ctx, msg, mr, done); err != nil {
			errs = append(errs, err)
		}
	}
	if n.cfg.Issue {
		if err := n.writeIssue(ctx, m.issueRepo, issue, fromIssue, msg, mr, done); err != nil {
			errs = append(errs, err)
		}
	}
	n.record(mr, done)
	return errors.Join(errs...)
}

func channels(done map[string]bool) []string {
	var out []string
	for ch, ok := range done {
		if ok {
			out = append(out, ch)
		}
	}
	slices.Sort(out)
	return out
}

// record remembers in the state file what this model's state is and where
// it was sent.
func (n *notifier) record(mr *ModelResult, done map[string]bool) {
	if n.state == nil || n.cfg.DryRun {
		return
	}
	e := &stateEntry{State: mr.State, LastUpdated: mr.LastUpdated, Notified: channels(done), At: n.now.Format(time.RFC3339)}
	if e.Notified == nil {
		e.Notified = []string{}
	}
	if old := n.state.Models[mr.Name]; old != nil && sameReport(old, e.State, e.LastUpdated) && slices.Equal(old.Notified, e.Notified) {
		return
	}
	n.state.Models[mr.Name] = e
	n.stateChanged = true
}

func (n *notifier) add(mr *ModelResult, note Notification) {
	mr.Notifications = append(mr.Notifications, note)
	switch {
	case note.Done:
		mr.Notified = append(mr.Notified, strings.Join(slices.DeleteFunc([]string{note.Channel, notifiedTarget(note), note.Action}, func(s string) bool { return s == "" }), " "))
		n.deps.Log.Logf("%s: %s %s %s", mr.Name, note.Channel, note.Action, note.Target)
	case note.Action == "skipped":
		n.deps.Log.Logf("%s: %s skipped: %s", mr.Name, note.Channel, note.Reason)
	case note.Error == "" && n.cfg.DryRun:
		n.deps.Log.Logf("%s: dry run: would %s %s %s", mr.Name, verb(note), note.Channel, note.Target)
	}
}

func notifiedTarget(n Notification) string {
	if n.Channel == chanIssue {
		return n.Target
	}
	return ""
}

func skipped(channel, target string) Notification {
	return Notification{Channel: channel, Action: "skipped", Target: target, Reason: "already sent for this state"}
}

// publish sends the SNS message. A FIFO topic gets a deduplication id made
// of the model, state and time, so SNS itself drops a repeat within its
// five-minute window.
func (n *notifier) publish(ctx context.Context, msg Message, mr *ModelResult, done map[string]bool) error {
	arn := n.cfg.SNSTopicARN
	if done[chanSNS] {
		n.add(mr, skipped(chanSNS, arn))
		return nil
	}
	subject, err := render(n.p.tmpl.snsSubject, msg)
	if err != nil {
		return err
	}
	body, err := render(n.p.tmpl.snsMessage, msg)
	if err != nil {
		return err
	}
	note := Notification{Channel: chanSNS, Action: "published", Target: arn, Subject: snsSubject(subject), Body: body}
	if n.cfg.DryRun {
		n.add(mr, note)
		return nil
	}
	if n.deps.SNS == nil {
		return errors.New("internal error: no SNS client")
	}
	in := &sns.PublishInput{TopicArn: aws.String(arn), Subject: aws.String(note.Subject), Message: aws.String(body)}
	if strings.HasSuffix(arn, ".fifo") {
		sum := sha256.Sum256([]byte(mr.Name + "\x00" + mr.State + "\x00" + mr.LastUpdated))
		group := sha256.Sum256([]byte(mr.Name))
		in.MessageGroupId = aws.String(hex.EncodeToString(group[:16]))
		in.MessageDeduplicationId = aws.String(hex.EncodeToString(sum[:]))
	}
	out, err := n.deps.SNS.Publish(ctx, in)
	if err != nil {
		err = awsErr(ctx, "publishing to SNS topic "+arn, err)
		note.Error = err.Error()
		n.add(mr, note)
		return err
	}
	note.Done, note.ID = true, aws.ToString(out.MessageId)
	done[chanSNS] = true
	n.add(mr, note)
	return nil
}

// snsSubject keeps a subject within SNS's rules: printable ASCII, one line,
// under 100 characters.
func snsSubject(s string) string {
	var b strings.Builder
	for _, r := range oneLineText(s, 400) {
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > 99 {
		out = out[:99]
	}
	return out
}

// email sends the SES message.
func (n *notifier) email(ctx context.Context, msg Message, mr *ModelResult, done map[string]bool) error {
	to := strings.Join(n.cfg.EmailTo, ", ")
	if done[chanEmail] {
		n.add(mr, skipped(chanEmail, to))
		return nil
	}
	subject, err := render(n.p.tmpl.emailSubject, msg)
	if err != nil {
		return err
	}
	body, err := render(n.p.tmpl.emailBody, msg)
	if err != nil {
		return err
	}
	note := Notification{Channel: chanEmail, Action: "sent", Target: to, Subject: oneLineText(subject, 998), Body: body}
	if n.cfg.DryRun {
		n.add(mr, note)
		return nil
	}
	if n.deps.SES == nil {
		return errors.New("internal error: no SES client")
	}
	out, err := n.deps.SES.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(n.cfg.EmailFrom),
		Destination:      &sestypes.Destination{ToAddresses: n.cfg.EmailTo},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String(note.Subject), Charset: aws.String("UTF-8")},
			Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String(body), Charset: aws.String("UTF-8")}},
		}},
	})
	if err != nil {
		err = awsErr(ctx, "sending email to "+to, err)
		note.Error = err.Error()
		n.add(mr, note)
		return err
	}
	note.Done, note.ID = true, aws.ToString(out.MessageId)
	done[chanEmail] = true
	n.add(mr, note)
	return nil
}

// ---- the GitHub issue ----

// findIssue finds the open issue about the model by its marker, among the
// repository's open issues (with --issue-labels, those with the labels).
func (n *notifier) findIssue(ctx context.Context, repo, name string) (*github.Issue, *stateEntry, error) {
	list, ok := n.issues[repo]
	if !ok {
		owner, r := splitRepo(repo)
		opts := &github.IssueListByRepoOptions{State: "open", Labels: n.p.labels, Sort: "created", Direction: "asc", ListOptions: github.ListOptions{PerPage: 100}}
		for page := 0; ; page++ {
			if page == maxCommitPages {
				n.deps.Log.Warningf("%s has more than %d open issues; looked for the model's issue among the oldest %d only", repo, page*100, page*100)
				break
			}
			var issues []*github.Issue
			var resp *github.Response
			err := n.gh.call(ctx, "listing the open issues of "+repo, func(ctx context.Context) (*github.Response, error) {
				var err error
				issues, resp, err = n.gh.client.Issues.ListByRepo(ctx, owner, r, opts)
				return resp, err
			})
			if err != nil {
				return nil, nil, err
			}
			for _, is := range issues {
				if !is.IsPullRequest() && strings.Contains(is.GetBody(), markerPrefix) {
					list = append(list, is)
				}
			}
			if resp == nil || resp.NextPage == 0 {
				break
			}
			opts.ListOptions.Page = resp.NextPage
		}
		n.issues[repo] = list
	}
	for _, is := range list {
		if model, e, ok := parseMarker(is.GetBody()); ok && model == name {
			return is, e, nil
		}
	}
	return nil, nil, nil
}

func issueRef(repo string, is *github.Issue) string {
	return fmt.Sprintf("%s#%d", repo, is.GetNumber())
}

// issueBody is the issue's text: the marker, then the finding.
func (n *notifier) issueBody(msg Message, mr *ModelResult, e stateEntry) string {
	var b strings.Builder
	b.WriteString(marker(mr.Name, e) + "\n")
	fmt.Fprintf(&b, "The model **%s** was last updated **%s**, %s before this check.\n\n", md(mr.Name), mr.LastUpdated, mr.AgeHuman)
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| State | %s (%s) |\n", stateIcon(mr.State), mr.thresholds())
	fmt.Fprintf(&b, "| Source | %s %s |\n", mr.Source, md(mr.Target))
	if mr.Commit != "" {
		c := "`" + short(mr.Commit) + "`"
		if mr.URL != "" {
			c = "[" + c + "](" + mr.URL + ")"
		}
		if mr.Author != "" {
			c += " by " + md(mr.Author)
		}
		if mr.Subject != "" {
			c += ": " + md(mr.Subject)
		}
		fmt.Fprintf(&b, "| Last change | %s |\n", c)
	} else if mr.Item != "" {
		fmt.Fprintf(&b, "| Last change | %s |\n", md(mr.Item))
	}
	checked := n.now.Format(time.RFC3339)
	if msg.RunURL != "" {
		checked += " by [this run](" + msg.RunURL + ")"
	}
	fmt.Fprintf(&b, "| Checked | %s |\n", checked)
	b.WriteString("\nmodel-staleness updates this issue when the state changes and closes it when the model is fresh again.\n")
	return b.String()
}

// writeIssue opens the model's issue, or brings the open one up to date
// (with a comment when the state changed, so its watchers hear of it).
func (n *notifier) writeIssue(ctx context.Context, repo string, issue *github.Issue, prev *stateEntry, msg Message, mr *ModelResult, done map[string]bool) error {
	owner, r := splitRepo(repo)
	title, err := render(n.p.tmpl.issueTitle, msg)
	if err != nil {
		return err
	}
	title = oneLineText(title, 256)
	report := stateEntry{State: mr.State, LastUpdated: mr.LastUpdated, Notified: channels(mergeDone(done, chanIssue))}
	body := n.issueBody(msg, mr, report)

	if issue == nil {
		note := Notification{Channel: chanIssue, Action: "opened", Target: repo, Subject: title, Body: body}
		if n.cfg.DryRun {
			n.add(mr, note)
			return nil
		}
		var created *github.Issue
		err := n.gh.call(ctx, "opening an issue in "+repo, func(ctx context.Context) (*github.Response, error) {
			var resp *github.Response
			var err error
			created, resp, err = n.gh.client.Issues.Create(ctx, owner, r, github.CreateIssueRequest{Title: title, Body: &body, Labels: n.p.labels})
			return resp, err
		})
		if err != nil {
			note.Error = err.Error()
			n.add(mr, note)
			return err
		}
		n.issues[repo] = append(n.issues[repo], created)
		note.Done, note.Target, note.ID = true, issueRef(repo, created), created.GetHTMLURL()
		done[chanIssue] = true
		n.add(mr, note)
		return nil
	}

	ref := issueRef(repo, issue)
	if sameReport(prev, report.State, report.LastUpdated) && slices.Equal(prev.Notified, report.Notified) {
		n.add(mr, Notification{Channel: chanIssue, Action: "skipped", Target: ref, Reason: "the open issue " + ref + " already says so"})
		done[chanIssue] = true
		return nil
	}
	note := Notification{Channel: chanIssue, Action: "updated", Target: ref, Subject: title, Body: body, ID: issue.GetHTMLURL()}
	stateChanged := prev == nil || prev.State != mr.State
	if n.cfg.DryRun {
		n.add(mr, note)
		return nil
	}
	err = n.gh.call(ctx, "updating issue "+ref, func(ctx context.Context) (*github.Response, error) {
		_, resp, err := n.gh.client.Issues.Update(ctx, owner, r, issue.GetNumber(), github.UpdateIssueRequest{Title: &title, Body: &body})
		return resp, err
	})
	if err == nil && stateChanged {
		comment := fmt.Sprintf("The state is now %s: last updated %s, %s ago (%s).", stateIcon(mr.State), mr.LastUpdated, mr.AgeHuman, mr.thresholds())
		err = n.gh.call(ctx, "commenting on issue "+ref, func(ctx context.Context) (*github.Response, error) {
			_, resp, err := n.gh.client.Issues.CreateComment(ctx, owner, r, issue.GetNumber(), github.IssueCommentRequest{Body: comment})
			return resp, err
		})
	}
	if err != nil {
		note.Error = err.Error()
		n.add(mr, note)
		return err
	}
	issue.Body = &body
	note.Done = true
	done[chanIssue] = true
	n.add(mr, note)
	return nil
}

func mergeDone(done map[string]bool, ch string) map[string]bool {
	out := make(map[string]bool, len(done)+1)
	for k, v := range done {
		out[k] = v
	}
	out[ch] = true
	return out
}

// closeIssue says the model is fresh again and closes its issue.
func (n *notifier) closeIssue(ctx context.Context, repo string, issue *github.Issue, msg Message, mr *ModelResult) error {
	owner, r := splitRepo(repo)
	ref := issueRef(repo, issue)
	comment := fmt.Sprintf("The model is fresh again: last updated %s, %s ago", mr.LastUpdated, mr.AgeHuman)
	if mr.Commit != "" {
		comment += " (commit " + short(mr.Commit) + ")"
	}
	comment += ". Closing."
	if msg.RunURL != "" {
		comment += " Checked by [this run](" + msg.RunURL + ")."
	}
	note := Notification{Channel: chanIssue, Action: "closed", Target: ref, Body: comment, ID: issue.GetHTMLURL()}
	if n.cfg.DryRun {
		n.add(mr, note)
		return nil
	}
	err := n.gh.call(ctx, "commenting on issue "+ref, func(ctx context.Context) (*github.Response, error) {
		_, resp, err := n.gh.client.Issues.CreateComment(ctx, owner, r, issue.GetNumber(), github.IssueCommentRequest{Body: comment})
		return resp, err
	})
	if err == nil {
		err = n.gh.call(ctx, "closing issue "+ref, func(ctx context.Context) (*github.Response, error) {
			_, resp, err := n.gh.client.Issues.Update(ctx, owner, r, issue.GetNumber(), github.UpdateIssueRequest{State: aws.String("closed"), StateReason: aws.String("completed")})
			return resp, err
		})
	}
	if err != nil {
		note.Error = err.Error()
		n.add(mr, note)
		return err
	}
	note.Done = true
	n.add(mr, note)
	// Closed: a later stale run opens a new one.
	list := n.issues[repo]
	n.issues[repo] = slices.DeleteFunc(slices.Clone(list), func(is *github.Issue) bool { return is == issue })
	return nil
}

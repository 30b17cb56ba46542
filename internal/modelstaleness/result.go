package modelstaleness

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mlship/mlship/internal/action"
)

// Result is what a run found and sent: plain data, printed as JSON by
// --json. The top-level fields are those of the worst model (the first of
// them when several are equally bad; with one model, that model); Models
// holds every model.
type Result struct {
	Stale       bool   `json:"stale"`
	State       string `json:"state"`
	Model       string `json:"model"`
	LastUpdated string `json:"lastUpdated,omitempty"`
	// AgeSeconds is absent when the model could not be judged, so that a
	// policy reading it fails closed.
	AgeSeconds *int64        `json:"ageSeconds,omitempty"`
	AgeHuman   string        `json:"ageHuman,omitempty"`
	Source     string        `json:"source"`
	Commit     string        `json:"commit,omitempty"`
	Version    string        `json:"version,omitempty"`
	Notified   []string      `json:"notified"`
	DryRun     bool          `json:"dryRun"`
	CheckedAt  string        `json:"checkedAt"`
	Models     []ModelResult `json:"models"`
}

// ModelResult is one model's finding.
type ModelResult struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	// Target is what was read: paths, repository, URI, image, parameter or
	// group.
	Target string `json:"target"`
	// State is fresh, warn, error, or unknown when the model could not be
	// judged (Error says why). Stale is every state but fresh.
	State       string `json:"state"`
	Stale       bool   `json:"stale"`
	LastUpdated string `json:"lastUpdated,omitempty"` // RFC 3339, UTC
	AgeSeconds  *int64 `json:"ageSeconds,omitempty"`
	AgeHuman    string `json:"ageHuman,omitempty"`
	WarnAfter   string `json:"warnAfter,omitempty"`
	ErrorAfter  string `json:"errorAfter,omitempty"`
	Commit      string `json:"commit,omitempty"`
	Author      string `json:"author,omitempty"`
	Subject     string `json:"subject,omitempty"`
	URL         string `json:"url,omitempty"`
	// Item is what was found for the sources without commits: the S3 key,
	// the image digest, the parameter version, the model package ARN, the
	// MLflow model version.
	Item string `json:"item,omitempty"`
	// Version is the MLflow model version (mlflow).
	Version  string   `json:"version,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Notified lists what was sent or changed in this run.
	Notified      []string       `json:"notified"`
	Notifications []Notification `json:"notifications,omitempty"`
	Error         string         `json:"error,omitempty"`
}

// Notification is one message that was sent, skipped, or (with --dry-run)
// would have been sent.
type Notification struct {
	Channel string `json:"channel"` // issue, sns or email
	// Action is what was (or would be) done: opened, updated, closed,
	// published, sent, or skipped.
	Action  string `json:"action"`
	Target  string `json:"target"` // owner/name#N, the topic ARN, the addresses
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body,omitempty"`
	Done    bool   `json:"done"`
	Reason  string `json:"reason,omitempty"` // why it was skipped
	ID      string `json:"id,omitempty"`     // message id or issue URL
	Error   string `json:"error,omitempty"`
}

// sum fills in the top-level fields from the worst model.
func (r *Result) sum() {
	r.Notified = []string{}
	worst := -1
	for i, m := range r.Models {
		if worst < 0 || stateRank(m.State) > stateRank(r.Models[worst].State) ||
			stateRank(m.State) == stateRank(r.Models[worst].State) && age(m) > age(r.Models[worst]) {
			worst = i
		}
		for _, n := range m.Notified {
			if len(r.Models) > 1 {
				n = m.Name + ": " + n
			}
			r.Notified = append(r.Notified, n)
		}
	}
	if worst < 0 {
		return
	}
	w := r.Models[worst]
	r.Stale, r.State, r.Model = w.Stale, w.State, w.Name
	r.LastUpdated, r.AgeSeconds, r.AgeHuman = w.LastUpdated, w.AgeSeconds, w.AgeHuman
	r.Source, r.Commit, r.Version = w.Source, w.Commit, w.Version
}

func age(m ModelResult) int64 {
	if m.AgeSeconds == nil {
		return -1
	}
	return *m.AgeSeconds
}

// Outputs are the step outputs.
func (r *Result) Outputs() []action.Output {
	ageSecs := ""
	if r.AgeSeconds != nil {
		ageSecs = strconv.FormatInt(*r.AgeSeconds, 10)
	}
	models, _ := json.Marshal(r.Models)
	return []action.Output{
		{Name: "stale", Value: strconv.FormatBool(r.Stale)},
		{Name: "state", Value: r.State},
		{Name: "age-seconds", Value: ageSecs},
		{Name: "age-human", Value: r.AgeHuman},
		{Name: "last-updated", Value: r.LastUpdated},
		{Name: "source", Value: r.Source},
		{Name: "commit", Value: r.Commit},
		{Name: "version", Value: r.Version},
		{Name: "notified", Value: strings.Join(r.Notified, ", ")},
		{Name: "models", Value: string(models)},
	}
}

func (m *ModelResult) thresholds() string {
	var parts []string
	if m.WarnAfter != "" {
		parts = append(parts, "warn after "+m.WarnAfter)
	}
	if m.ErrorAfter != "" {
		parts = append(parts, "error after "+m.ErrorAfter)
	}
	return strings.Join(parts, ", ")
}

func (m *ModelResult) verdict() string {
	if m.State == StateFresh || m.State == StateUnknown {
		return m.State
	}
	return m.State + " (" + m.thresholds() + ")"
}

func (m *ModelResult) by() string {
	var s string
	if m.Commit != "" {
		s = " by commit " + short(m.Commit)
		if m.Author != "" {
			s += " (" + m.Author + ")"
		}
	} else if m.Item != "" {
		s = " by " + m.Item
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func stateIcon(s string) string {
	switch s {
	case StateFresh:
		return "✅ fresh"
	case StateWarn:
		return "⚠️ warn"
	case StateError:
		return "❌ error"
	}
	return "❓ unknown"
}

// Text is the result for a terminal: a line per model, what was sent, and
// with --dry-run each message that would have been sent.
func (r *Result) Text() string {
	var b strings.Builder
	for _, m := range r.Models {
		if m.State == StateUnknown {
			fmt.Fprintf(&b, "%s: unknown (%s %s): %s\n", m.Name, m.Source, m.Target, m.Error)
			continue
		}
		fmt.Fprintf(&b, "%s: %s — last updated %s, %s ago%s (%s %s)\n", m.Name, m.verdict(), m.LastUpdated, m.AgeHuman, m.by(), m.Source, m.Target)
		for _, n := range m.Notifications {
			switch {
			case n.Done:
				fmt.Fprintf(&b, "  %s %s %s\n", n.Channel, n.Action, n.Target)
			case n.Error != "":
				fmt.Fprintf(&b, "  %s %s %s failed: %s\n", n.Channel, n.Action, n.Target, n.Error)
			case n.Action == "skipped":
				fmt.Fprintf(&b, "  %s skipped: %s\n", n.Channel, n.Reason)
			case r.DryRun:
				fmt.Fprintf(&b, "  dry run: would %s %s %s\n", verb(n), n.Channel, n.Target)
				if n.Subject != "" {
					fmt.Fprintf(&b, "    subject: %s\n", n.Subject)
				}
				if n.Body != "" {
					for _, line := range strings.Split(strings.TrimRight(n.Body, "\n"), "\n") {
						fmt.Fprintf(&b, "    | %s\n", line)
					}
				}
			}
		}
	}
	return b.String()
}

func verb(n Notification) string {
	switch n.Action {
	case "opened":
		return "open"
	case "updated":
		return "update"
	case "closed":
		return "close"
	case "published":
		return "publish to"
	case "sent":
		return "send"
	}
	return n.Action
}

// Summary is the job summary: one table row per model.
func (r *Result) Summary() string {
	var b strings.Builder
	b.WriteString("### Model staleness\n\n")
	b.WriteString("| Model | Source | Last updated | Age | State | Notified |\n|---|---|---|---|---|---|\n")
	for _, m := range r.Models {
		last := m.LastUpdated
		if m.Commit != "" {
			c := "`" + short(m.Commit) + "`"
			if m.URL != "" {
				c = "[" + c + "](" + m.URL + ")"
			}
			last += " " + c
		} else if m.Item != "" {
			last += " " + md(m.Item)
		}
		state := stateIcon(m.State)
		if m.State == StateUnknown {
			state += ": " + md(m.Error)
		} else if t := m.thresholds(); t != "" {
			state += " (" + t + ")"
		}
		notified := md(strings.Join(m.Notified, ", "))
		if r.DryRun {
			var would []string
			for _, n := range m.Notifications {
				if !n.Done && n.Error == "" && n.Action != "skipped" {
					would = append(would, verb(n)+" "+n.Channel)
				}
			}
			if len(would) > 0 {
				notified = "dry run: would " + md(strings.Join(would, ", "))
			}
		}
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s | %s | %s |\n", md(m.Name), m.Source, md(m.Target), last, md(m.AgeHuman), state, notified)
	}
	return b.String()
}

// md escapes text for a Markdown table cell or line, and keeps @names
// from mentioning anyone.
func md(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\n', '\r':
			b.WriteByte(' ')
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '#', '~', '!', '&':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '@':
			b.WriteString("&#64;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

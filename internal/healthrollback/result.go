package healthrollback

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mlship/mlship/internal/action"
)

// Result is what the check found and what it did.
type Result struct {
	Healthy      bool     `json:"healthy"`
	RolledBack   bool     `json:"rolledBack"`
	URLs         []string `json:"urls,omitempty"`
	Attempts     int      `json:"attempts"`
	FailedChecks []Check  `json:"failedChecks"`
	// FirstFailure is when the first signal failed (unset when none did).
	FirstFailure       time.Time `json:"firstFailure,omitzero"`
	AlarmsFiringBefore []string  `json:"alarmsFiringBefore,omitempty"`
	// The rollback target.
	Deployment       string `json:"deployment,omitempty"`
	Namespace        string `json:"namespace,omitempty"`
	RestoredRevision int64  `json:"restoredRevision,omitempty"`
	// RestoredRevisionName is, for an InferenceService, the predictor
	// revision that gets all traffic after the rollback.
	RestoredRevisionName string `json:"restoredRevisionName,omitempty"`
	Function             string `json:"function,omitempty"`
	Alias                string `json:"alias,omitempty"`
	RestoredVersion      string `json:"restoredVersion,omitempty"`
	// RollbackTook is how long the rollback took, its rollout included.
	RollbackTook time.Duration `json:"-"`

	DryRun      bool          `json:"dryRun"`
	Probes      []Measurement `json:"probes"`
	Events      []string      `json:"events"`
	Failure     string        `json:"failure,omitempty"`
	Took        time.Duration `json:"-"`
	TookSeconds float64       `json:"tookSeconds"`
}

// outputSpecs are the outputs health-rollback always writes.
var outputSpecs = []struct{ name, desc string }{
	{"healthy", "true when every probe and alarm passed."},
	{"rolled-back", "true when the unhealthy target was rolled back."},
	{"failed-checks", `The signals that failed, as JSON: [{"signal":"http","target":URL,"status":503,"latencyMs":..,"bodyExcerpt":..,"problem":..}, {"signal":"alarm","target":NAME,"state":"ALARM","reason":..}].`},
	{"restored-revision", "The revision the Deployment was rolled back to, or the InferenceService revision that gets all traffic after the rollback (empty without a rollback)."},
	{"restored-version", "The version the Lambda alias was rolled back to (empty without a rollback)."},
}

// Outputs implements command.Result.
func (r *Result) Outputs() []action.Output {
	checks, _ := json.Marshal(r.FailedChecks)
	restored := ""
	if r.RestoredRevision > 0 && (r.RolledBack || r.DryRun) {
		restored = strconv.FormatInt(r.RestoredRevision, 10)
	}
	if r.RestoredRevisionName != "" && (r.RolledBack || r.DryRun) {
		restored = r.RestoredRevisionName
	}
	version := ""
	if r.RolledBack || r.DryRun {
		version = r.RestoredVersion
	}
	vals := map[string]string{
		"healthy":           strconv.FormatBool(r.Healthy),
		"rolled-back":       strconv.FormatBool(r.RolledBack),
		"failed-checks":     string(checks),
		"restored-revision": restored,
		"restored-version":  version,
	}
	outs := make([]action.Output, 0, len(outputSpecs))
	for _, s := range outputSpecs {
		outs = append(outs, action.Output{Name: s.name, Value: vals[s.name]})
	}
	return outs
}

// Text is the terminal form.
func (r *Result) Text() string {
	var b strings.Builder
	for _, c := range r.FailedChecks {
		fmt.Fprintf(&b, "failed: %s\n", c)
	}
	for _, o := range r.Outputs() {
		if o.Value != "" && o.Name != "failed-checks" {
			fmt.Fprintf(&b, "%s: %s\n", o.Name, o.Value)
		}
	}
	return b.String()
}

// Summary is the job summary: the verdict, each failed signal, what was
// rolled back.
func (r *Result) Summary() string {
	var b strings.Builder
	title := "healthy"
	switch {
	case !r.Healthy && r.RolledBack:
		title = "unhealthy, rolled back"
	case !r.Healthy:
		title = "unhealthy"
	}
	if r.DryRun {
		title += " (dry run)"
	}
	fmt.Fprintf(&b, "### health-rollback: %s\n\n", title)
	if len(r.FailedChecks) > 0 {
		b.WriteString("| signal | target | measured | problem |\n|---|---|---|---|\n")
		for _, c := range r.FailedChecks {
			measured := c.State
			if c.Signal == "http" {
				measured = fmt.Sprintf("status %d, %.0f ms, %d of %d failed", c.Status, c.LatencyMs, c.Failures, c.Attempts)
			}
			problem := c.Problem
			if c.Reason != "" {
				problem += ": " + c.Reason
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Signal, mdCode(c.Target), mdEscape(measured), mdEscape(problem))
		}
		b.WriteString("\n")
	}
	if len(r.Events) > 0 {
		for _, e := range r.Events {
			fmt.Fprintf(&b, "- %s\n", mdEscape(e))
		}
	}
	return b.String()
}

func mdCode(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;", "\n", " ").Replace(s)
}

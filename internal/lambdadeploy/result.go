package lambdadeploy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mlship/mlship/internal/action"
)

// Result is what a deploy did (or, in a dry run, would do). Its JSON
// (--json) is camelCase, as every tool's.
type Result struct {
	Function          string   `json:"function"`
	FunctionARN       string   `json:"functionArn"`
	Alias             string   `json:"alias,omitempty"`
	Strategy          string   `json:"strategy"`
	ImageURI          string   `json:"imageUri"` // by digest: what Lambda was given
	ImageTag          string   `json:"imageTag,omitempty"`
	ImageDigest       string   `json:"imageDigest"`
	Version           string   `json:"version"`
	PreviousVersion   string   `json:"previousVersion"`
	CodeSha256        string   `json:"codeSha256"`
	Changed           bool     `json:"changed"`
	RolledBack        bool     `json:"rolledBack"`
	SmokeResponse     string   `json:"smokeResponse,omitempty"`
	SmokeResponseFile string   `json:"smokeResponseFile,omitempty"`
	PreviousStateFile string   `json:"previousStateFile,omitempty"`
	DryRun            bool     `json:"dryRun"`
	Plan              []string `json:"plan"`
	Events            []string `json:"events"`
	// AlarmsFiringBefore are the alarms already firing when the deploy
	// started.
	AlarmsFiringBefore []string `json:"alarmsFiringBefore,omitempty"`
	Failure            string   `json:"failure,omitempty"`
}

// outputSpecs are the outputs lambda-deploy always writes.
var outputSpecs = []struct{ name, desc string }{
	{"function-arn", "ARN of the function (unqualified)."},
	{"version", "The version the alias now points at: the one published (empty in a dry run)."},
	{"previous-version", "The version the alias pointed at before the deploy (empty without an alias, or when it did not exist)."},
	{"alias", "The alias that was moved (empty without one)."},
	{"image-uri", "The image deployed, by digest (<repository URI>@sha256:...): what Lambda was given."},
	{"code-sha256", "CodeSha256 of the published version (the image manifest digest)."},
	{"rolled-back", "true when a failed check rolled the deploy back."},
	{"smoke-response", "The smoke invocation's response, compacted and cut to 256 bytes (empty without --payload)."},
	{"smoke-response-file", "Path of a file with the whole smoke response (empty without --payload)."},
	{"image-tag", "The tag the image was checked under (empty when it was given by digest)."},
	{"image-digest", "The image's digest, sha256:..."},
	{"previous-state-file", "Path of a JSON record of the function and alias before the deploy, for restoring them (empty in a dry run)."},
}

// Outputs implements command.Result.
func (r *Result) Outputs() []action.Output {
	vals := map[string]string{
		"function-arn":        r.FunctionARN,
		"version":             r.Version,
		"previous-version":    r.PreviousVersion,
		"alias":               r.Alias,
		"image-uri":           r.ImageURI,
		"image-tag":           r.ImageTag,
		"image-digest":        r.ImageDigest,
		"code-sha256":         r.CodeSha256,
		"rolled-back":         strconv.FormatBool(r.RolledBack),
		"smoke-response":      r.SmokeResponse,
		"smoke-response-file": r.SmokeResponseFile,
		"previous-state-file": r.PreviousStateFile,
	}
	outs := make([]action.Output, 0, len(outputSpecs))
	for _, s := range outputSpecs {
		outs = append(outs, action.Output{Name: s.name, Value: vals[s.name]})
	}
	return outs
}

// Text is the terminal form: the plan of a dry run (printed here only, not
// logged as well), then the outputs.
func (r *Result) Text() string {
	var b strings.Builder
	if r.DryRun && len(r.Plan) > 0 {
		b.WriteString("dry run, nothing changed; the plan:\n")
		for _, l := range r.Plan {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	for _, o := range r.Outputs() {
		if o.Value != "" {
			fmt.Fprintf(&b, "%s: %s\n", o.Name, o.Value)
		}
	}
	return b.String()
}

// Summary is the job summary: outcome, outputs and the steps taken.
func (r *Result) Summary() string {
	var b strings.Builder
	title := "deployed"
	switch {
	case r.DryRun:
		title = "dry run (nothing changed)"
	case r.Failure != "" && r.RolledBack:
		title = "failed, rolled back"
	case r.Failure != "":
		title = "failed"
	case !r.Changed:
		title = "already deployed"
	}
	fmt.Fprintf(&b, "### lambda-deploy: %s %s\n\n", mdCode(r.Function), title)
	if r.Failure != "" {
		fmt.Fprintf(&b, "%s\n\n", mdEscape(r.Failure))
	}
	b.WriteString("| output | value |\n|---|---|\n")
	for _, o := range r.Outputs() {
		if o.Value != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", o.Name, mdCode(o.Value))
		}
	}
	lines, head := r.Events, "Steps"
	if r.DryRun {
		lines, head = r.Plan, "Plan"
	}
	if len(lines) > 0 {
		fmt.Fprintf(&b, "\n%s:\n\n", head)
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", mdEscape(l))
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
	r := strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;", "\n", " ")
	return r.Replace(s)
}

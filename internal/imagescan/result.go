package imagescan

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mlship/mlship/internal/action"
)

// Result is one scan's outcome. It is also the summary file: the same
// shape whichever scanner ran, so a policy can judge either.
type Result struct {
	SchemaVersion int      `json:"schemaVersion"`
	Image         string   `json:"image"`
	ImageDigest   string   `json:"imageDigest,omitempty"`
	Scanners      []string `json:"scanners"`
	FailOn        string   `json:"failOn"`
	IgnoreUnfixed bool     `json:"ignoreUnfixed"`
	// Complete is false when a scanner could not finish; then Passed is
	// false and there are no counts.
	Complete bool `json:"complete"`
	Passed   bool `json:"passed"`
	// IssuesBySeverityCount counts the findings the gate judged (not
	// ignored, not unfixed with --ignore-unfixed), every severity present.
	IssuesBySeverityCount map[string]int `json:"issuesBySeverityCount"`
	Total                 int            `json:"total"`
	Ignored               int            `json:"ignored"`
	Unfixed               int            `json:"unfixed"`

	ByScanner        map[string]*ScannerSummary `json:"byScanner"`
	Findings         []Finding                  `json:"findings"`
	ExpiredIgnores   []IgnoreRule               `json:"expiredIgnores"`
	UnmatchedIgnores []IgnoreRule               `json:"unmatchedIgnores"`
	TrivyDB          *dbInfo                    `json:"trivyDb,omitempty"`
	ECR              *ecrScan                   `json:"ecr,omitempty"`
	Reports          Reports                    `json:"reports"`
	Errors           []string                   `json:"errors,omitempty"`
}

// ScannerSummary is one scanner's part.
type ScannerSummary struct {
	Complete              bool           `json:"complete"`
	IssuesBySeverityCount map[string]int `json:"issuesBySeverityCount"`
	Total                 int            `json:"total"`
	Version               string         `json:"version,omitempty"` // Trivy's
	Status                string         `json:"status,omitempty"`  // ECR's scan status
}

// Reports are the paths of the files written.
type Reports struct {
	SARIF   string `json:"sarif"`
	JSON    string `json:"json"`
	Summary string `json:"summary"`
}

func (r *Result) writeSummary(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(b, '\n'))
}

// Outputs are the step outputs. An incomplete scan has no counts: a
// policy must not read "0 critical" from a scan that did not happen.
func (r *Result) Outputs() []action.Output {
	var outs []action.Output
	if r.Complete {
		for _, s := range Severities {
			outs = append(outs, action.Output{Name: strings.ToLower(s), Value: strconv.Itoa(r.IssuesBySeverityCount[s])})
		}
		outs = append(outs, action.Output{Name: "total", Value: strconv.Itoa(r.Total)})
	}
	outs = append(outs,
		action.Output{Name: "passed", Value: strconv.FormatBool(r.Passed)},
		action.Output{Name: "sarif-file", Value: r.Reports.SARIF},
		action.Output{Name: "json-file", Value: r.Reports.JSON},
		action.Output{Name: "summary-file", Value: r.Reports.Summary},
	)
	return outs
}

func (r *Result) verdict() string {
	switch {
	case !r.Complete:
		return "incomplete"
	case r.Passed && r.FailOn == "NONE":
		return "report only"
	case r.Passed:
		return "passed"
	}
	return "failed"
}

func (r *Result) countsLine() string {
	if !r.Complete {
		return "no counts: the scan did not finish"
	}
	parts := make([]string, 0, len(Severities))
	for _, s := range Severities {
		parts = append(parts, fmt.Sprintf("%d %s", r.IssuesBySeverityCount[s], s))
	}
	line := fmt.Sprintf("%d findings: %s", r.Total, strings.Join(parts, ", "))
	if r.Ignored > 0 || r.Unfixed > 0 {
		line += fmt.Sprintf(" (not counted: %d ignored, %d without a fix)", r.Ignored, r.Unfixed)
	}
	return line
}

func (r *Result) gateLine() string {
	if r.FailOn == "NONE" {
		return "gate: none (--fail-on NONE)"
	}
	return "gate: fail on " + r.FailOn + " and above"
}

// Text is the full report for a terminal.
func (r *Result) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image-scan: %s — %s (%s)\n", r.verdict(), r.Image, strings.Join(r.Scanners, ", "))
	fmt.Fprintf(&b, "%s; %s\n", r.countsLine(), r.gateLine())
	if len(r.Findings) > 0 {
		rows := [][]string{{"SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED", "SCANNER", "GATE"}}
		for _, f := range r.Findings {
			rows = append(rows, []string{f.Severity, f.ID, pkgLabel(f), f.InstalledVersion, dash(f.FixedVersion), f.Scanner, gateLabel(f)})
		}
		writeTable(&b, rows)
	}
	for _, e := range r.ExpiredIgnores {
		fmt.Fprintf(&b, "expired ignore: %s (expired %s) no longer ignores\n", e.ID, e.Expires)
	}
	for _, e := range r.UnmatchedIgnores {
		fmt.Fprintf(&b, "unmatched ignore: %s matches no finding\n", e.ID)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error: %s\n", e)
	}
	fmt.Fprintf(&b, "reports: %s\n", strings.Join(nonEmpty(r.Reports.SARIF, r.Reports.JSON, r.Reports.Summary), ", "))
	return b.String()
}

func pkgLabel(f Finding) string {
	if f.Path != "" {
		return f.Package + " (" + f.Path + ")"
	}
	return f.Package
}

func gateLabel(f Finding) string {
	switch {
	case f.Status == StatusIgnored:
		return "ignored: " + f.IgnoreReason
	case f.Status == StatusUnfixed:
		return "not counted: no fix"
	case f.Fails:
		return "FAILS"
	}
	return "counted"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func writeTable(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row[:len(row)-1] {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, row := range rows {
		for i, c := range row {
			if i == len(row)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(b, "%-*s  ", widths[i], c)
		}
		b.WriteString("\n")
	}
}

// summaryRows caps the findings table in the job summary.
const summaryRows = 50

// Summary is the job summary: verdict, counts per scanner, the findings
// that matter most.
func (r *Result) Summary() string {
	var b strings.Builder
	icon := map[string]string{"passed": "✅", "report only": "ℹ️", "failed": "❌", "incomplete": "⚠️"}[r.verdict()]
	fmt.Fprintf(&b, "### %s image-scan: %s\n\n", icon, r.verdict())
	fmt.Fprintf(&b, "`%s` — %s — %s\n\n", cell(r.Image), strings.Join(r.Scanners, " + "), r.gateLine())
	b.WriteString("| Scanner | Critical | High | Medium | Low | Unknown | Total |\n|---|---|---|---|---|---|---|\n")
	for _, name := range r.Scanners {
		s := r.ByScanner[name]
		if s == nil || !s.Complete {
			fmt.Fprintf(&b, "| %s | – | – | – | – | – | did not finish |\n", name)
			continue
		}
		fmt.Fprintf(&b, "| %s |%s %d |\n", name, countCells(s.IssuesBySeverityCount), s.Total)
	}
	if len(r.Scanners) > 1 && r.Complete {
		fmt.Fprintf(&b, "| **counted** |%s **%d** |\n", countCells(r.IssuesBySeverityCount), r.Total)
	}
	b.WriteString("\n")
	if r.Ignored > 0 || r.Unfixed > 0 {
		fmt.Fprintf(&b, "Not counted: %d ignored by the ignore file, %d without a fix.\n\n", r.Ignored, r.Unfixed)
	}
	if len(r.Findings) > 0 {
		b.WriteString("| Severity | ID | Package | Installed | Fixed | Scanner | Gate |\n|---|---|---|---|---|---|---|\n")
		for i, f := range r.Findings {
			if i == summaryRows {
				fmt.Fprintf(&b, "\n… and %d more in `%s`.\n", len(r.Findings)-summaryRows, cell(r.Reports.JSON))
				break
			}
			id := cell(f.ID)
			if f.URL != "" {
				id = "[" + id + "](" + f.URL + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", f.Severity, id, cell(pkgLabel(f)), cell(f.InstalledVersion),
				cell(dash(f.FixedVersion)), f.Scanner, cell(gateLabel(f)))
		}
		b.WriteString("\n")
	}
	for _, e := range r.ExpiredIgnores {
		fmt.Fprintf(&b, "- ⚠️ ignore entry `%s` expired on %s and no longer ignores it\n", cell(e.ID), cell(e.Expires))
	}
	for _, e := range r.UnmatchedIgnores {
		fmt.Fprintf(&b, "- ignore entry `%s` matches no finding\n", cell(e.ID))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "- ⚠️ %s\n", cell(e))
	}
	return b.String()
}

func countCells(c map[string]int) string {
	var b strings.Builder
	for _, s := range Severities {
		fmt.Fprintf(&b, " %d |", c[s])
	}
	return b.String()
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "`", "'")
}

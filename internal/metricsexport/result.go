package metricsexport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mlship/mlship/internal/action"
)

// Result is what a run did: plain data, printed as JSON by --json.
type Result struct {
	Metrics     []Metric `json:"metrics"`
	MetricsFile string   `json:"metricsFile"`
	// MetricsOmitted is how many metrics have no step output (their Output
	// is empty) and are not in the "metrics" output: beyond
	// MaxMetricOutputs, or not named by --output-metrics.
	MetricsOmitted int `json:"metricsOmitted"`

	Baseline    string       `json:"baseline,omitempty"`
	Comparisons []Comparison `json:"comparisons,omitempty"`
	// NewMetrics are metrics a --compare rule names that the baseline does
	// not hold.
	NewMetrics []string `json:"newMetrics,omitempty"`
	Regressed  bool     `json:"regressed"`

	// Reports lists only files that are in S3 now.
	Reports    []Report          `json:"reports,omitempty"`
	CloudWatch *CloudWatchResult `json:"cloudWatch,omitempty"`
	// Failures are the uploads and CloudWatch requests that failed.
	Failures []string `json:"failures,omitempty"`
}

// SummaryRows is how many metrics the job summary lists; the metrics file
// holds them all.
const SummaryRows = 300

// Outputs are the fixed outputs, then one output per metric that has one,
// with its value as written. "metrics" and "deltas" hold the metrics that
// have outputs; "regressed" and "regressions" judge them all.
func (r *Result) Outputs() []action.Output {
	withOutput := r.Metrics
	if r.MetricsOmitted > 0 {
		withOutput = make([]Metric, 0, len(r.Metrics)-r.MetricsOmitted)
		for _, m := range r.Metrics {
			if m.Output != "" {
				withOutput = append(withOutput, m)
			}
		}
	}
	urls := make([]string, 0, len(r.Reports))
	for _, rep := range r.Reports {
		urls = append(urls, rep.URL)
	}
	first := ""
	if len(urls) > 0 {
		first = urls[0]
	}
	var deltas strings.Builder
	deltas.WriteByte('{')
	regressions := []string{}
	var omitted map[string]bool
	if r.MetricsOmitted > 0 {
		omitted = make(map[string]bool, r.MetricsOmitted)
		for _, m := range r.Metrics {
			if m.Output == "" {
				omitted[m.Name] = true
			}
		}
	}
	n := 0
	for _, c := range r.Comparisons {
		if c.Regressed {
			regressions = append(regressions, c.Name)
		}
		if omitted[c.Name] {
			continue
		}
		if n++; n > 1 {
			deltas.WriteByte(',')
		}
		k, _ := json.Marshal(c.Name)
		deltas.Write(k)
		deltas.WriteByte(':')
		deltas.WriteString(c.Delta)
	}
	deltas.WriteByte('}')
	outs := []action.Output{
		{Name: "metrics", Value: string(metricsJSON(withOutput, false))},
		{Name: "metrics-file", Value: r.MetricsFile},
		{Name: "report-urls", Value: jsonText(urls)},
		{Name: "report-url", Value: first},
		{Name: "deltas", Value: deltas.String()},
		{Name: "regressed", Value: strconv.FormatBool(r.Regressed)},
		{Name: "regressions", Value: jsonText(regressions)},
		{Name: "metrics-omitted", Value: strconv.Itoa(r.MetricsOmitted)},
	}
	for _, m := range withOutput {
		outs = append(outs, action.Output{Name: m.Output, Value: m.Value})
	}
	return outs
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Text is the result for a terminal.
func (r *Result) Text() string {
	var b strings.Builder
	for _, m := range r.Metrics {
		fmt.Fprintf(&b, "%s = %s\n", m.Name, m.Value)
	}
	fmt.Fprintf(&b, "metrics file: %s\n", r.MetricsFile)
	for _, c := range r.Comparisons {
		fmt.Fprintf(&b, "%s: %s -> %s (%s)%s\n", c.Name, c.Baseline, c.Current, signed(c.Delta), c.status(" "))
	}
	for _, rep := range r.Reports {
		fmt.Fprintf(&b, "report: %s\n", rep.URL)
	}
	if cw := r.CloudWatch; cw != nil && cw.Requests > 0 {
		fmt.Fprintf(&b, "cloudwatch: put %d metrics to %s in %d request(s)\n", cw.Put, cw.Namespace, cw.Requests)
	}
	return b.String()
}

// Summary is the job summary: the metrics (with the baseline when there is
// one), the report links and what went to CloudWatch.
func (r *Result) Summary() string {
	var b strings.Builder
	b.WriteString("### Model metrics\n\n")
	cmps := make(map[string]*Comparison, len(r.Comparisons))
	for i := range r.Comparisons {
		cmps[r.Comparisons[i].Name] = &r.Comparisons[i]
	}
	if r.Baseline != "" {
		b.WriteString("| Metric | Value | Baseline | Change |\n| --- | ---: | ---: | --- |\n")
	} else {
		b.WriteString("| Metric | Value |\n| --- | ---: |\n")
	}
	for i, m := range r.Metrics {
		if i == SummaryRows {
			fmt.Fprintf(&b, "\n%d more metrics are in the metrics file.\n", len(r.Metrics)-SummaryRows)
			break
		}
		name := md(m.Name)
		if m.Output != "" && m.Output != m.Name {
			name += " (output " + md(m.Output) + ")"
		}
		fmt.Fprintf(&b, "| %s | %s |", name, md(m.Value))
		if r.Baseline != "" {
			if c := cmps[m.Name]; c != nil {
				fmt.Fprintf(&b, " %s | %s%s |", md(c.Baseline), md(signed(c.Delta)), c.status(" "))
			} else {
				b.WriteString("  |  |")
			}
		}
		b.WriteByte('\n')
	}
	if r.Regressed {
		fmt.Fprintf(&b, "\n**Regressed against %s:** ", md(r.Baseline))
		var names []string
		for _, c := range r.Comparisons {
			if c.Regressed {
				names = append(names, md(c.Name))
			}
		}
		b.WriteString(strings.Join(names, ", ") + "\n")
	}
	if len(r.Reports) > 0 {
		b.WriteString("\n**Reports**\n\n")
		for _, rep := range r.Reports {
			fmt.Fprintf(&b, "- [%s](%s) (%s)\n", md(rep.Name), linkURL(rep.URL), md(rep.URI))
		}
	}
	if cw := r.CloudWatch; cw != nil && cw.Requests > 0 {
		fmt.Fprintf(&b, "\nPut %d metrics to CloudWatch namespace %s.\n", cw.Put, md(cw.Namespace))
	}
	if len(r.Failures) > 0 {
		b.WriteString("\n**Not finished:**\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- %s\n", md(f))
		}
	}
	return b.String()
}

func (c *Comparison) status(sep string) string {
	switch {
	case c.Direction == "":
		return ""
	case c.Regressed:
		return sep + "❌ regressed"
	}
	return sep + "✅"
}

// describe says how a metric regressed.
func (c *Comparison) describe() string {
	verb, better := "fell", "higher"
	if c.Direction == "lower" {
		verb, better = "rose", "lower"
	}
	return fmt.Sprintf("%s %s from %s to %s (%s is better, tolerance %s)", c.Name, verb, c.Baseline, c.Current, better, c.Tolerance)
}

func signed(d string) string {
	if d != "" && d[0] != '-' && d != "0" {
		return "+" + d
	}
	return d
}

// md escapes text for a Markdown table cell.
func md(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\n', '\r':
			b.WriteByte(' ')
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '#', '~', '!', '&':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func linkURL(u string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E").Replace(u)
}

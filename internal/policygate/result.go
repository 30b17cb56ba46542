package policygate

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/exitcode"
)

// Result is the gate's decision over every input it judged.
type Result struct {
	Allowed      bool        `json:"allowed"`
	Mode         string      `json:"mode"`
	DenyCount    int         `json:"denyCount"`
	WarnCount    int         `json:"warnCount"`
	Messages     []Message   `json:"messages"`
	DecisionFile string      `json:"decisionFile"`
	Policies     []string    `json:"policies"`
	Judgements   []Judgement `json:"judgements"`
}

func (r *Result) writeDecision(path, dir string) error {
	var f *os.File
	var err error
	if path == "" {
		f, err = os.CreateTemp(dir, "policy-gate-decision-*.json")
	} else {
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			f, err = os.Create(path)
		}
	}
	if err != nil {
		return exitcode.Incompletef("writing the decision file: %w", err)
	}
	r.DecisionFile = f.Name()
	b, err := json.MarshalIndent(r, "", "  ")
	if err == nil {
		_, err = f.Write(append(b, '\n'))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitcode.Incompletef("writing the decision file %s: %w", r.DecisionFile, err)
	}
	return nil
}

// Outputs are the step outputs.
func (r *Result) Outputs() []action.Output {
	msgs, _ := json.Marshal(r.Messages)
	return []action.Output{
		{Name: "allowed", Value: strconv.FormatBool(r.Allowed)},
		{Name: "deny-count", Value: strconv.Itoa(r.DenyCount)},
		{Name: "warn-count", Value: strconv.Itoa(r.WarnCount)},
		{Name: "messages", Value: string(msgs)},
		{Name: "decision-file", Value: r.DecisionFile},
	}
}

func (r *Result) verdict() string {
	switch {
	case r.Allowed && r.WarnCount > 0:
		return "allowed with warnings"
	case r.Allowed:
		return "allowed"
	case r.Mode == "warn":
		return "denied (warn mode: continuing)"
	}
	return "denied"
}

// Text is the result for a terminal.
func (r *Result) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy-gate: %s\n", r.verdict())
	for _, m := range r.Messages {
		fmt.Fprintf(&b, "  %-4s  %s  (%s)\n", m.Level, m.Message, m.Rule)
	}
	for _, j := range r.Judgements {
		for _, c := range j.Checked {
			fmt.Fprintf(&b, "  checked %s = %s (%s %s)\n", c.Name, shown(c.Value, c.Limit), c.Kind, show(c.Limit))
		}
	}
	fmt.Fprintf(&b, "decision: %s\n", r.DecisionFile)
	return b.String()
}

// Summary is the job summary: the checked values and the verdict per rule.
func (r *Result) Summary() string {
	var b strings.Builder
	icon := "✅"
	if !r.Allowed {
		icon = "❌"
	} else if r.WarnCount > 0 {
		icon = "⚠️"
	}
	fmt.Fprintf(&b, "### %s policy-gate: %s\n\n", icon, r.verdict())
	for _, j := range r.Judgements {
		if len(r.Judgements) > 1 {
			fmt.Fprintf(&b, "#### %s\n\n", cell(j.Source))
		}
		if len(j.Checked) > 0 {
			b.WriteString("| Value | Checked | Limit |\n|---|---|---|\n")
			for _, c := range j.Checked {
				fmt.Fprintf(&b, "| %s | %s | %s %s |\n", cell(c.Name), cell(shown(c.Value, c.Limit)), c.Kind, cell(show(c.Limit)))
			}
		} else if rows, total := inputRows(j.value, 50); len(rows) > 0 {
			b.WriteString("| Input | Value |\n|---|---|\n")
			for _, kv := range rows {
				fmt.Fprintf(&b, "| %s | %s |\n", cell(kv[0]), cell(kv[1]))
			}
			if total > len(rows) {
				fmt.Fprintf(&b, "| … | %d more values in the input |\n", total-len(rows))
			}
		}
		b.WriteString("\n| Rule | Policy | Verdict | Messages |\n|---|---|---|---|\n")
		for _, v := range j.Rules {
			var msgs []string
			for _, m := range j.Messages {
				if m.Rule == v.Rule {
					msgs = append(msgs, cell(m.Message))
				}
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Rule, cell(v.Policy), verdictIcon(v.Verdict), strings.Join(msgs, "<br>"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// inputRows lists the first limit scalar values of doc (arrays count as
// one) under dotted keys, in key order, and how many there are in all.
func inputRows(doc ast.Value, limit int) ([][2]string, int) {
	var rows [][2]string
	total := 0
	var walk func(prefix string, v ast.Value)
	walk = func(prefix string, v ast.Value) {
		obj, ok := v.(ast.Object)
		if !ok {
			total++
			if len(rows) < limit {
				rows = append(rows, [2]string{prefix, brief(v)})
			}
			return
		}
		if len(rows) >= limit { // only counting: no need for key order
			obj.Iter(func(_, c *ast.Term) error {
				walk("", c.Value)
				return nil
			})
			return
		}
		obj.Foreach(func(k, c *ast.Term) {
			key := k.String()
			if s, ok := k.Value.(ast.String); ok {
				key = string(s)
			}
			if prefix != "" {
				key = prefix + "." + key
			}
			walk(key, c.Value)
		})
	}
	if doc != nil {
		walk("", doc)
	}
	return rows, total
}

// brief is a value for a table cell: a long array by its length, a long
// string cut.
func brief(v ast.Value) string {
	var s string
	switch t := v.(type) {
	case *ast.Array:
		if t.Len() > 10 {
			return fmt.Sprintf("(%d values)", t.Len())
		}
		s = t.String()
	case ast.String:
		s = string(t)
	default:
		s = v.String()
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

func verdictIcon(v string) string {
	switch v {
	case "deny":
		return "❌ deny"
	case "warn":
		return "⚠️ warn"
	}
	return "✅ pass"
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// shown is a checked value for reading: a number with more than four
// decimals (an age in days, computed) is rounded to two, or to as many more
// as it takes to stay on the same side of its limit. The decision file
// keeps it exact.
func shown(v, limit any) string {
	s := show(v)
	_, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) <= 4 || strings.ContainsAny(s, "eE") {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	lim, err := strconv.ParseFloat(show(limit), 64)
	for d := 2; d < len(frac); d++ {
		r := strconv.FormatFloat(f, 'f', d, 64)
		rf, _ := strconv.ParseFloat(r, 64)
		if err != nil || cmp.Compare(rf, lim) == cmp.Compare(f, lim) {
			return strings.TrimRight(strings.TrimRight(r, "0"), ".")
		}
	}
	return s
}

// cell makes a value safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", ""), "\n", " ")
}

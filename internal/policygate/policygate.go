// Package policygate is the policy-gate tool: it evaluates Rego policies
// against a document of release evidence (model metrics, scan counts, model
// age) and allows or denies.
package policygate

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/exitcode"
)

// Config is everything one run needs.
type Config struct {
	Policies     []string // files, directories, builtin:NAME
	Inputs       []string // JSON or YAML files; "-" is standard input; NAME=FILE names one
	Set          []string // key=value pairs merged into every input
	Data         []string // JSON or YAML data files, merged at data
	Params       []string // key=value pairs placed at data.params
	Mode         string   // enforce or warn
	RegoVersion  string   // auto, v0 or v1
	DecisionFile string   // where to write the decision; empty: a new file in TempDir
	TempDir      string   // empty: the system's temp dir
	AllowEmpty   bool     // a run that checked nothing passes (with a warning) instead of exit 2
}

// Validate checks the configuration before anything is read.
func (c *Config) Validate() error {
	if len(c.Policies) == 0 {
		return exitcode.BadInputf("--policy: at least one policy file, directory or builtin:NAME is needed")
	}
	if c.Mode != "enforce" && c.Mode != "warn" {
		return exitcode.BadInputf("--mode %q: want enforce or warn", c.Mode)
	}
	if !slices.Contains([]string{"auto", "v0", "v1"}, c.RegoVersion) {
		return exitcode.BadInputf("--rego-version %q: want auto, v0 or v1", c.RegoVersion)
	}
	if len(c.Inputs) == 0 && len(c.Set) == 0 {
		return exitcode.BadInputf("no input: give --input FILE, --input - (standard input) or --set key=value")
	}
	if _, err := parseInputs(c.Inputs); err != nil {
		return err
	}
	if _, err := parseSet(c.Set, "set"); err != nil {
		return err
	}
	if _, err := parseSet(c.Params, "param"); err != nil {
		return err
	}
	pc, err := newParamCheck(c.Policies)
	if err != nil {
		return err
	}
	for _, p := range c.Params {
		key, val, _ := parsePair(p, "param")
		name, rest, dotted := strings.Cut(key, ".")
		if dotted {
			val = map[string]any{rest: val}
		}
		if problem := pc.problem(name, val); problem != "" {
			return exitcode.BadInputf("--param %q: %s", p, problem)
		}
	}
	return nil
}

// inputSpec is one --input: a file ("-" for standard input), with the name
// it has in the merged document when given as NAME=FILE.
type inputSpec struct {
	raw        string // as given
	name, path string
}

var inputName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// parseInputs reads the --input values. Named ones (metrics=metrics.json)
// are merged into one document under their names; unnamed ones are judged
// each on its own; the two do not mix.
func parseInputs(values []string) ([]inputSpec, error) {
	var specs []inputSpec
	names := map[string]bool{}
	stdin := false
	for _, v := range values {
		in := inputSpec{raw: v, path: v}
		if name, path, ok := strings.Cut(v, "="); ok && inputName.MatchString(name) {
			in.name, in.path = name, path
		}
		switch {
		case in.path == "":
			return nil, exitcode.BadInputf("--input %q: want FILE, - or NAME=FILE", v)
		case in.path == "-" && stdin:
			return nil, exitcode.BadInputf("--input %q: standard input (-) can be read only once", v)
		case names[in.name] && in.name != "":
			return nil, exitcode.BadInputf("--input %q: the name %s is given twice", v, in.name)
		case len(specs) > 0 && (in.name == "") != (specs[0].name == ""):
			return nil, exitcode.BadInputf("--input %q: name every input (NAME=FILE, merged into one document) or none (each judged on its own)", v)
		}
		stdin = stdin || in.path == "-"
		names[in.name] = true
		specs = append(specs, in)
	}
	return specs, nil
}

// paramCheck knows the parameters of the built-in policies of a run.
type paramCheck struct {
	builtins []builtin
	only     bool // every policy is a built-in: no other parameter is read
}

func newParamCheck(policies []string) (paramCheck, error) {
	pc := paramCheck{only: true}
	for _, spec := range policies {
		name, ok := strings.CutPrefix(spec, "builtin:")
		if !ok {
			pc.only = false
			continue
		}
		b, err := builtinPolicy(name)
		if err != nil {
			return pc, err
		}
		pc.builtins = append(pc.builtins, b)
	}
	return pc, nil
}

// problem says what is wrong with a parameter for the built-ins, or "".
// Every built-in parameter is a number. A name no built-in reads is wrong
// when only built-ins are evaluated: a misspelled threshold would
// otherwise check nothing.
func (pc paramCheck) problem(name string, value any) string {
	if len(pc.builtins) == 0 {
		return ""
	}
	for _, b := range pc.builtins {
		if _, ok := b.Parameters[name]; ok {
			if !isNumber(value) {
				return "want a number"
			}
			return ""
		}
	}
	if !pc.only {
		return "" // one of the other policies may read it
	}
	var known []string
	for _, b := range pc.builtins {
		known = append(known, "builtin:"+b.Name+" reads "+strings.Join(b.parameterNames(), ", "))
	}
	return fmt.Sprintf("no policy reads the parameter %s (%s)", name, strings.Join(known, "; "))
}

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

// Run loads the policies, compiles them once, judges every input and writes
// the decision file.
func Run(ctx context.Context, cfg Config, stdin io.Reader) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	files, data, err := loadPolicies(ctx, cfg.Policies)
	if err != nil {
		return nil, err
	}
	pc, err := newParamCheck(cfg.Policies)
	if err != nil {
		return nil, err
	}
	for _, path := range cfg.Data {
		doc, err := readDocument(ctx, origin{flag: "data", value: path}, path, nil)
		if err != nil {
			return nil, err
		}
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, exitcode.BadInputf("--data %q: want an object at the top level", path)
		}
		if params, ok := obj["params"]; ok && len(pc.builtins) > 0 {
			p, ok := params.(map[string]any)
			if !ok {
				return nil, exitcode.BadInputf("--data %q: params is not an object", path)
			}
			for _, k := range slices.Sorted(maps.Keys(p)) {
				if problem := pc.problem(k, p[k]); problem != "" {
					return nil, exitcode.BadInputf("--data %q: params.%s: %s", path, k, problem)
				}
			}
		}
		merge(data, obj)
	}
	params, _ := parseSet(cfg.Params, "param")
	if len(params) > 0 {
		merge(data, map[string]any{"params": params})
	}
	sets, _ := parseSet(cfg.Set, "set")

	type source struct {
		name string
		doc  any
	}
	specs, _ := parseInputs(cfg.Inputs)
	var inputs []source
	named := map[string]any{}
	for _, in := range specs {
		doc, err := readDocument(ctx, origin{flag: "input", value: in.raw}, in.path, stdin)
		if err != nil {
			return nil, err
		}
		if in.name != "" {
			named[in.name] = doc
			continue
		}
		if len(sets) > 0 {
			obj, ok := doc.(map[string]any)
			if !ok {
				return nil, exitcode.BadInputf("--set: input %s is not an object, so keys cannot be set in it", in.path)
			}
			merge(obj, sets)
		}
		inputs = append(inputs, source{in.path, doc})
	}
	if len(named) > 0 {
		merge(named, sets)
		inputs = append(inputs, source{strings.Join(cfg.Inputs, " "), named})
	}
	if len(inputs) == 0 {
		inputs = append(inputs, source{"--set", map[string]any(sets)})
	}

	gate, err := Compile(ctx, files, cfg.RegoVersion, data)
	if err != nil {
		return nil, err
	}
	var empty []string // why the gate checked nothing
	if gate.decisive() == 0 {
		empty = append(empty, "no policy defines an allow, deny or warn rule")
	}
	res := &Result{Allowed: true, Mode: cfg.Mode, Messages: []Message{}, Policies: cfg.Policies}
	for _, in := range inputs {
		j, err := gate.Judge(ctx, in.name, in.doc)
		if err != nil {
			return nil, err
		}
		for _, b := range pc.builtins {
			if !j.checkedBy["builtin:"+b.Name] {
				why := fmt.Sprintf("builtin:%s compared no value (set one of its parameters: %s)", b.Name, strings.Join(b.parameterNames(), ", "))
				if len(inputs) > 1 {
					why = in.name + ": " + why
				}
				empty = append(empty, why)
			}
		}
		res.Allowed = res.Allowed && j.Allowed
		for _, m := range j.Messages {
			if len(inputs) > 1 {
				m.Message = in.name + ": " + m.Message
			}
			if m.Level == "deny" {
				res.DenyCount++
			} else {
				res.WarnCount++
			}
			res.Messages = append(res.Messages, m)
		}
		res.Judgements = append(res.Judgements, j)
	}
	if len(empty) > 0 {
		if !cfg.AllowEmpty {
			return nil, exitcode.BadInputf("the gate checked nothing: %s; give --allow-empty if that is meant", strings.Join(slices.Compact(empty), "; "))
		}
		for _, why := range slices.Compact(empty) {
			res.Messages = append(res.Messages, Message{Level: "warn", Message: "the gate checked nothing: " + why, Rule: "--allow-empty"})
			res.WarnCount++
		}
	}
	if err := res.writeDecision(cfg.DecisionFile, cfg.TempDir); err != nil {
		return nil, err
	}
	return res, nil
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
		} else if flat := flatten(j.Input); len(flat) > 0 {
			b.WriteString("| Input | Value |\n|---|---|\n")
			for i, kv := range flat {
				if i == 50 {
					fmt.Fprintf(&b, "| … | %d more in the decision file |\n", len(flat)-50)
					break
				}
				fmt.Fprintf(&b, "| %s | %s |\n", cell(kv[0]), cell(kv[1]))
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

// Command is the policy-gate command line.
func Command() *command.Command {
	return &command.Command{
		Name:  "policy-gate",
		Usage: "allow or deny a release by evaluating Rego policies against its evidence",
		Description: `Evaluates Rego policies (v1 or the older v0 syntax) against a JSON or YAML
document of evidence — model metrics, scan counts, model age — and decides.
A policy may define allow (boolean), deny and warn (sets of messages) in any
package; the gate denies when any deny message exists or an allow rule is
defined and not true. Built-in policies: ` + strings.Join(prefixed(Builtins()), ", ") + `
(print one with --policy builtin:NAME --print to copy and adapt it).`,
		Examples: `policy-gate --policy builtin:model-quality --param min_accuracy=0.9 \
  --param max_fairness_gap=21 --set accuracy=0.93 --set fairness_gap=12.5

cat metrics.json | policy-gate --policy policies/ --input - --data thresholds.yaml

policy-gate --policy policies/quality.rego --input metrics.json --mode warn`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "policy", Aliases: []string{"p"}, Required: true, Usage: "Rego policy file, directory, or builtin:NAME (repeatable)"},
			&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, Usage: "input document, JSON or YAML; - reads standard input (repeatable: each is judged); NAME=FILE inputs are merged into one document, each at input.NAME"},
			&cli.StringSliceFlag{Name: "set", Usage: "set input `key=value` (numbers and booleans typed, dotted keys nest; repeatable)"},
			&cli.StringSliceFlag{Name: "data", Aliases: []string{"d"}, Usage: "data file, JSON or YAML, merged at data (repeatable)"},
			&cli.StringSliceFlag{Name: "param", Usage: "policy parameter `key=value` at data.params, e.g. min_accuracy=0.9 (repeatable)"},
			&cli.StringFlag{Name: "mode", Value: "enforce", Usage: "enforce (deny fails the step) or warn (deny warns and continues)"},
			&cli.StringFlag{Name: "rego-version", Value: "auto", Usage: "Rego syntax of the policies: auto, v0 or v1"},
			&cli.BoolFlag{Name: "allow-empty", Usage: "let a run in which no rule checked any value pass, with a warning (else it exits 2)"},
			&cli.StringFlag{Name: "decision-file", Usage: "write the decision JSON here (default: a new file in RUNNER_TEMP or the temp dir)"},
			&cli.BoolFlag{Name: "print", Category: command.LocalOnly, Usage: "print the policies' Rego source (built-ins included) and exit, to copy and adapt one"},
		},
		Outputs: []command.OutputSpec{
			{Name: "allowed", Description: "true when the policies allow the release"},
			{Name: "deny-count", Description: "number of deny messages"},
			{Name: "warn-count", Description: "number of warn messages"},
			{Name: "messages", Description: "JSON array of every message: level, msg, rule and policy"},
			{Name: "decision-file", Description: "path of a JSON file with the whole decision and the input it judged"},
		},
		Run: runCommand,
	}
}

func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "builtin:" + n
	}
	return out
}

func runCommand(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
	if c.Bool("print") {
		files, _, err := loadPolicies(ctx, c.StringSlice("policy"))
		for _, f := range files {
			fmt.Fprintf(rt.Stdout, "# %s\n%s\n", f.Name, strings.TrimRight(f.Source, "\n"))
		}
		return nil, err
	}
	cfg := Config{
		Policies:     c.StringSlice("policy"),
		Inputs:       c.StringSlice("input"),
		Set:          c.StringSlice("set"),
		Data:         c.StringSlice("data"),
		Params:       c.StringSlice("param"),
		Mode:         c.String("mode"),
		RegoVersion:  c.String("rego-version"),
		DecisionFile: c.String("decision-file"),
		TempDir:      rt.Getenv("RUNNER_TEMP"),
		AllowEmpty:   c.Bool("allow-empty"),
	}
	res, err := Run(ctx, cfg, rt.Stdin)
	if err != nil {
		return nil, err
	}
	if res.Allowed {
		for _, m := range res.Messages {
			rt.Warningf("%s (%s)", m.Message, m.Rule)
		}
		return res, nil
	}
	if cfg.Mode == "warn" {
		for _, m := range res.Messages {
			rt.Warningf("policy %s: %s (%s)", m.Level, m.Message, m.Rule)
		}
		return res, nil
	}
	first := res.Messages[0].Message
	if res.DenyCount > 1 {
		first += fmt.Sprintf(" (and %d more)", res.DenyCount-1)
	}
	return res, exitcode.Failedf("denied: %s", first)
}

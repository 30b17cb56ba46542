package policygate

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/mlship/mlship/internal/exitcode"
)

// rule is one decision rule of one package: allow, deny, warn, or a
// deny_*/warn_* rule as conftest names them.
type rule struct {
	Package string // e.g. mlship.model_quality
	Name    string // e.g. deny
	Policy  string // the file or builtin: name that defines it
	from    origin
}

func (r rule) kind() string {
	switch {
	case r.Name == "allow":
		return "allow"
	case r.Name == "deny" || strings.HasPrefix(r.Name, "deny_"):
		return "deny"
	case r.Name == "warn" || strings.HasPrefix(r.Name, "warn_"):
		return "warn"
	case r.Name == "checked":
		return "checked"
	}
	return ""
}

func (r rule) ref() string { return "data." + r.Package + "." + r.Name }

// pkgQuery evaluates every decision rule of one package in one query, so
// that a rule that others depend on (allow := count(deny) == 0) is
// evaluated once.
type pkgQuery struct {
	pkg   string
	rules []rule
	query rego.PreparedEvalQuery
}

// Gate is a set of policies compiled and prepared once, ready to judge any
// number of inputs.
type Gate struct {
	packages []pkgQuery
	// evalOptions are added to every evaluation (tests trace with them).
	evalOptions []rego.EvalOption
}

// Compile parses and compiles the policies with their data, and prepares
// one query per package. Any error is bad input (exit 2) naming the policy
// and line.
func Compile(ctx context.Context, files []policyFile, regoVersion string, data map[string]any) (*Gate, error) {
	modules := map[string]*ast.Module{}
	definedIn := map[string]string{} // package.rule -> policy name
	var found []rule
	for _, f := range files {
		if ctx.Err() != nil {
			return nil, exitcode.Incompletef("interrupted while compiling the policies: %w", context.Cause(ctx))
		}
		m, err := parsePolicy(f, regoVersion)
		if err != nil {
			return nil, err
		}
		if _, dup := modules[f.Name]; dup {
			continue
		}
		modules[f.Name] = m
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(ref) > 1 && ref[1].IsGround() {
				continue // a.b := ... defines a nested document, not a decision rule
			}
			name := ref[0].Value.(ast.Var).String()
			cand := rule{Package: pkg, Name: name, Policy: f.Name, from: f.from}
			key := pkg + "." + name
			if cand.kind() == "" {
				continue
			}
			if _, seen := definedIn[key]; seen {
				continue
			}
			definedIn[key] = f.Name
			found = append(found, cand)
		}
	}

	compiler := ast.NewCompiler().WithEnablePrintStatements(false)
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, policyError(files, compiler.Errors)
	}
	if data == nil {
		data = map[string]any{}
	}
	store := inmem.NewFromObject(data)

	sort.Slice(found, func(i, j int) bool {
		if found[i].Package != found[j].Package {
			return found[i].Package < found[j].Package
		}
		return found[i].Name < found[j].Name
	})
	g := &Gate{}
	for i := 0; i < len(found); {
		q := pkgQuery{pkg: found[i].Package}
		for ; i < len(found) && found[i].Package == q.pkg; i++ {
			q.rules = append(q.rules, found[i])
		}
		// One array of each rule's values: [[true], [{"msg"}...], []] with
		// an empty array for an undefined rule, which would otherwise leave
		// the whole query undefined.
		parts := make([]string, len(q.rules))
		for k, r := range q.rules {
			parts[k] = "[x | x := " + r.ref() + "]"
		}
		var err error
		q.query, err = rego.New(
			rego.Compiler(compiler),
			rego.Store(store),
			rego.Query("["+strings.Join(parts, ", ")+"]"),
			// A built-in policy must not read a failed conversion as
			// "undefined", and so as a pass.
			rego.StrictBuiltinErrors(isBuiltin(q.rules[0].Policy)),
		).PrepareForEval(ctx)
		if err != nil {
			return nil, q.rules[0].from.errorf("preparing data.%s: %w", q.pkg, err)
		}
		g.packages = append(g.packages, q)
	}
	return g, nil
}

func isBuiltin(policy string) bool { return strings.HasPrefix(policy, "builtin:") }

// decisive counts the allow, deny and warn rules: without any, the gate
// checks nothing.
func (g *Gate) decisive() int {
	n := 0
	for _, q := range g.packages {
		for _, r := range q.rules {
			if r.kind() != "checked" {
				n++
			}
		}
	}
	return n
}

// Message is one deny or warn message and where it came from.
type Message struct {
	Level   string         `json:"level"` // deny or warn
	Message string         `json:"msg"`
	Rule    string         `json:"rule"`   // e.g. data.mlship.model_quality.deny
	Policy  string         `json:"policy"` // file or builtin:NAME
	Details map[string]any `json:"details,omitempty"`
}

// RuleVerdict is the verdict of one rule on one input.
type RuleVerdict struct {
	Rule    string `json:"rule"`
	Policy  string `json:"policy"`
	Verdict string `json:"verdict"` // pass, deny, warn, undefined
}

// Check is one value a policy compared with a limit (from its `checked`
// rule), for the summary table.
type Check struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
	Limit any    `json:"limit,omitempty"`
	Kind  string `json:"kind,omitempty"` // min or max
}

// Judgement is the gate's decision on one input.
type Judgement struct {
	Source   string        `json:"source"`
	Allowed  bool          `json:"allowed"`
	Messages []Message     `json:"messages"`
	Rules    []RuleVerdict `json:"rules"`
	Checked  []Check       `json:"checked,omitempty"`
	// Inputs are the files the document was read from, by digest.
	Inputs []InputFile `json:"inputs,omitempty"`
	// Set holds the --set values merged over the document.
	Set map[string]any `json:"set,omitempty"`
	// Input is the whole document, with --decision-include-input.
	Input any `json:"input,omitempty"`

	value ast.Value // the document as judged
	// checkedBy holds the policies that compared a value (a checked
	// entry) or denied.
	checkedBy map[string]bool
}

// InputFile is one file a judged document was read from.
type InputFile struct {
	Name   string `json:"name,omitempty"` // NAME of --input NAME=FILE
	Path   string `json:"path"`           // - for standard input
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// Judge evaluates every rule against one input document, converted to
// OPA's form once for all of them.
func (g *Gate) Judge(ctx context.Context, source string, input any) (Judgement, error) {
	value, err := ast.InterfaceToValue(input)
	if err != nil {
		return Judgement{}, exitcode.BadInputf("reading %s: %w", source, err)
	}
	return g.judge(ctx, source, value)
}

func (g *Gate) judge(ctx context.Context, source string, input ast.Value) (Judgement, error) {
	j := Judgement{Source: source, Allowed: true, Messages: []Message{}, value: input, checkedBy: map[string]bool{}}
	opts := append([]rego.EvalOption{rego.EvalParsedInput(input)}, g.evalOptions...)
	for _, q := range g.packages {
		if ctx.Err() != nil {
			return j, exitcode.Incompletef("interrupted while evaluating data.%s: %w", q.pkg, context.Cause(ctx))
		}
		rs, err := q.query.Eval(ctx, opts...)
		if ctx.Err() != nil {
			return j, exitcode.Incompletef("interrupted while evaluating data.%s: %w", q.pkg, context.Cause(ctx))
		}
		if err != nil {
			return j, exitcode.BadInputf("evaluating data.%s: %w", q.pkg, err)
		}
		values, _ := rs[0].Expressions[0].Value.([]any)
		for k, r := range q.rules {
			if err := j.add(r, values[k].([]any)); err != nil {
				return j, err
			}
		}
	}
	sort.SliceStable(j.Messages, func(a, b int) bool { return j.Messages[a].Level < j.Messages[b].Level })
	sort.SliceStable(j.Checked, func(a, b int) bool { return j.Checked[a].Name < j.Checked[b].Name })
	return j, nil
}

// add records one rule's verdict: result is [] when the rule is undefined,
// else [its value].
func (j *Judgement) add(r rule, result []any) error {
	ref := r.ref()
	var value any
	defined := len(result) > 0
	if defined {
		value = result[0]
	}
	verdict := RuleVerdict{Rule: ref, Policy: r.Policy, Verdict: "pass"}
	switch r.kind() {
	case "allow":
		if b, ok := value.(bool); !defined || !ok || !b {
			j.Allowed = false
			verdict.Verdict = "deny"
			j.Messages = append(j.Messages, Message{Level: "deny", Message: ref + " is not true", Rule: ref, Policy: r.Policy})
		}
	case "deny", "warn":
		msgs, err := messages(value, ref)
		if err != nil {
			return r.from.errorf("%w", err)
		}
		if len(msgs) > 0 {
			verdict.Verdict = r.kind()
			if r.kind() == "deny" {
				j.Allowed = false
				j.checkedBy[r.Policy] = true
			}
		}
		for _, m := range msgs {
			m.Level, m.Rule, m.Policy = r.kind(), ref, r.Policy
			j.Messages = append(j.Messages, m)
		}
	case "checked":
		c := checks(value)
		j.Checked = append(j.Checked, c...)
		if len(c) > 0 {
			j.checkedBy[r.Policy] = true
		}
		return nil
	}
	j.Rules = append(j.Rules, verdict)
	return nil
}

// messages reads a deny/warn rule's value: a set (array) of strings, or of
// objects with a "msg" field and any details, as conftest allows; a single
// string or a boolean true also count.
func messages(value any, ref string) ([]Message, error) {
	var out []Message
	add := func(v any) error {
		switch t := v.(type) {
		case string:
			out = append(out, Message{Message: t})
		case map[string]any:
			msg, ok := t["msg"].(string)
			if !ok {
				return fmt.Errorf("%s: a message object has no string \"msg\" field", ref)
			}
			details := map[string]any{}
			for k, v := range t {
				if k != "msg" {
					details[k] = v
				}
			}
			if len(details) == 0 {
				details = nil
			}
			out = append(out, Message{Message: msg, Details: details})
		case bool:
			if t {
				out = append(out, Message{Message: ref + " is true"})
			}
		default:
			b, _ := json.Marshal(t)
			out = append(out, Message{Message: string(b)})
		}
		return nil
	}
	switch t := value.(type) {
	case nil:
	case []any:
		for _, v := range t {
			if err := add(v); err != nil {
				return nil, err
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Message < out[j].Message })
	default:
		if err := add(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func checks(value any) []Check {
	items, _ := value.([]any)
	var out []Check
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		c := Check{Value: m["value"], Limit: m["limit"]}
		c.Name, _ = m["name"].(string)
		c.Kind, _ = m["kind"].(string)
		if c.Name == "" {
			c.Name = fmt.Sprint(m["name"])
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

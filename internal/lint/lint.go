// Package lint runs actionlint, as a library, over the repository's
// workflows and composite actions.
//
// actionlint lints workflow files; it reads an action.yml only where a
// workflow uses it, and then checks its metadata (name, description, runs,
// inputs a step passes and outputs a later step reads), not its steps. So
// each actions/<tool>/action.yml is linted twice more through workflows
// made for it: one that uses the action (its metadata), and one that runs
// its steps as a reusable workflow's job, its inputs as workflow_call inputs
// and its outputs as job outputs (expressions, step ids, contexts, shells,
// and the run: scripts when shellcheck is on PATH).
package lint

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"
)

// Problem is one thing actionlint found.
type Problem struct {
	File    string // relative to the repository root
	Line    int
	Column  int
	Kind    string // the actionlint rule
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s [%s]", p.File, p.Line, p.Column, p.Message, p.Kind)
}

// Report is what Repository linted and found.
type Report struct {
	Files    []string // workflows and actions linted, relative to the root
	Problems []Problem
	// Shellcheck reports whether run: scripts were checked with shellcheck.
	Shellcheck bool
}

// Repository lints every workflow in root/.github/workflows, every example
// workflow in root/docs/examples and every root/actions/*/action.yml.
func Repository(root string) (*Report, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	project, err := actionlint.NewProject(root)
	if err != nil {
		return nil, fmt.Errorf("reading actionlint config in %s: %w", root, err)
	}
	opts := &actionlint.LinterOptions{WorkingDir: root}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	}
	linter, err := actionlint.NewLinter(io.Discard, opts)
	if err != nil {
		return nil, err
	}
	rep := &Report{Shellcheck: opts.Shellcheck != ""}

	// The workflows, and the example workflows of the docs, which users
	// copy: uses of mlship/mlship/actions/<tool>@ref and of the reusable
	// workflows are linted as root's own (see Snippet), and checked by
	// checkActionUses and checkWorkflowCalls.
	var workflows []string
	for _, pattern := range []string{".github/workflows/*.yml", ".github/workflows/*.yaml", "docs/examples/*.yml", "docs/examples/*.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pattern)))
		if err != nil {
			return nil, err
		}
		workflows = append(workflows, m...)
	}
	slices.Sort(workflows)
	for _, w := range workflows {
		name := rel(root, w)
		rep.Files = append(rep.Files, name)
		if err := rep.lintWorkflow(linter, project, root, name); err != nil {
			return nil, err
		}
	}

	actions, err := filepath.Glob(filepath.Join(root, "actions", "*", "action.yml"))
	if err != nil {
		return nil, err
	}
	for _, a := range actions {
		name := rel(root, a)
		rep.Files = append(rep.Files, name)
		if err := rep.lintAction(linter, project, root, name); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// lintWorkflow lints one workflow file, root's actions and reusable
// workflows used as root's own.
func (r *Report) lintWorkflow(linter *actionlint.Linter, project *actionlint.Project, root, name string) error {
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	text, missing := rewriteUses(root, src, nil)
	for _, m := range missing {
		r.Problems = append(r.Problems, Problem{File: name, Line: lineOf(src, "mlship/mlship/"+m+"@"), Column: 1, Kind: "mlship-action",
			Message: fmt.Sprintf("mlship/mlship/%s does not exist in this repository", m)})
	}
	errs, err := linter.Lint(name, []byte(text), project)
	if err != nil {
		return fmt.Errorf("linting %s: %w", name, err)
	}
	for _, e := range errs {
		r.add(name, e.Line, e, "")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil // actionlint reported it
	}
	wf := mappingOf(&doc)
	for _, p := range append(checkActionUses(root, wf), checkWorkflowCalls(root, wf)...) {
		p.File = name
		r.Problems = append(r.Problems, p)
	}
	return nil
}

func (r *Report) add(file string, line int, e *actionlint.Error, where string) {
	msg := e.Message
	if where != "" {
		msg = where + ": " + msg
	}
	r.Problems = append(r.Problems, Problem{File: filepath.ToSlash(file), Line: line, Column: e.Column, Kind: e.Kind, Message: msg})
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

// lintAction lints actions/<tool>/action.yml through a workflow that uses it
// and through its steps run as a workflow job.
func (r *Report) lintAction(linter *actionlint.Linter, project *actionlint.Project, root, name string) error {
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		r.Problems = append(r.Problems, Problem{File: name, Line: 1, Column: 1, Kind: "syntax-check", Message: err.Error()})
		return nil
	}
	meta := mappingOf(&doc)

	// The metadata, as a workflow using the action sees it.
	spec := "./" + strings.TrimSuffix(name, "/action.yml")
	use := usingWorkflow(spec, requiredInputs(lookup(meta, "inputs")))
	errs, err := linter.Lint(name+" (used by a workflow)", use, project)
	if err != nil {
		return fmt.Errorf("linting %s: %w", name, err)
	}
	for _, e := range errs {
		e.Column = 1 // the position is in the made-up workflow
		r.add(name, 1, e, "as used by a workflow")
	}

	// The steps, as a job.
	steps := lookup(lookup(meta, "runs"), "steps")
	if steps == nil || steps.Kind != yaml.SequenceNode {
		return nil // not composite: the metadata check above says so
	}
	job, locate, err := stepsWorkflow(meta, steps)
	if err != nil {
		return fmt.Errorf("linting %s: %w", name, err)
	}
	errs, err = linter.Lint(name+" (steps)", job, nil)
	if err != nil {
		return fmt.Errorf("linting %s: %w", name, err)
	}
	for _, e := range errs {
		line, where := locate(e.Line)
		r.add(name, line, e, where)
	}
	return nil
}

// usingWorkflow is a workflow with one step that uses the action at spec,
// giving its required inputs.
func usingWorkflow(spec string, required []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "on: push\njobs:\n  use:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: %s\n", spec)
	if len(required) > 0 {
		b.WriteString("        with:\n")
		for _, in := range required {
			fmt.Fprintf(&b, "          %s: x\n", in)
		}
	}
	return []byte(b.String())
}

func requiredInputs(inputs *yaml.Node) []string {
	var out []string
	eachPair(inputs, func(k string, v *yaml.Node) {
		if req := lookup(v, "required"); req != nil && req.Value == "true" && lookup(v, "default") == nil {
			out = append(out, k)
		}
	})
	return out
}

// stepsWorkflow makes a reusable workflow whose one job runs the action's
// steps, and a function mapping a line of it back to action.yml.
func stepsWorkflow(meta, steps *yaml.Node) ([]byte, func(int) (int, string), error) {
	inputs := mapping()
	eachPair(lookup(meta, "inputs"), func(k string, v *yaml.Node) {
		in := mapping("type", scalar("string"))
		if req := lookup(v, "required"); req != nil {
			in.Content = append(in.Content, scalar("required"), tagged("!!bool", req.Value))
		}
		if def := lookup(v, "default"); def != nil {
			in.Content = append(in.Content, scalar("default"), tagged("!!str", def.Value))
		}
		inputs.Content = append(inputs.Content, scalar(k), in)
	})
	outputs := mapping()
	eachPair(lookup(meta, "outputs"), func(k string, v *yaml.Node) {
		if val := lookup(v, "value"); val != nil {
			outputs.Content = append(outputs.Content, scalar(k), tagged("!!str", val.Value))
		}
	})
	job := mapping("runs-on", scalar("ubuntu-latest"))
	if len(outputs.Content) > 0 {
		job.Content = append(job.Content, scalar("outputs"), outputs)
	}
	job.Content = append(job.Content, scalar("steps"), steps)
	wf := mapping(
		"on", mapping("workflow_call", mapping("inputs", inputs)),
		"jobs", mapping("steps", job),
	)
	out, err := yaml.Marshal(wf)
	if err != nil {
		return nil, nil, err
	}

	// Where each step and the outputs landed in the generated file.
	var gen yaml.Node
	if err := yaml.Unmarshal(out, &gen); err != nil {
		return nil, nil, err
	}
	genJob := lookup(lookup(mappingOf(&gen), "jobs"), "steps")
	genSteps := lookup(genJob, "steps")
	genOutputs := lookup(genJob, "outputs")
	origOutputs := lookup(meta, "outputs")
	locate := func(line int) (int, string) {
		if genSteps != nil {
			for i := len(genSteps.Content) - 1; i >= 0; i-- {
				g := genSteps.Content[i]
				if line >= g.Line && i < len(steps.Content) {
					o := steps.Content[i]
					return o.Line + line - g.Line, "in step " + stepName(o, i)
				}
			}
		}
		if genOutputs != nil {
			for i := 0; i+1 < len(genOutputs.Content); i += 2 {
				if k := genOutputs.Content[i]; k.Line == line {
					if v := lookup(lookup(origOutputs, k.Value), "value"); v != nil {
						return v.Line, fmt.Sprintf("in output %q", k.Value)
					}
				}
			}
		}
		return 1, "in the action"
	}
	return out, locate, nil
}

func stepName(step *yaml.Node, i int) string {
	for _, k := range []string{"id", "name"} {
		if v := lookup(step, k); v != nil && v.Value != "" {
			return fmt.Sprintf("%q", v.Value)
		}
	}
	return fmt.Sprintf("#%d", i+1)
}

func mappingOf(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return doc
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func eachPair(m *yaml.Node, f func(string, *yaml.Node)) {
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		f(m.Content[i].Value, m.Content[i+1])
	}
}

func scalar(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: v}
}

func tagged(tag, v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
}

// mapping builds a mapping node from key, value pairs (a value is a string
// or a *yaml.Node).
func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		v, ok := kv[i+1].(*yaml.Node)
		if !ok {
			v = scalar(kv[i+1].(string))
		}
		m.Content = append(m.Content, scalar(kv[i].(string)), v)
	}
	return m
}

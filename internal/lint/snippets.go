package lint

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"
)

// CodeBlock is one fenced code block of a Markdown document.
type CodeBlock struct {
	Lang string // the first word of the info string: yaml, sh, json, ...
	Line int    // the line of the block's first line of code, from 1
	Text string // the code, without the indentation of its fence
}

var fence = regexp.MustCompile("^([ \t]*)(```+)[ \t]*([^` \t]*)")

// CodeBlocks returns the fenced code blocks of a Markdown document, in
// order; a block indented in a list item loses its fence's indentation.
func CodeBlocks(markdown []byte) []CodeBlock {
	lines := strings.Split(strings.ReplaceAll(string(markdown), "\r\n", "\n"), "\n")
	var out []CodeBlock
	for i := 0; i < len(lines); i++ {
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, ticks := m[1], m[2]
		b := CodeBlock{Lang: m[3], Line: i + 2}
		var code []string
		for i++; i < len(lines); i++ {
			l := lines[i]
			if t := strings.TrimLeft(l, " \t"); strings.HasPrefix(t, ticks) && strings.TrimSpace(strings.TrimLeft(t, "`")) == "" {
				break
			}
			code = append(code, strings.TrimPrefix(l, indent))
		}
		b.Text = strings.Join(code, "\n")
		if len(code) > 0 {
			b.Text += "\n"
		}
		out = append(out, b)
	}
	return out
}

// Kinds of workflow snippet.
const (
	KindWorkflow   = "workflow"   // a whole workflow
	KindJobs       = "jobs"       // a jobs: mapping without on:
	KindSteps      = "steps"      // a list of steps
	KindExpression = "expression" // one ${{ }} expression
)

// mlshipUses is a use of one of this repository's actions or reusable
// workflows from elsewhere: mlship/mlship/actions/<tool>@ref or
// mlship/mlship/.github/workflows/<file>@ref.
var mlshipUses = regexp.MustCompile(`(uses:\s*)mlship/mlship/((?:actions/[a-z0-9-]+)|(?:\.github/workflows/[A-Za-z0-9_.-]+))@[^\s#]+`)

// Snippet lints a workflow example from a document: a whole workflow, a
// jobs: mapping (linted with an on: added) or a list of steps (linted as
// the steps of one job), the inputs.<name> they read declared as inputs of
// the workflow around them; or one ${{ }} expression, whose syntax is
// checked. It returns the snippet's kind, or "" for YAML that is none of
// them (a config file, a fragment), which it does not lint.
//
// Uses of mlship/mlship/actions/<tool>@ref and of the reusable workflows
// mlship/mlship/.github/workflows/<file>@ref are linted as root's own
// (./actions/<tool>), so actionlint checks the inputs they are given and the
// outputs read from them against root's action.yml and workflow files. And
// each step that uses one of root's actions must give only inputs it
// declares (and every required one), and every steps.<id>.outputs.<name> a
// job reads must name an earlier step of that job and, when that step is one
// of root's actions, an output it declares. Each job that calls one of
// root's reusable workflows must give only the inputs and secrets it
// declares, every required one, and the permissions its jobs ask for, and
// every needs.<job>.outputs.<name> must name an output that job (or the
// workflow it calls) declares (checkWorkflowCalls). A tool listed in planned has no
// action yet: its steps are not checked. shellcheck is not run: a document's
// "before" examples are shell glue on purpose.
//
// Problems are reported at lines of the snippet, from 1.
func Snippet(root, name string, src []byte, planned []string) (string, []Problem, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return "", nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return "", []Problem{{File: name, Line: 1, Column: 1, Kind: "syntax-check", Message: err.Error()}}, nil
	}
	top := mappingOf(&doc)
	kind, prefix := "", ""
	switch {
	case top.Kind == yaml.MappingNode && lookup(top, "jobs") != nil && lookup(top, "on") != nil:
		kind = KindWorkflow
	case top.Kind == yaml.MappingNode && lookup(top, "jobs") != nil:
		kind, prefix = KindJobs, dispatch(src)
	case top.Kind == yaml.SequenceNode && len(top.Content) > 0 && isStep(top.Content[0]):
		kind, prefix = KindSteps, dispatch(src)+"jobs:\n  example:\n    runs-on: ubuntu-latest\n    steps:\n"
	case top.Kind == yaml.ScalarNode && strings.HasPrefix(strings.TrimSpace(top.Value), "${{"):
		return KindExpression, expression(name, top), nil
	default:
		return "", nil, nil
	}

	var problems []Problem
	text, missing := rewriteUses(root, src, planned)
	for _, m := range missing {
		problems = append(problems, Problem{File: name, Line: lineOf(src, "mlship/mlship/"+m+"@"), Column: 1, Kind: "mlship-action",
			Message: fmt.Sprintf("mlship/mlship/%s does not exist in this repository", m)})
	}
	if kind == KindSteps {
		text = indentLines(text, "      ")
	}
	wf := []byte(prefix + text)
	offset := strings.Count(prefix, "\n")

	project, err := actionlint.NewProject(root)
	if err != nil {
		return "", nil, fmt.Errorf("reading actionlint config in %s: %w", root, err)
	}
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{WorkingDir: root})
	if err != nil {
		return "", nil, err
	}
	errs, err := linter.Lint(name, wf, project)
	if err != nil {
		return "", nil, fmt.Errorf("linting %s: %w", name, err)
	}
	for _, e := range errs {
		problems = append(problems, Problem{File: name, Line: max(e.Line-offset, 1), Column: e.Column, Kind: e.Kind, Message: e.Message})
	}

	var gen yaml.Node
	if err := yaml.Unmarshal(wf, &gen); err == nil {
		for _, p := range append(checkActionUses(root, mappingOf(&gen)), checkWorkflowCalls(root, mappingOf(&gen))...) {
			p.File, p.Line = name, max(p.Line-offset, 1)
			problems = append(problems, p)
		}
	}
	slices.SortStableFunc(problems, func(a, b Problem) int { return a.Line - b.Line })
	return kind, problems, nil
}

var inputRef = regexp.MustCompile(`\binputs\.([A-Za-z_][A-Za-z0-9_-]*)`)

// dispatch is the on: of a snippet that has none: workflow_dispatch, with
// the inputs the snippet reads.
func dispatch(src []byte) string {
	var names []string
	for _, m := range inputRef.FindAllSubmatch(src, -1) {
		if n := string(m[1]); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "on: workflow_dispatch\n"
	}
	var b strings.Builder
	b.WriteString("on:\n  workflow_dispatch:\n    inputs:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "      %s:\n        type: string\n", n)
	}
	return b.String()
}

// expression checks the syntax of the ${{ }} expression in n.
func expression(name string, n *yaml.Node) []Problem {
	src := strings.TrimSpace(n.Value)
	rest, ok := strings.CutPrefix(src, "${{")
	if !ok || !strings.HasSuffix(rest, "}}") {
		return []Problem{{File: name, Line: 1, Column: 1, Kind: "expression", Message: fmt.Sprintf("%q is not one ${{ }} expression", src)}}
	}
	if _, err := actionlint.NewExprParser().Parse(actionlint.NewExprLexer(rest)); err != nil {
		return []Problem{{File: name, Line: 1, Column: err.Column + 3, Kind: "expression", Message: err.Message}}
	}
	return nil
}

// Continue merges a fragment of the form "with: {...}", which a document
// shows as more inputs for the example before it, into the last job or step
// of that example that has uses:, and returns the whole example to lint
// with Snippet. ok is false when fragment is not of that form or prev has
// no uses:.
func Continue(prev, fragment []byte) (merged []byte, ok bool, err error) {
	var frag, doc yaml.Node
	if yaml.Unmarshal(fragment, &frag) != nil || yaml.Unmarshal(prev, &doc) != nil {
		return nil, false, nil
	}
	top := mappingOf(&frag)
	with := lookup(top, "with")
	if with == nil || len(top.Content) != 2 || with.Kind != yaml.MappingNode {
		return nil, false, nil
	}
	var last *yaml.Node
	var find func(*yaml.Node)
	find = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && lookup(n, "uses") != nil {
			last = n
		}
		for _, c := range n.Content {
			find(c)
		}
	}
	find(&doc)
	if last == nil {
		return nil, false, nil
	}
	target := lookup(last, "with")
	if target == nil {
		target = mapping()
		last.Content = append(last.Content, scalar("with"), target)
	}
	for i := 0; i+1 < len(with.Content); i += 2 {
		k := with.Content[i].Value
		if old := lookup(target, k); old != nil {
			*old = *with.Content[i+1]
			continue
		}
		target.Content = append(target.Content, with.Content[i], with.Content[i+1])
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

func isStep(n *yaml.Node) bool {
	return n.Kind == yaml.MappingNode && (lookup(n, "uses") != nil || lookup(n, "run") != nil)
}

func lineOf(src []byte, s string) int {
	if i := bytes.Index(src, []byte(s)); i >= 0 {
		return 1 + bytes.Count(src[:i], []byte("\n"))
	}
	return 1
}

func indentLines(s, indent string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = indent + l
		}
	}
	return strings.Join(lines, "\n")
}

// actionMeta is what the checks read from an action.yml.
type actionMeta struct {
	Inputs map[string]struct {
		Required bool    `yaml:"required"`
		Default  *string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]any `yaml:"outputs"`
}

var (
	localAction = regexp.MustCompile(`^\./actions/([a-z0-9-]+)$`)
	stepOutput  = regexp.MustCompile(`steps\.([A-Za-z_][A-Za-z0-9_-]*)\.outputs(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'([^']+)'\s*\])`)
)

// checkActionUses checks, job by job, the inputs given to root's actions
// and the step outputs read.
func checkActionUses(root string, wf *yaml.Node) []Problem {
	var problems []Problem
	add := func(n *yaml.Node, format string, args ...any) {
		problems = append(problems, Problem{Line: n.Line, Column: n.Column, Kind: "mlship-action", Message: fmt.Sprintf(format, args...)})
	}
	metas := map[string]*actionMeta{}
	meta := func(tool string) *actionMeta {
		if m, ok := metas[tool]; ok {
			return m
		}
		var m *actionMeta
		if b, err := os.ReadFile(filepath.Join(root, "actions", tool, "action.yml")); err == nil {
			m = &actionMeta{}
			if yaml.Unmarshal(b, m) != nil {
				m = nil
			}
		}
		metas[tool] = m
		return m
	}

	eachPair(lookup(wf, "jobs"), func(jobName string, job *yaml.Node) {
		steps := lookup(job, "steps")
		if steps == nil || steps.Kind != yaml.SequenceNode {
			return
		}
		type stepInfo struct {
			index int
			tool  string // root's action the step uses, if any
		}
		ids := map[string]stepInfo{}
		for i, s := range steps.Content {
			id := lookup(s, "id")
			uses := lookup(s, "uses")
			tool := ""
			if uses != nil {
				if m := localAction.FindStringSubmatch(uses.Value); m != nil {
					tool = m[1]
				}
			}
			if id != nil {
				ids[id.Value] = stepInfo{i, tool}
			}
			if tool == "" {
				continue
			}
			am := meta(tool)
			if am == nil {
				continue
			}
			with := lookup(s, "with")
			eachPair(with, func(k string, _ *yaml.Node) {
				if _, ok := am.Inputs[k]; !ok {
					add(keyNode(with, k), "input %q is not an input of mlship/mlship/actions/%s", k, tool)
				}
			})
			for _, in := range sortedInputs(am) {
				if spec := am.Inputs[in]; spec.Required && spec.Default == nil && lookup(with, in) == nil {
					add(uses, "mlship/mlship/actions/%s needs input %q", tool, in)
				}
			}
		}
		// Every expression of the job: step i may read only steps before it;
		// the job's own keys (outputs, if, env) may read any.
		walk := func(n *yaml.Node, before int) {
			var visit func(*yaml.Node)
			visit = func(n *yaml.Node) {
				if n.Kind == yaml.ScalarNode {
					for _, m := range stepOutput.FindAllStringSubmatch(n.Value, -1) {
						id, out := m[1], m[2]+m[3]
						info, ok := ids[id]
						switch {
						case !ok:
							add(n, "steps.%s.outputs.%s: job %q has no step with id %q", id, out, jobName, id)
						case info.index >= before:
							add(n, "steps.%s.outputs.%s: step %q has not run yet here", id, out, id)
						case info.tool != "" && meta(info.tool) != nil:
							if _, ok := meta(info.tool).Outputs[out]; !ok {
								add(n, "steps.%s.outputs.%s: mlship/mlship/actions/%s has no output %q", id, out, info.tool, out)
							}
						}
					}
				}
				for _, c := range n.Content {
					visit(c)
				}
			}
			visit(n)
		}
		for i, s := range steps.Content {
			walk(s, i)
		}
		for i := 0; i+1 < len(job.Content); i += 2 {
			if job.Content[i].Value != "steps" {
				walk(job.Content[i+1], len(steps.Content))
			}
		}
	})
	return problems
}

func keyNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return m
}

func sortedInputs(m *actionMeta) []string {
	names := make([]string, 0, len(m.Inputs))
	for k := range m.Inputs {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

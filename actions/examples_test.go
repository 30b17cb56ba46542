package actions

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/lint"
	"github.com/mlship/mlship/internal/toolset"
)

// The tests here run or lint every example in README.md and docs/*.md, so
// the docs cannot drift from the tools: each ```yaml workflow snippet is
// linted with actionlint and its mlship steps checked against the actions,
// and each ```sh line that runs a tool has its options parsed by the tool.

// docFiles are the documents whose examples are checked.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join("..", "README.md")}, files...)
}

// plannedTools are the tools the README's table lists as planned: their
// actions do not exist yet, so steps that use them are not checked.
func plannedTools(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) == 5 && strings.TrimSpace(cells[3]) == "planned" {
			planned = append(planned, strings.TrimSpace(cells[1]))
		}
	}
	return planned
}

func rel(path string) string {
	return filepath.ToSlash(strings.TrimPrefix(path, ".."+string(filepath.Separator)))
}

// TestDocsWorkflowExamples lints every ```yaml workflow snippet of the docs
// (a workflow, a jobs: mapping, a list of steps or one expression) with
// actionlint, its mlship/mlship/actions/<tool> steps checked against
// actions/<tool>/action.yml. A "with:" fragment that adds inputs to the
// example before it is linted merged into that example.
func TestDocsWorkflowExamples(t *testing.T) {
	t.Parallel()
	planned := plannedTools(t)
	linted := map[string]int{}
	for _, f := range docFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var prev []byte // the last workflow example of the file
		for _, b := range lint.CodeBlocks(src) {
			if b.Lang != "yaml" && b.Lang != "yml" {
				continue
			}
			where := fmt.Sprintf("%s:%d", rel(f), b.Line)
			kind, problems, err := lint.Snippet("..", where, []byte(b.Text), planned)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if kind == "" && prev != nil {
				merged, ok, err := lint.Continue(prev, []byte(b.Text))
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				if ok {
					kind = "with: fragment"
					_, all, err := lint.Snippet("..", where, merged, planned)
					if err != nil {
						t.Fatalf("%s: %v", where, err)
					}
					for _, p := range all {
						t.Errorf("%s: merged into the example before it: %s [%s]", where, p.Message, p.Kind)
					}
				}
			}
			if kind == "" {
				t.Logf("%s: not a workflow snippet (a config file): not linted", where)
				continue
			}
			linted[kind]++
			if kind != lint.KindExpression && kind != "with: fragment" {
				prev = []byte(b.Text)
			}
			for _, p := range problems {
				t.Errorf("%s:%d: %s [%s]", rel(f), b.Line+p.Line-1, p.Message, p.Kind)
			}
		}
	}
	t.Logf("linted %v", linted)
	if linted[lint.KindSteps] == 0 || linted[lint.KindWorkflow] == 0 {
		t.Errorf("linted %v: found no step lists or no workflows in the docs", linted)
	}
}

// TestDocsShellExamples parses, with the tool's own command line, every
// ```sh command of the docs that runs a tool, so that an option renamed or
// dropped fails here.
func TestDocsShellExamples(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, f := range docFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range lint.CodeBlocks(src) {
			if b.Lang != "sh" && b.Lang != "bash" && b.Lang != "shell" {
				continue
			}
			cmds, err := toolCommands(b.Text)
			if err != nil {
				t.Errorf("%s:%d: %v", rel(f), b.Line, err)
				continue
			}
			for _, c := range cmds {
				checked++
				if msg := parseWithTool(c.args); msg != "" {
					t.Errorf("%s:%d: %s: %s", rel(f), b.Line+c.line-1, strings.Join(c.args, " "), msg)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no tool command in the docs' ```sh blocks")
	}
	t.Logf("parsed %d tool commands", checked)
}

type toolCommand struct {
	line int // in the block, from 1
	args []string
}

// toolCommands returns each command of a shell script that runs one of the
// tools (by name, or as bin/<tool>), its words expanded as the shell would,
// with every variable set to a placeholder.
func toolCommands(script string) ([]toolCommand, error) {
	f, err := syntax.NewParser().Parse(strings.NewReader(script), "")
	if err != nil {
		return nil, err
	}
	cfg := &expand.Config{Env: expand.FuncEnviron(func(string) string { return "VALUE" })}
	var out []toolCommand
	var ferr error
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 || ferr != nil {
			return true
		}
		args, err := expand.Fields(cfg, call.Args...)
		if err != nil {
			ferr = fmt.Errorf("line %d: %v", call.Pos().Line(), err)
			return false
		}
		if len(args) > 0 && slices.Contains(toolset.Names(), filepath.Base(args[0])) {
			args[0] = filepath.Base(args[0])
			out = append(out, toolCommand{line: int(call.Pos().Line()), args: args})
		}
		return true
	})
	return out, ferr
}

// parseWithTool runs the tool's command line with args and a Run that does
// nothing: the options are parsed and checked (unknown options, values that
// do not parse, required options, stray arguments) and nothing is run. It
// returns the error the tool printed, or "".
func parseWithTool(args []string) string {
	i := slices.IndexFunc(toolset.All, func(tl toolset.Tool) bool { return tl.Name == args[0] })
	cmd := toolset.All[i].Command()
	cmd.Run = func(context.Context, *cli.Context, *command.Runtime) (command.Result, error) { return nil, nil }
	var stdout, stderr bytes.Buffer
	code := cmd.Main(args, command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	if code != 0 {
		return fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	return ""
}

// TestDocsExampleChecksFindDrift breaks examples in the ways the checks
// above must catch, so they cannot pass everything.
func TestDocsExampleChecksFindDrift(t *testing.T) {
	t.Parallel()
	shell := []struct{ script, want string }{
		{"metrics-export --file m.env --bukcet reports\n", "--bukcet: no such option"},
		{"AWS_REGION=us-east-1 \\\n  bin/policy-gate --input m.json\n", "--policy is required"},
		{"policy-gate --policy p.rego --input m.json extra > out.json\n", `unexpected argument "extra"`},
		{"lambda-deploy --function f --image-uri x --timeout soon | tee log\n", `--timeout "soon": want a duration`},
	}
	for _, tt := range shell {
		cmds, err := toolCommands(tt.script)
		if err != nil || len(cmds) != 1 {
			t.Fatalf("%q: %d commands, %v", tt.script, len(cmds), err)
		}
		if msg := parseWithTool(cmds[0].args); !strings.Contains(msg, tt.want) {
			t.Errorf("%q: %q, want an error containing %q", tt.script, msg, tt.want)
		}
	}
	if cmds, _ := toolCommands("make demo\nMLSHIP_TOOL=policy-gate bash install.sh\n"); len(cmds) != 0 {
		t.Errorf("commands that run no tool: %v", cmds)
	}
	cmds, err := toolCommands("metrics-export --file m.env --rename 'A=B C' --prefix \"runs/$GITHUB_RUN_ID/\"\n")
	if err != nil || len(cmds) != 1 || !slices.Equal(cmds[0].args, []string{"metrics-export", "--file", "m.env", "--rename", "A=B C", "--prefix", "runs/VALUE/"}) {
		t.Errorf("words %v, %v", cmds, err)
	}
	if msg := parseWithTool(cmds[0].args); msg != "" {
		t.Errorf("a good command failed: %s", msg)
	}

	good := `- uses: mlship/mlship/actions/metrics-export@v1
  id: metrics
  with:
    file: model_metrics.env
- uses: mlship/mlship/actions/policy-gate@v1
  with:
    policy: builtin:model-quality
    input: ${{ steps.metrics.outputs.metrics-file }}
- run: echo "$ACCURACY"
  env:
    ACCURACY: ${{ fromJSON(steps.metrics.outputs.metrics).ACCURACY }}
`
	if kind, p, err := lint.Snippet("..", "good", []byte(good), nil); err != nil || kind != lint.KindSteps || len(p) != 0 {
		t.Fatalf("good snippet: %s, %v, %v", kind, p, err)
	}
	yamlTests := []struct{ name, old, new, want string }{
		{"renamed input", "    file: model_metrics.env", "    files: model_metrics.env", `input "files" is not an input of mlship/mlship/actions/metrics-export`},
		{"required input missing", "    policy: builtin:model-quality\n", "", `mlship/mlship/actions/policy-gate needs input "policy"`},
		{"no such output", "outputs.metrics-file", "outputs.metrics-path", `mlship/mlship/actions/metrics-export has no output "metrics-path"`},
		{"no such step", "steps.metrics.outputs.metrics)", "steps.param.outputs.metrics)", `job "example" has no step with id "param"`},
		{"read before it runs", "  id: metrics\n", "", `job "example" has no step with id "metrics"`},
		{"no such action", "actions/policy-gate@v1", "actions/policy-gait@v1", "mlship/mlship/actions/policy-gait does not exist in this repository"},
		{"actionlint", "- run: echo", "- runs: echo", `step must run script with "run" section or run action with "uses" section`},
		{"expression", "${{ fromJSON(steps.metrics.outputs.metrics).ACCURACY }}", "${{ fromJSON(steps.metrics.outputs.metrics).ACCURACY }", "unexpected EOF"},
	}
	for _, tt := range yamlTests {
		src := strings.Replace(good, tt.old, tt.new, 1)
		if src == good {
			t.Fatalf("%s: %q is not in the good snippet", tt.name, tt.old)
		}
		_, p, err := lint.Snippet("..", tt.name, []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(p, func(p lint.Problem) bool { return strings.Contains(p.Message, tt.want) }) {
			t.Errorf("%s: problems %v, want one containing %q", tt.name, p, tt.want)
		}
	}
	if kind, p, _ := lint.Snippet("..", "expr", []byte("${{ fromJSON(steps.m.outputs.metrics) .. }}\n"), nil); kind != lint.KindExpression || len(p) != 1 {
		t.Errorf("a bad expression: %s %v", kind, p)
	}
	merged, ok, err := lint.Continue([]byte(good), []byte("with:\n  mode: warn\n  polcy-input: x.json\n"))
	if err != nil || !ok {
		t.Fatalf("Continue: %v %v", ok, err)
	}
	if _, p, _ := lint.Snippet("..", "merged", merged, nil); !slices.ContainsFunc(p, func(p lint.Problem) bool {
		return strings.Contains(p.Message, `input "polcy-input" is not an input of mlship/mlship/actions/policy-gate`)
	}) {
		t.Errorf("a with: fragment with a misspelled input: %v", p)
	}
	order := "- run: echo ${{ steps.later.outputs.x }}\n- id: later\n  run: echo x=1 >> \"$GITHUB_OUTPUT\"\n"
	if _, p, _ := lint.Snippet("..", "order", []byte(order), nil); !slices.ContainsFunc(p, func(p lint.Problem) bool {
		return strings.Contains(p.Message, `step "later" has not run yet here`)
	}) {
		t.Errorf("a step reading a later step's output: %v", p)
	}
}

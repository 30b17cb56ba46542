package actions

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/toolset"
)

// actionFile is the part of action.yml these tests read.
type actionFile struct {
	Name        string                  `yaml:"name"`
	Description string                  `yaml:"description"`
	Inputs      map[string]actionInput  `yaml:"inputs"`
	Outputs     map[string]actionOutput `yaml:"outputs"`
	Runs        struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

type actionInput struct {
	Description string  `yaml:"description"`
	Required    bool    `yaml:"required"`
	Default     *string `yaml:"default"`
}

type actionOutput struct {
	Description string `yaml:"description"`
	Value       string `yaml:"value"`
}

type actionStep struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	Uses  string            `yaml:"uses"`
	Run   string            `yaml:"run"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
}

// builtIn are the flags command.Main adds to every tool; they are for a
// terminal, not action inputs.
var builtIn = []string{"json", "result-file", "help", "version"}

// toolRun is how an action runs its tool.
const toolRun = `exec "$MLSHIP_BIN"`

// installRun is how an action runs the shared installer.
const installRun = `bash "$GITHUB_ACTION_PATH/../install/install.sh"`

// installerInputs are the inputs every action has for the installer, not
// the tool: each is passed to the install step as the variable named here,
// with its default. installerEnv is what the install step gets besides.
var (
	installerInputs = map[string]struct{ env, def string }{
		"verify": {"MLSHIP_VERIFY", "auto"},
	}
	installerEnv = map[string]string{"GH_TOKEN": "${{ github.token }}"}
)

// checkAction lists every way an action.yml disagrees with its tool, or
// breaks the conventions every action follows.
func checkAction(tool string, src []byte, cmd *command.Command) []string {
	var act actionFile
	if err := yaml.Unmarshal(src, &act); err != nil {
		return []string{fmt.Sprintf("parsing action.yml: %v", err)}
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if cmd.Name != tool {
		add("command is named %q, not %q", cmd.Name, tool)
	}
	if act.Name == "" || act.Description == "" {
		add("name and description are required")
	}

	// Inputs are the flags.
	flags := map[string]cli.Flag{}
	for _, f := range cmd.Flags {
		if c, ok := f.(cli.CategorizableFlag); ok && c.GetCategory() == command.LocalOnly {
			continue
		}
		flags[f.Names()[0]] = f
	}
	for _, name := range sortedKeys(installerInputs) {
		want := installerInputs[name]
		if _, ok := flags[name]; ok {
			add("flag --%s: %q is the installer's input", name, name)
		}
		in, ok := act.Inputs[name]
		switch {
		case !ok:
			add("input %q of the installer is missing", name)
		case in.Required || in.Default == nil || *in.Default != want.def || in.Description == "":
			add("input %q: want a description, required false and default %q", name, want.def)
		}
	}
	for _, name := range sortedKeys(act.Inputs) {
		in := act.Inputs[name]
		if _, ok := installerInputs[name]; ok {
			continue
		}
		if slices.Contains(builtIn, name) {
			add("input %q: --%s is for a terminal, not an action input", name, name)
			continue
		}
		f, ok := flags[name]
		if !ok {
			add("input %q: %s has no flag --%s", name, tool, name)
			continue
		}
		if in.Description == "" {
			add("input %q: no description", name)
		}
		if req := isRequired(f); in.Required != req {
			add("input %q: required is %t, but --%s is required: %t", name, in.Required, name, req)
		}
		if in.Default != nil {
			if in.Required {
				add("input %q: a required input has no default", name)
			}
			if def := flagDefault(f); *in.Default != def {
				add("input %q: default %q, but --%s defaults to %q", name, *in.Default, name, def)
			}
		}
	}
	for _, name := range sortedKeys(flags) {
		if _, ok := act.Inputs[name]; !ok {
			add("flag --%s has no input %q", name, name)
		}
	}

	// Outputs are the tool's outputs, re-exported from the run step.
	want := map[string]bool{}
	for _, o := range cmd.Outputs {
		want[o.Name] = true
		out, ok := act.Outputs[o.Name]
		if !ok {
			add("output %q of %s is missing", o.Name, tool)
			continue
		}
		if v := "${{ steps.run.outputs." + o.Name + " }}"; out.Value != v {
			add("output %q: value is %q, want %q", o.Name, out.Value, v)
		}
		if out.Description == "" {
			add("output %q: no description", o.Name)
		}
	}
	for _, name := range sortedKeys(act.Outputs) {
		if !want[name] {
			add("output %q: %s has no such output", name, tool)
		}
	}

	// Steps: install with the shared installer, then run with every input
	// as INPUT_<NAME>; nothing is ever pasted into a shell line.
	if act.Runs.Using != "composite" {
		add("runs.using is %q, want composite", act.Runs.Using)
	}
	var install, run *actionStep
	for i := range act.Runs.Steps {
		s := &act.Runs.Steps[i]
		switch s.ID {
		case "install":
			install = s
		case "run":
			run = s
		}
		if strings.Contains(s.Run, "${{") {
			add("step %q: run: contains an expression; pass it as env instead", s.ID)
		}
		if s.Run != "" && s.Shell != "bash" {
			add("step %q: shell is %q, want bash", s.ID, s.Shell)
		}
		for k, v := range s.Env {
			if strings.HasPrefix(k, "INPUT_") {
				if m := inputRef.FindStringSubmatch(v); m == nil || command.InputEnv(m[1]) != k {
					add("step %q: env %s is %q, want ${{ inputs.<name> }} of the input it names", s.ID, k, v)
				}
			}
		}
	}
	if install == nil {
		add(`no step with id "install"`)
	} else {
		if install.Run != installRun {
			add("step install: run is %q, want %q", install.Run, installRun)
		}
		if install.Env["MLSHIP_TOOL"] != tool {
			add("step install: env MLSHIP_TOOL is %q, want %q", install.Env["MLSHIP_TOOL"], tool)
		}
		for _, name := range sortedKeys(installerInputs) {
			k, v := installerInputs[name].env, "${{ inputs."+name+" }}"
			if install.Env[k] != v {
				add("step install: env %s is %q, want %q", k, install.Env[k], v)
			}
		}
		for _, k := range sortedKeys(installerEnv) {
			if install.Env[k] != installerEnv[k] {
				add("step install: env %s is %q, want %q", k, install.Env[k], installerEnv[k])
			}
		}
	}
	if run == nil {
		add(`no step with id "run"`)
	} else {
		if run.Env["MLSHIP_BIN"] != "${{ steps.install.outputs.path }}" {
			add("step run: env MLSHIP_BIN must be ${{ steps.install.outputs.path }}")
		}
		// exec, so that the runner's SIGINT on a cancelled job reaches the
		// tool (which then rolls back or stops), not a bash in between.
		if run.Run != toolRun {
			add("step run: run is %q, want %q", run.Run, toolRun)
		}
		for _, name := range sortedKeys(act.Inputs) {
			k, v := command.InputEnv(name), "${{ inputs."+name+" }}"
			if _, ok := installerInputs[name]; ok {
				if run.Env[k] != "" {
					add("step run: env %s: %q is the installer's input, not the tool's", k, name)
				}
				continue
			}
			if run.Env[k] != v {
				add("step run: env %s is %q, want %q", k, run.Env[k], v)
			}
		}
	}
	return problems
}

var inputRef = regexp.MustCompile(`^\$\{\{ inputs\.([a-z0-9-_]+) \}\}$`)

func isRequired(f cli.Flag) bool {
	r, ok := f.(cli.RequiredFlag)
	return ok && r.IsRequired()
}

// flagDefault is a flag's default as an action input would spell it; list
// flags take one value per line.
func flagDefault(f cli.Flag) string {
	switch f := f.(type) {
	case *cli.BoolFlag:
		return strconv.FormatBool(f.Value)
	case *cli.StringSliceFlag:
		if f.Value == nil {
			return ""
		}
		return strings.Join(f.Value.Value(), "\n")
	case cli.DocGenerationFlag:
		return f.GetValue()
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestActionsMatchTools checks every action.yml against its tool.
func TestActionsMatchTools(t *testing.T) {
	t.Parallel()
	for _, tt := range toolset.All {
		tool, cmd := tt.Name, tt.Command
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(filepath.Join(tool, "action.yml"))
			if err != nil {
				t.Fatalf("reading the action of %s: %v", tool, err)
			}
			for _, p := range checkAction(tool, src, cmd()) {
				t.Errorf("actions/%s/action.yml: %s", tool, p)
			}
			if _, err := os.Stat(filepath.Join("..", "cmd", tool, "main.go")); err != nil {
				t.Errorf("%s has an action but no cmd/%s/main.go: %v", tool, tool, err)
			}
		})
	}
}

// TestEveryActionIsChecked fails when an action folder is not in the list of
// tools, so a new action cannot skip the checks above.
func TestEveryActionIsChecked(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("*", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("found no actions/*/action.yml")
	}
	for _, f := range files {
		if tool := filepath.Dir(f); !slices.Contains(toolset.Names(), tool) {
			t.Errorf("actions/%s: add %q to the list in internal/toolset", f, tool)
		}
	}
	if _, err := os.Stat(filepath.Join("install", "action.yml")); err == nil {
		t.Error("actions/install is the shared installer, not an action")
	}
}

// TestCheckActionFindsDrift breaks a good action.yml in each way the check
// must catch, so the check itself cannot silently pass everything.
func TestCheckActionFindsDrift(t *testing.T) {
	t.Parallel()
	cmd := &command.Command{
		Name: "demo",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "policy", Required: true},
			&cli.StringFlag{Name: "mode", Value: "enforce"},
			&cli.BoolFlag{Name: "print", Category: command.LocalOnly},
		},
		Outputs: []command.OutputSpec{{Name: "allowed"}},
	}
	good := `name: demo
description: a demo
inputs:
  policy: {description: p, required: true}
  mode: {description: m, default: enforce}
  verify: {description: v, default: auto}
outputs:
  allowed: {description: a, value: "${{ steps.run.outputs.allowed }}"}
runs:
  using: composite
  steps:
    - id: install
      shell: bash
      env: {MLSHIP_TOOL: demo, MLSHIP_VERIFY: "${{ inputs.verify }}", GH_TOKEN: "${{ github.token }}"}
      run: bash "$GITHUB_ACTION_PATH/../install/install.sh"
    - id: run
      shell: bash
      env:
        MLSHIP_BIN: ${{ steps.install.outputs.path }}
        INPUT_POLICY: ${{ inputs.policy }}
        INPUT_MODE: ${{ inputs.mode }}
      run: 'exec "$MLSHIP_BIN"'
`
	if p := checkAction("demo", []byte(good), cmd); len(p) != 0 {
		t.Fatalf("good action reported: %q", p)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"missing input", "  mode: {description: m, default: enforce}\n", "", `flag --mode has no input "mode"`},
		{"unknown input", "inputs:\n", "inputs:\n  extra: {description: x}\n", `input "extra": demo has no flag --extra`},
		{"local-only flag as input", "inputs:\n", "inputs:\n  print: {description: x}\n", `input "print": demo has no flag --print`},
		{"json as input", "inputs:\n", "inputs:\n  json: {description: x}\n", `input "json": --json is for a terminal`},
		{"required differs", "required: true}", "required: false}", `input "policy": required is false, but --policy is required: true`},
		{"default differs", "default: enforce}", "default: warn}", `input "mode": default "warn", but --mode defaults to "enforce"`},
		{"missing output", "  allowed: {description: a, value: \"${{ steps.run.outputs.allowed }}\"}\n", "", `output "allowed" of demo is missing`},
		{"unknown output", "outputs:\n", "outputs:\n  digest: {description: d, value: x}\n", `output "digest": demo has no such output`},
		{"output from elsewhere", "value: \"${{ steps.run.outputs.allowed }}\"", "value: \"${{ steps.install.outputs.allowed }}\"", `output "allowed": value is`},
		{"input not passed", "        INPUT_MODE: ${{ inputs.mode }}\n", "", `step run: env INPUT_MODE is ""`},
		{"input passed as another", "INPUT_MODE: ${{ inputs.mode }}", "INPUT_MODE: ${{ inputs.policy }}", `env INPUT_MODE is "${{ inputs.policy }}"`},
		{"input in run", `run: 'exec "$MLSHIP_BIN"'`, `run: 'exec "$MLSHIP_BIN" --mode ${{ inputs.mode }}'`, `step "run": run: contains an expression`},
		{"tool not exec'd", `run: 'exec "$MLSHIP_BIN"'`, `run: '"$MLSHIP_BIN"'`, `step run: run is "\"$MLSHIP_BIN\"", want`},
		{"no install step", "id: install", "id: setup", `no step with id "install"`},
		{"other installer", `run: bash "$GITHUB_ACTION_PATH/../install/install.sh"`, `run: curl -sL https://example.com/i.sh | bash`, "step install: run is"},
		{"not composite", "using: composite", "using: node20", `runs.using is "node20"`},
		{"no verify input", "  verify: {description: v, default: auto}\n", "", `input "verify" of the installer is missing`},
		{"verify default differs", "default: auto}", "default: checksum}", `input "verify": want a description, required false and default "auto"`},
		{"verify not passed to the installer", `, MLSHIP_VERIFY: "${{ inputs.verify }}"`, "", `step install: env MLSHIP_VERIFY is ""`},
		{"no token for gh", `, GH_TOKEN: "${{ github.token }}"`, "", `step install: env GH_TOKEN is ""`},
		{"verify passed to the tool", "        INPUT_MODE: ${{ inputs.mode }}\n", "        INPUT_MODE: ${{ inputs.mode }}\n        INPUT_VERIFY: ${{ inputs.verify }}\n", `step run: env INPUT_VERIFY: "verify" is the installer's input`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := strings.Replace(good, tt.old, tt.new, 1)
			if src == good {
				t.Fatalf("%q is not in the good action", tt.old)
			}
			p := checkAction("demo", []byte(src), cmd)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("problems %q, want one containing %q", p, tt.want)
			}
		})
	}
}

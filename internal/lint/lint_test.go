package lint

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRepository lints this repository's workflows and actions.
func TestRepository(t *testing.T) {
	t.Parallel()
	rep, err := Repository(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("actionlint: %s", p)
	}
	for _, want := range []string{
		".github/workflows/ci.yml", ".github/workflows/release.yml", "actions/policy-gate/action.yml",
		".github/workflows/lambda-model.yml", ".github/workflows/eks-model.yml", ".github/workflows/lambda-release.yml",
		".github/workflows/promote-image.yml", ".github/workflows/model-monitor.yml",
		"docs/examples/credit-approval.yml", "docs/examples/retail-api.yml", "docs/examples/pricing-api.yml",
		"docs/examples/churn-promotion.yml", "docs/examples/model-monitor.yml",
	} {
		if !slices.Contains(rep.Files, want) {
			t.Errorf("did not lint %s (linted %q)", want, rep.Files)
		}
	}
}

// needShellcheck skips a test that needs shellcheck where it is missing,
// saying so; in CI, which installs it (.ci/run), a missing shellcheck fails.
func needShellcheck(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("shellcheck is not on PATH, and CI must run this test (.ci/run installs shellcheck)")
		}
		t.Skip("SKIPPED, not passed: shellcheck is not on PATH, so the run: scripts are not checked (apt-get install shellcheck)")
	}
}

// TestRepositoryShellcheck: with shellcheck on PATH, the run: scripts of
// the workflows and actions are checked with it too, and a script it finds
// fault with is a problem.
func TestRepositoryShellcheck(t *testing.T) {
	needShellcheck(t)
	t.Parallel()
	rep, err := Repository(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Shellcheck {
		t.Fatal("shellcheck is on PATH but the run: scripts were not checked with it")
	}
	for _, p := range rep.Problems {
		t.Errorf("actionlint: %s", p)
	}

	bad := strings.Replace(goodAction, `run: '"$MLSHIP_BIN"'`, `run: $MLSHIP_BIN $INPUT_POLICY`, 1)
	rep, err = Repository(writeRepo(t, map[string]string{actionFile: bad, workflowFile: goodWorkflow}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.Problems, func(p Problem) bool {
		return p.File == actionFile && p.Kind == "shellcheck" && strings.Contains(p.Message, "SC2086")
	}) {
		t.Errorf("shellcheck did not report the unquoted variables in %s: %v", actionFile, rep.Problems)
	}
}

const goodAction = `name: demo
description: a demo action
inputs:
  policy:
    description: policy files
    required: true
  mode:
    description: enforce or warn
    default: enforce
outputs:
  allowed:
    description: true when allowed
    value: ${{ steps.run.outputs.allowed }}
runs:
  using: composite
  steps:
    - id: install
      shell: bash
      run: echo "path=/bin/true" >> "$GITHUB_OUTPUT"
    - id: run
      shell: bash
      env:
        MLSHIP_BIN: ${{ steps.install.outputs.path }}
        INPUT_POLICY: ${{ inputs.policy }}
        INPUT_MODE: ${{ inputs.mode }}
      run: '"$MLSHIP_BIN"'
`

const goodWorkflow = `name: ci
on: push
permissions:
  contents: read
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - id: gate
        uses: ./actions/demo
        with:
          policy: policy.rego
      - run: echo "$ALLOWED"
        env:
          ALLOWED: ${{ steps.gate.outputs.allowed }}
`

const (
	actionFile   = "actions/demo/action.yml"
	workflowFile = ".github/workflows/ci.yml"
)

func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestFindsProblems breaks a good repository in ways actionlint must catch,
// in workflows and in action.yml files.
func TestFindsProblems(t *testing.T) {
	t.Parallel()
	rep, err := Repository(writeRepo(t, map[string]string{actionFile: goodAction, workflowFile: goodWorkflow}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("the good repository has problems: %v", rep.Problems)
	}

	tests := []struct {
		name     string
		file     string
		old, new string
		want     string
		line     string // when set, the problem is reported on the line holding this text
	}{
		{"job without runs-on", workflowFile, "    runs-on: ubuntu-latest\n", "", `"runs-on" section is missing`, ""},
		{"unknown input to the action", workflowFile, "policy: policy.rego", "polcy: policy.rego", `input "polcy" is not defined`, ""},
		{"required input not given", workflowFile, "        with:\n          policy: policy.rego\n", "", `missing input "policy"`, ""},
		{"unknown output of the action", workflowFile, "outputs.allowed", "outputs.alowed", `property "alowed" is not defined`, ""},
		{"bad expression in a workflow", workflowFile, "${{ steps.gate.outputs.allowed }}", "${{ steps.gate.outputs.allowed", "unexpected EOF while lexing expression", ""},
		{"invalid runner", actionFile, "using: composite", "using: node12", `invalid runner name "node12"`, ""},
		{"no description", actionFile, "description: a demo action\n", "", "description is required", ""},
		{"unknown key in an input", actionFile, "    default: enforce\n", "    default: enforce\n    type: string\n", `unexpected key "type"`, ""},
		{"undefined input in a step", actionFile, "${{ inputs.mode }}", "${{ inputs.mod }}", `property "mod" is not defined`, "inputs.mod"},
		{"undefined step in a step", actionFile, "${{ steps.install.outputs.path }}", "${{ steps.instal.outputs.path }}", `property "instal" is not defined`, "steps.instal"},
		{"undefined step in an output", actionFile, "${{ steps.run.outputs.allowed }}", "${{ steps.runn.outputs.allowed }}", `property "runn" is not defined`, "steps.runn"},
		{"unknown context in a step", actionFile, "${{ inputs.policy }}", "${{ input.policy }}", `undefined variable "input"`, "input.policy"},
		{"not YAML", actionFile, "  steps:\n", "  steps:\n\t- oops\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{actionFile: goodAction, workflowFile: goodWorkflow}
			broken := strings.Replace(files[tt.file], tt.old, tt.new, 1)
			if broken == files[tt.file] {
				t.Fatalf("%q is not in %s", tt.old, tt.file)
			}
			files[tt.file] = broken
			rep, err := Repository(writeRepo(t, files))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range rep.Problems {
				t.Log(p)
			}
			i := slices.IndexFunc(rep.Problems, func(p Problem) bool {
				return p.File == tt.file && strings.Contains(p.Message, tt.want)
			})
			if i < 0 {
				t.Fatalf("no problem in %s containing %q; got %v", tt.file, tt.want, rep.Problems)
			}
			if tt.line != "" {
				want := 1 + slices.IndexFunc(strings.Split(broken, "\n"), func(l string) bool { return strings.Contains(l, tt.line) })
				if got := rep.Problems[i].Line; got != want {
					t.Errorf("reported on line %d, want %d: %s", got, want, rep.Problems[i])
				}
			}
		})
	}
}

// A reusable workflow that uses the demo action, and an example that calls
// it, as docs/examples holds them.
const (
	reusableFile = ".github/workflows/pipe.yml"
	callerFile   = "docs/examples/caller.yml"
)

const goodReusable = `name: pipe
on:
  workflow_call:
    inputs:
      policy:
        description: policy files
        type: string
        required: true
      mode:
        description: enforce or warn
        type: string
        default: enforce
    secrets:
      token:
        description: a token
        required: true
      extra:
        description: optional
    outputs:
      allowed:
        description: true when allowed
        value: ${{ jobs.gate.outputs.allowed }}
permissions: {}
jobs:
  gate:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
    outputs:
      allowed: ${{ steps.gate.outputs.allowed }}
    steps:
      - id: gate
        uses: mlship/mlship/actions/demo@v1
        with:
          policy: ${{ inputs.policy }}
          mode: ${{ inputs.mode }}
      - run: echo "$ALLOWED"
        env:
          ALLOWED: ${{ steps.gate.outputs.allowed }}
          TOKEN: ${{ secrets.token }}
`

const goodCaller = `name: caller
on: push
permissions: {}
jobs:
  ship:
    permissions:
      contents: read
      id-token: write
    uses: mlship/mlship/.github/workflows/pipe.yml@v1
    with:
      policy: policy.rego
    secrets:
      token: ${{ secrets.TOKEN }}
  report:
    needs: ship
    runs-on: ubuntu-latest
    permissions: {}
    outputs:
      said: ${{ steps.say.outputs.said }}
    steps:
      - id: say
        run: echo "said=$ALLOWED" >> "$GITHUB_OUTPUT"
        env:
          ALLOWED: ${{ needs.ship.outputs.allowed }}
  after:
    needs: report
    runs-on: ubuntu-latest
    permissions: {}
    steps:
      - run: echo "$SAID"
        env:
          SAID: ${{ needs.report.outputs.said }}
`

// TestFindsWorkflowDrift breaks a reusable workflow and its caller in each
// way the checks of our own (checkActionUses, checkWorkflowCalls) must
// catch; each problem must be reported by them (kind mlship-action or
// mlship-workflow), not only by actionlint, which does not see the inputs
// of mlship/mlship/actions/<tool>@v1 at all.
func TestFindsWorkflowDrift(t *testing.T) {
	t.Parallel()
	good := map[string]string{actionFile: goodAction, reusableFile: goodReusable, callerFile: goodCaller}
	rep, err := Repository(writeRepo(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("the good repository has problems: %v", rep.Problems)
	}
	for _, want := range []string{reusableFile, callerFile} {
		if !slices.Contains(rep.Files, want) {
			t.Errorf("did not lint %s (linted %q)", want, rep.Files)
		}
	}

	tests := []struct {
		name     string
		file     string
		old, new string
		want     string
		line     string // the problem is reported on the line holding this text
	}{
		// A workflow step that uses one of our actions.
		{"step gives an input the action does not declare", reusableFile, "          mode: ${{ inputs.mode }}", "          mood: ${{ inputs.mode }}",
			`input "mood" is not an input of mlship/mlship/actions/demo`, "mood:"},
		{"step omits a required input of the action", reusableFile, "          policy: ${{ inputs.policy }}\n", "",
			`mlship/mlship/actions/demo needs input "policy"`, "uses: mlship/mlship/actions/demo"},
		{"step reads an output the action does not declare", reusableFile, "ALLOWED: ${{ steps.gate.outputs.allowed }}", "ALLOWED: ${{ steps.gate.outputs.permitted }}",
			`mlship/mlship/actions/demo has no output "permitted"`, "permitted"},
		{"job output reads an output the action does not declare", reusableFile, "allowed: ${{ steps.gate.outputs.allowed }}", "allowed: ${{ steps.gate.outputs.ok }}",
			`mlship/mlship/actions/demo has no output "ok"`, "outputs.ok"},
		{"workflow output reads a job output that does not exist", reusableFile, "${{ jobs.gate.outputs.allowed }}", "${{ jobs.gate.outputs.allow }}",
			`output "allowed" reads jobs.gate.outputs.allow: job "gate" has no output "allow"`, "jobs.gate.outputs.allow"},
		{"action that does not exist", reusableFile, "actions/demo@v1", "actions/dmeo@v1",
			"mlship/mlship/actions/dmeo does not exist in this repository", "actions/dmeo"},

		// A caller of the reusable workflow.
		{"caller gives an input the workflow does not declare", callerFile, "      policy: policy.rego\n", "      policy: policy.rego\n      strict: true\n",
			`input "strict" is not an input of mlship/mlship/.github/workflows/pipe.yml`, "strict:"},
		{"caller omits a required input", callerFile, "    with:\n      policy: policy.rego\n", "",
			`mlship/mlship/.github/workflows/pipe.yml needs input "policy"`, "uses: mlship/mlship/.github/workflows/pipe.yml"},
		{"caller reads an output the workflow does not declare", callerFile, "${{ needs.ship.outputs.allowed }}", "${{ needs.ship.outputs.passed }}",
			`needs.ship.outputs.passed: mlship/mlship/.github/workflows/pipe.yml has no output "passed"`, "outputs.passed"},
		{"caller passes a secret the workflow does not declare", callerFile, "      token: ${{ secrets.TOKEN }}\n", "      token: ${{ secrets.TOKEN }}\n      password: x\n",
			`secret "password" is not a secret of mlship/mlship/.github/workflows/pipe.yml`, "password:"},
		{"caller omits a required secret", callerFile, "    secrets:\n      token: ${{ secrets.TOKEN }}\n", "",
			`mlship/mlship/.github/workflows/pipe.yml needs secret "token"`, "uses: mlship/mlship/.github/workflows/pipe.yml"},
		{"caller grants less than the workflow's jobs ask", callerFile, "      contents: read\n      id-token: write\n", "      contents: read\n",
			`its job "gate" needs "id-token: write", but job "ship" grants "id-token: none"`, "uses: mlship/mlship/.github/workflows/pipe.yml"},
		{"caller without permissions gets the default token", callerFile, "    permissions:\n      contents: read\n      id-token: write\n    uses:", "    uses:",
			`the workflow grants "id-token: none"`, "uses: mlship/mlship/.github/workflows/pipe.yml"},
		{"caller reads an output another job does not declare", callerFile, "${{ needs.report.outputs.said }}", "${{ needs.report.outputs.told }}",
			`needs.report.outputs.told: job "report" has no output "told"`, "outputs.told"},
		{"workflow that does not exist", callerFile, "workflows/pipe.yml@v1", "workflows/pipes.yml@v1",
			"mlship/mlship/.github/workflows/pipes.yml does not exist in this repository", "pipes.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := maps.Clone(good)
			broken := strings.Replace(files[tt.file], tt.old, tt.new, 1)
			if broken == files[tt.file] {
				t.Fatalf("%q is not in %s", tt.old, tt.file)
			}
			files[tt.file] = broken
			rep, err := Repository(writeRepo(t, files))
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(rep.Problems, func(p Problem) bool {
				return p.File == tt.file && strings.HasPrefix(p.Kind, "mlship-") && strings.Contains(p.Message, tt.want)
			})
			if i < 0 {
				t.Fatalf("no mlship problem in %s containing %q; got %v", tt.file, tt.want, rep.Problems)
			}
			want := 1 + slices.IndexFunc(strings.Split(broken, "\n"), func(l string) bool { return strings.Contains(l, tt.line) })
			if got := rep.Problems[i].Line; got != want {
				t.Errorf("reported on line %d, want %d: %s", got, want, rep.Problems[i])
			}
		})
	}
}

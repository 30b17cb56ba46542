package lint

import (
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
	for _, want := range []string{".github/workflows/ci.yml", ".github/workflows/release.yml", "actions/policy-gate/action.yml"} {
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

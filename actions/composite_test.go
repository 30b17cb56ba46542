package actions

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/internal/action/actiontest"
)

// The tests here run a composite action's steps the way the runner does:
// each run: step as a bash script with its env: evaluated, GITHUB_OUTPUT
// read back after each step, and the action's outputs evaluated from the
// steps' outputs. Only the expressions the actions may use are supported:
// ${{ inputs.<name> }}, ${{ steps.<id>.outputs.<name> }} and
// ${{ github.token }} (empty here: no token, as on a runner without one).

var expr = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

type actionRun struct {
	outputs map[string]string
	failed  string // the id of the step that failed, if one did
	log     string
}

// runAction runs actions/<tool> with inputs in workdir; env is the runner's
// environment.
func runAction(t *testing.T, tool, workdir string, inputs map[string]string, env []string) actionRun {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(tool, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var act actionFile
	if err := yaml.Unmarshal(src, &act); err != nil {
		t.Fatal(err)
	}
	actionPath, err := filepath.Abs(tool)
	if err != nil {
		t.Fatal(err)
	}
	for name := range inputs {
		if _, ok := act.Inputs[name]; !ok {
			t.Fatalf("%s has no input %q", tool, name)
		}
	}
	ctx := map[string]string{"github.token": ""}
	for name, in := range act.Inputs {
		v, ok := inputs[name]
		if !ok && in.Default != nil {
			v = *in.Default
		}
		ctx["inputs."+name] = v
	}
	eval := func(s string) string {
		return expr.ReplaceAllStringFunc(s, func(m string) string {
			key := expr.FindStringSubmatch(m)[1]
			if !strings.HasPrefix(key, "inputs.") && !strings.HasPrefix(key, "steps.") && key != "github.token" {
				t.Fatalf("the test runner does not evaluate %s", m)
			}
			return ctx[key]
		})
	}

	run := actionRun{}
	var log strings.Builder
	dir := t.TempDir()
	for i, step := range act.Runs.Steps {
		if step.Run == "" || step.Shell != "bash" {
			t.Fatalf("step %q: the test runner runs only bash run: steps", step.ID)
		}
		script := filepath.Join(dir, fmt.Sprintf("step%d.sh", i))
		output := filepath.Join(dir, fmt.Sprintf("output%d", i))
		for _, f := range []string{script, output} {
			content := ""
			if f == script {
				content = step.Run
			}
			if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir = workdir
		cmd.Env = append(env, "GITHUB_ACTION_PATH="+actionPath, "GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+filepath.Join(dir, "summary"))
		for k, v := range step.Env {
			cmd.Env = append(cmd.Env, k+"="+eval(v))
		}
		out, err := cmd.CombinedOutput()
		fmt.Fprintf(&log, "--- step %s\n%s", step.ID, out)
		outs, perr := readOutputs(output)
		if perr != nil {
			t.Fatalf("step %q: %v", step.ID, perr)
		}
		for k, v := range outs {
			ctx["steps."+step.ID+".outputs."+k] = v
		}
		if err != nil {
			run.failed = step.ID
			break
		}
	}
	run.outputs = map[string]string{}
	for name, o := range act.Outputs {
		run.outputs[name] = eval(o.Value)
	}
	run.log = log.String()
	return run
}

// readOutputs reads a GITHUB_OUTPUT file as the runner does.
func readOutputs(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return actiontest.ParseOutputs(b)
}

// TestPolicyGateAction runs actions/policy-gate/action.yml, installing the
// released binary from the local release server, on the policies CI runs it
// on (testdata/ci).
func TestPolicyGateAction(t *testing.T) {
	needTools(t, "bash", "curl", "tar")
	t.Parallel()
	rel, _ := newRelease(t, runtime.GOOS, runtime.GOARCH)
	srv := newServer(t, map[string]release{testTag: rel})
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// One runner for all cases: the first installs, the others hit the cache.
	r := newRunner(t, srv)
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "GITHUB_") && !strings.HasPrefix(k, "RUNNER_") && !strings.HasPrefix(k, "MLSHIP_") && !strings.HasPrefix(k, "INPUT_") {
			env = append(env, kv)
		}
	}
	for k, v := range r.env {
		if k != "GITHUB_ACTION_PATH" && k != "MLSHIP_TOOL" {
			env = append(env, k+"="+v)
		}
	}
	// The action is checked out here, not at a release path: name the ref.
	env = append(env, "MLSHIP_ACTION_REF="+testTag)

	quality := map[string]string{"policy": "testdata/ci/quality_v0.rego", "data": "testdata/ci/thresholds.json"}
	with := func(m map[string]string, extra ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			out[extra[i]] = extra[i+1]
		}
		return out
	}
	canary := filepath.Join(t.TempDir(), "injected")

	tests := []struct {
		name    string
		inputs  map[string]string
		failed  string
		outputs map[string]string
		judged  string // the decision file holds this input value, verbatim
	}{
		{
			name:    "allowed with a warning",
			inputs:  with(quality, "input", "testdata/ci/model-good.yaml"),
			outputs: map[string]string{"allowed": "true", "deny-count": "0", "warn-count": "1"},
		},
		{
			name:    "denied in enforce mode fails the run step, outputs still set",
			inputs:  with(quality, "input", "testdata/ci/model-bad.yaml"),
			failed:  "run",
			outputs: map[string]string{"allowed": "false", "deny-count": "1", "warn-count": "1"},
		},
		{
			name:    "denied in warn mode continues",
			inputs:  with(quality, "input", "testdata/ci/model-bad.yaml", "mode", "warn"),
			outputs: map[string]string{"allowed": "false", "deny-count": "1"},
		},
		{
			name: "list inputs, one value per line",
			inputs: map[string]string{
				"policy": "builtin:model-quality\n",
				"set":    "accuracy=0.934\nfairness_gap=23.4\n",
				"param":  "min_accuracy=0.9\nmax_fairness_gap=21\n",
				"mode":   "warn",
			},
			outputs: map[string]string{"allowed": "false", "deny-count": "1"},
		},
		{
			name: "inputs are never run as shell",
			inputs: map[string]string{
				"policy": "builtin:model-quality",
				"set":    "accuracy=$(touch " + canary + ")\nname=`touch " + canary + "`",
				"param":  "min_accuracy=0.9",
				"mode":   "warn",
			},
			outputs: map[string]string{"deny-count": "1"}, // the accuracy is not a number
			judged:  "$(touch " + canary + ")",
		},
		{
			name: "a parameter is never run as shell: it is bad input",
			inputs: map[string]string{
				"policy": "builtin:model-quality",
				"set":    "accuracy=0.95",
				"param":  `min_accuracy=0.9"; touch ` + canary + `; echo "`,
			},
			failed: "run",
		},
		{
			name:   "bad input is exit 2 from the run step",
			inputs: with(quality, "input", "testdata/ci/model-good.yaml", "rego-version", "v9"),
			failed: "run",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the cases share one runner's tool cache, as
			// steps of one job do.
			res := runAction(t, testTool, repo, tt.inputs, env)
			if res.failed != tt.failed {
				t.Fatalf("failed step %q, want %q; log:\n%s", res.failed, tt.failed, res.log)
			}
			for k, want := range tt.outputs {
				if got := res.outputs[k]; got != want {
					t.Errorf("output %s = %q, want %q", k, got, want)
				}
			}
			if tt.failed == "" || tt.outputs != nil {
				var msgs []map[string]any
				if err := json.Unmarshal([]byte(res.outputs["messages"]), &msgs); err != nil {
					t.Errorf("output messages is not a JSON array: %v: %q", err, res.outputs["messages"])
				}
				if f := res.outputs["decision-file"]; f == "" {
					t.Error("output decision-file is empty")
				} else if _, err := os.Stat(f); err != nil {
					t.Errorf("decision-file: %v", err)
				}
			}
			if tt.judged != "" {
				b, _ := os.ReadFile(res.outputs["decision-file"])
				want, _ := json.Marshal(tt.judged)
				if !strings.Contains(string(b), string(want)) {
					t.Errorf("the decision file does not hold the input %s:\n%s", want, b)
				}
			}
			if tt.failed != "" && !strings.Contains(res.log, "::error") {
				t.Errorf("a failed step printed no ::error annotation; log:\n%s", res.log)
			}
			if _, err := os.Stat(canary); err == nil {
				t.Fatalf("an input was run as a shell command; log:\n%s", res.log)
			}
			if t.Failed() {
				t.Logf("log:\n%s", res.log)
			}
		})
	}
	if n := len(srv.seen()); n != 2 {
		t.Errorf("%d downloads for %d runs of the action on one runner, want 2 (archive and checksums once)", n, len(tests))
	}
}

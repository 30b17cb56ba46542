package policygate_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/policygate"
)

type run struct {
	code           int
	stdout, stderr string
	w              *actiontest.Workflow
}

// gate runs policy-gate as a workflow step would, with env as extra
// variables (INPUT_* among them) and args on the command line.
func gate(t *testing.T, env map[string]string, stdin string, args ...string) run {
	t.Helper()
	w := actiontest.NewWorkflow(t, env)
	var stdout, stderr bytes.Buffer
	code := policygate.Command().Main(append([]string{"policy-gate"}, args...), command.Env{
		Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr, Getenv: w.Getenv,
	})
	return run{code, stdout.String(), stderr.String(), w}
}

// local runs policy-gate outside a workflow (RUNNER_TEMP aside, so that
// decision files land in the test's temp dir).
func local(t *testing.T, stdin string, args ...string) run {
	t.Helper()
	var stdout, stderr bytes.Buffer
	temp := t.TempDir() // where decision files go by default
	code := policygate.Command().Main(append([]string{"policy-gate"}, args...), command.Env{
		Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string {
			if k == "RUNNER_TEMP" {
				return temp
			}
			return ""
		},
	})
	return run{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func decision(t *testing.T, path string) policygate.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("decision file: %v", err)
	}
	var r policygate.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decision file: %v", err)
	}
	return r
}

func TestBuiltinModelQualityInAWorkflow(t *testing.T) {
	t.Parallel()
	r := gate(t, map[string]string{
		"INPUT_POLICY": "builtin:model-quality",
		"INPUT_PARAM":  "min_accuracy=0.9\nmax_fairness_gap=21\n",
		"INPUT_SET":    "ACCURACY=0.93\nEQUAL_OPPORTUNITY_FAIRNESS_PERCENT=12.5\n",
		"INPUT_MODE":   "",
	}, "")
	if r.code != 0 {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	outs := r.w.Outputs(t)
	if outs["allowed"] != "true" || outs["deny-count"] != "0" || outs["warn-count"] != "0" || outs["messages"] != "[]" {
		t.Errorf("outputs = %v", outs)
	}
	d := decision(t, outs["decision-file"])
	if !d.Allowed || len(d.Judgements) != 1 {
		t.Fatalf("decision = %+v", d)
	}
	if d.Judgements[0].Set["ACCURACY"] != 0.93 || d.Judgements[0].Input != nil {
		t.Errorf("decision file: set %v, input %v", d.Judgements[0].Set, d.Judgements[0].Input)
	}
	summary := r.w.SummaryText(t)
	for _, want := range []string{
		"### ✅ policy-gate: allowed",
		"| accuracy | 0.93 | min 0.9 |",
		"| fairness_gap | 12.5 | max 21 |",
		"| `data.mlship.model_quality.deny` | builtin:model-quality | ✅ pass |",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
}

func TestDeniedModelFailsInEnforceMode(t *testing.T) {
	t.Parallel()
	r := gate(t, nil, "", "-p", "builtin:model-quality", "--param", "min_accuracy=0.9", "--param", "max_fairness_gap=21",
		"--set", "accuracy=0.85", "--set", "fairness_gap=22.5")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if !strings.HasSuffix(r.stdout, "::error::policy-gate: denied: accuracy 0.85 is below the minimum 0.9 (and 1 more)\n") {
		t.Errorf("stdout does not end with the error annotation:\n%s", r.stdout)
	}
	outs := r.w.Outputs(t)
	if outs["allowed"] != "false" || outs["deny-count"] != "2" {
		t.Errorf("outputs = %v", outs)
	}
	var msgs []policygate.Message
	if err := json.Unmarshal([]byte(outs["messages"]), &msgs); err != nil {
		t.Fatal(err)
	}
	want := []string{"accuracy 0.85 is below the minimum 0.9", "fairness_gap 22.5 is above the maximum 21"}
	if len(msgs) != 2 || msgs[0].Message != want[0] || msgs[1].Message != want[1] ||
		msgs[0].Policy != "builtin:model-quality" || msgs[0].Rule != "data.mlship.model_quality.deny" || msgs[0].Level != "deny" {
		t.Errorf("messages = %+v", msgs)
	}
	if s := r.w.SummaryText(t); !strings.Contains(s, "❌ deny | accuracy 0.85 is below the minimum 0.9<br>fairness_gap 22.5 is above the maximum 21 |") {
		t.Errorf("summary:\n%s", s)
	}
}

func TestWarnModeWarnsAndContinues(t *testing.T) {
	t.Parallel()
	r := gate(t, nil, "", "-p", "builtin:model-quality", "--param", "min_accuracy=0.9", "--set", "accuracy=0.85", "--mode", "warn")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	if !strings.Contains(r.stdout, "::warning::policy deny: accuracy 0.85 is below the minimum 0.9 (data.mlship.model_quality.deny)\n") {
		t.Errorf("no warning annotation:\n%s", r.stdout)
	}
	if outs := r.w.Outputs(t); outs["allowed"] != "false" || outs["deny-count"] != "1" {
		t.Errorf("outputs = %v", outs)
	}
}

func TestRegoV0AndV1PoliciesTogether(t *testing.T) {
	t.Parallel()
	dec := filepath.Join(t.TempDir(), "out", "decision.json")
	r := local(t, "", "-p", "testdata/quality_v1.rego", "-p", "testdata/quality_v0.rego", "-i", "testdata/metrics-bad.json", "--decision-file", dec)
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	d := decision(t, dec)
	var got []string
	for _, m := range d.Messages {
		got = append(got, m.Level+" "+m.Rule+" "+m.Policy+": "+m.Message)
	}
	want := []string{
		"deny data.release.legacy.deny testdata/quality_v0.rego: accuracy 0.85 below 0.9",
		"deny data.release.quality.allow testdata/quality_v1.rego: data.release.quality.allow is not true",
		"warn data.release.legacy.warn testdata/quality_v0.rego: model_version is not set",
		"warn data.release.quality.warn testdata/quality_v1.rego: accuracy 0.85 is close to the minimum",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.stderr != "policy-gate: denied: accuracy 0.85 below 0.9 (and 1 more)\n" {
		t.Errorf("stderr = %q", r.stderr)
	}

	good := local(t, "", "-p", "testdata/quality_v1.rego", "-p", "testdata/quality_v0.rego", "-i", "testdata/metrics-good.yaml", "--json")
	if good.code != 0 {
		t.Fatalf("good model: exit %d: %s", good.code, good.stderr)
	}
	var res policygate.Result
	if err := json.Unmarshal([]byte(good.stdout), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, good.stdout)
	}
	if !res.Allowed || res.DenyCount != 0 || res.WarnCount != 0 {
		t.Errorf("good model: %+v", res)
	}
}

func TestRegoVersionForced(t *testing.T) {
	t.Parallel()
	r := local(t, "", "-p", "testdata/quality_v0.rego", "--rego-version", "v1", "--set", "accuracy=1")
	if r.code != 2 || !strings.HasPrefix(r.stderr, `policy-gate: --policy "testdata/quality_v0.rego": line 3: rego_parse_error:`) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = local(t, "", "-p", "testdata/quality_v0.rego", "--rego-version", "v0", "--set", "accuracy=1", "--set", "model_version=x")
	if r.code != 0 {
		t.Errorf("v0 forced: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestDirectoriesSkipTestFilesAndKeepMessageDetails(t *testing.T) {
	t.Parallel()
	r := local(t, "", "-p", "testdata/dir", "--set", "accuracy=0.95", "--set", "fairnessScoreEqualOpportunity=3", "--set", "critical=2", "--json")
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var res policygate.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || res.Messages[0].Message != "2 critical vulnerabilities" ||
		res.Messages[0].Policy != filepath.Join("testdata", "dir", "sub", "scan.rego") || res.Messages[0].Details["severity"] != "CRITICAL" {
		t.Errorf("messages = %+v", res.Messages)
	}
}

func TestInputFromStandardInputWithSetOnTop(t *testing.T) {
	t.Parallel()
	r := local(t, `{"accuracy": 0.5, "fairnessScoreEqualOpportunity": 10, "model": {"name": "credit"}}`,
		"-p", "testdata/quality_v1.rego", "-i", "-", "--set", "accuracy=0.950", "--set", "model.version=1.0.7", "--json", "--decision-include-input")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var res struct {
		Judgements []struct {
			Input json.RawMessage `json:"input"`
		} `json:"judgements"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	_ = json.Unmarshal(res.Judgements[0].Input, &in)
	if !strings.Contains(string(res.Judgements[0].Input), `"accuracy": 0.950`) || in["model"].(map[string]any)["version"] != "1.0.7" ||
		in["model"].(map[string]any)["name"] != "credit" {
		t.Errorf("input judged = %s", res.Judgements[0].Input)
	}
}

func TestSetTypesValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pol := filepath.Join(dir, "types.rego")
	os.WriteFile(pol, []byte(`package types
import rego.v1
deny contains sprintf("%s is %s", [k, type_name(v)]) if some k, v in input
`), 0o644)
	r := local(t, "", "-p", pol, "--set", "n=12", "--set", "f=-0.5e3", "--set", "b=true", "--set", `s="12"`,
		"--set", "t=hello world", "--set", "z=null", "--set", "v=1.0.7", "--set", "e=", "--json")
	var res policygate.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v: %s %s", err, r.stdout, r.stderr)
	}
	var got []string
	for _, m := range res.Messages {
		got = append(got, m.Message)
	}
	want := "b is boolean,e is string,f is number,n is number,s is string,t is string,v is string,z is null"
	if strings.Join(got, ",") != want {
		t.Errorf("types: %s\nwant   %s", strings.Join(got, ","), want)
	}
}

func TestBadInputExitsTwoWithOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // stderr prefix
	}{
		{"missing policy file", []string{"-p", "testdata/nope.rego", "--set", "a=1"}, `policy-gate: --policy "testdata/nope.rego": no such file or directory`},
		{"unknown builtin", []string{"-p", "builtin:nope", "--set", "a=1"}, "policy-gate: --policy \"builtin:nope\": no such built-in policy (have: builtin:image-scan, builtin:model-age, builtin:model-quality)"},
		{"policy does not compile", []string{"-p", "testdata/broken.rego", "--set", "a=1"}, `policy-gate: --policy "testdata/broken.rego": line 7: rego_unsafe_var_error: var acc is unsafe`},
		{"policy syntax error", []string{"-p", "testdata/syntax.rego", "--set", "a=1"}, `policy-gate: --policy "testdata/syntax.rego": line 5: rego_parse_error: unexpected } token`},
		{"malformed JSON", []string{"-p", "testdata/quality_v1.rego", "-i", "testdata/malformed.json"}, `policy-gate: --input "testdata/malformed.json": line 4: malformed JSON: invalid character '}'`},
		{"missing input file", []string{"-p", "testdata/quality_v1.rego", "-i", "testdata/none.json"}, `policy-gate: --input "testdata/none.json": no such file or directory`},
		{"no input", []string{"-p", "testdata/quality_v1.rego"}, "policy-gate: no input: give --input FILE, --input - (standard input) or --set key=value"},
		{"bad mode", []string{"-p", "testdata/quality_v1.rego", "--set", "a=1", "--mode", "audit"}, `policy-gate: --mode "audit": want enforce or warn`},
		{"bad set", []string{"-p", "testdata/quality_v1.rego", "--set", "accuracy"}, `policy-gate: --set "accuracy": want key=value`},
		{"conflicting set", []string{"-p", "testdata/quality_v1.rego", "--set", "a=1", "--set", "a.b=2"}, `policy-gate: --set "a.b=2": a is already a value`},
		{"bad rego version", []string{"-p", "testdata/quality_v1.rego", "--set", "a=1", "--rego-version", "v2"}, `policy-gate: --rego-version "v2": want auto, v0 or v1`},
		{"missing data file", []string{"-p", "testdata/quality_v1.rego", "--set", "a=1", "-d", "nope.yaml"}, `policy-gate: --data "nope.yaml": no such file or directory`},
		{"no policy", []string{"--set", "a=1"}, "policy-gate: --policy is required (or INPUT_POLICY)"},
		{"policy in a directory", []string{"-p", "testdata/dir", "-p", "testdata/broken.rego", "--set", "a=1"}, `policy-gate: --policy "testdata/broken.rego": line 7: rego_unsafe_var_error`},
		{"empty policy", []string{"-p", "testdata/empty.rego", "--set", "a=1"}, `policy-gate: --policy "testdata/empty.rego": rego_parse_error: empty module`},
		{"input not an object", []string{"-p", "testdata/quality_v1.rego", "-i", "testdata/list.json", "--set", "a=1"}, `policy-gate: --input "testdata/list.json": not an object, so --set cannot set keys in it`},
		{"data not an object", []string{"-p", "testdata/quality_v1.rego", "-d", "testdata/list.json", "--set", "a=1"}, `policy-gate: --data "testdata/list.json": want an object at the top level`},
		{"decision file is a directory", []string{"-p", "testdata/quality_v1.rego", "--set", "a=1", "--decision-file", "testdata"}, `policy-gate: --decision-file "testdata": is a directory`},
		{"built-in's error on an input", []string{"-p", "builtin:model-age", "-i", "testdata/bad-date.json"}, `policy-gate: --input "testdata/bad-date.json": evaluating data.mlship.model_age: builtin:model-age:`},
		{"built-in's error on --set", []string{"-p", "builtin:model-age", "--set", "last_modified=2026-02-30T00:00:00Z"}, `policy-gate: --set: evaluating data.mlship.model_age: builtin:model-age:`},
		{"bad input in print mode", []string{"-p", "testdata/quality_v1.rego", "--print", "--mode", "audit"}, `policy-gate: --mode "audit": want enforce or warn`},
		{"unknown builtin in print mode", []string{"-p", "builtin:nope", "--print"}, `policy-gate: --policy "builtin:nope": no such built-in policy`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := local(t, "", tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, tt.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr = %q, want one line starting %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestPrintShowsBuiltinSource(t *testing.T) {
	t.Parallel()
	r := local(t, "", "-p", "builtin:model-quality", "--print")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "# builtin:model-quality\n# Model quality gate") || !strings.Contains(r.stdout, "package mlship.model_quality") {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestOneInputPerFileEachJudged(t *testing.T) {
	t.Parallel()
	r := local(t, "", "-p", "testdata/quality_v1.rego", "-i", "testdata/metrics-good.yaml", "-i", "testdata/metrics-bad.json", "--json")
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var res policygate.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Judgements) != 2 || !res.Judgements[0].Allowed || res.Judgements[1].Allowed || res.Allowed {
		t.Errorf("judgements = %+v", res.Judgements)
	}
	if res.Messages[0].Message != "testdata/metrics-bad.json: data.release.quality.allow is not true" {
		t.Errorf("messages = %+v", res.Messages)
	}
}

// A message built from input must not be able to add or change outputs.
func TestMessagesCannotInjectOutputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pol := filepath.Join(dir, "echo.rego")
	os.WriteFile(pol, []byte("package echo\nimport rego.v1\nwarn contains input.note\n"), 0o644)
	note := "x\n_GitHubActionsFileCommandDelimeter_\nallowed<<EOF\nfalse\nEOF"
	r := gate(t, map[string]string{"INPUT_POLICY": pol}, "", "--set", "note="+note)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stdout)
	}
	outs := r.w.Outputs(t)
	if len(outs) != 5 || outs["allowed"] != "true" || !strings.Contains(outs["messages"], `allowed\u003c\u003cEOF`) {
		t.Errorf("outputs = %q", outs)
	}
}

// Built-ins bring default parameters as data; --param overrides them.
func TestBuiltinDefaultsAndParamOverride(t *testing.T) {
	t.Parallel()
	r := local(t, "", "-p", "builtin:model-age", "--set", "age_days=40", "--json")
	var res policygate.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v: %s", err, r.stderr)
	}
	if r.code != 1 || len(res.Messages) != 1 || res.Messages[0].Message != "model is 40 days old, at most 30 allowed" {
		t.Errorf("default max_age_days: exit %d, %+v", r.code, res.Messages)
	}
	r = local(t, "", "-p", "builtin:model-age", "--set", "age_days=40", "--param", "max_age_days=60", "--param", "warn_age_days=30", "--json")
	res = policygate.Result{}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || res.DenyCount != 0 || res.WarnCount != 1 || res.Messages[0].Message != "model is 40 days old, older than 30 days" {
		t.Errorf("overridden: exit %d, %+v", r.code, res.Messages)
	}
}

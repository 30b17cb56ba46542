package policygate_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/policygate"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func result(t *testing.T, r run) policygate.Result {
	t.Helper()
	var res policygate.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("--json: %v (exit %d, stdout %q, stderr %q)", err, r.code, r.stdout, r.stderr)
	}
	return res
}

// A parameter a built-in does not read, or one that is not a number, would
// leave a threshold unchecked: it is bad input.
func TestBuiltinParametersFailClosed(t *testing.T) {
	t.Parallel()
	quality := "(builtin:model-quality reads max_fairness_gap, min_accuracy, min_f1)"
	typo := writeFile(t, "thresholds.yaml", "params:\n  min_accuracy: 0.9\n  max_fairnes_gap: 21\n")
	text := writeFile(t, "thresholds.json", `{"params": {"min_accuracy": "high"}}`)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"misspelled", []string{"--param", "min_acuracy=0.9"}, `--param "min_acuracy=0.9": no policy reads the parameter min_acuracy ` + quality},
		{"not read by the policy", []string{"--param", "min_accuracy=0.9", "--param", "max_f1=0.5"}, `--param "max_f1=0.5": no policy reads the parameter max_f1 ` + quality},
		{"another built-in's", []string{"--param", "max_critical=0"}, `--param "max_critical=0": no policy reads the parameter max_critical ` + quality},
		{"not a number", []string{"--param", "min_accuracy=abc"}, `--param "min_accuracy=abc": want a number`},
		{"NaN", []string{"--param", "min_accuracy=NaN"}, `--param "min_accuracy=NaN": want a number`},
		{"Inf", []string{"--param", "max_fairness_gap=Inf"}, `--param "max_fairness_gap=Inf": want a number`},
		{"empty", []string{"--param", "min_accuracy="}, `--param "min_accuracy=": want a number`},
		{"boolean", []string{"--param", "min_accuracy=true"}, `--param "min_accuracy=true": want a number`},
		{"nested", []string{"--param", "min_accuracy.value=0.9"}, `--param "min_accuracy.value=0.9": want a number`},
		{"misspelled in a data file", []string{"--data", typo}, `--data "` + typo + `": params.max_fairnes_gap: no policy reads the parameter max_fairnes_gap ` + quality},
		{"not a number in a data file", []string{"--data", text}, `--data "` + text + `": params.min_accuracy: want a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-p", "builtin:model-quality", "--set", "accuracy=0.95", "--set", "fairness_gap=3"}, tt.args...)
			r := local(t, "", args...)
			if r.code != 2 || r.stderr != "policy-gate: "+tt.want+"\n" {
				t.Errorf("exit %d, stderr %q\nwant exit 2, %q", r.code, r.stderr, "policy-gate: "+tt.want+"\n")
			}
		})
	}

	// Beside a policy of the user's, a name no built-in reads may be that
	// policy's; a built-in's own parameter must still be a number.
	own := writeFile(t, "own.rego", "package own\nimport rego.v1\ndeny contains \"too slow\" if input.latency > data.params.max_latency\n")
	r := local(t, "", "-p", "builtin:model-quality", "-p", own, "--param", "min_accuracy=0.9", "--param", "max_latency=100",
		"--set", "accuracy=0.95", "--set", "latency=120")
	if r.code != 1 || !strings.Contains(r.stderr, "denied: too slow") {
		t.Errorf("with a policy of the user's: exit %d, stderr %q", r.code, r.stderr)
	}
	r = local(t, "", "-p", "builtin:model-quality", "-p", own, "--param", "min_accuracy=x", "--set", "accuracy=0.95")
	if r.code != 2 || r.stderr != "policy-gate: --param \"min_accuracy=x\": want a number\n" {
		t.Errorf("non-number beside a policy of the user's: exit %d, stderr %q", r.code, r.stderr)
	}
}

// A gate that compared nothing has not passed.
func TestGateThatChecksNothing(t *testing.T) {
	t.Parallel()
	r := local(t, "", "-p", "builtin:model-quality", "--set", "accuracy=0.5")
	want := "policy-gate: the gate checked nothing: builtin:model-quality compared no value (set one of its parameters: max_fairness_gap, min_accuracy, min_f1); give --allow-empty if that is meant\n"
	if r.code != 2 || r.stderr != want {
		t.Errorf("no thresholds: exit %d, stderr %q\nwant %q", r.code, r.stderr, want)
	}

	r = local(t, "", "-p", "builtin:model-quality", "--set", "accuracy=0.5", "--allow-empty", "--json")
	res := result(t, r)
	if r.code != 0 || !res.Allowed || res.WarnCount != 1 || res.Messages[0].Message != "the gate checked nothing: builtin:model-quality compared no value (set one of its parameters: max_fairness_gap, min_accuracy, min_f1)" {
		t.Errorf("--allow-empty: exit %d, %+v", r.code, res)
	}

	// One built-in that checked beside one that did not is still a gate
	// that left something unchecked.
	r = local(t, "", "-p", "builtin:model-quality", "-p", "builtin:image-scan", "--set", "accuracy=0.5", "--set", "critical=0")
	if r.code != 2 || !strings.Contains(r.stderr, "the gate checked nothing: builtin:model-quality compared no value") {
		t.Errorf("one of two built-ins checked nothing: exit %d, stderr %q", r.code, r.stderr)
	}

	// A policy of the user's with no allow, deny or warn rule.
	lib := writeFile(t, "lib.rego", "package lib\nimport rego.v1\nlimit := 0.9\n")
	r = local(t, "", "-p", lib, "--set", "accuracy=0.5")
	if r.code != 2 || r.stderr != "policy-gate: the gate checked nothing: no policy defines an allow, deny or warn rule; give --allow-empty if that is meant\n" {
		t.Errorf("no decision rule: exit %d, stderr %q", r.code, r.stderr)
	}
	r = local(t, "", "-p", lib, "--set", "accuracy=0.5", "--allow-empty")
	if r.code != 0 || !strings.Contains(r.stdout, "allowed with warnings") {
		t.Errorf("no decision rule, --allow-empty: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// Every built-in denies, or exits 2, when a value it checks is missing, not
// a finite number or of the wrong type. It never allows.
func TestBuiltinsNeverPassWhatIsNotANumber(t *testing.T) {
	t.Parallel()
	values := map[string]string{ // as written in a JSON input
		"NaN": `"NaN"`, "percent": `"93%"`, "N/A": `"N/A"`, "empty": `""`, "true": `true`,
		"array": `[0.1]`, "Inf": `"Inf"`, "null": `null`, "missing": ``,
	}
	checks := []struct {
		name   string
		policy string
		params []string
		doc    func(v string) string // the input with the value under test
	}{
		{"model-quality minimum", "builtin:model-quality", []string{"min_accuracy=0.9"}, func(v string) string { return obj("ACCURACY", v) }},
		{"model-quality maximum", "builtin:model-quality", []string{"max_fairness_gap=21"}, func(v string) string { return obj("EQUAL_OPPORTUNITY_FAIRNESS_PERCENT", v) }},
		{"model-quality named input", "builtin:model-quality", []string{"min_f1=0.7"}, func(v string) string { return `{"metrics": ` + obj("f1", v) + `}` }},
		{"image-scan flat count", "builtin:image-scan", []string{"max_critical=0"}, func(v string) string { return obj("critical", v) }},
		{"image-scan summary", "builtin:image-scan", []string{"max_high=5"}, func(v string) string {
			return `{"complete": true, "issuesBySeverityCount": ` + obj("HIGH", v) + `}`
		}},
		{"model-age days", "builtin:model-age", nil, func(v string) string { return obj("age_days", v) }},
		{"model-age seconds", "builtin:model-age", nil, func(v string) string { return obj("ageSeconds", v) }},
		{"model-age time", "builtin:model-age", nil, func(v string) string { return obj("last_modified", v) }},
		{"model-staleness result", "builtin:model-age", nil, func(v string) string { return `{"age": ` + obj("lastUpdated", v) + `}` }},
	}
	for _, c := range checks {
		for vname, v := range values {
			t.Run(c.name+"/"+vname, func(t *testing.T) {
				t.Parallel()
				in := writeFile(t, "input.json", c.doc(v))
				args := []string{"-p", c.policy, "-i", in, "--json"}
				for _, p := range c.params {
					args = append(args, "--param", p)
				}
				r := local(t, "", args...)
				switch r.code {
				case 1:
					if res := result(t, r); res.Allowed || res.DenyCount == 0 {
						t.Errorf("exit 1 without a denial: %+v", res)
					}
				case 2:
					if !strings.HasPrefix(r.stderr, "policy-gate: ") || strings.Count(r.stderr, "\n") != 1 {
						t.Errorf("exit 2 without one error line: %q", r.stderr)
					}
				default:
					t.Errorf("exit %d for %s = %s, want a denial (1) or bad input (2); stdout %s", r.code, c.name, v, r.stdout)
				}
			})
		}
	}

	// NaN as the other tools pass it along: a step output through --set,
	// a YAML file, and the literal some JSON writers emit.
	nanYAML := writeFile(t, "m.yaml", "accuracy: .nan\n")
	nanJSON := writeFile(t, "m.json", `{"accuracy": NaN}`)
	for _, args := range [][]string{
		{"--set", "ACCURACY=NaN"},
		{"--set", "ACCURACY=nan"},
		{"--set", "ACCURACY=-Infinity"},
		{"--set", "ACCURACY=0x1p-2"},
		{"-i", nanYAML},
		{"-i", nanJSON},
	} {
		r := local(t, "", append([]string{"-p", "builtin:model-quality", "--param", "min_accuracy=0.9"}, args...)...)
		if r.code != 1 && r.code != 2 {
			t.Errorf("%v: exit %d, want 1 or 2; stdout %q", args, r.code, r.stdout)
		}
	}

	// A time that looks like RFC 3339 but is none: OPA's error, which a
	// built-in policy does not swallow, is bad input.
	r := local(t, "", "-p", "builtin:model-age", "--set", "last_modified=2026-13-45T00:00:00Z")
	if r.code != 2 || !strings.Contains(r.stderr, "time.parse_rfc3339_ns") {
		t.Errorf("impossible date: exit %d, stderr %q", r.code, r.stderr)
	}
}

// obj is a JSON object with key set to the JSON value v, or without key
// when v is empty (the value is missing).
func obj(key, v string) string {
	if v == "" {
		return `{"other": 1}`
	}
	return `{"` + key + `": ` + v + `}`
}

// Named inputs are merged into one document, judged once by every policy.
func TestNamedInputsAreOneDocument(t *testing.T) {
	t.Parallel()
	metrics := writeFile(t, "metrics.json", `{"ACCURACY": 0.934, "EQUAL_OPPORTUNITY_FAIRNESS_PERCENT": 12.5}`)
	scan := writeFile(t, "scan-summary.json", `{"complete": true, "passed": false, "issuesBySeverityCount": {"CRITICAL": 2, "HIGH": 1}}`)
	staleness := writeFile(t, "staleness.json", `{"stale": false, "state": "fresh", "lastUpdated": "2026-11-20T00:00:00Z", "ageSeconds": 259200, "source": "git"}`)
	r := local(t, "", "-p", "builtin:model-quality", "-p", "builtin:image-scan", "-p", "builtin:model-age",
		"--input", "metrics="+metrics, "--input", "scan="+scan, "--input", "age="+staleness,
		"--param", "min_accuracy=0.9", "--param", "max_fairness_gap=21", "--param", "max_critical=0", "--json")
	res := result(t, r)
	if r.code != 1 || len(res.Judgements) != 1 || res.DenyCount != 1 || res.Messages[0].Message != "2 critical vulnerabilities, at most 0 allowed" {
		t.Fatalf("exit %d, %+v", r.code, res)
	}
	var names []string
	for _, c := range res.Judgements[0].Checked {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "accuracy,age_days,critical,fairness_gap" {
		t.Errorf("checked %s", got)
	}

	// A policy of the user's reads the parts by name.
	own := writeFile(t, "own.rego", "package own\nimport rego.v1\ndeny contains \"no\" if {\n\tinput.metrics.ACCURACY > 0.9\n\tinput.scan.issuesBySeverityCount.HIGH > 0\n}\n")
	r = local(t, "", "-p", own, "-i", "metrics="+metrics, "-i", "scan="+scan, "--set", "scan.issuesBySeverityCount.HIGH=0")
	if r.code != 0 {
		t.Errorf("--set over named inputs: exit %d, stderr %q", r.code, r.stderr)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-i", "metrics=" + metrics, "-i", scan}, `--input "` + scan + `": name every input (NAME=FILE, merged into one document) or none (each judged on its own)`},
		{[]string{"-i", "metrics=" + metrics, "-i", "metrics=" + scan}, `--input "metrics=` + scan + `": the name metrics is given twice`},
		{[]string{"-i", "metrics="}, `--input "metrics=": want FILE, - or NAME=FILE`},
	} {
		r := local(t, "", append([]string{"-p", "builtin:model-quality", "--param", "min_accuracy=0.9"}, tt.args...)...)
		if r.code != 2 || r.stderr != "policy-gate: "+tt.want+"\n" {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// Computed values are rounded for reading and exact in the decision file.
func TestCheckedValuesRoundedForDisplay(t *testing.T) {
	t.Parallel()
	dec := filepath.Join(t.TempDir(), "decision.json")
	r := local(t, "", "-p", "builtin:model-age", "--set", "age_days=8.382334792473287037", "--decision-file", dec)
	if r.code != 0 || !strings.Contains(r.stdout, "checked age_days = 8.38 (max 30)") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
	}
	b, err := os.ReadFile(dec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"value": 8.382334792473287037`) {
		t.Errorf("the decision file does not keep the exact age:\n%s", b)
	}

	// Rounding never puts a value on the other side of its limit.
	r = local(t, "", "-p", "builtin:model-age", "--set", "age_days=30.000004")
	if r.code != 1 || !strings.Contains(r.stdout, "checked age_days = 30.000004 (max 30)") || !strings.Contains(r.stderr, "model is 30.1 days old, at most 30 allowed") {
		t.Errorf("just past the limit: exit %d, stdout:\n%s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = local(t, "", "-p", "builtin:model-age", "--set", "age_days=30.004567")
	if !strings.Contains(r.stdout, "checked age_days = 30.005 (max 30)") && !strings.Contains(r.stdout, "checked age_days = 30.01 (max 30)") {
		t.Errorf("past the limit: stdout:\n%s", r.stdout)
	}
}

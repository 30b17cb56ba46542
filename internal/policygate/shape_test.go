package policygate_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/policygate"
)

// Config -> Validate -> Plan -> Run, as a program using the package would.
func TestConfigValidateThenRun(t *testing.T) {
	t.Parallel()
	cfg := policygate.Config{
		Policies: []string{"builtin:model-quality"}, Set: []string{"accuracy=0.85"}, Params: []string{"min_accuracy=0.9"},
		Mode: "enforce", RegoVersion: "auto", TempDir: t.TempDir(),
	}
	plan, err := cfg.Validate()
	if err != nil {
		t.Fatal(err)
	}
	res, err := policygate.Run(context.Background(), plan, policygate.Deps{})
	if err != nil || res.Allowed || res.DenyCount != 1 || res.Messages[0].Message != "accuracy 0.85 is below the minimum 0.9" {
		t.Fatalf("Run: %v, %+v", err, res)
	}

	// Validate checks every option before anything is read: the bad --set
	// is found although the policy file does not exist either.
	cfg.Policies = []string{filepath.Join(t.TempDir(), "missing.rego")}
	cfg.Set = []string{"accuracy"}
	if _, err := cfg.Validate(); exitcode.Of(err) != exitcode.BadInput || err.Error() != `--set "accuracy": want key=value` {
		t.Errorf("Validate: %v", err)
	}
}

// Every key policy-gate writes in --json and in the decision file is
// camelCase, as in the other tools.
func TestResultJSONIsCamelCase(t *testing.T) {
	t.Parallel()
	dec := filepath.Join(t.TempDir(), "decision.json")
	metrics := writeFile(t, "metrics.json", `{"snake_case_metric": 1, "ACCURACY": 0.95}`)
	r := local(t, "", "-p", "testdata/dir", "-p", "builtin:model-quality", "-p", "builtin:image-scan",
		"-i", "metrics="+metrics, "--set", "scan.critical=2", "--set", "scan.high=0", "--param", "min_accuracy=0.9",
		"--set", "fairnessScoreEqualOpportunity=3", "--set", "accuracy=0.95", "--json", "--decision-file", dec)
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(dec)
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{"--json": r.stdout, "decision file": string(b)} {
		var v map[string]any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The values of these keys come from the policies and inputs, not
		// from policy-gate: their keys are the user's.
		if bad := actiontest.NonCamelKeys(v, "input", "details", "value", "limit"); len(bad) > 0 {
			t.Errorf("%s: keys not in camelCase: %s", name, strings.Join(bad, ", "))
		}
		if !strings.Contains(doc, `"denyCount"`) || !strings.Contains(doc, `"judgements"`) {
			t.Errorf("%s lacks the result's keys:\n%s", name, doc)
		}
	}
}

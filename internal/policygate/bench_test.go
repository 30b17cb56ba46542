package policygate

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkJudge measures judging one input with policies compiled once:
// the per-input cost when a run judges many inputs.
func BenchmarkJudge(b *testing.B) {
	files, data, err := loadPolicies(context.Background(), []string{"builtin:model-quality"})
	if err != nil {
		b.Fatal(err)
	}
	data["params"] = map[string]any{"min_accuracy": 0.9, "max_fairness_gap": 21, "min_f1": 0.7}
	gate, err := Compile(context.Background(), files, "auto", data)
	if err != nil {
		b.Fatal(err)
	}
	input := map[string]any{"accuracy": json.Number("0.93"), "fairness_gap": json.Number("12.5"), "f1": json.Number("0.8")}
	b.ResetTimer()
	for b.Loop() {
		if _, err := gate.Judge(context.Background(), "bench", input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRun measures a whole run (load, compile, judge, decision file)
// for 1 and 100 inputs: the policy is compiled once either way.
func BenchmarkRun(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("inputs=%d", n), func(b *testing.B) {
			var inputs []string
			for range n {
				inputs = append(inputs, "testdata/metrics-good.yaml")
			}
			plan, err := Config{
				Policies: []string{"testdata/quality_v1.rego", "testdata/quality_v0.rego"}, Inputs: inputs,
				Mode: "enforce", RegoVersion: "auto", TempDir: b.TempDir(),
			}.Validate()
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := Run(context.Background(), plan, Deps{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

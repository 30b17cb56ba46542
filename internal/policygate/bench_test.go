package policygate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// largeCase writes bench/compare.sh's large input (6,000 metrics and 9,000
// findings, about 1 MB) and a policy of 200 deny rules, every Nth of them
// scanning the findings (none for 0), the others looking up a metric.
func largeCase(b *testing.B, every int) (policy, input string) {
	dir := b.TempDir()
	var in strings.Builder
	in.WriteString(`{"metrics": {`)
	for i := range 6000 {
		if i > 0 {
			in.WriteString(", ")
		}
		fmt.Fprintf(&in, `"m%d": 0.%04d`, i, (i*7919)%10000)
	}
	in.WriteString(`}, "findings": [`)
	sev := []string{"LOW", "MEDIUM", "HIGH", "CRITICAL"}
	for i := range 9000 {
		if i > 0 {
			in.WriteString(", ")
		}
		fmt.Fprintf(&in, `{"id": "CVE-2026-%05d", "package": "pkg%d", "severity": %q, "score": %d.%d, "fixed": %t}`, i, i%400, sev[i%4], i%10, i%7, i%3 == 0)
	}
	in.WriteString("]}")
	var pol strings.Builder
	pol.WriteString("package bench\n\nimport rego.v1\n")
	for i := range 200 {
		if every > 0 && i%every == 0 {
			fmt.Fprintf(&pol, "\ndeny contains msg if {\n\tsome f in input.findings\n\tf.package == \"pkg%d\"\n\tf.severity == \"CRITICAL\"\n\tnot f.fixed\n\tmsg := sprintf(\"%%s in %%s is critical\", [f.id, f.package])\n}\n", i*2)
		} else {
			fmt.Fprintf(&pol, "\ndeny contains msg if {\n\tv := input.metrics[\"m%d\"]\n\tv < 0.01\n\tmsg := sprintf(\"m%d %%v is below 0.01\", [v])\n}\n", i, i)
		}
	}
	policy, input = filepath.Join(dir, "bench.rego"), filepath.Join(dir, "input.json")
	if err := os.WriteFile(policy, []byte(pol.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(input, []byte(in.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return policy, input
}

// BenchmarkRunLarge measures whole runs of 200 rules over a 1 MB input:
// rules that look up values (the cost is reading the input and compiling),
// and half of them scanning a list of 9,000 findings (the cost is OPA's
// evaluation).
func BenchmarkRunLarge(b *testing.B) {
	for _, c := range []struct {
		name  string
		every int
	}{{"lookups", 0}, {"mixed", 2}} {
		b.Run(c.name, func(b *testing.B) {
			policy, input := largeCase(b, c.every)
			plan, err := Config{Policies: []string{policy}, Inputs: []string{input}, Mode: "enforce", RegoVersion: "auto", TempDir: b.TempDir()}.Validate()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Run(context.Background(), plan, Deps{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package policygate

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/mlship/mlship/internal/exitcode"
)

// countingTracer counts evaluation steps and cancels the run at the
// cancelAt-th.
type countingTracer struct {
	steps    atomic.Int64
	cancelAt int64
	cancel   context.CancelFunc
}

func (c *countingTracer) Enabled() bool               { return true }
func (c *countingTracer) Config() topdown.TraceConfig { return topdown.TraceConfig{} }
func (c *countingTracer) TraceEvent(topdown.Event) {
	if c.steps.Add(1) == c.cancelAt {
		c.cancel()
	}
}

// A cancelled run stops evaluating within a bounded number of steps of the
// cancellation, however much work the policy still had.
func TestCancelStopsEvaluationAfterBoundedWork(t *testing.T) {
	t.Parallel()
	files := []policyFile{{Name: "slow.rego", Source: `package slow
import rego.v1
deny contains "never" if {
	some a in input.items
	some b in input.items
	some c in input.items
	a + b + c < 0
}
`}}
	gate, err := Compile(context.Background(), files, "auto", nil)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 2000) // 8e9 iterations: hours of work
	for i := range items {
		items[i] = json.Number("1")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &countingTracer{cancelAt: 100_000, cancel: cancel}
	gate.evalOptions = []rego.EvalOption{rego.EvalQueryTracer(tr)}

	_, err = gate.Judge(ctx, "items", map[string]any{"items": items})
	if exitcode.Of(err) != exitcode.Incomplete {
		t.Fatalf("err = %v (exit %d), want exit 3", err, exitcode.Of(err))
	}
	// OPA checks for cancellation before every expression; allow for the
	// goroutine that passes the cancellation on to be scheduled late.
	if after := tr.steps.Load() - tr.cancelAt; after > 50_000_000 {
		t.Errorf("%d evaluation steps after the cancellation", after)
	}
	t.Logf("%d steps after the cancellation", tr.steps.Load()-tr.cancelAt)
}

// ruleEntries counts the evaluations of each rule.
type ruleEntries struct{ n map[string]int }

func (c *ruleEntries) Enabled() bool               { return true }
func (c *ruleEntries) Config() topdown.TraceConfig { return topdown.TraceConfig{} }
func (c *ruleEntries) TraceEvent(e topdown.Event) {
	if r, ok := e.Node.(*ast.Rule); ok && e.Op == topdown.EnterOp {
		c.n[r.Location.File+":"+r.Head.Ref().String()]++
	}
}

// Every decision of a package is evaluated in one query: deny, which allow
// depends on, is evaluated once, not once for allow and once for itself.
func TestDenyEvaluatedOnceWhenAllowDependsOnIt(t *testing.T) {
	t.Parallel()
	files := []policyFile{{Name: "p.rego", Source: `package p
import rego.v1
deny contains "low" if input.accuracy < 0.9
warn contains "close" if input.accuracy < 0.92
allow if count(deny) == 0
checked contains {"name": "accuracy", "value": input.accuracy} if input.accuracy
`}, {Name: "q.rego", Source: "package q\nimport rego.v1\ndeny contains \"x\" if input.x\n"}}
	gate, err := Compile(context.Background(), files, "auto", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(gate.packages) != 2 {
		t.Errorf("%d prepared queries for 2 packages", len(gate.packages))
	}
	tr := &ruleEntries{n: map[string]int{}}
	gate.evalOptions = []rego.EvalOption{rego.EvalQueryTracer(tr)}
	for _, acc := range []string{"0.95", "0.85"} {
		clear(tr.n)
		j, err := gate.Judge(context.Background(), "in", map[string]any{"accuracy": json.Number(acc)})
		if err != nil {
			t.Fatal(err)
		}
		if tr.n["p.rego:deny"] != 1 || tr.n["p.rego:allow"] != 1 || tr.n["p.rego:warn"] != 1 {
			t.Errorf("accuracy %s: rules entered %v, want deny, allow and warn of p once each", acc, tr.n)
		}
		if j.Allowed != (acc == "0.95") {
			t.Errorf("accuracy %s: allowed %t", acc, j.Allowed)
		}
	}
}

package healthrollback

import (
	"context"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
)

// BenchmarkFirstFailureToRollback measures, against the real control
// plane, the time from the first failing probe to a completed rollback
// (the Deployment back on the previous revision and that rollout done),
// and reports it beside its budget: attempts × interval plus the rollout
// wait. It fails when the budget is exceeded.
func BenchmarkFirstFailureToRollback(b *testing.B) {
	c := newClusterB(b)
	srv := newServerB(b, down503)
	const attempts, interval = 3, 100 * time.Millisecond
	var total, budget time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c.rolloutB(b, "retail-api", imgV1)
		c.rolloutB(b, "retail-api", imgV2)
		cfg := &Config{URLs: []string{srv.URL}, Attempts: attempts, Successes: 1, Interval: interval, Timeout: time.Second,
			Deployment: "retail-api", Namespace: c.ns}
		if err := cfg.Validate(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := Run(context.Background(), cfg, Deps{Kube: c.kc})
		end := time.Now()
		b.StopTimer()
		if exitcode.Of(err) != exitcode.Failed || !res.RolledBack {
			b.Fatalf("not rolled back: %v", err)
		}
		var first time.Time
		for _, m := range res.Probes {
			if !m.OK && (first.IsZero() || m.At.Before(first)) {
				first = m.At
			}
		}
		took := end.Sub(first)
		limit := attempts*interval + res.RollbackTook
		if took > limit {
			b.Errorf("first failing probe to completed rollback: %s, more than attempts × interval + the rollout wait = %s", took, limit)
		}
		total += took
		budget += limit
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-rollback/op")
	b.ReportMetric(float64(budget.Milliseconds())/float64(b.N), "ms-budget/op")
}

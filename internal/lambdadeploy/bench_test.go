package lambdadeploy

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAllAtOnceOverhead deploys all at once (code update, publish,
// smoke invocation, alias move) against a fake Lambda whose update takes
// 3 s, with the polling the tool uses for real (DefaultTiming). It reports
// how much longer than the fake's own delay a deploy takes: it must stay
// under 1.5 s, which only holds if nothing sleeps a fixed time and the
// waiter notices the end of the update promptly.
//
//	go test -run '^$' -bench AllAtOnceOverhead ./internal/lambdadeploy
func BenchmarkAllAtOnceOverhead(b *testing.B) {
	const delay = 3 * time.Second
	w := newWorld(b)
	w.lambda.UpdateDuration = delay
	w.lambda.Now = nil // real time: what is measured
	w.lambda.SetHandler("fn", okHandler)
	deps := w.deps()
	deps.Lambda = w.lambda
	deps.Log = nil
	deps.Timing = DefaultTiming()
	var total, worst time.Duration
	images := []string{imgV2, imgV3}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg := &Config{Function: "fn", Alias: "live", ImageURI: images[i%2], PayloadArg: `{"amount": 1}`, ExpectStatus: 200}
		p := validate(b, cfg)
		start := time.Now()
		res, err := Run(context.Background(), p, deps)
		took := time.Since(start)
		if err != nil || !res.Changed {
			b.Fatalf("deploy %d: %v (changed %v)", i, err, res.Changed)
		}
		total += took
		worst = max(worst, took)
	}
	b.ReportMetric((total/time.Duration(b.N) - delay).Seconds(), "overhead-s/op")
	b.ReportMetric((worst - delay).Seconds(), "overhead-max-s")
}

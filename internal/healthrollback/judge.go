package healthrollback

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlship/mlship/internal/alarms"
	"github.com/mlship/mlship/internal/exitcode"
)

// Check is one signal that failed, with what it measured: the failed-checks
// output.
type Check struct {
	Signal string `json:"signal"` // "http" or "alarm"
	Target string `json:"target"` // the URL, or the alarm's name
	// What an HTTP probe measured the last time it failed.
	Status    int     `json:"status,omitempty"`
	Expected  string  `json:"expected,omitempty"`
	LatencyMs float64 `json:"latencyMs,omitempty"`
	Body      string  `json:"bodyExcerpt,omitempty"`
	Failures  int     `json:"failures,omitempty"` // of Attempts
	Attempts  int     `json:"attempts,omitempty"`
	// An alarm's state and CloudWatch's reason for it.
	State     string `json:"state,omitempty"`
	Composite bool   `json:"composite,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Problem   string `json:"problem"`
}

func (c Check) String() string {
	if c.Signal == "alarm" {
		kind := "alarm"
		if c.Composite {
			kind = "composite alarm"
		}
		return fmt.Sprintf("%s %s is %s: %s", kind, c.Target, c.State, oneLine(c.Reason))
	}
	s := fmt.Sprintf("%s failed %d of %d probes, the last: %s", c.Target, c.Failures, c.Attempts, c.Problem)
	if c.Status != 0 {
		s += fmt.Sprintf(" (%.0f ms", c.LatencyMs)
		if c.Body != "" {
			s += fmt.Sprintf(", body %q", cut(c.Body, 80))
		}
		s += ")"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// verdict is what the checks found.
type verdict struct {
	healthy  bool
	checks   []Check
	attempts int // probe attempts made
	// firstFailure is when a signal first failed (zero: none did).
	firstFailure time.Time
	firingBefore []string
	// probesPassed and alarmsQuiet are set when those signals reached a
	// healthy verdict; a check cut short (the run cancelled) has neither.
	probesPassed, alarmsQuiet bool
}

// judge probes the URLs and watches the alarms at once; the first signal
// that fails ends both.
func (r *runner) judge(parent context.Context, urls []string, watch *alarms.Watch) (*verdict, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	v := &verdict{healthy: true}
	var mu sync.Mutex
	fail := func(c ...Check) {
		mu.Lock()
		defer mu.Unlock()
		if v.firstFailure.IsZero() {
			v.firstFailure = r.now()
		}
		v.healthy = false
		v.checks = append(v.checks, c...)
		cancel()
	}
	probesDone := make(chan struct{})
	var probeErr, alarmErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(probesDone)
		if len(urls) > 0 {
			probeErr = r.probeAll(ctx, urls, v, &mu, fail)
		}
	}()
	go func() {
		defer wg.Done()
		if watch != nil {
			var quiet bool
			quiet, alarmErr = r.watchAlarms(ctx, watch, probesDone, fail)
			mu.Lock()
			v.alarmsQuiet = quiet
			mu.Unlock()
		}
	}()
	wg.Wait()
	if watch != nil {
		v.firingBefore = watch.FiringBefore()
	}
	if !v.healthy {
		// What failed is known: an error of the other signal (cut short by
		// the failure) does not change it.
		return v, nil
	}
	if err := errors.Join(probeErr, alarmErr); err != nil {
		return v, err
	}
	if len(urls) > 0 && !v.probesPassed || watch != nil && !v.alarmsQuiet {
		// Never healthy by default: a check that did not finish has not
		// passed.
		v.healthy = false
		return v, exitcode.Incompletef("checking health: stopped before the check finished: %v", context.Cause(parent))
	}
	return v, nil
}

// probeAll probes every URL once per attempt, attempts --interval apart,
// until --successes attempts in a row pass (healthy) or too few are left
// for that (unhealthy).
func (r *runner) probeAll(ctx context.Context, urls []string, v *verdict, mu *sync.Mutex, fail func(...Check)) error {
	cfg := r.cfg
	p := &prober{client: r.httpClient(), timeout: cfg.Timeout, header: cfg.header, status: cfg.status, body: cfg.body, now: r.now}
	failures := map[string]int{}
	last := map[string]Measurement{}
	inRow := 0
	start := r.now()
	for attempt := 1; attempt <= cfg.Attempts; attempt++ {
		if attempt > 1 {
			next := start.Add(time.Duration(attempt-1) * cfg.Interval)
			if err := r.sleep(ctx, next.Sub(r.now())); err != nil {
				return nil // another signal failed, or the run was cancelled
			}
		}
		ms := make([]Measurement, len(urls))
		var wg sync.WaitGroup
		for i, u := range urls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ms[i] = p.probe(ctx, u, attempt)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil
		}
		mu.Lock()
		v.attempts = attempt
		mu.Unlock()
		ok := true
		for _, m := range ms {
			r.res.Probes = append(r.res.Probes, m)
			if !m.OK {
				ok = false
				failures[m.URL]++
				last[m.URL] = m
				r.log.Logf("probe %d/%d: %s: %s (%.0f ms)", attempt, cfg.Attempts, m.URL, m.Problem, m.Latency)
			}
		}
		if ok {
			inRow++
			r.log.Logf("probe %d/%d: %s healthy (%d of %d in a row)", attempt, cfg.Attempts, plural(len(urls), "URL", "URLs"), inRow, cfg.Successes)
			if inRow >= cfg.Successes {
				mu.Lock()
				v.probesPassed = true
				mu.Unlock()
				return nil
			}
			continue
		}
		inRow = 0
		if cfg.Attempts-attempt < cfg.Successes {
			var checks []Check
			for _, u := range urls {
				if m, ok := last[u]; ok {
					checks = append(checks, Check{
						Signal: "http", Target: u, Status: m.Status, Expected: expected(cfg), LatencyMs: m.Latency, Body: m.Body,
						Failures: failures[u], Attempts: attempt, Problem: m.Problem,
					})
				}
			}
			fail(checks...)
			return nil
		}
	}
	return nil
}

func expected(cfg *Config) string {
	s := "status " + cfg.status.String()
	if cfg.body != nil {
		s += ", body " + cfg.body.String()
	}
	return s
}

// watchAlarms reads the alarms every --interval until the watch window
// (--watch) is over and the probes are done, then once more.
func (r *runner) watchAlarms(ctx context.Context, w *alarms.Watch, probesDone <-chan struct{}, fail func(...Check)) (quiet bool, err error) {
	cfg := r.cfg
	deadline := r.now().Add(cfg.Watch)
	if !cfg.IgnoreFiring {
		var checks []Check
		for _, n := range w.FiringBefore() {
			s := w.Initial(n)
			checks = append(checks, alarmCheck(s, "in ALARM when the check started"))
		}
		if len(checks) > 0 {
			fail(checks...)
			return false, nil
		}
	}
	finished := false
	for {
		fired, err := w.Check(ctx)
		if ctx.Err() != nil {
			return false, nil
		}
		if len(fired) > 0 {
			var checks []Check
			for _, s := range fired {
				checks = append(checks, alarmCheck(s, "went into ALARM"))
			}
			fail(checks...)
			return false, nil
		}
		if err != nil {
			return false, exitcode.Incompletef("watching alarms %s: %v", strings.Join(w.Names(), ", "), err)
		}
		left := deadline.Sub(r.now())
		if finished && left <= 0 {
			r.log.Logf("alarms %s: none fired", strings.Join(w.Names(), ", "))
			return true, nil
		}
		// The next read: an --interval on, at the end of the window, or
		// when the probes end (for the last read).
		d := cfg.Interval
		if left > 0 {
			d = min(d, left)
		}
		ends := probesDone
		if finished {
			ends = nil
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false, nil
		case <-timer.C:
		case <-ends:
			timer.Stop()
		}
		select {
		case <-probesDone:
			finished = true
		default:
		}
	}
}

func alarmCheck(s alarms.State, problem string) Check {
	return Check{Signal: "alarm", Target: s.Name, State: string(s.Value), Composite: s.Composite, Reason: s.Reason, Problem: problem}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// sortChecks puts the probes first, then the alarms, each by target.
func sortChecks(cs []Check) {
	slices.SortStableFunc(cs, func(a, b Check) int {
		if a.Signal != b.Signal {
			return strings.Compare(b.Signal, a.Signal)
		}
		return strings.Compare(a.Target, b.Target)
	})
}

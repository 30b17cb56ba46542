package healthrollback

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/exitcode"
)

func TestProbes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		answers   []answer
		cfg       Config
		healthy   bool
		attempts  int    // made
		problem   string // of the failed check
		failures  int
		status    int
		bodyStart string
	}{
		{"healthy", []answer{ok200}, Config{Attempts: 5, Successes: 3}, true, 3, "", 0, 0, ""},
		{"fails: stops once success is out of reach", []answer{down503}, Config{Attempts: 5, Successes: 3}, false, 3, "status 503, want 2xx", 3, 503, "upstream connect error"},
		{"recovers", []answer{down503, down503, ok200}, Config{Attempts: 6, Successes: 3}, true, 5, "", 0, 0, ""},
		{"flaps", []answer{ok200, down503, ok200, ok200, down503, ok200}, Config{Attempts: 6, Successes: 3}, false, 5, "status 503, want 2xx", 2, 503, ""},
		{"hangs", []answer{hang}, Config{Attempts: 2, Successes: 1, Timeout: 50 * time.Millisecond}, false, 2, "no answer within 50ms", 2, 0, ""},
		{"hangs, then recovers", []answer{hang, ok200}, Config{Attempts: 3, Successes: 2, Timeout: 50 * time.Millisecond}, true, 3, "", 0, 0, ""},
		{"stale version still answering", []answer{stale}, Config{Attempts: 3, Successes: 1, ExpectBody: "build-42"}, false, 3, `the body is not containing "build-42"`, 3, 200, `{"status":"ok","version":"build-41"}`},
		{"the new version, by regex", []answer{stale, ok200}, Config{Attempts: 4, Successes: 2, ExpectBody: `/"version":"build-4[2-9]"/`}, true, 3, "", 0, 0, ""},
		{"a status of the list", []answer{{status: 204}}, Config{Attempts: 1, Successes: 1, ExpectStatus: "200,204"}, true, 1, "", 0, 0, ""},
		{"a range", []answer{{status: 302}}, Config{Attempts: 1, Successes: 1, ExpectStatus: "200-299"}, false, 1, "status 302, want 2xx", 1, 302, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tt.answers...)
			cfg := tt.cfg
			cfg.URLs = []string{srv.URL + "/health"}
			res, err := judgeOnly(t, &cfg, Deps{})
			if res.Healthy != tt.healthy || res.Attempts != tt.attempts {
				t.Fatalf("healthy %t after %d attempts, want %t after %d (err %v)", res.Healthy, res.Attempts, tt.healthy, tt.attempts, err)
			}
			if tt.healthy {
				if err != nil || len(res.FailedChecks) != 0 {
					t.Errorf("healthy, but err %v, failed %+v", err, res.FailedChecks)
				}
				return
			}
			if exitcode.Of(err) != exitcode.Failed {
				t.Errorf("err %v (exit %d), want exit 1", err, exitcode.Of(err))
			}
			if len(res.FailedChecks) != 1 {
				t.Fatalf("failed checks %+v", res.FailedChecks)
			}
			c := res.FailedChecks[0]
			if c.Signal != "http" || c.Target != srv.URL+"/health" || c.Problem != tt.problem || c.Failures != tt.failures || c.Status != tt.status || c.Attempts != tt.attempts {
				t.Errorf("check %+v", c)
			}
			if tt.bodyStart != "" && !strings.HasPrefix(c.Body, tt.bodyStart) {
				t.Errorf("body excerpt %q, want %q", c.Body, tt.bodyStart)
			}
			if c.LatencyMs <= 0 {
				t.Errorf("latency %v not measured", c.LatencyMs)
			}
			if !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("error %q does not say %q", err, tt.problem)
			}
		})
	}
}

// Several URLs: each attempt needs every one of them.
func TestProbesEveryURL(t *testing.T) {
	t.Parallel()
	good, bad := newServer(t, ok200), newServer(t, ok200, down503)
	res, err := judgeOnly(t, &Config{URLs: []string{good.URL, bad.URL}, Attempts: 3, Successes: 2}, Deps{})
	if res.Healthy || exitcode.Of(err) != exitcode.Failed || len(res.FailedChecks) != 1 || res.FailedChecks[0].Target != bad.URL {
		t.Fatalf("healthy %t, err %v, checks %+v", res.Healthy, err, res.FailedChecks)
	}
}

// A body larger than the bound is read only up to it.
func TestProbeReadsABoundedBody(t *testing.T) {
	t.Parallel()
	var written int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 64; i++ { // 4 MiB, then the marker
			n, err := w.Write(chunk)
			written += int64(n)
			if err != nil {
				return
			}
		}
		_, _ = w.Write([]byte("build-42"))
	}))
	defer srv.Close()
	res, err := judgeOnly(t, &Config{URLs: []string{srv.URL}, Attempts: 1, Successes: 1, ExpectBody: "build-42"}, Deps{})
	if res.Healthy || err == nil {
		t.Fatal("the marker past the bound was read")
	}
	if m := res.Probes[0]; !m.BodyCut || !strings.Contains(m.Problem, "in its first 1048576 bytes") || len(m.Body) > excerptSize {
		t.Errorf("measurement %+v", m)
	}
}

func TestProbeDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	target := newServer(t, ok200)
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer srv.Close()
	res, _ := judgeOnly(t, &Config{URLs: []string{srv.URL}, Attempts: 1, Successes: 1}, Deps{})
	if res.Healthy || target.n.Load() != 0 || res.FailedChecks[0].Status != http.StatusFound {
		t.Errorf("healthy %t, target reached %d times, checks %+v", res.Healthy, target.n.Load(), res.FailedChecks)
	}
}

func TestProbeSendsHeaders(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ok200)
	res, err := judgeOnly(t, &Config{URLs: []string{srv.URL}, Attempts: 1, Successes: 1, Headers: []string{"Host: retail.example.com"}}, Deps{})
	if err != nil || !res.Healthy || srv.hosts[0] != "retail.example.com" {
		t.Errorf("healthy %t, %v, host %q", res.Healthy, err, srv.hosts)
	}
}

// A connection refused is a failed probe, not an error of the tool.
func TestProbeRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res, err := judgeOnly(t, &Config{URLs: []string{url}, Attempts: 2, Successes: 1}, Deps{})
	if res.Healthy || exitcode.Of(err) != exitcode.Failed || !strings.Contains(res.FailedChecks[0].Problem, "connection refused") {
		t.Errorf("healthy %t, %v, %+v", res.Healthy, err, res.FailedChecks)
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"2xx": "2xx", "200": "200", "200,204": "200,204", " 200 - 299 ": "2xx", "200-204,3xx": "200-204,3xx"} {
		s, err := parseStatus(in)
		if err != nil || s.String() != want {
			t.Errorf("%q: %v %v, want %s", in, s, err, want)
		}
	}
	for _, in := range []string{"", "abc", "99", "600", "2x", "299-200", "7xx"} {
		if _, err := parseStatus(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

// A check stopped before it finished (the run cancelled) has not passed.
func TestCancelledCheckIsNotHealthy(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ok200)
	cfg := fast(&Config{URLs: []string{srv.URL}, Attempts: 100, Successes: 100, Interval: 10 * time.Millisecond})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	res, err := Run(ctx, cfg, Deps{Sleep: func(ctx context.Context, d time.Duration) error {
		if calls++; calls == 3 {
			cancel()
		}
		<-time.After(time.Millisecond)
		return ctx.Err()
	}})
	if res.Healthy || exitcode.Of(err) != exitcode.Incomplete {
		t.Errorf("healthy %t, err %v (exit %d), want not healthy, exit 3", res.Healthy, err, exitcode.Of(err))
	}
}

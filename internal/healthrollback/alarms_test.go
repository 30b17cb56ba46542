package healthrollback

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/mlship/mlship/internal/cloudwatchfake"
	"github.com/mlship/mlship/internal/exitcode"
)

func TestAlarms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(*cloudwatchfake.Alarms)
		during  func(*cloudwatchfake.Alarms) // on the second DescribeAlarms
		ignore  bool
		healthy bool
		problem string
		code    int
	}{
		{"quiet", func(a *cloudwatchfake.Alarms) {
			a.Add("retail-5xx", false, cwtypes.StateValueOk)
			a.Add("retail-health", true, cwtypes.StateValueInsufficientData)
		}, nil, false, true, "", 0},
		{"fires during the watch", func(a *cloudwatchfake.Alarms) {
			a.Add("retail-5xx", false, cwtypes.StateValueOk)
		}, func(a *cloudwatchfake.Alarms) {
			a.Set("retail-5xx", cwtypes.StateValueAlarm, "Threshold Crossed: 1 datapoint [42.0] was greater than the threshold (5.0).")
		}, false, false, "went into ALARM", exitcode.Failed},
		{"composite fires", func(a *cloudwatchfake.Alarms) {
			a.Add("retail-health", true, cwtypes.StateValueOk)
		}, func(a *cloudwatchfake.Alarms) {
			a.Set("retail-health", cwtypes.StateValueAlarm, "retail-5xx is in ALARM")
		}, false, false, "went into ALARM", exitcode.Failed},
		{"firing at the start", func(a *cloudwatchfake.Alarms) {
			a.Add("retail-5xx", false, cwtypes.StateValueAlarm)
		}, nil, false, false, "in ALARM when the check started", exitcode.Failed},
		{"firing at the start, ignored", func(a *cloudwatchfake.Alarms) {
			a.Add("retail-5xx", false, cwtypes.StateValueAlarm)
		}, nil, true, true, "", 0},
		{"firing at the start, ignored, clears and fires again", func(a *cloudwatchfake.Alarms) {
			a.Add("retail-5xx", false, cwtypes.StateValueAlarm)
		}, func(a *cloudwatchfake.Alarms) {
			a.Set("retail-5xx", cwtypes.StateValueOk, "ok")
		}, true, false, "went into ALARM", exitcode.Failed},
		{"throttled past the retries", func(a *cloudwatchfake.Alarms) {
			a.Add("retail-5xx", false, cwtypes.StateValueOk)
			a.BeforeCall = func(_ context.Context, op string) error {
				if a.Calls() > 0 {
					return cloudwatchfake.Throttling()
				}
				return nil
			}
		}, nil, false, true, "", exitcode.Incomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := cloudwatchfake.New()
			tt.setup(a)
			var n atomic.Int32
			if tt.during != nil {
				prev := a.BeforeCall
				a.BeforeCall = func(ctx context.Context, op string) error {
					switch n.Add(1) {
					case 2:
						tt.during(a)
					case 3:
						if tt.name == "firing at the start, ignored, clears and fires again" {
							a.Set("retail-5xx", cwtypes.StateValueAlarm, "Threshold Crossed again")
						}
					}
					if prev != nil {
						return prev(ctx, op)
					}
					return nil
				}
			}
			names := []string{"retail-5xx"}
			if strings.Contains(tt.name, "composite") {
				names = []string{"retail-health"}
			}
			if tt.name == "quiet" {
				names = append(names, "retail-health")
			}
			cfg := &Config{Alarms: names, Watch: 40 * time.Millisecond, IgnoreFiring: tt.ignore}
			res, err := judgeOnly(t, cfg, Deps{CloudWatch: a})
			if exitcode.Of(err) != tt.code {
				t.Fatalf("err %v (exit %d), want exit %d", err, exitcode.Of(err), tt.code)
			}
			if tt.code == exitcode.Incomplete {
				return
			}
			if res.Healthy != tt.healthy {
				t.Fatalf("healthy %t, want %t (%+v)", res.Healthy, tt.healthy, res.FailedChecks)
			}
			if !tt.healthy {
				c := res.FailedChecks[0]
				if c.Signal != "alarm" || c.State != "ALARM" || c.Problem != tt.problem {
					t.Errorf("check %+v", c)
				}
				if strings.Contains(tt.name, "composite") && !c.Composite {
					t.Errorf("a composite alarm reported as a metric alarm")
				}
			}
			if tt.ignore && len(res.AlarmsFiringBefore) != 1 {
				t.Errorf("firing before %v", res.AlarmsFiringBefore)
			}
		})
	}
}

// An alarm fires while the probes still pass: the probes stop at once.
func TestAlarmStopsProbes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ok200)
	a := cloudwatchfake.New()
	a.Add("retail-5xx", false, cwtypes.StateValueOk)
	a.BeforeCall = func(_ context.Context, _ string) error {
		if a.Calls() == 2 {
			a.Set("retail-5xx", cwtypes.StateValueAlarm, "Threshold Crossed")
		}
		return nil
	}
	cfg := &Config{URLs: []string{srv.URL}, Alarms: []string{"retail-5xx"}, Attempts: 1000, Successes: 1000, Interval: 2 * time.Millisecond}
	res, err := judgeOnly(t, cfg, Deps{CloudWatch: a})
	if res.Healthy || exitcode.Of(err) != exitcode.Failed || res.Attempts >= 1000 {
		t.Fatalf("healthy %t after %d attempts: %v", res.Healthy, res.Attempts, err)
	}
	if !strings.Contains(err.Error(), "alarm retail-5xx is ALARM: Threshold Crossed") {
		t.Errorf("error %q", err)
	}
}

func TestMissingAlarmIsBadInput(t *testing.T) {
	t.Parallel()
	a := cloudwatchfake.New()
	a.Add("retail-5xx", false, cwtypes.StateValueOk)
	_, err := judgeOnly(t, &Config{Alarms: []string{"retail-5xx", "retail-typo"}}, Deps{CloudWatch: a})
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), `--alarm "retail-typo"`) {
		t.Errorf("err %v (exit %d)", err, exitcode.Of(err))
	}
}

package alarms_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/mlship/mlship/internal/alarms"
	"github.com/mlship/mlship/internal/cloudwatchfake"
)

func TestDescribeMetricAndComposite(t *testing.T) {
	t.Parallel()
	cw := cloudwatchfake.New()
	cw.Add("errors", false, cwtypes.StateValueOk)
	cw.Add("health", true, cwtypes.StateValueAlarm)
	var names []string
	for i := range 230 { // three calls of at most 100 names, pages of 50
		n := fmt.Sprintf("m%03d", i)
		cw.Add(n, i%2 == 0, cwtypes.StateValueInsufficientData)
		names = append(names, n)
	}
	states, err := alarms.Describe(context.Background(), cw, append(names, "errors", "health", "nope"))
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 232 || !states["health"].Composite || !states["health"].Firing() || states["errors"].Firing() {
		t.Errorf("%d states; health %+v errors %+v", len(states), states["health"], states["errors"])
	}
	if _, ok := states["nope"]; ok {
		t.Error("a missing alarm was described")
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cw := cloudwatchfake.New()
	cw.Add("errors", false, cwtypes.StateValueOk)
	cw.Add("latency", false, cwtypes.StateValueAlarm)
	cw.Add("health", true, cwtypes.StateValueOk)
	w, err := alarms.Start(ctx, cw, []string{"errors", "latency", "health"})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.FiringBefore(); !slices.Equal(got, []string{"latency"}) {
		t.Errorf("FiringBefore = %v", got)
	}
	if fired, err := w.Check(ctx); err != nil || len(fired) != 0 {
		t.Errorf("nothing changed, yet fired %v (%v)", fired, err)
	}
	cw.Set("health", cwtypes.StateValueAlarm, "child alarm fired")
	fired, err := w.Check(ctx)
	if err != nil || len(fired) != 1 || fired[0].Name != "health" || fired[0].Reason != "child alarm fired" {
		t.Errorf("fired = %+v, %v", fired, err)
	}
	// latency was firing before: it counts once it has cleared and fires
	// again.
	cw.Set("health", cwtypes.StateValueOk, "")
	cw.Set("latency", cwtypes.StateValueOk, "recovered")
	if fired, _ := w.Check(ctx); len(fired) != 0 {
		t.Errorf("fired = %+v", fired)
	}
	cw.Set("latency", cwtypes.StateValueAlarm, "slow again")
	if fired, _ := w.Check(ctx); len(fired) != 1 || fired[0].Name != "latency" {
		t.Errorf("fired = %+v, want latency", fired)
	}
}

func TestWatchFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cw := cloudwatchfake.New()
	cw.Add("errors", false, cwtypes.StateValueOk)
	var missing *alarms.MissingError
	if _, err := alarms.Start(ctx, cw, []string{"errors", "nope", "gone"}); !errors.As(err, &missing) || !slices.Equal(missing.Names, []string{"nope", "gone"}) {
		t.Errorf("Start with missing alarms: %v", err)
	}
	w, err := alarms.Start(ctx, cw, []string{"errors"})
	if err != nil {
		t.Fatal(err)
	}
	cw.Delete("errors")
	if _, err := w.Check(ctx); !errors.As(err, &missing) {
		t.Errorf("an alarm deleted mid-watch: %v, want MissingError", err)
	}
	cw.Add("errors", false, cwtypes.StateValueOk)
	cw.BeforeCall = func(context.Context, string) error { return cloudwatchfake.Throttling() }
	if _, err := w.Check(ctx); err == nil {
		t.Error("a read that failed passed")
	}
}

package lambdaalias

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mlship/mlship/internal/lambdafake"
)

const (
	img1 = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1"
	img2 = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v2"
)

// clock is a manual clock that every GetFunction call (each poll of a
// waiter) moves on by step, so that updates end after a fixed number of
// polls however loaded the machine is.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// fixture is a fake Lambda with function fn on img1, version 1 published
// and alias live on it, and the clock it runs on.
func fixture(t *testing.T) (*lambdafake.Lambda, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), step: time.Second}
	l := lambdafake.New()
	l.Now = c.Now
	l.UpdateDuration = 5 * time.Second
	l.BeforeCall = func(_ context.Context, op, _ string) error {
		if op == "GetFunction" {
			c.Advance(c.step)
		}
		return nil
	}
	l.AddFunction(lambdafake.FunctionSpec{Name: "fn", ImageURI: img1})
	ctx := context.Background()
	if _, err := l.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	return l, c
}

// fast polls every millisecond and backs off on a manual clock.
func fast(c *clock) Options {
	return Options{Timeout: time.Minute, Timing: Timing{
		PollMin: time.Millisecond, PollMax: time.Millisecond, ConflictMin: time.Second, ConflictMax: 4 * time.Second,
		Now: c.Now, Sleep: func(ctx context.Context, d time.Duration) error { c.Advance(d); return ctx.Err() },
	}}
}

// publish updates fn to image and publishes it, returning the version.
func publish(t *testing.T, l *lambdafake.Lambda, c *clock, image string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(image)}); err != nil {
		t.Fatal(err)
	}
	if _, err := WaitUpdated(ctx, l, "fn", fast(c)); err != nil {
		t.Fatal(err)
	}
	out, err := l.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Version)
}

func TestGetUpdateAndRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c := fixture(t)
	v2 := publish(t, l, c, img2)

	a, err := Get(ctx, l, "fn", "live")
	if err != nil || a.Version != "1" || a.Routed() || a.RevisionID == "" {
		t.Fatalf("Get = %+v, %v", a, err)
	}
	moved, err := Update(ctx, l, a, "1", map[string]float64{v2: 0.25}, fast(c))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Alias("fn", "live"); aws.ToString(got.FunctionVersion) != "1" || got.RoutingConfig.AdditionalVersionWeights[v2] != 0.25 {
		t.Errorf("alias = %+v", got)
	}
	if moved.String() != "75% on 1, 25% on 2" || moved.RevisionID == a.RevisionID {
		t.Errorf("moved = %s (revision %s, was %s)", moved, moved.RevisionID, a.RevisionID)
	}

	// A move from the revision read before is refused: someone (here
	// this test) moved the alias since.
	_, err = Update(ctx, l, a, v2, nil, fast(c))
	if !IsChanged(err) {
		t.Fatalf("update from a stale revision: %v, want PreconditionFailed", err)
	}
	if got, _ := l.Alias("fn", "live"); aws.ToString(got.FunctionVersion) != "1" {
		t.Errorf("a stale update moved the alias to %s", aws.ToString(got.FunctionVersion))
	}

	if _, err := Get(ctx, l, "fn", "nope"); !IsNotFound(err) {
		t.Errorf("missing alias: %v, want ResourceNotFound", err)
	}
	if _, err := Create(ctx, l, "fn", "live", "1", ""); !IsConflict(err) {
		t.Errorf("creating an existing alias: %v, want ResourceConflict", err)
	}
	if created, err := Create(ctx, l, "fn", "canary", v2, "test"); err != nil || created.Version != v2 {
		t.Errorf("Create = %+v, %v", created, err)
	}
}

func TestRollBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c := fixture(t)
	v2 := publish(t, l, c, img2)
	a, _ := Get(ctx, l, "fn", "live")
	a, err := Update(ctx, l, a, "1", map[string]float64{v2: 0.1}, fast(c))
	if err != nil {
		t.Fatal(err)
	}
	back, moved, err := RollBack(ctx, l, a, "1", fast(c))
	if err != nil || !moved || back.Routed() || back.Version != "1" {
		t.Fatalf("RollBack = %+v moved %v, %v", back, moved, err)
	}
	before := len(l.Calls())
	if _, moved, err := RollBack(ctx, l, back, "1", fast(c)); err != nil || moved || len(l.Calls()) != before {
		t.Errorf("rolling back an alias already there: moved %v, %v, %d calls", moved, err, len(l.Calls())-before)
	}

	// From a record, as health-rollback does: the alias is read afresh.
	a, _ = Get(ctx, l, "fn", "live")
	if _, err := Update(ctx, l, a, v2, nil, fast(c)); err != nil {
		t.Fatal(err)
	}
	st := &PreviousState{Schema: StateSchema, FunctionName: "fn", Alias: &AliasState{Name: "live", Exists: true, FunctionVersion: "1"}}
	if got, moved, err := RollBackTo(ctx, l, st, fast(c)); err != nil || !moved || got.Version != "1" {
		t.Errorf("RollBackTo = %+v moved %v, %v", got, moved, err)
	}
	st.KeptVersion = v2
	if got, _, err := RollBackTo(ctx, l, st, fast(c)); err != nil || got.Version != v2 {
		t.Errorf("RollBackTo with a kept version = %+v, %v", got, err)
	}
	for _, bad := range []*PreviousState{
		{FunctionName: "fn"},
		{FunctionName: "fn", Alias: &AliasState{Name: "live"}},
	} {
		if _, _, err := RollBackTo(ctx, l, bad, fast(c)); err == nil {
			t.Errorf("RollBackTo(%+v) found a version to go back to", bad)
		}
	}
}

func TestCheckRouting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version string
		weights map[string]float64
		ok      bool
	}{
		{"1", nil, true},
		{"1", map[string]float64{}, true},
		{"$LATEST", nil, true},
		{"1", map[string]float64{"2": 0.5}, true},
		{"1", map[string]float64{"2": 0.999999}, true},
		{"", nil, false},
		{"1", map[string]float64{"2": 0}, false},
		{"1", map[string]float64{"2": 1}, false},
		{"1", map[string]float64{"2": -0.1}, false},
		{"1", map[string]float64{"2": 0.1, "3": 0.1}, false},
		{"1", map[string]float64{"1": 0.1}, false},
		{"1", map[string]float64{"$LATEST": 0.1}, false},
		{"$LATEST", map[string]float64{"2": 0.1}, false},
		{"1", map[string]float64{"live": 0.1}, false},
	}
	for _, tc := range tests {
		err := CheckRouting(tc.version, tc.weights)
		var re *RoutingError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &re)) {
			t.Errorf("CheckRouting(%q, %v) = %v", tc.version, tc.weights, err)
		}
	}
	// Refused before any call.
	l, c := fixture(t)
	before := len(l.Calls())
	a, _ := Get(context.Background(), l, "fn", "live")
	if _, err := Update(context.Background(), l, a, "1", map[string]float64{"1": 0.5}, fast(c)); err == nil || len(l.Calls()) != before+1 {
		t.Errorf("bad routing: %v, %d calls", err, len(l.Calls())-before)
	}
}

func TestPercent(t *testing.T) {
	t.Parallel()
	for w, want := range map[float64]string{0.1: "10%", 0.125: "12.5%", 1: "100%", 0.000001: "0.0001%"} {
		if got := Percent(w); got != want {
			t.Errorf("Percent(%v) = %s, want %s", w, got, want)
		}
	}
}

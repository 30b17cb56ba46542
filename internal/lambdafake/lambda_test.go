package lambdafake

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

const (
	img1 = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1"
	img2 = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v2"
)

// clock is a manual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newFake(t *testing.T) (*Lambda, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New()
	l.Now = c.Now
	l.UpdateDuration = 10 * time.Second
	l.AddFunction(FunctionSpec{Name: "fn", ImageURI: img1, Env: map[string]string{"A": "1"}})
	return l, c
}

func get(t *testing.T, l *Lambda, qual string) *types.FunctionConfiguration {
	t.Helper()
	in := &lambda.GetFunctionInput{FunctionName: aws.String("fn")}
	if qual != "" {
		in.Qualifier = aws.String(qual)
	}
	out, err := l.GetFunction(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out.Configuration
}

func TestUpdateLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c := newFake(t)
	rev := aws.ToString(get(t, l, "").RevisionId)

	out, err := l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img2), RevisionId: aws.String(rev)})
	if err != nil {
		t.Fatal(err)
	}
	if out.LastUpdateStatus != types.LastUpdateStatusInProgress {
		t.Fatalf("status after update = %s, want InProgress", out.LastUpdateStatus)
	}
	// While it runs: conflicts.
	_, err = l.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn")})
	var conflict *types.ResourceConflictException
	if !errors.As(err, &conflict) {
		t.Fatalf("update during update: %v, want ResourceConflictException", err)
	}
	_, err = l.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")})
	if !errors.As(err, &conflict) {
		t.Fatalf("publish during update: %v, want ResourceConflictException", err)
	}
	// While it runs, $LATEST still runs the previous image.
	l.SetHandler("fn", func(_ context.Context, req InvokeRequest) InvokeResult {
		return InvokeResult{Payload: []byte(req.ImageURI)}
	})
	inv, err := l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	if string(inv.Payload) != img1 {
		t.Fatalf("invocation during the update ran %s, want %s", inv.Payload, img1)
	}
	c.Advance(10 * time.Second)
	cfg := get(t, l, "")
	if cfg.LastUpdateStatus != types.LastUpdateStatusSuccessful || cfg.State != types.StateActive {
		t.Fatalf("after the update: %s/%s", cfg.State, cfg.LastUpdateStatus)
	}
	// The old revision is stale now.
	_, err = l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img1), RevisionId: aws.String(rev)})
	var pre *types.PreconditionFailedException
	if !errors.As(err, &pre) {
		t.Fatalf("stale revision: %v, want PreconditionFailedException", err)
	}
}

func TestFailedUpdateAndDeletedImage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c := newFake(t)
	images := map[string]bool{img1: true, img2: true}
	var mu sync.Mutex
	l.ResolveImage = func(uri string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		return "sha256:" + uri[len(uri)-2:] + "00", images[uri]
	}
	_, err := l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img1 + "x")})
	var inv *types.InvalidParameterValueException
	if !errors.As(err, &inv) {
		t.Fatalf("missing image: %v, want InvalidParameterValueException", err)
	}
	if _, err := l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img2)}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	delete(images, img2)
	mu.Unlock()
	c.Advance(time.Minute)
	cfg := get(t, l, "")
	if cfg.LastUpdateStatus != types.LastUpdateStatusFailed || cfg.LastUpdateStatusReasonCode != types.LastUpdateStatusReasonCodeImageDeleted || cfg.LastUpdateStatusReason == nil {
		t.Fatalf("image deleted during update: %s %s %v", cfg.LastUpdateStatus, cfg.LastUpdateStatusReasonCode, cfg.LastUpdateStatusReason)
	}

	l.FailNextUpdate("fn", types.LastUpdateStatusReasonCodeInvalidConfiguration, "bad config")
	if _, err := l.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Environment: &types.Environment{Variables: map[string]string{"B": "2"}}}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	cfg = get(t, l, "")
	if cfg.LastUpdateStatus != types.LastUpdateStatusFailed || aws.ToString(cfg.LastUpdateStatusReason) != "bad config" {
		t.Fatalf("injected failure: %s %v", cfg.LastUpdateStatus, cfg.LastUpdateStatusReason)
	}
	if cfg.Environment.Variables["A"] != "1" || cfg.Environment.Variables["B"] != "" {
		t.Fatalf("a failed update must leave the configuration as it was: %v", cfg.Environment.Variables)
	}
}

func TestEnvironmentReplacesAll(t *testing.T) {
	t.Parallel()
	l, _ := newFake(t)
	l.UpdateDuration = 0
	if _, err := l.UpdateFunctionConfiguration(context.Background(), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Environment: &types.Environment{Variables: map[string]string{"B": "2"}}}); err != nil {
		t.Fatal(err)
	}
	if env := get(t, l, "").Environment.Variables; len(env) != 1 || env["B"] != "2" {
		t.Fatalf("env = %v, want only B (Lambda replaces the whole set)", env)
	}
}

func TestPublishAndAliasRouting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, c := newFake(t)
	l.UpdateDuration = 0
	v1, err := l.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")})
	if err != nil || *again.Version != *v1.Version {
		t.Fatalf("unchanged publish = %v, %v; want version %s again", again, err, *v1.Version)
	}
	if _, err := l.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn"), CodeSha256: aws.String("nope")}); !isErr[*types.InvalidParameterValueException](err) {
		t.Fatalf("publish with a wrong CodeSha256: %v", err)
	}
	if _, err := l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img2)}); err != nil {
		t.Fatal(err)
	}
	l.PublishDuration = time.Second
	v2, err := l.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")})
	if err != nil || *v2.Version != "2" || v2.State != types.StatePending {
		t.Fatalf("publish = %v, %v", v2, err)
	}
	if _, err := l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("2")}); !isErr[*types.ResourceConflictException](err) {
		t.Fatalf("invoke of a pending version: %v", err)
	}
	c.Advance(time.Second)
	if s := get(t, l, "2").State; s != types.StateActive {
		t.Fatalf("version state = %s", s)
	}

	a, err := l.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	if err != nil {
		t.Fatal(err)
	}
	bad := []map[string]float64{
		{"2": 1.5},
		{"2": -0.1},
		{"$LATEST": 0.1},
		{"1": 0.1},
		{"2": 0.1, "3": 0.1},
		{"9": 0.1},
	}
	for _, w := range bad {
		_, err := l.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: w}})
		if err == nil {
			t.Errorf("routing %v accepted", w)
		}
	}
	u, err := l.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RevisionId: a.RevisionId,
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.25}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RevisionId: a.RevisionId, FunctionVersion: aws.String("2")}); !isErr[*types.PreconditionFailedException](err) {
		t.Fatalf("stale alias revision: %v", err)
	}
	// Routing sends about a quarter of the invocations to version 2.
	n2 := 0
	for range 400 {
		out, err := l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("live")})
		if err != nil {
			t.Fatal(err)
		}
		if *out.ExecutedVersion == "2" {
			n2++
		}
	}
	if n2 < 60 || n2 > 140 {
		t.Errorf("version 2 ran %d of 400 times at weight 0.25", n2)
	}
	// An empty routing config removes the routing.
	if _, err := l.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RevisionId: u.RevisionId, FunctionVersion: aws.String("2"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}}); err != nil {
		t.Fatal(err)
	}
	if al, _ := l.Alias("fn", "live"); al.RoutingConfig != nil || *al.FunctionVersion != "2" {
		t.Fatalf("alias = %+v", al)
	}
}

func TestWorksWithSDKWaiter(t *testing.T) {
	t.Parallel()
	l := New()
	l.UpdateDuration = 30 * time.Millisecond
	l.AddFunction(FunctionSpec{Name: "fn", ImageURI: img1, State: types.StatePending})
	opts := func(o *lambda.FunctionActiveV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 5*time.Millisecond
	}
	if err := lambda.NewFunctionActiveV2Waiter(l, opts).Wait(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String("fn")}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	l.FailNextUpdate("fn", types.LastUpdateStatusReasonCodeInternalError, "boom")
	if _, err := l.UpdateFunctionCode(context.Background(), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img2)}); err != nil {
		t.Fatal(err)
	}
	uopts := func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 5*time.Millisecond
	}
	err := lambda.NewFunctionUpdatedV2Waiter(l, uopts).Wait(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String("fn")}, 5*time.Second)
	if err == nil {
		t.Fatal("the updated waiter accepted a failed update")
	}
}

func isErr[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func TestEnvironmentError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := New()
	l.AddFunction(FunctionSpec{Name: "fn", ImageURI: img1, Env: map[string]string{"A": "1"},
		EnvironmentError: &types.EnvironmentError{ErrorCode: aws.String("KMSAccessDeniedException"), Message: aws.String("Lambda was unable to decrypt the environment variables because KMS access was denied.")}})
	env := get(t, l, "").Environment
	if env == nil || env.Error == nil || env.Variables != nil {
		t.Fatalf("environment = %+v, want an error and no variables", env)
	}
	if _, err := l.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Environment: &types.Environment{Variables: map[string]string{"B": "2"}}}); err != nil {
		t.Fatal(err)
	}
	if env := get(t, l, "").Environment; env.Error != nil || env.Variables["B"] != "2" {
		t.Errorf("after new variables were set: %+v", env)
	}
}

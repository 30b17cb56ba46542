package lambdadeploy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mlship/mlship/internal/cloudwatchfake"
	"github.com/mlship/mlship/internal/ecrfake"
	"github.com/mlship/mlship/internal/ecrref"
	"github.com/mlship/mlship/internal/lambdaalias"
	"github.com/mlship/mlship/internal/lambdafake"
	"github.com/mlship/mlship/internal/ssmclient"
	"github.com/mlship/mlship/internal/ssmfake"
)

const (
	registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	imgV1    = registry + "/app:v1"
	imgV2    = registry + "/app:v2"
	imgV3    = registry + "/app:v3"
)

// world is a fake AWS account: ECR with images app:v1..v3, a function fn
// running app:v1 with version 1 published and alias live on it, alarms and
// SSM parameters. Lambda runs on a manual clock that each GetFunction (a
// waiter's poll) and each of the deploy's sleeps move on, so an update of
// UpdateDuration ends after the same number of polls however loaded the
// machine is.
type world struct {
	t       testing.TB
	clock   *clock
	lambda  *lambdafake.Lambda
	alarms  *cloudwatchfake.Alarms
	ecr     *ecrfake.Fake
	ssm     *ssmfake.SSM
	log     *testLog
	base    int // Lambda calls made while setting up
	ecrBase int // ECR DescribeImages calls made while setting up

	mu      sync.Mutex
	deleted map[string]bool // image URIs deleted from ECR after the deploy checked them
	slept   []time.Duration
	onSleep func(n int, d time.Duration) // runs on every hold/backoff sleep
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, ecr: ecrfake.New(), alarms: cloudwatchfake.New(), ssm: ssmfake.New(t),
		log: &testLog{t: t}, deleted: map[string]bool{}, clock: &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}
	for i, tag := range []string{"v1", "v2", "v3"} {
		if _, err := w.ecr.AddImage("app", manifest(i), tag); err != nil {
			t.Fatal(err)
		}
	}
	w.lambda = lambdafake.New()
	w.lambda.Now = w.clock.Now
	w.lambda.UpdateDuration = 20 * time.Millisecond
	w.lambda.ResolveImage = w.resolve
	w.lambda.AddFunction(lambdafake.FunctionSpec{Name: "fn", ImageURI: imgV1, Env: map[string]string{"MODEL_PATH": "/opt/model", "THRESHOLD": "0.5"}})
	ctx := context.Background()
	if _, err := w.lambda.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.lambda.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	w.base = len(w.lambda.Calls())
	w.ecrBase = w.ecr.Calls("DescribeImages")
	return w
}

func manifest(n int) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":%d},"layers":[]}`, n+1, 10+n)
}

// resolve tells the fake Lambda what ECR holds: Lambda pulls the image
// from ECR, so an image missing there makes an update fail.
func (w *world) resolve(uri string) (string, bool) {
	w.mu.Lock()
	gone := w.deleted[uri]
	w.mu.Unlock()
	if gone {
		return "", false
	}
	ref, err := ecrref.ParseImage(uri)
	if err != nil {
		return "", false
	}
	id := ecrtypes.ImageIdentifier{}
	if ref.Tag != "" {
		id.ImageTag = aws.String(ref.Tag)
	}
	if ref.Digest != "" {
		id.ImageDigest = aws.String(ref.Digest)
	}
	out, err := w.ecr.DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String(ref.Repository), ImageIds: []ecrtypes.ImageIdentifier{id}})
	if err != nil {
		return "", false
	}
	for _, d := range out.ImageDetails {
		w.mu.Lock()
		gone := w.deleted[registry+"/"+ref.Repository+"@"+aws.ToString(d.ImageDigest)]
		w.mu.Unlock()
		if gone {
			return "", false
		}
	}
	return aws.ToString(out.ImageDetails[0].ImageDigest), true
}

// deleteImage makes an image (by tag URI and by digest) unavailable to
// Lambda, as deleting it from ECR would.
func (w *world) deleteImage(uri string) {
	digest, ok := w.resolve(uri)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deleted[uri] = true
	if ok {
		ref, _ := ecrref.ParseImage(uri)
		w.deleted[registry+"/"+ref.Repository+"@"+digest] = true
	}
}

func (w *world) digest(tag string) string {
	d, ok := w.ecr.TagDigest("app", tag)
	if !ok {
		w.t.Fatalf("no app:%s", tag)
	}
	return d
}

// byDigest is the URI of app:tag by its digest, as lambda-deploy deploys it.
func (w *world) byDigest(tag string) string { return registry + "/app@" + w.digest(tag) }

func (w *world) sleep(ctx context.Context, d time.Duration) error {
	w.clock.Advance(d)
	w.mu.Lock()
	w.slept = append(w.slept, d)
	n := len(w.slept)
	hook := w.onSleep
	w.mu.Unlock()
	if hook != nil {
		hook(n, d)
	}
	return ctx.Err()
}

func (w *world) sleeps() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.slept...)
}

func (w *world) deps() Deps {
	return Deps{
		Lambda: &ticking{LambdaAPI: w.lambda, clock: w.clock, step: 10 * time.Millisecond}, CloudWatch: w.alarms, ECR: w.ecr, SSM: w.ssmClient(), Region: "us-east-1", Log: w.log,
		Timing: Timing{
			Timing: lambdaalias.Timing{
				PollMin: time.Millisecond, PollMax: 5 * time.Millisecond,
				ConflictMin: time.Millisecond, ConflictMax: 5 * time.Millisecond,
				Sleep: w.sleep, Now: w.clock.Now,
			},
			AlarmEvery: 30 * time.Second,
		},
	}
}

// run validates cfg and deploys it.
func (w *world) run(cfg *Config) (*Result, error) {
	w.t.Helper()
	return Run(context.Background(), validate(w.t, cfg), w.deps())
}

// validate checks cfg as the command does, with the --timeout default
// the command line gives when none is set.
func validate(t testing.TB, cfg *Config) *Plan {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	p, err := cfg.Validate()
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	return p
}

// clock is a manual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// ticking moves the clock on by step at every GetFunction: each poll of a
// waiter takes that long in the fake's time.
type ticking struct {
	LambdaAPI
	clock *clock
	step  time.Duration
}

func (k *ticking) GetFunction(ctx context.Context, in *lambda.GetFunctionInput, opts ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error) {
	k.clock.Advance(k.step)
	return k.LambdaAPI.GetFunction(ctx, in, opts...)
}

func (w *world) alias() (version string, weights map[string]float64) {
	a, ok := w.lambda.Alias("fn", "live")
	if !ok {
		return "", nil
	}
	if a.RoutingConfig != nil {
		weights = a.RoutingConfig.AdditionalVersionWeights
	}
	return aws.ToString(a.FunctionVersion), weights
}

// calls returns the Lambda calls made since the world was set up.
func (w *world) calls() []lambdafake.Call { return w.lambda.Calls()[w.base:] }

// mutating returns the operations of the calls since set-up that could
// change something.
func (w *world) mutating() []string {
	var ops []string
	for _, c := range w.calls() {
		if c.Mutating() {
			ops = append(ops, c.Op)
		}
	}
	return ops
}

// okHandler answers like a proxy-integration function that works.
func okHandler(_ context.Context, req lambdafake.InvokeRequest) lambdafake.InvokeResult {
	return lambdafake.InvokeResult{Payload: []byte(`{"statusCode": 200, "body": "{\"approved\": true, \"image\": \"` + req.ImageURI + `\"}"}`)}
}

// brokenOn fails invocations of the given image.
func brokenOn(image string) lambdafake.Handler {
	return func(ctx context.Context, req lambdafake.InvokeRequest) lambdafake.InvokeResult {
		if req.ImageURI == image {
			return lambdafake.InvokeResult{FunctionError: "Unhandled", Payload: []byte(`{"errorType":"KeyError","errorMessage":"'model'"}`), Log: "START\nTraceback: KeyError 'model'\nEND"}
		}
		return okHandler(ctx, req)
	}
}

type testLog struct {
	t  testing.TB
	mu sync.Mutex
	b  strings.Builder
}

func (l *testLog) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *testLog) Warningf(format string, args ...any) { l.Logf("warning: "+format, args...) }

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ssmClient is lambda-deploy's SSM client pointed at the fake SSM.
func (w *world) ssmClient() SSMAPI {
	w.t.Helper()
	c, err := ssmclient.New(context.Background(), w.ssm.Config(), Name)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// ssmCalls is how many requests reached the fake SSM.
func ssmCalls(w *world) int {
	n, _ := w.ssm.Calls()
	return n
}

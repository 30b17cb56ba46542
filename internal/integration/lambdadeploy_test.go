//go:build integration

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/cloudwatchclient"
	"github.com/mlship/mlship/internal/lambdadeploy"
)

// The smoke event. moto's Lambda without Docker does not run the
// function's image: an invocation answers with its own payload. So the
// smoke checks pass on this echo; what they test here is the Invoke call
// through the SDK and the reading of its answer, not the function's code.
const smokeEvent = `{"statusCode": 200, "body": "{\"ok\": true}"}`

// lambdaFixture is a container-image function in moto: version 1 runs
// image v1 with two variables, alias live points at it, and image v2 is
// in the repository, ready to deploy.
type lambdaFixture struct {
	fn, repo, alarm string
	v2              image
	lambda          *lambda.Client
	cw              *cloudwatch.Client
}

func newLambdaFixture(t *testing.T) *lambdaFixture {
	t.Helper()
	ctx := context.Background()
	cfg := awsConfig(t)
	f := &lambdaFixture{
		fn: unique("mlship-it-fn"),
		// moto's Lambda finds an image's repository by the last path
		// component of its URI only, so the name has no slash.
		repo:   unique("mlship-it-fn-image"),
		alarm:  unique("mlship-it-errors"),
		lambda: lambda.NewFromConfig(cfg),
		cw:     cloudwatchclient.New(cfg),
	}
	ecrc := ecr.NewFromConfig(cfg)
	createRepository(t, ecrc, f.repo, false)
	putImage(t, ecrc, f.repo, "v1", buildImage(t))
	f.v2 = buildImage(t)
	putImage(t, ecrc, f.repo, "v2", f.v2)

	_, err := f.lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(f.fn), PackageType: types.PackageTypeImage,
		Code:        &types.FunctionCode{ImageUri: aws.String(registryHost + "/" + f.repo + ":v1")},
		Role:        aws.String(lambdaRole(t)),
		Environment: &types.Environment{Variables: map[string]string{"KEEP": "1", "VERSION": "v1"}},
	})
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	pv, err := f.lambda.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(f.fn)})
	if err != nil || aws.ToString(pv.Version) != "1" {
		t.Fatalf("PublishVersion: %v, %v", pv, err)
	}
	if _, err := f.lambda.CreateAlias(ctx, &lambda.CreateAliasInput{
		FunctionName: aws.String(f.fn), Name: aws.String("live"), FunctionVersion: aws.String("1"),
	}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	putAlarm(t, f.cw, f.alarm)
	f.setAlarm(t, cwtypes.StateValueOk)
	return f
}

func (f *lambdaFixture) setAlarm(t *testing.T, state cwtypes.StateValue) {
	if _, err := f.cw.SetAlarmState(context.Background(), &cloudwatch.SetAlarmStateInput{
		AlarmName: aws.String(f.alarm), StateValue: state, StateReason: aws.String("set by the test: " + string(state)),
	}); err != nil {
		t.Errorf("SetAlarmState %s: %v", state, err)
	}
}

// routing is one state of the alias: the version and its weights.
type routing struct {
	version string
	weights map[string]float64
}

func (r routing) String() string { return fmt.Sprintf("%s %v", r.version, r.weights) }

// watchAlias polls the alias until stop is called and returns every state
// it saw, in order, the state at stop last. onChange runs for each new
// state.
func (f *lambdaFixture) watchAlias(t *testing.T, onChange func(routing)) (stop func() []routing) {
	ctx, cancel := context.WithCancel(context.Background())
	var seen []routing
	read := func(ctx context.Context) {
		out, err := f.lambda.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(f.fn), Name: aws.String("live")})
		if err != nil {
			return
		}
		r := routing{version: aws.ToString(out.FunctionVersion), weights: weightsOf(out.RoutingConfig)}
		if n := len(seen); n == 0 || seen[n-1].version != r.version || !maps.Equal(seen[n-1].weights, r.weights) {
			seen = append(seen, r)
			if onChange != nil {
				onChange(r)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			read(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() []routing {
		cancel()
		wg.Wait()
		read(context.Background())
		return seen
	}
}

// lambda-deploy's main path against moto: the image is checked in ECR, the
// code updated and the variables merged (none dropped), a version
// published, the alias shifted as a canary (20 % on the new version, then
// all) with the alarm read between steps.
func TestLambdaDeployCanary(t *testing.T) {
	needMoto(t)
	t.Parallel()
	ctx := context.Background()
	f := newLambdaFixture(t)
	args := []string{
		"--function", f.fn, "--alias", "live", "--repository", f.repo, "--tag", "v2",
		"--env", "VERSION=v2", "--env", "ENVIRONMENT=integration",
		"--strategy", "canary", "--percent", "20", "--interval", "3s", "--alarm", f.alarm,
		"--payload", smokeEvent, "--expect-status", "200", "--expect", "body.ok=true",
	}

	stop := f.watchAlias(t, nil)
	step := actiontest.NewStep(t, nil)
	code := step.Run(lambdadeploy.Command(), args...)
	seen := stop()
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	outs := step.Outputs(t)
	want := map[string]string{
		"version": "2", "previous-version": "1", "alias": "live", "rolled-back": "false",
		"image-uri":    registryHost + "/" + f.repo + "@" + f.v2.Digest, // deployed by digest
		"code-sha256":  strings.TrimPrefix(f.v2.Digest, "sha256:"),
		"function-arn": "arn:aws:lambda:" + region + ":" + account + ":function:" + f.fn,
	}
	for k, v := range want {
		if outs[k] != v {
			t.Errorf("output %s = %q, want %q", k, outs[k], v)
		}
	}
	var state map[string]any
	if b, err := os.ReadFile(outs["previous-state-file"]); err != nil || json.Unmarshal(b, &state) != nil {
		t.Errorf("previous-state-file %q: %v", outs["previous-state-file"], err)
	}

	canary := routing{version: "1", weights: map[string]float64{"2": 0.2}}
	final := routing{version: "2", weights: map[string]float64{}}
	if !sawInOrder(seen, canary, final) {
		t.Errorf("the alias went through %v; want 20%% on version 2, then all on 2 with no routing", seen)
	}

	// $LATEST and version 2 run v2 with the variables merged.
	for _, q := range []string{"$LATEST", "2"} {
		out, err := f.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(f.fn), Qualifier: aws.String(q)})
		if err != nil {
			t.Fatalf("GetFunction %s: %v", q, err)
		}
		env := out.Configuration.Environment.Variables
		if !maps.Equal(env, map[string]string{"KEEP": "1", "VERSION": "v2", "ENVIRONMENT": "integration"}) {
			t.Errorf("%s environment %v", q, env)
		}
		if uri := aws.ToString(out.Code.ImageUri); uri != want["image-uri"] {
			t.Errorf("%s runs %s", q, uri)
		}
	}

	// The same deploy again would publish nothing and move nothing (the
	// unit tests check it against the fake). moto cannot show it: for a
	// function deployed by digest its ResolvedImageUri is malformed
	// (repository@sha256@sha256:...), so the digest never matches and a
	// second deploy updates the code again (TestLambdaBehaviourFakeAndMoto
	// lists the difference).
}

// An alarm that fires during the canary rolls the alias back to the
// previous version, with no routing left. The tag comes from SSM, as
// ecr-push records it.
func TestLambdaDeployAlarmRollsBack(t *testing.T) {
	needMoto(t)
	t.Parallel()
	ctx := context.Background()
	f := newLambdaFixture(t)
	param := "/" + unique("mlship-it") + "/image-tag"
	if _, err := ssm.NewFromConfig(awsConfig(t)).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(param), Value: aws.String("v2"), Type: "String",
	}); err != nil {
		t.Fatalf("PutParameter: %v", err)
	}

	// The alarm fires once the canary takes traffic; lambda-deploy reads
	// the alarms at the end of the 3 s hold.
	var once sync.Once
	stop := f.watchAlias(t, func(r routing) {
		if r.weights["2"] > 0 {
			once.Do(func() { f.setAlarm(t, cwtypes.StateValueAlarm) })
		}
	})
	step := actiontest.NewStep(t, nil)
	code := step.Run(lambdadeploy.Command(),
		"--function", f.fn, "--alias", "live", "--repository", f.repo, "--tag-parameter", param,
		"--env", "VERSION=v2", "--strategy", "canary", "--percent", "25", "--interval", "3s", "--alarm", f.alarm)
	seen := stop()
	if code != 1 {
		t.Fatalf("exit %d, want 1 (alarm fired)\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	if log := step.Stdout.String() + step.Stderr.String(); !strings.Contains(log, "alarm fired") || !strings.Contains(log, f.alarm) {
		t.Errorf("the failure does not name the alarm:\n%s", log)
	}
	if outs := step.Outputs(t); outs["rolled-back"] != "true" || outs["previous-version"] != "1" {
		t.Errorf("rolled-back %q, previous-version %q", outs["rolled-back"], outs["previous-version"])
	}
	canary := routing{version: "1", weights: map[string]float64{"2": 0.25}}
	back := routing{version: "1", weights: map[string]float64{}}
	if !sawInOrder(seen, canary) {
		t.Errorf("the alias went through %v; want 25%% on version 2 first", seen)
	}
	a, err := f.lambda.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(f.fn), Name: aws.String("live")})
	if err != nil {
		t.Fatal(err)
	}
	if got := (routing{version: aws.ToString(a.FunctionVersion), weights: weightsOf(a.RoutingConfig)}); got.String() != back.String() {
		t.Errorf("after the rollback the alias is %v, want %v", got, back)
	}
}

func weightsOf(rc *types.AliasRoutingConfiguration) map[string]float64 {
	if rc == nil || rc.AdditionalVersionWeights == nil {
		return map[string]float64{}
	}
	return rc.AdditionalVersionWeights
}

// sawInOrder reports whether seen holds want, in that order (other states
// between them allowed).
func sawInOrder(seen []routing, want ...routing) bool {
	i := 0
	for _, s := range seen {
		if i < len(want) && s.version == want[i].version && maps.Equal(s.weights, want[i].weights) {
			i++
		}
	}
	return i == len(want)
}

// lambdaRole creates an IAM role in moto for the function (moto's Lambda
// requires the role to exist). The repository does not depend on the IAM
// SDK module, so this is one signed AWS Query request.
func lambdaRole(t *testing.T) string {
	t.Helper()
	name := unique("mlship-it-role")
	form := url.Values{
		"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {name},
		"AssumeRolePolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`},
	}
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, moto.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	creds, err := awsConfig(t).Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash(body), "iam", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CreateRole: %s", resp.Status)
	}
	return "arn:aws:iam::" + account + ":role/" + name
}

func payloadHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

package lambdafake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// realClient returns a real Lambda client talking to l over HTTP, retrying
// as the SDK does but without waiting between attempts.
func realClient(t *testing.T, l *Lambda) (*lambda.Client, string) {
	t.Helper()
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	return lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.AnonymousCredentials{},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 4
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		}),
	}), srv.URL
}

func TestHandlerWithRealClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := New()
	l.UpdateDuration = 50 * time.Millisecond
	c, _ := realClient(t, l)

	_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(aws.ToString(nf.Message), "function:fn") || aws.ToString(nf.Type) != "User" {
		t.Fatalf("missing function: %v, want ResourceNotFoundException with its message", err)
	}

	l.AddFunction(FunctionSpec{Name: "fn", ImageURI: img1, Env: map[string]string{"A": "1"}})
	got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := got.Configuration
	if cfg.State != types.StateActive || cfg.LastUpdateStatus != types.LastUpdateStatusSuccessful || cfg.PackageType != types.PackageTypeImage ||
		cfg.Environment.Variables["A"] != "1" || aws.ToString(got.Code.ImageUri) != img1 || aws.ToString(cfg.Version) != "$LATEST" {
		t.Fatalf("GetFunction = %+v, code %+v", cfg, got.Code)
	}
	rev := aws.ToString(cfg.RevisionId)

	// A stale RevisionId: 412 PreconditionFailedException, not retried.
	_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img2), RevisionId: aws.String("stale")})
	if !isErr[*types.PreconditionFailedException](err) {
		t.Fatalf("stale revision: %v", err)
	}
	up, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img2), RevisionId: aws.String(rev)})
	if err != nil || up.LastUpdateStatus != types.LastUpdateStatusInProgress {
		t.Fatalf("UpdateFunctionCode = %+v, %v", up, err)
	}
	// While it runs: 409 ResourceConflictException.
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Environment: &types.Environment{Variables: map[string]string{"B": "2"}}})
	if !isErr[*types.ResourceConflictException](err) {
		t.Fatalf("update during an update: %v", err)
	}
	// The SDK's waiter, over HTTP.
	wopts := func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 5*time.Millisecond, 20*time.Millisecond
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(c, wopts).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	conf, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Environment: &types.Environment{Variables: map[string]string{"B": "2"}}, Description: aws.String("d")})
	if err != nil || aws.ToString(conf.Description) != "d" {
		t.Fatalf("UpdateFunctionConfiguration = %+v, %v", conf, err)
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(c, wopts).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	pub, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn"), CodeSha256: aws.String("nope")})
	if !isErr[*types.InvalidParameterValueException](err) {
		t.Fatalf("publish with a wrong CodeSha256: %+v, %v", pub, err)
	}
	pub, err = c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn"), Description: aws.String("model 2")})
	if err != nil || aws.ToString(pub.Version) != "1" || pub.Environment.Variables["B"] != "2" || len(pub.Environment.Variables) != 1 {
		t.Fatalf("PublishVersion = %+v, %v", pub, err)
	}
	// A qualified name in an ARN, as Lambda accepts it.
	v1, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:fn:1")})
	if err != nil || aws.ToString(v1.Configuration.Version) != "1" || aws.ToString(v1.Code.ImageUri) != img2 {
		t.Fatalf("GetFunction of version 1 by ARN = %+v, %v", v1, err)
	}

	created, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	if err != nil || aws.ToString(created.FunctionVersion) != "1" || created.RevisionId == nil {
		t.Fatalf("CreateAlias = %+v, %v", created, err)
	}
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); !isErr[*types.ResourceConflictException](err) {
		t.Fatalf("alias created twice: %v", err)
	}
	if _, err := c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("staging")}); !isErr[*types.ResourceNotFoundException](err) {
		t.Fatalf("missing alias: %v", err)
	}
	// Publish a second version and route a share to it.
	if _, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(img1)}); err != nil {
		t.Fatal(err)
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(c, wopts).Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 1.5}}})
	if !isErr[*types.InvalidParameterValueException](err) {
		t.Fatalf("weight 1.5: %v", err)
	}
	upd, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RevisionId: created.RevisionId,
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1}}})
	if err != nil || upd.RoutingConfig == nil || upd.RoutingConfig.AdditionalVersionWeights["2"] != 0.1 {
		t.Fatalf("UpdateAlias = %+v, %v", upd, err)
	}
	if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RevisionId: created.RevisionId, FunctionVersion: aws.String("2")}); !isErr[*types.PreconditionFailedException](err) {
		t.Fatalf("stale alias revision: %v", err)
	}
	al, err := c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	if err != nil || aws.ToString(al.FunctionVersion) != "1" || al.RoutingConfig.AdditionalVersionWeights["2"] != 0.1 || aws.ToString(al.RevisionId) != aws.ToString(upd.RevisionId) {
		t.Fatalf("GetAlias = %+v, %v", al, err)
	}

	var calls []string
	for _, call := range l.Calls() {
		calls = append(calls, call.Op)
	}
	if n := strings.Count(strings.Join(calls, " "), "PublishVersion"); n != 3 {
		t.Errorf("PublishVersion reached the fake %d times, want 3: %v", n, calls)
	}
}

func TestHandlerInvoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := New()
	l.AddFunction(FunctionSpec{Name: "fn", ImageURI: img1, Env: map[string]string{"MODEL": "m1"}, Handler: func(_ context.Context, req InvokeRequest) InvokeResult {
		var in struct{ Fail bool }
		_ = json.Unmarshal(req.Payload, &in)
		if in.Fail {
			return InvokeResult{FunctionError: "Unhandled", Payload: []byte(`{"errorType":"ValueError","errorMessage":"bad input"}`), Log: "START\nValueError: bad input\nEND"}
		}
		return InvokeResult{Payload: []byte(`{"statusCode":200,"model":"` + req.Env["MODEL"] + `","version":"` + req.Version + `"}`), Log: "ok"}
	}})
	c, _ := realClient(t, l)
	if _, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}

	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("live"), Payload: []byte(`{"amount":1}`), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if out.StatusCode != 200 || string(out.Payload) != `{"statusCode":200,"model":"m1","version":"1"}` || aws.ToString(out.ExecutedVersion) != "1" || out.FunctionError != nil || string(log) != "ok" {
		t.Fatalf("Invoke = status %d, payload %s, version %s, error %v, log %q", out.StatusCode, out.Payload, aws.ToString(out.ExecutedVersion), out.FunctionError, log)
	}
	// A function error is a 200 with X-Amz-Function-Error, as in Lambda.
	out, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"Fail":true}`), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatal(err)
	}
	log, _ = base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "bad input") || !strings.Contains(string(log), "ValueError") || aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Fatalf("function error: status %d, error %v, payload %s, log %q", out.StatusCode, out.FunctionError, out.Payload, log)
	}
	out, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || out.StatusCode != 204 {
		t.Fatalf("dry run: %+v, %v", out, err)
	}
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{not json`)}); !isErr[*types.InvalidRequestContentException](err) {
		t.Fatalf("a payload that is not JSON: %v", err)
	}
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("9")}); !isErr[*types.ResourceNotFoundException](err) {
		t.Fatalf("missing version: %v", err)
	}
	big := make([]byte, maxPayload+2)
	big[0], big[len(big)-1] = '"', '"'
	for i := 1; i < len(big)-1; i++ {
		big[i] = 'a'
	}
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: big}); !isErr[*types.RequestTooLargeException](err) {
		t.Fatalf("a payload beyond 6 MB: %v", err)
	}
}

// Throttling is written as Lambda writes it (429, Retry-After) and retried
// by the SDK; access denied (403) is not retried.
func TestHandlerErrorsAndRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := New()
	l.AddFunction(FunctionSpec{Name: "fn", ImageURI: img1})
	var throttle, deny atomic.Int32
	l.BeforeCall = func(_ context.Context, op, _ string) error {
		if throttle.Add(-1) >= 0 {
			return &types.TooManyRequestsException{Message: aws.String("Rate exceeded"), Type: aws.String("User"), Reason: types.ThrottleReasonCallerRateLimitExceeded, RetryAfterSeconds: aws.String("1")}
		}
		if deny.Load() > 0 {
			return AccessDenied(op)
		}
		return nil
	}
	c, url := realClient(t, l)

	throttle.Store(2)
	if _, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatalf("throttled twice, then answered: %v", err)
	}
	if n := len(l.Calls()); n != 3 {
		t.Errorf("%d calls reached the fake, want 3 (two throttled)", n)
	}

	throttle.Store(1)
	resp, err := http.Get(url + "/2015-03-31/functions/fn")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var msg map[string]string
	if err := json.Unmarshal(body, &msg); err != nil || resp.StatusCode != 429 || resp.Header.Get("X-Amzn-ErrorType") != "TooManyRequestsException" ||
		resp.Header.Get("Retry-After") != "1" || msg["message"] != "Rate exceeded" || msg["Reason"] != "CallerRateLimitExceeded" || msg["Type"] != "User" {
		t.Errorf("throttling response: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	throttle.Store(4)
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonCallerRateLimitExceeded || aws.ToString(tm.RetryAfterSeconds) != "1" {
		t.Errorf("throttled beyond the retries: %v", err)
	}
	throttle.Store(0)

	deny.Store(1)
	before := len(l.Calls())
	_, err = c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" || !strings.Contains(api.ErrorMessage(), "lambda:UpdateAlias") {
		t.Errorf("access denied: %v", err)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
		t.Errorf("access denied status: %v", err)
	}
	if n := len(l.Calls()) - before; n != 1 {
		t.Errorf("access denied was retried: %d calls", n)
	}
	deny.Store(0)

	// An operation the fake does not serve.
	_, err = c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" {
		t.Errorf("ListFunctions: %v", err)
	}
}

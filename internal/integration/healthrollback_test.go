//go:build integration

package integration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/healthrollback"
	"github.com/mlship/mlship/internal/lambdadeploy"
)

// deployV2 deploys image v2 to alias live all at once with lambda-deploy and
// returns its previous-state record, which health-rollback reads.
func deployV2(t *testing.T, f *lambdaFixture) string {
	t.Helper()
	step := actiontest.NewStep(t, nil)
	if code := step.Run(lambdadeploy.Command(), "--function", f.fn, "--alias", "live", "--repository", f.repo, "--tag", "v2"); code != 0 {
		t.Fatalf("lambda-deploy: exit %d\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	outs := step.Outputs(t)
	if outs["version"] != "2" {
		t.Fatalf("lambda-deploy published %q, want 2", outs["version"])
	}
	return outs["previous-state-file"]
}

func aliasOn(t *testing.T, f *lambdaFixture) string {
	t.Helper()
	a, err := f.lambda.GetAlias(context.Background(), &lambda.GetAliasInput{FunctionName: aws.String(f.fn), Name: aws.String("live")})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(a.FunctionVersion)
}

// health-rollback's main path against moto: after lambda-deploy moved live
// to version 2, the endpoint answers 503; the alias goes back to version 1,
// the version lambda-deploy recorded, through the real Lambda client (the
// check that version 2 runs the image deployed reads moto's GetFunction).
func TestHealthRollbackRollsAliasBack(t *testing.T) {
	needMoto(t)
	t.Parallel()
	f := newLambdaFixture(t)
	state := deployV2(t, f)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	step := actiontest.NewStep(t, nil)
	code := step.Run(healthrollback.Command(), "--url", srv.URL+"/health", "--interval", "50ms", "--attempts", "2", "--successes", "1",
		"--alarm", f.alarm, "--function", f.fn, "--alias", "live", "--state-file", state)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (unhealthy)\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	outs := step.Outputs(t)
	if outs["healthy"] != "false" || outs["rolled-back"] != "true" || outs["restored-version"] != "1" || !strings.Contains(outs["failed-checks"], `"status":503`) {
		t.Errorf("outputs %v\n%s", outs, &step.Stdout)
	}
	if v := aliasOn(t, f); v != "1" {
		t.Errorf("alias live on version %s, want 1", v)
	}
}

// The endpoint is healthy, but the CloudWatch alarm (read through moto in
// AWS JSON 1.0) goes into ALARM during the watch: the alias goes back.
func TestHealthRollbackAlarmFires(t *testing.T) {
	needMoto(t)
	t.Parallel()
	f := newLambdaFixture(t)
	state := deployV2(t, f)
	var probes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if probes.Add(1) == 2 {
			f.setAlarm(t, cwtypes.StateValueAlarm)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	step := actiontest.NewStep(t, nil)
	code := step.Run(healthrollback.Command(), "--url", srv.URL, "--interval", "200ms", "--attempts", "20", "--successes", "20",
		"--alarm", f.alarm, "--watch", "30s", "--function", f.fn, "--alias", "live", "--state-file", state)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the alarm fired)\n%s%s", code, &step.Stdout, &step.Stderr)
	}
	outs := step.Outputs(t)
	if outs["rolled-back"] != "true" || !strings.Contains(outs["failed-checks"], `"signal":"alarm"`) || !strings.Contains(outs["failed-checks"], f.alarm) {
		t.Errorf("outputs %v\n%s", outs, &step.Stdout)
	}
	if v := aliasOn(t, f); v != "1" {
		t.Errorf("alias live on version %s, want 1", v)
	}
}

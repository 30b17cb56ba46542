package healthrollback

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
	"github.com/mlship/mlship/internal/lambdafake"
)

const ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pricing:"

// pricing is a function with versions 1, 2 and 3 of images v1, v2, v3
// and alias live on version 2: the deploy of v2 being judged.
func pricing(t *testing.T) (*lambdafake.Lambda, string) {
	t.Helper()
	ctx := context.Background()
	l := lambdafake.New()
	l.AddFunction(lambdafake.FunctionSpec{Name: "pricing-api", ImageURI: ecr + "v1"})
	publish := func() {
		if _, err := l.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("pricing-api")}); err != nil {
			t.Fatal(err)
		}
	}
	publish()
	for _, tag := range []string{"v2", "v3"} {
		if _, err := l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("pricing-api"), ImageUri: aws.String(ecr + tag)}); err != nil {
			t.Fatal(err)
		}
		publish()
	}
	if _, err := l.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("pricing-api"), Name: aws.String("live"), FunctionVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	out, err := l.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("pricing-api"), Qualifier: aws.String("2")})
	if err != nil {
		t.Fatal(err)
	}
	st := &lambdaalias.PreviousState{
		FunctionName: "pricing-api", FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:pricing-api",
		Alias:  &lambdaalias.AliasState{Name: "live", Exists: true, FunctionVersion: "1"},
		Deploy: lambdaalias.DeployState{ImageURI: ecr + "v2", ImageDigest: digestsOf(out)[0], Strategy: "all-at-once"},
	}
	path := filepath.Join(t.TempDir(), "previous-state.json")
	if err := lambdaalias.WriteState(path, st); err != nil {
		t.Fatal(err)
	}
	return l, path
}

func aliasVersion(t *testing.T, l *lambdafake.Lambda) string {
	t.Helper()
	a, ok := l.Alias("pricing-api", "live")
	if !ok {
		t.Fatal("no alias")
	}
	return aws.ToString(a.FunctionVersion)
}

func moveAlias(t *testing.T, l *lambdafake.Lambda, version string) {
	t.Helper()
	if _, err := l.UpdateAlias(context.Background(), &lambda.UpdateAliasInput{FunctionName: aws.String("pricing-api"), Name: aws.String("live"), FunctionVersion: aws.String(version)}); err != nil {
		t.Fatal(err)
	}
}

func TestUnhealthyRollsAliasBack(t *testing.T) {
	t.Parallel()
	l, state := pricing(t)
	srv := newServer(t, down503)
	s := runStep(t, map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "2", "successes": "1",
		"function": "pricing-api", "alias": "live", "state-file": state}, func(*Config) Deps { return Deps{Lambda: l} })
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "true" || s.outputs["restored-version"] != "1" || s.outputs["restored-revision"] != "" {
		t.Fatalf("exit %d, outputs %v\n%s%s", s.code, s.outputs, s.stdout, s.stderr)
	}
	if v := aliasVersion(t, l); v != "1" {
		t.Errorf("alias on version %s, want 1", v)
	}
	var revised bool
	for _, c := range l.Calls() {
		if c.Op == "UpdateAlias" && c.RevisionID != "" {
			revised = true
		}
	}
	if !revised {
		t.Error("the alias was moved without its RevisionId")
	}
}

// Someone moved the alias to version 3 (image v3) since: not the deploy
// being judged; refused unless --force.
func TestRefusesToRollAliasBackOverANewerDeploy(t *testing.T) {
	t.Parallel()
	l, state := pricing(t)
	moveAlias(t, l, "3")
	srv := newServer(t, down503)
	inputs := map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "1", "successes": "1", "function": "pricing-api", "alias": "live", "state-file": state}
	deps := func(*Config) Deps { return Deps{Lambda: l} }
	s := runStep(t, inputs, deps)
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "false" || aliasVersion(t, l) != "3" {
		t.Fatalf("exit %d, outputs %v, alias %s\n%s", s.code, s.outputs, aliasVersion(t, l), s.stdout)
	}
	if !strings.Contains(s.stdout, "no longer serves the deploy being judged") {
		t.Errorf("log:\n%s", s.stdout)
	}
	inputs["force"] = "true"
	s = runStep(t, inputs, deps)
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "true" || aliasVersion(t, l) != "1" {
		t.Errorf("--force: exit %d, outputs %v, alias %s\n%s", s.code, s.outputs, aliasVersion(t, l), s.stdout)
	}
}

// A canary in progress (the judged version takes a share) is the deploy
// being judged: rolled back to the old version with no routing left.
func TestRollsCanaryBack(t *testing.T) {
	t.Parallel()
	l, state := pricing(t)
	if _, err := l.UpdateAlias(context.Background(), &lambda.UpdateAliasInput{FunctionName: aws.String("pricing-api"), Name: aws.String("live"),
		FunctionVersion: aws.String("1"), RoutingConfig: &lambdaRouting{AdditionalVersionWeights: map[string]float64{"2": 0.1}}}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, down503)
	s := runStep(t, map[string]string{"url": srv.URL, "interval": "5ms", "attempts": "1", "successes": "1", "function": "pricing-api", "alias": "live", "state-file": state},
		func(*Config) Deps { return Deps{Lambda: l} })
	a, _ := l.Alias("pricing-api", "live")
	if s.code != exitcode.Failed || s.outputs["rolled-back"] != "true" || aws.ToString(a.FunctionVersion) != "1" || a.RoutingConfig != nil && len(a.RoutingConfig.AdditionalVersionWeights) > 0 {
		t.Errorf("exit %d, outputs %v, alias %+v\n%s", s.code, s.outputs, a, s.stdout)
	}
}

func TestRollsAliasBackToVersion(t *testing.T) {
	t.Parallel()
	l, _ := pricing(t)
	srv := newServer(t, stale)
	cfg := fast(&Config{URLs: []string{srv.URL}, ExpectBody: "build-42", Attempts: 1, Successes: 1, Function: "pricing-api", Alias: "live", ToVersion: "1"})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), cfg, Deps{Lambda: l})
	if exitcode.Of(err) != exitcode.Failed || !res.RolledBack || res.RestoredVersion != "1" || aliasVersion(t, l) != "1" {
		t.Errorf("err %v, result %+v", err, res)
	}
}

func TestMissingAliasIsBadInput(t *testing.T) {
	t.Parallel()
	l, _ := pricing(t)
	cfg := fast(&Config{URLs: []string{"http://127.0.0.1:1"}, Function: "pricing-api", Alias: "prod", ToVersion: "1"})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), cfg, Deps{Lambda: l})
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), `--alias "prod"`) {
		t.Errorf("err %v (exit %d)", err, exitcode.Of(err))
	}
	for _, c := range l.Calls() {
		if c.Op == "UpdateAlias" {
			t.Error("an alias was moved")
		}
	}
}

type lambdaRouting = lambdatypes.AliasRoutingConfiguration

package lambdadeploy

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
	"github.com/mlship/mlship/internal/lambdafake"
	"github.com/mlship/mlship/internal/ssmclient"
)

func TestAllAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.lambda.SetHandler("fn", okHandler)
	dir := t.TempDir()
	cfg := &Config{Function: "fn", Alias: "live", ImageURI: imgV2, EnvArgs: []string{"VERSION=v2"},
		PayloadArg: `{"amount": 100}`, ExpectStatus: 200, ExpectArgs: []string{"body.approved=true"},
		ResponseFile: filepath.Join(dir, "resp.json"), StateFile: filepath.Join(dir, "prev.json")}
	res, err := w.run(cfg)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, w.log)
	}
	if v, weights := w.alias(); v != "2" || len(weights) != 0 {
		t.Fatalf("alias live = %s %v, want version 2 with no routing", v, weights)
	}
	latest := w.lambda.Latest("fn")
	if got := latest.Environment.Variables; !reflect.DeepEqual(got, map[string]string{"MODEL_PATH": "/opt/model", "THRESHOLD": "0.5", "VERSION": "v2"}) {
		t.Errorf("environment = %v", got)
	}
	want := map[string]string{
		"function-arn": "arn:aws:lambda:us-east-1:123456789012:function:fn", "version": "2", "previous-version": "1",
		"alias": "live", "image-uri": w.byDigest("v2"), "image-tag": "v2", "code-sha256": strings.TrimPrefix(w.digest("v2"), "sha256:"), "rolled-back": "false",
		"smoke-response-file": cfg.ResponseFile, "previous-state-file": cfg.StateFile,
	}
	for _, o := range res.Outputs() {
		if v, ok := want[o.Name]; ok && o.Value != v {
			t.Errorf("output %s = %q, want %q", o.Name, o.Value, v)
		}
	}
	if !strings.Contains(res.SmokeResponse, `"statusCode":200`) {
		t.Errorf("smoke-response = %q", res.SmokeResponse)
	}
	if b, _ := os.ReadFile(cfg.ResponseFile); !json.Valid(b) {
		t.Errorf("response file holds %q", b)
	}
	var st lambdaalias.PreviousState
	b, err := os.ReadFile(cfg.StateFile)
	if err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("state file: %v %s", err, b)
	}
	if st.Schema != lambdaalias.StateSchema || st.Alias == nil || st.Alias.FunctionVersion != "1" || !st.Alias.Exists || st.Latest.ImageURI != imgV1 ||
		!maps.Equal(st.Latest.Environment, lambdaalias.Environment{"MODEL_PATH": "/opt/model", "THRESHOLD": "0.5"}) ||
		st.Deploy.ImageURI != w.byDigest("v2") || st.Deploy.ImageTag != "v2" {
		t.Errorf("previous state = %+v", st)
	}
	// The flow is code, configuration, publish, alias, and every change
	// carried a RevisionId, so that none overwrites someone else's.
	if got := w.mutating(); !slices.Equal(got, []string{"UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "UpdateAlias"}) {
		t.Errorf("changes = %v", got)
	}
	for _, c := range w.calls() {
		if c.Mutating() && c.RevisionID == "" {
			t.Errorf("%s carried no RevisionId", c.Op)
		}
	}
}

func TestSecondRunChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cfg := func() *Config {
		return &Config{Function: "fn", Alias: "live", ImageURI: imgV2, EnvArgs: []string{"THRESHOLD=0.5", "STAGE=prod"}}
	}
	if _, err := w.run(cfg()); err != nil {
		t.Fatal(err)
	}
	before := len(w.mutating())
	res, err := w.run(cfg())
	if err != nil {
		t.Fatal(err)
	}
	again := w.mutating()[before:]
	// Lambda's PublishVersion returns the existing version when nothing
	// changed; no update, no alias move.
	if !slices.Equal(again, []string{"PublishVersion"}) || res.Changed || res.Version != "2" || res.PreviousVersion != "2" {
		t.Errorf("second run: calls %v, changed %v, version %s (previous %s)", again, res.Changed, res.Version, res.PreviousVersion)
	}
	if got := w.lambda.Versions("fn"); len(got) != 2 {
		t.Errorf("versions = %v", got)
	}
}

func TestCanaryAndLinearSchedules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      Config
		routings []string // alias state at each hold
		sleeps   []time.Duration
	}{
		{"canary default", Config{Strategy: Canary}, []string{"1+2@0.1"}, []time.Duration{5 * time.Minute}},
		{"canary 20% 10m then bake", Config{Strategy: Canary, Percent: 20, Interval: 10 * time.Minute, BakeTime: time.Minute}, []string{"1+2@0.2", "2"}, []time.Duration{10 * time.Minute, time.Minute}},
		{"linear 25%", Config{Strategy: Linear, Percent: 25}, []string{"1+2@0.25", "1+2@0.5", "1+2@0.75"}, []time.Duration{time.Minute, time.Minute, time.Minute}},
		{"linear 30% every 2m", Config{Strategy: Linear, Percent: 30, Interval: 2 * time.Minute}, []string{"1+2@0.3", "1+2@0.6", "1+2@0.9"}, []time.Duration{2 * time.Minute, 2 * time.Minute, 2 * time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			var seen []string
			w.onSleep = func(int, time.Duration) {
				v, wts := w.alias()
				for k, x := range wts {
					v += "+" + k + "@" + strconv.FormatFloat(x, 'f', -1, 64)
				}
				seen = append(seen, v)
			}
			cfg := tc.cfg
			cfg.Function, cfg.Alias, cfg.ImageURI = "fn", "live", imgV2
			if _, err := w.run(&cfg); err != nil {
				t.Fatalf("%v\n%s", err, w.log)
			}
			if !slices.Equal(seen, tc.routings) {
				t.Errorf("alias at each hold = %v, want %v", seen, tc.routings)
			}
			if got := w.sleeps(); !slices.Equal(got, tc.sleeps) {
				t.Errorf("holds = %v, want %v", got, tc.sleeps)
			}
			if v, wts := w.alias(); v != "2" || wts != nil {
				t.Errorf("after promotion alias = %s %v, want 2 with no routing", v, wts)
			}
		})
	}
}

func TestAlarmFiringMidCanaryRollsBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.alarms.Add("fn-errors", false, cwtypes.StateValueOk)
	w.alarms.Add("fn-health", true, cwtypes.StateValueOk)
	// Two minutes into the five-minute canary, errors climb.
	w.onSleep = func(n int, d time.Duration) {
		if n == 4 {
			w.alarms.Set("fn-health", cwtypes.StateValueAlarm, "Errors > 5 for 1 datapoints")
		}
	}
	cfg := &Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary, Alarms: []string{"fn-errors", "fn-health"}}
	res, err := w.run(cfg)
	if exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("err = %v, want exit 1", err)
	}
	if !strings.Contains(err.Error(), "fn-health") || !strings.Contains(err.Error(), "rolled back") {
		t.Errorf("error = %v", err)
	}
	if v, wts := w.alias(); v != "1" || wts != nil {
		t.Errorf("alias = %s %v, want version 1 with no routing", v, wts)
	}
	if !res.RolledBack || res.Outputs()[6].Value != "true" {
		t.Errorf("rolled-back = %v", res.RolledBack)
	}
	if got := w.sleeps(); len(got) != 4 || got[0] != 30*time.Second {
		t.Errorf("alarms were read every 30s until one fired: holds %v", got)
	}
}

func TestAlarmAlreadyFiring(t *testing.T) {
	t.Parallel()
	t.Run("reported, does not block", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.alarms.Add("fn-errors", false, cwtypes.StateValueAlarm)
		res, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary, Alarms: []string{"fn-errors"}})
		if err != nil {
			t.Fatalf("a deploy that may be the fix was blocked: %v", err)
		}
		if !slices.Equal(res.AlarmsFiringBefore, []string{"fn-errors"}) || !strings.Contains(w.log.String(), "already firing") {
			t.Errorf("not reported: %v\n%s", res.AlarmsFiringBefore, w.log)
		}
	})
	t.Run("blocks when asked", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.alarms.Add("fn-errors", false, cwtypes.StateValueAlarm)
		_, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Alarms: []string{"fn-errors"}, RequireAlarmsOK: true})
		if exitcode.Of(err) != exitcode.Failed || len(w.mutating()) != 0 {
			t.Errorf("err = %v, changes %v; want exit 1 and nothing changed", err, w.mutating())
		}
	})
	t.Run("fires again after clearing", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.alarms.Add("fn-errors", false, cwtypes.StateValueAlarm)
		w.onSleep = func(n int, _ time.Duration) {
			switch n {
			case 1:
				w.alarms.Set("fn-errors", cwtypes.StateValueOk, "recovered")
			case 3:
				w.alarms.Set("fn-errors", cwtypes.StateValueAlarm, "errors again")
			}
		}
		_, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary, Alarms: []string{"fn-errors"}})
		if exitcode.Of(err) != exitcode.Failed {
			t.Fatalf("err = %v, want exit 1", err)
		}
		if v, _ := w.alias(); v != "1" {
			t.Errorf("alias on %s, want rolled back to 1", v)
		}
	})
	t.Run("missing alarm is bad input", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		_, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Alarms: []string{"nope"}})
		if exitcode.Of(err) != exitcode.BadInput || len(w.mutating()) != 0 {
			t.Errorf("err = %v", err)
		}
	})
}

func TestFailingSmokeTestRollsBack(t *testing.T) {
	t.Parallel()
	t.Run("before traffic", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.SetHandler("fn", brokenOn(w.byDigest("v2")))
		res, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Linear, PayloadArg: `{}`})
		if exitcode.Of(err) != exitcode.Failed {
			t.Fatalf("err = %v, want exit 1", err)
		}
		if !strings.Contains(err.Error(), "KeyError") || !strings.Contains(err.Error(), "version 2 before it takes traffic") {
			t.Errorf("error does not say why: %v", err)
		}
		if !res.RolledBack || slices.Contains(w.mutating(), "UpdateAlias") {
			t.Errorf("rolled back %v, changes %v: the alias must never have moved", res.RolledBack, w.mutating())
		}
		if !strings.Contains(w.log.String(), "Traceback") {
			t.Errorf("log tail not shown:\n%s", w.log)
		}
	})
	t.Run("after a shift", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		var mu sync.Mutex
		calls := 0
		w.lambda.SetHandler("fn", func(ctx context.Context, req lambdafake.InvokeRequest) lambdafake.InvokeResult {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n >= 3 {
				return lambdafake.InvokeResult{Payload: []byte(`{"statusCode": 500, "body": "model not loaded"}`)}
			}
			return okHandler(ctx, req)
		})
		res, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Linear, Percent: 40, PayloadArg: `{}`, ExpectStatus: 200})
		if exitcode.Of(err) != exitcode.Failed || !strings.Contains(err.Error(), "statusCode is 500") {
			t.Fatalf("err = %v", err)
		}
		if v, wts := w.alias(); v != "1" || wts != nil || !res.RolledBack {
			t.Errorf("alias = %s %v (rolled back %v), want 1 with no routing", v, wts, res.RolledBack)
		}
	})
	t.Run("no rollback", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.SetHandler("fn", func(ctx context.Context, req lambdafake.InvokeRequest) lambdafake.InvokeResult {
			if req.Version == "2" {
				return lambdafake.InvokeResult{Payload: []byte(`{"statusCode": 503}`)}
			}
			return okHandler(ctx, req)
		})
		res, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, PayloadArg: `{}`, ExpectStatus: 200, NoRollback: true})
		if exitcode.Of(err) != exitcode.Failed || res.RolledBack {
			t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
		}
		if !strings.Contains(err.Error(), "--no-rollback") {
			t.Errorf("error = %v", err)
		}
		if v, _ := w.alias(); v != "1" {
			t.Errorf("alias moved to %s although the smoke test failed before traffic", v)
		}
	})
}

func TestEnvironmentMerge(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cfg := &Config{Function: "fn", ImageURI: imgV1, EnvArgs: []string{"THRESHOLD=0.7", "ENVIRONMENT=prod"}, SecretEnvArgs: []string{"API_KEY=s3cr3t-value"}, Unset: []string{"MODEL_PATH", "NOT_THERE"}}
	res, err := w.run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := w.lambda.Latest("fn").Environment.Variables
	want := map[string]string{"THRESHOLD": "0.7", "ENVIRONMENT": "prod", "API_KEY": "s3cr3t-value"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("environment = %v, want %v", got, want)
	}
	// The code did not change, so only the configuration was updated.
	if ops := w.mutating(); !slices.Equal(ops, []string{"UpdateFunctionConfiguration", "PublishVersion"}) {
		t.Errorf("changes = %v", ops)
	}
	all := w.log.String() + strings.Join(res.Plan, "\n") + strings.Join(res.Events, "\n") + res.Summary() + res.Text()
	if strings.Contains(all, "s3cr3t") {
		t.Errorf("a secret value was printed:\n%s", all)
	}
	if !strings.Contains(all, "API_KEY=***") || !strings.Contains(all, "ENVIRONMENT=prod") || !strings.Contains(all, "unset MODEL_PATH") {
		t.Errorf("the change is not described:\n%s", all)
	}

	t.Run("nothing removed unless asked", func(t *testing.T) {
		t.Parallel()
		cur := map[string]string{"A": "1", "B": "2", "C": "3"}
		next, d := mergeEnv(cur, true, []EnvVar{{Key: "A", Value: "1"}, {Key: "D", Value: "4"}}, nil, false)
		if !reflect.DeepEqual(next, map[string]string{"A": "1", "B": "2", "C": "3", "D": "4"}) || !slices.Equal(d.added, []string{"D"}) || len(d.changed) != 0 || d.kept != 2 {
			t.Errorf("merge = %v %+v", next, d)
		}
		if _, d := mergeEnv(cur, true, []EnvVar{{Key: "A", Value: "1"}}, nil, false); d.any() {
			t.Errorf("setting a variable to its value is a change: %+v", d)
		}
		if cur["D"] != "" {
			t.Error("merge changed its input")
		}
	})
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.alarms.Add("fn-errors", false, cwtypes.StateValueAlarm)
	dir := t.TempDir()
	cfg := &Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary, EnvArgs: []string{"XX=1"}, SecretEnvArgs: []string{"KEY=hidden-value"},
		PayloadArg: `{}`, Alarms: []string{"fn-errors"}, DryRun: true, ResponseFile: filepath.Join(dir, "r.json")}
	res, err := w.run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ops := w.mutating(); len(ops) != 0 {
		t.Errorf("a dry run changed things: %v", ops)
	}
	for _, c := range w.lambda.Calls() {
		if c.Op == "Invoke" {
			t.Errorf("a dry run invoked the function")
		}
	}
	plan := strings.Join(res.Plan, "\n")
	for _, want := range []string{imgV1 + " -> " + w.byDigest("v2") + " (tag v2)", "set XX=1, KEY=***", "canary: 10% for 5m0s", "version 1", "fn-errors (ALARM, firing before the deploy)"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if strings.Contains(plan+res.Text(), "hidden-value") {
		t.Error("the plan shows a secret")
	}
	if res.Version != "" || res.PreviousVersion != "1" || res.PreviousStateFile != "" {
		t.Errorf("outputs = %+v", res.Outputs())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a dry run wrote %v", entries)
	}
}

func TestConcurrentDeploysExactlyOneWins(t *testing.T) {
	t.Parallel()
	for i := range 5 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			// Both deploys have read the function before either changes it.
			held := &heldReads{LambdaAPI: w.deps().Lambda}
			held.reads.Add(2)
			images := []string{imgV2, imgV3}
			if i%2 == 1 {
				images = []string{imgV3, imgV2}
			}
			type outcome struct {
				res *Result
				err error
			}
			out := make([]outcome, 2)
			var wg sync.WaitGroup
			for j := range 2 {
				wg.Go(func() {
					cfg, err := (&Config{Function: "fn", Alias: "live", ImageURI: images[j], EnvArgs: []string{"DEPLOY=" + images[j]}, Timeout: DefaultTimeout}).Validate()
					if err != nil {
						t.Error(err)
						return
					}
					deps := w.deps()
					deps.Lambda = held
					res, err := Run(context.Background(), cfg, deps)
					out[j] = outcome{res, err}
				})
			}
			wg.Wait()
			var wins, losses []int
			for j, o := range out {
				if o.err == nil {
					wins = append(wins, j)
				} else {
					losses = append(losses, j)
				}
			}
			if len(wins) != 1 {
				t.Fatalf("%d deploys succeeded (errors: %v, %v), want exactly one\n%s", len(wins), out[0].err, out[1].err, w.log)
			}
			lost := out[losses[0]]
			if exitcode.Of(lost.err) != exitcode.Failed || !strings.Contains(lost.err.Error(), "changed by someone else") {
				t.Errorf("the losing deploy: %v (exit %d), want exit 1 naming the concurrent change", lost.err, exitcode.Of(lost.err))
			}
			if lost.res.RolledBack {
				t.Error("the losing deploy rolled back the winner")
			}
			won := out[wins[0]]
			v, wts := w.alias()
			latest := w.lambda.Latest("fn")
			if v != won.res.Version || wts != nil || latest.Environment.Variables["DEPLOY"] != images[wins[0]] {
				t.Errorf("alias on %s %v, $LATEST DEPLOY=%s; the winner deployed version %s of %s", v, wts, latest.Environment.Variables["DEPLOY"], won.res.Version, images[wins[0]])
			}
		})
	}
}

func TestFailedUpdateNeverMovesAlias(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.lambda.FailNextUpdate("fn", types.LastUpdateStatusReasonCodeInvalidImage, "The image manifest, config or layer media type for the source image is not supported.")
	res, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2})
	if exitcode.Of(err) != exitcode.Failed || !strings.Contains(err.Error(), "media type for the source image is not supported") || !strings.Contains(err.Error(), "InvalidImage") {
		t.Fatalf("err = %v", err)
	}
	if ops := w.mutating(); !slices.Equal(ops, []string{"UpdateFunctionCode"}) || res.RolledBack {
		t.Errorf("changes after a failed update: %v (rolled back %v)", ops, res.RolledBack)
	}
}

func TestImageChecks(t *testing.T) {
	t.Parallel()
	t.Run("missing in ECR", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		res, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: registry + "/app:v9"})
		if exitcode.Of(err) != exitcode.Failed || !strings.Contains(err.Error(), "does not exist in ECR") || len(w.calls()) != 0 {
			t.Errorf("err = %v, lambda calls %v", err, w.calls())
		}
		if res != nil {
			t.Errorf("a run that changed nothing returned a result: %+v", res)
		}
	})
	t.Run("deleted while the update runs", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.BeforeCall = func(_ context.Context, op, _ string) error {
			if op == "GetFunction" && slices.Contains(w.mutating(), "UpdateFunctionCode") {
				w.deleteImage(imgV2)
			}
			return nil
		}
		_, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2})
		if exitcode.Of(err) != exitcode.Failed || !strings.Contains(err.Error(), "ImageDeleted") {
			t.Fatalf("err = %v", err)
		}
		if v, _ := w.alias(); v != "1" {
			t.Errorf("alias moved to %s", v)
		}
	})
	t.Run("repository and tag", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		res, err := w.run(&Config{Function: "fn", Alias: "live", Repository: "app", Tag: "v3"})
		if err != nil || res.ImageURI != w.byDigest("v3") {
			t.Fatalf("image %s, err %v", res.ImageURI, err)
		}
	})
	t.Run("tag from SSM", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.ssm.Put("/pricing/image-tag", "v2\n", ssmclient.TypeString)
		res, err := w.run(&Config{Function: "fn", Alias: "live", Repository: registry + "/app", TagParameter: "/pricing/image-tag"})
		if err != nil || res.ImageURI != w.byDigest("v2") || res.Version != "2" {
			t.Fatalf("image %s version %s, err %v", res.ImageURI, res.Version, err)
		}
		w.ssm.Put("/pricing/image-uri", imgV3, ssmclient.TypeString)
		res, err = w.run(&Config{Function: "fn", Alias: "live", TagParameter: "/pricing/image-uri"})
		if err != nil || res.ImageURI != w.byDigest("v3") {
			t.Fatalf("image %s, err %v", res.ImageURI, err)
		}
		_, err = w.run(&Config{Function: "fn", Alias: "live", Repository: "app", TagParameter: "/nope"})
		if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), `--tag-parameter "/nope": SSM parameter does not exist`) {
			t.Errorf("missing parameter: %v", err)
		}
		// A SecureString is read decrypted, and its value never shown.
		w.ssm.Put("/pricing/secret-tag", "v3", ssmclient.TypeSecureString)
		res, err = w.run(&Config{Function: "fn", Alias: "live", Repository: "app", TagParameter: "/pricing/secret-tag"})
		if err != nil || res.ImageURI != w.byDigest("v3") {
			t.Fatalf("SecureString: image %s, err %v", res.ImageURI, err)
		}
		w.ssm.Put("/pricing/secret-tag", "not a tag!", ssmclient.TypeSecureString)
		_, err = w.run(&Config{Function: "fn", Alias: "live", Repository: "app", TagParameter: "/pricing/secret-tag"})
		if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "holds a SecureString value, which is not an image tag") || strings.Contains(err.Error(), "not a tag!") {
			t.Errorf("bad SecureString: %v", err)
		}
		w.ssm.Fail(&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: ssm:GetParameter"})
		_, err = w.run(&Config{Function: "fn", Alias: "live", Repository: "app", TagParameter: "/pricing/image-tag"})
		if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), "reading SSM parameter /pricing/image-tag: operation error SSM: GetParameter") || !strings.Contains(err.Error(), "AccessDeniedException") {
			t.Errorf("access denied: %v", err)
		}
	})
	t.Run("function whose image was deleted", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		// ECR lifecycle rules removed the running image; Lambda marks the
		// idle function Failed. A deploy of a good image repairs it.
		w.lambda.AddFunction(lambdafake.FunctionSpec{Name: "old", ImageURI: registry + "/app:gone", State: types.StateFailed,
			StateReason: "The image was deleted", StateReasonCode: types.StateReasonCodeImageDeleted})
		res, err := w.run(&Config{Function: "old", ImageURI: imgV2})
		if err != nil {
			t.Fatalf("%v\n%s", err, w.log)
		}
		if cfg := w.lambda.Latest("old"); cfg.State != types.StateActive || res.Version != "1" {
			t.Errorf("state %s, version %s", cfg.State, res.Version)
		}
	})
}

func TestNoAliasRollbackRestoresLatest(t *testing.T) {
	t.Parallel()
	t.Run("restored", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.SetHandler("fn", brokenOn(w.byDigest("v2")))
		res, err := w.run(&Config{Function: "fn", ImageURI: imgV2, EnvArgs: []string{"MODEL_PATH=changed"}, PayloadArg: `{}`})
		if exitcode.Of(err) != exitcode.Failed || !res.RolledBack {
			t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
		}
		cfg := w.lambda.Latest("fn")
		if aws.ToString(cfg.CodeSha256) != strings.TrimPrefix(w.digest("v1"), "sha256:") || cfg.Environment.Variables["MODEL_PATH"] != "/opt/model" {
			t.Errorf("$LATEST after rollback: code %s env %v", aws.ToString(cfg.CodeSha256), cfg.Environment.Variables)
		}
	})
	t.Run("own update failed", func(t *testing.T) {
		t.Parallel()
		// The code update succeeds, the environment update ends Failed:
		// Lambda keeps the old variables, and the rollback must restore the
		// code although the failed update changed the RevisionId.
		w := newWorld(t)
		w.lambda.BeforeCall = func(_ context.Context, op, _ string) error {
			if op == "UpdateFunctionConfiguration" && !slices.Contains(w.mutating(), "UpdateFunctionConfiguration") {
				w.lambda.FailNextUpdate("fn", types.LastUpdateStatusReasonCodeInvalidConfiguration, "bad variables")
			}
			return nil
		}
		res, err := w.run(&Config{Function: "fn", ImageURI: imgV2, EnvArgs: []string{"MODEL_PATH=changed"}})
		if exitcode.Of(err) != exitcode.Failed || !res.RolledBack || strings.Contains(err.Error(), "someone else") || strings.Contains(err.Error(), "alias") {
			t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
		}
		cfg := w.lambda.Latest("fn")
		if aws.ToString(cfg.CodeSha256) != strings.TrimPrefix(w.digest("v1"), "sha256:") || cfg.Environment.Variables["MODEL_PATH"] != "/opt/model" {
			t.Errorf("$LATEST after rollback: code %s env %v", aws.ToString(cfg.CodeSha256), cfg.Environment.Variables)
		}
	})
	t.Run("cancelled while its own update runs", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		// The fake's clock stands still until the rollback waits, so the
		// update is still running when the rollback first reads $LATEST.
		var mu sync.Mutex
		now := time.Now()
		w.lambda.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rollbackReads := 0
		w.lambda.BeforeCall = func(callCtx context.Context, op, _ string) error {
			if op != "GetFunction" || !slices.Contains(w.mutating(), "UpdateFunctionCode") {
				return nil
			}
			switch {
			case ctx.Err() == nil:
				cancel() // while the deploy waits for its update
			case callCtx.Err() == nil: // the rollback's own context
				if rollbackReads++; rollbackReads > 1 {
					mu.Lock()
					now = now.Add(time.Hour)
					mu.Unlock()
				}
			}
			return nil
		}
		cfg := validate(t, &Config{Function: "fn", ImageURI: imgV2})
		res, err := Run(ctx, cfg, w.deps())
		if exitcode.Of(err) != exitcode.Incomplete || !res.RolledBack || strings.Contains(err.Error(), "someone else") {
			t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
		}
		if cfg := w.lambda.Latest("fn"); aws.ToString(cfg.CodeSha256) != strings.TrimPrefix(w.digest("v1"), "sha256:") {
			t.Errorf("$LATEST after rollback runs %s", aws.ToString(cfg.CodeSha256))
		}
	})
	t.Run("previous image deleted", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.SetHandler("fn", brokenOn(w.byDigest("v2")))
		w.deleteImage(imgV1)
		res, err := w.run(&Config{Function: "fn", ImageURI: imgV2, PayloadArg: `{}`})
		if exitcode.Of(err) != exitcode.Failed || res.RolledBack {
			t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
		}
		if !strings.Contains(err.Error(), "rolling back failed") || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("error does not say the rollback failed and why: %v", err)
		}
	})
}

func TestWaitsAndConflicts(t *testing.T) {
	t.Parallel()
	t.Run("update in progress elsewhere at start", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		if _, err := w.lambda.UpdateFunctionConfiguration(context.Background(), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Description: aws.String("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2}); err != nil {
			t.Fatalf("%v\n%s", err, w.log)
		}
		if !strings.Contains(w.log.String(), "in progress") {
			t.Errorf("no word of the wait:\n%s", w.log)
		}
	})
	t.Run("conflicts are retried", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		var mu sync.Mutex
		n := 0
		w.lambda.BeforeCall = func(_ context.Context, op, _ string) error {
			mu.Lock()
			defer mu.Unlock()
			if op == "UpdateFunctionCode" || op == "PublishVersion" {
				n++
				if n%3 != 0 {
					return &types.ResourceConflictException{Message: aws.String("The operation cannot be performed at this time. An update is in progress for resource: fn")}
				}
			}
			return nil
		}
		if _, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2}); err != nil {
			t.Fatalf("%v", err)
		}
		if got := w.sleeps(); len(got) != 4 {
			t.Errorf("backoff sleeps = %v, want 4", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.UpdateDuration = time.Hour
		_, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Timeout: 30 * time.Millisecond})
		if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), "--timeout") {
			t.Fatalf("err = %v, want exit 3 naming --timeout", err)
		}
	})
	t.Run("access denied is not retried", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.BeforeCall = func(_ context.Context, op, _ string) error {
			if op == "UpdateFunctionCode" {
				return lambdafake.AccessDenied(op)
			}
			return nil
		}
		_, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2})
		if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), "AccessDeniedException") {
			t.Fatalf("err = %v", err)
		}
		if n := len(w.mutating()); n != 1 {
			t.Errorf("%d attempts", n)
		}
	})
}

func TestAliasEdgeCases(t *testing.T) {
	t.Parallel()
	t.Run("alias missing is created", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		res, err := w.run(&Config{Function: "fn", Alias: "prod", ImageURI: imgV2, Strategy: Canary})
		if err != nil {
			t.Fatal(err)
		}
		a, ok := w.lambda.Alias("fn", "prod")
		if !ok || aws.ToString(a.FunctionVersion) != "2" || res.PreviousVersion != "" {
			t.Errorf("alias %+v (%v), previous %q", a, ok, res.PreviousVersion)
		}
	})
	t.Run("alias on $LATEST", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		rev, _ := w.lambda.Alias("fn", "live")
		if _, err := w.lambda.UpdateAlias(context.Background(), &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("$LATEST"), RevisionId: rev.RevisionId}); err != nil {
			t.Fatal(err)
		}
		var during []string
		w.onSleep = func(int, time.Duration) {
			v, wts := w.alias()
			during = append(during, v, strconv.FormatFloat(wts["2"], 'f', -1, 64))
		}
		// $LATEST has not changed since version 1, so keeping it returns
		// version 1; the new code becomes version 2.
		res, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV3, Strategy: Canary})
		if err != nil {
			t.Fatalf("%v\n%s", err, w.log)
		}
		if res.PreviousVersion != "1" || res.Version != "2" || !slices.Equal(during, []string{"1", "0.1"}) {
			t.Errorf("previous %q, version %q, alias during the canary %v; want 1, 2 and 1 with 10%% on 2", res.PreviousVersion, res.Version, during)
		}
		if v, wts := w.alias(); v != "2" || wts != nil {
			t.Errorf("alias = %s %v", v, wts)
		}
	})
	t.Run("leftover routing is replaced", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		ctx := context.Background()
		w.lambda.UpdateDuration = 0
		if _, err := w.lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ImageUri: aws.String(imgV3)}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.lambda.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.lambda.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.3}}}); err != nil {
			t.Fatal(err)
		}
		w.lambda.UpdateDuration = 20 * time.Millisecond
		var during []map[string]float64
		w.onSleep = func(int, time.Duration) { _, wts := w.alias(); during = append(during, wts) }
		if _, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary}); err != nil {
			t.Fatal(err)
		}
		// Never a third version: the leftover weight on 2 was replaced.
		if len(during) != 1 || len(during[0]) != 1 || during[0]["3"] != 0.1 {
			t.Errorf("routing during the canary = %v", during)
		}
		if v, wts := w.alias(); v != "3" || wts != nil {
			t.Errorf("alias = %s %v", v, wts)
		}
	})
	t.Run("alias changed by someone else mid-canary", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.onSleep = func(n int, _ time.Duration) {
			if n == 1 {
				a, _ := w.lambda.Alias("fn", "live")
				_, err := w.lambda.UpdateAlias(context.Background(), &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"),
					FunctionVersion: aws.String("1"), RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}, RevisionId: a.RevisionId})
				if err != nil {
					t.Error(err)
				}
			}
		}
		res, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary})
		if exitcode.Of(err) != exitcode.Failed || !strings.Contains(err.Error(), "changed by someone else") || res.RolledBack {
			t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
		}
		if calls := w.mutating(); calls[len(calls)-1] != "UpdateAlias" || strings.Count(strings.Join(calls, " "), "UpdateAlias") != 3 {
			t.Errorf("calls = %v", calls)
		}
	})
}

func TestCancelledMidCanaryRollsBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	w.onSleep = func(int, time.Duration) { cancel() }
	cfg := validate(t, &Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary})
	res, err := Run(ctx, cfg, w.deps())
	if exitcode.Of(err) != exitcode.Incomplete || !res.RolledBack {
		t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
	}
	if v, wts := w.alias(); v != "1" || wts != nil {
		t.Errorf("alias = %s %v", v, wts)
	}
}

// heldReads holds the first two GetFunction answers until both have been
// read, so that two deploys start from the same revision.
type heldReads struct {
	LambdaAPI
	mu    sync.Mutex
	n     int
	reads sync.WaitGroup
}

func (h *heldReads) GetFunction(ctx context.Context, in *lambda.GetFunctionInput, opts ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error) {
	out, err := h.LambdaAPI.GetFunction(ctx, in, opts...)
	h.mu.Lock()
	h.n++
	n := h.n
	h.mu.Unlock()
	if n <= 2 {
		h.reads.Done()
		h.reads.Wait()
	}
	return out, err
}

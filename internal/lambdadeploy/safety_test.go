package lambdadeploy

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
	"github.com/mlship/mlship/internal/lambdafake"
)

// kmsDenied is what GetFunction returns for variables encrypted with a
// KMS key Lambda may no longer use.
var kmsDenied = &types.EnvironmentError{
	ErrorCode: aws.String("KMSAccessDeniedException"),
	Message:   aws.String("Lambda was unable to decrypt the environment variables because KMS access was denied."),
}

func TestUnreadableEnvironmentIsNeverWritten(t *testing.T) {
	t.Parallel()
	addLocked := func(w *world) {
		w.lambda.AddFunction(lambdafake.FunctionSpec{Name: "locked", ImageURI: imgV1, Env: map[string]string{"DB_URL": "postgres://db"}, EnvironmentError: kmsDenied})
	}
	for _, cfg := range []Config{
		{Function: "locked", ImageURI: imgV2, EnvArgs: []string{"VERSION=v2"}},
		{Function: "locked", ImageURI: imgV2}, // the state could not be recorded whole
	} {
		w := newWorld(t)
		addLocked(w)
		before := len(w.lambda.Calls())
		_, err := w.run(&cfg)
		if exitcode.Of(err) != exitcode.Incomplete || !strings.Contains(err.Error(), "KMSAccessDeniedException") || !strings.Contains(err.Error(), "--replace-env") {
			t.Errorf("err = %v (exit %d), want exit 3 naming the error and --replace-env", err, exitcode.Of(err))
		}
		for _, c := range w.lambda.Calls()[before:] {
			if c.Mutating() {
				t.Errorf("%s was called on a function whose variables could not be read", c.Op)
			}
		}
	}

	t.Run("replaced when asked", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		addLocked(w)
		dir := t.TempDir()
		cfg := &Config{Function: "locked", ImageURI: imgV2, EnvArgs: []string{"VERSION=v2"}, SecretEnvArgs: []string{"DB_URL=postgres://new"}, ReplaceEnv: true,
			StateFile: filepath.Join(dir, "prev.json")}
		res, err := w.run(cfg)
		if err != nil {
			t.Fatalf("%v\n%s", err, w.log)
		}
		env := w.lambda.Latest("locked").Environment
		if env.Error != nil || !maps.Equal(env.Variables, map[string]string{"VERSION": "v2", "DB_URL": "postgres://new"}) {
			t.Errorf("environment = %+v", env)
		}
		st, err := lambdaalias.ReadState(cfg.StateFile)
		if err != nil || !strings.Contains(st.Latest.EnvironmentError, "KMSAccessDeniedException") || st.Latest.Environment != nil || !st.Deploy.ReplaceEnvironment {
			t.Errorf("state %+v, %v: want the environment recorded as unreadable, not as empty", st, err)
		}
		if plan := strings.Join(res.Plan, "\n"); !strings.Contains(plan, "cannot be read") || strings.Contains(plan, "postgres://new") {
			t.Errorf("plan:\n%s", plan)
		}
	})
	t.Run("a rollback says the old variables are gone", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		addLocked(w)
		w.lambda.SetHandler("locked", brokenOn(w.byDigest("v2")))
		res, err := w.run(&Config{Function: "locked", ImageURI: imgV2, EnvArgs: []string{"VERSION=v2"}, ReplaceEnv: true, PayloadArg: `{}`})
		if exitcode.Of(err) != exitcode.Failed || res.RolledBack || !strings.Contains(err.Error(), "could not be read") {
			t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
		}
		if cfg := w.lambda.Latest("locked"); aws.ToString(cfg.CodeSha256) != strings.TrimPrefix(w.digest("v1"), "sha256:") {
			t.Errorf("the code was not rolled back: %s", aws.ToString(cfg.CodeSha256))
		}
	})
	t.Run("replace on a readable function", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		res, err := w.run(&Config{Function: "fn", ImageURI: imgV1, EnvArgs: []string{"STAGE=prod"}, ReplaceEnv: true})
		if err != nil {
			t.Fatal(err)
		}
		if env := w.lambda.Latest("fn").Environment.Variables; !maps.Equal(env, map[string]string{"STAGE": "prod"}) {
			t.Errorf("environment = %v", env)
		}
		if plan := strings.Join(res.Plan, "\n"); !strings.Contains(plan, "unset MODEL_PATH, THRESHOLD") {
			t.Errorf("plan does not say what is removed:\n%s", plan)
		}
	})
}

func TestDeploysTheDigestItChecked(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Function: "fn", Alias: "live", ImageURI: imgV2},
		{Function: "fn", Alias: "live", Repository: "app", Tag: "v2"},
	} {
		w := newWorld(t)
		checked := w.digest("v2")
		// The tag moves to another image between the check and the update.
		var once sync.Once
		w.lambda.BeforeCall = func(_ context.Context, op, _ string) error {
			if op == "UpdateFunctionCode" {
				once.Do(func() {
					if _, err := w.ecr.AddImage("app", manifest(7), "v2"); err != nil {
						t.Error(err)
					}
				})
			}
			return nil
		}
		res, err := w.run(&cfg)
		if err != nil {
			t.Fatalf("%v\n%s", err, w.log)
		}
		if w.digest("v2") == checked {
			t.Fatal("the tag did not move")
		}
		out, err := w.lambda.GetFunction(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String(res.Version)})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(out.Configuration.CodeSha256); "sha256:"+got != checked || aws.ToString(out.Code.ImageUri) != registry+"/app@"+checked {
			t.Errorf("version %s runs %s (%s), want the checked %s", res.Version, got, aws.ToString(out.Code.ImageUri), checked)
		}
		if res.ImageURI != registry+"/app@"+checked || res.ImageTag != "v2" || res.ImageDigest != checked {
			t.Errorf("reported %s tag %s digest %s", res.ImageURI, res.ImageTag, res.ImageDigest)
		}
	}
}

func TestStateRecordedWholeBeforeTheFirstWrite(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	// A leftover routing of an unfinished shift: it is recorded too.
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
	if _, err := w.lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"),
		Environment: &types.Environment{Variables: map[string]string{"DB_PASSWORD": "s3cr3t-db", "STAGE": "prod"}}}); err != nil {
		t.Fatal(err)
	}
	w.lambda.UpdateDuration = 20 * time.Millisecond
	w.lambda.SetHandler("fn", okHandler)
	before := w.lambda.Latest("fn")

	dir := t.TempDir()
	cfg := &Config{Function: "fn", Alias: "live", ImageURI: imgV2, EnvArgs: []string{"VERSION=v2"}, PayloadArg: "{}",
		StateFile: filepath.Join(dir, "prev.json"), ResponseFile: filepath.Join(dir, "resp.json")}
	var atFirstWrite *lambdaalias.PreviousState
	var readErr error
	var responseThere bool
	w.lambda.BeforeCall = func(_ context.Context, op, _ string) error {
		if (lambdafake.Call{Op: op}).Mutating() && atFirstWrite == nil && readErr == nil {
			atFirstWrite, readErr = lambdaalias.ReadState(cfg.StateFile)
			_, err := os.Stat(cfg.ResponseFile)
			responseThere = err == nil
		}
		return nil
	}
	res, err := w.run(cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, w.log)
	}
	if readErr != nil || atFirstWrite == nil {
		t.Fatalf("the state file could not be read at the first change: %v", readErr)
	}
	if !responseThere {
		t.Error("the response file was not created before the first change")
	}
	st := atFirstWrite
	want := lambdaalias.LatestState{
		ImageURI: imgV3, ResolvedImageURI: registry + "/app@" + w.digest("v3"), CodeSha256: aws.ToString(before.CodeSha256),
		RevisionID: aws.ToString(before.RevisionId), Environment: lambdaalias.Environment{"DB_PASSWORD": "s3cr3t-db", "STAGE": "prod"},
	}
	if st.Latest.ImageURI != want.ImageURI || st.Latest.ResolvedImageURI != want.ResolvedImageURI || st.Latest.CodeSha256 != want.CodeSha256 ||
		st.Latest.RevisionID != want.RevisionID || !maps.Equal(st.Latest.Environment, want.Environment) {
		t.Errorf("latest = %+v\nwant     %+v", st.Latest, want)
	}
	if a := st.Alias; a == nil || !a.Exists || a.FunctionVersion != "1" || !maps.Equal(a.AdditionalVersionWeights, map[string]float64{"2": 0.3}) || a.RevisionID == "" {
		t.Errorf("alias = %+v", st.Alias)
	}
	if fi, err := os.Stat(cfg.StateFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v (%v), want 0600", fi.Mode(), err)
	}
	// The old values are in the file only: never in the log, the plan,
	// the summary or the result.
	js, _ := json.Marshal(res)
	for _, s := range []string{w.log.String(), res.Summary(), res.Text(), string(js)} {
		if strings.Contains(s, "s3cr3t-db") {
			t.Errorf("a previous value was printed:\n%s", s)
		}
	}
}

func TestRollbackWithAliasRestoresLatest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var mu sync.Mutex
	calls := 0
	w.lambda.SetHandler("fn", func(ctx context.Context, req lambdafake.InvokeRequest) lambdafake.InvokeResult {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n >= 2 { // after the first shift
			return lambdafake.InvokeResult{Payload: []byte(`{"statusCode": 500}`)}
		}
		return okHandler(ctx, req)
	})
	res, err := w.run(&Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary, EnvArgs: []string{"THRESHOLD=0.9"}, PayloadArg: "{}", ExpectStatus: 200})
	if exitcode.Of(err) != exitcode.Failed || !res.RolledBack {
		t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
	}
	if v, wts := w.alias(); v != "1" || wts != nil {
		t.Errorf("alias = %s %v", v, wts)
	}
	latest := w.lambda.Latest("fn")
	if aws.ToString(latest.CodeSha256) != strings.TrimPrefix(w.digest("v1"), "sha256:") || latest.Environment.Variables["THRESHOLD"] != "0.5" {
		t.Errorf("$LATEST after the rollback: code %s, env %v", aws.ToString(latest.CodeSha256), latest.Environment.Variables)
	}
	if !strings.Contains(err.Error(), "alias live is on version 1") || !strings.Contains(err.Error(), "$LATEST runs") {
		t.Errorf("error does not say what was put back: %v", err)
	}
	// The alias first: it is what serves traffic.
	ops := w.mutating()
	if len(ops) < 3 || !slices.Equal(ops[len(ops)-3:], []string{"UpdateAlias", "UpdateFunctionCode", "UpdateFunctionConfiguration"}) {
		t.Errorf("changes %v, want the rollback to move the alias, then restore the code and the variables", ops)
	}
}

func TestCancelledRollbackStartsAtOnceAndIsBounded(t *testing.T) {
	t.Parallel()
	if g := Command().Grace; g <= RollbackTimeout {
		t.Errorf("the command's grace after a signal (%s) is not longer than the rollback's bound (%s)", g, RollbackTimeout)
	}

	t.Run("at once", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.SetHandler("fn", okHandler)
		ctx, cancel := context.WithCancel(context.Background())
		var atCancel int
		w.onSleep = func(int, time.Duration) {
			if ctx.Err() == nil {
				atCancel = len(w.lambda.Calls())
				cancel()
			}
		}
		res, err := Run(ctx, validate(t, &Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary, PayloadArg: "{}"}), w.deps())
		if exitcode.Of(err) != exitcode.Incomplete || !res.RolledBack || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
		}
		// Nothing more of the deploy after the signal (no invocation, no
		// further shift): the rollback's first call is the alias.
		var after []string
		for _, c := range w.lambda.Calls()[atCancel:] {
			after = append(after, c.Op)
		}
		if len(after) == 0 || after[0] != "UpdateAlias" || slices.Contains(after, "Invoke") {
			t.Errorf("calls after the cancellation: %v", after)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		ctx, cancel := context.WithCancel(context.Background())
		w.onSleep = func(int, time.Duration) { cancel() }
		var deadline time.Duration
		var mu sync.Mutex
		w.lambda.BeforeCall = func(callCtx context.Context, op, _ string) error {
			if op != "UpdateAlias" || ctx.Err() == nil {
				return nil
			}
			// A Lambda that does not answer: the rollback must give up.
			dl, ok := callCtx.Deadline()
			mu.Lock()
			if ok {
				deadline = time.Until(dl)
			}
			mu.Unlock()
			<-callCtx.Done()
			return callCtx.Err()
		}
		deps := w.deps()
		deps.Timing.Rollback = 100 * time.Millisecond
		start := time.Now()
		res, err := Run(ctx, validate(t, &Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Canary}), deps)
		if exitcode.Of(err) != exitcode.Incomplete || res.RolledBack || !strings.Contains(err.Error(), "rolling back failed") {
			t.Fatalf("err = %v, rolled back %v", err, res.RolledBack)
		}
		mu.Lock()
		defer mu.Unlock()
		if deadline <= 0 || deadline > deps.Timing.Rollback {
			t.Errorf("the rollback's call had %s left, want at most the bound %s", deadline, deps.Timing.Rollback)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("the run took %s after its rollback bound of %s", took, deps.Timing.Rollback)
		}
	})
}

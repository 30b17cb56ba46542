package lambdadeploy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdafake"
	"github.com/mlship/mlship/internal/ssmclient"
)

// hostile is text from outside (a function's log, a response, an SSM value,
// an AWS error) in every workflow-command form the runner acts on.
const hostile = "::stop-commands::x\n::add-mask::leaked\n::error title=injected::boom\n##[error]old form\n::set-output name=version::666"

// checkCommands fails unless the only workflow commands in log are the
// step's own: the one ::error:: line of the failure, and masks it asked for.
func checkCommands(t *testing.T, log string, masks ...string) {
	t.Helper()
	errs := 0
	for _, c := range actiontest.Commands(log) {
		switch {
		case strings.HasPrefix(c, "::error::lambda-deploy: "):
			errs++
		case strings.HasPrefix(c, "::add-mask::") && len(masks) > 0 && strings.TrimPrefix(c, "::add-mask::") == masks[0]:
			masks = masks[1:]
		default:
			t.Errorf("the runner would act on %q", c)
		}
	}
	if errs != 1 {
		t.Errorf("%d ::error:: lines, want 1:\n%s", errs, log)
	}
}

func TestHostileTextIsNotACommand(t *testing.T) {
	t.Parallel()
	t.Run("function log tail and response", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.SetHandler("fn", func(_ context.Context, req lambdafake.InvokeRequest) lambdafake.InvokeResult {
			msg, _ := json.Marshal(hostile)
			return lambdafake.InvokeResult{FunctionError: "Unhandled", Payload: []byte(`{"errorType":"Boom","errorMessage":` + string(msg) + `}`), Log: "START\n" + hostile + "\nEND"}
		})
		var built atomic.Int32
		wf := actiontest.NewStep(t, map[string]string{"function": "fn", "alias": "live", "image-uri": imgV2, "payload": "{}"})
		if code := wf.Run(commandFor(w, &built)); code != exitcode.Failed {
			t.Fatalf("exit %d, want 1\n%s%s", code, &wf.Stdout, &wf.Stderr)
		}
		if !strings.Contains(wf.Stdout.String(), "::add-mask::leaked") {
			t.Fatalf("the log tail is not in the log at all:\n%s", &wf.Stdout)
		}
		checkCommands(t, wf.Stdout.String())
		if out := wf.Outputs(t); out["version"] == "666" || !strings.Contains(out["smoke-response"], "injected") {
			t.Errorf("outputs = %v", out)
		}
	})
	t.Run("SSM value", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.ssm.Put("/pricing/image-tag", "v2\n"+hostile, ssmclient.TypeString)
		var built atomic.Int32
		wf := actiontest.NewStep(t, map[string]string{"function": "fn", "alias": "live", "repository": "app", "tag-parameter": "/pricing/image-tag"})
		if code := wf.Run(commandFor(w, &built)); code != exitcode.BadInput {
			t.Fatalf("exit %d, want 2\n%s%s", code, &wf.Stdout, &wf.Stderr)
		}
		checkCommands(t, wf.Stdout.String())
		if strings.Contains(w.log.String(), "holds") {
			t.Errorf("the value was logged before it was checked:\n%s", w.log)
		}
		if w.ecr.Calls("DescribeImages") != w.ecrBase || len(w.calls()) != 0 {
			t.Error("a value that is not a tag went on to ECR or Lambda")
		}
	})
	t.Run("alarm reason", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.alarms.Add("fn-errors", false, cwtypes.StateValueOk)
		w.alarms.Set("fn-errors", cwtypes.StateValueAlarm, "Threshold crossed\n"+hostile)
		w.onSleep = func(n int, _ time.Duration) {
			if n == 1 {
				w.alarms.Set("fn-errors", cwtypes.StateValueOk, "ok")
			}
			if n == 2 {
				w.alarms.Set("fn-errors", cwtypes.StateValueAlarm, "again\n"+hostile)
			}
		}
		var built atomic.Int32
		wf := actiontest.NewStep(t, map[string]string{"function": "fn", "alias": "live", "image-uri": imgV2, "strategy": "canary", "alarm": "fn-errors"})
		if code := wf.Run(commandFor(w, &built)); code != exitcode.Failed {
			t.Fatalf("exit %d, want 1\n%s%s", code, &wf.Stdout, &wf.Stderr)
		}
		// The warning that the alarm fired before the deploy is the one
		// command beside the error.
		var warnings []string
		var rest []string
		for _, l := range strings.Split(wf.Stdout.String(), "\n") {
			if strings.HasPrefix(l, "::warning::") {
				warnings = append(warnings, l)
				continue
			}
			rest = append(rest, l)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], "already firing") {
			t.Errorf("warnings = %q", warnings)
		}
		checkCommands(t, strings.Join(rest, "\n"))
	})
	t.Run("AWS error message", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.lambda.BeforeCall = func(_ context.Context, op, _ string) error {
			if op == "UpdateFunctionCode" {
				return &smithy.GenericAPIError{Code: "ServiceException", Message: "internal\n" + hostile}
			}
			return nil
		}
		var built atomic.Int32
		wf := actiontest.NewStep(t, map[string]string{"function": "fn", "image-uri": imgV2})
		if code := wf.Run(commandFor(w, &built)); code != exitcode.Incomplete {
			t.Fatalf("exit %d, want 3\n%s%s", code, &wf.Stdout, &wf.Stderr)
		}
		checkCommands(t, wf.Stdout.String())
	})
}

func TestDryRunPrintsThePlanOnce(t *testing.T) {
	t.Parallel()
	planLine := regexp.MustCompile(`(?m)^\s*alias\s+live: version 1 -> the new version, canary`)
	for _, inWorkflow := range []bool{false, true} {
		w := newWorld(t)
		var built atomic.Int32
		wf := &actiontest.Step{Workflow: &actiontest.Workflow{Env: map[string]string{}}}
		if inWorkflow {
			wf = actiontest.NewStep(t, nil)
		}
		if code := wf.Run(commandFor(w, &built), "--function", "fn", "--alias", "live", "--image-uri", imgV3, "--strategy", "canary", "--dry-run"); code != 0 {
			t.Fatalf("exit %d\n%s", code, &wf.Stderr)
		}
		if n := len(planLine.FindAllString(wf.Stdout.String()+wf.Stderr.String(), -1)); n != 1 {
			t.Errorf("in a workflow %v: the plan is printed %d times:\nstdout:\n%s\nstderr:\n%s", inWorkflow, n, &wf.Stdout, &wf.Stderr)
		}
	}

	// A dry run that fails prints its error, and no empty plan.
	w := newWorld(t)
	var built atomic.Int32
	wf := &actiontest.Step{Workflow: &actiontest.Workflow{Env: map[string]string{}}}
	code := wf.Run(commandFor(w, &built), "--function", "fn", "--alias", "live", "--image-uri", registry+"/app:v9", "--dry-run")
	if code != exitcode.Failed || strings.Contains(wf.Stdout.String(), "plan") || !strings.Contains(wf.Stderr.String(), "does not exist in ECR") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &wf.Stdout, &wf.Stderr)
	}
}

func TestHelpShowsEachDefaultOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var built atomic.Int32
	wf := &actiontest.Step{Workflow: &actiontest.Workflow{Env: map[string]string{}}}
	if code := wf.Run(commandFor(w, &built), "--help"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	_, help, _ := strings.Cut(wf.Stdout.String(), "OPTIONS:")
	help, _, _ = strings.Cut(help, "Every option")
	lines := map[string]string{}
	for _, l := range strings.Split(help, "\n") {
		if m := regexp.MustCompile(`^\s+--([a-z-]+)`).FindStringSubmatch(l); m != nil && lines[m[1]] == "" {
			lines[m[1]] = l
			if n := strings.Count(l, "(default"); n > 1 {
				t.Errorf("--%s shows %d defaults: %s", m[1], n, l)
			}
		}
	}
	for flag, want := range map[string]string{
		"percent":  "(default 10;",
		"interval": "(default 5m canary, 1m linear)",
		"timeout":  "(default: 10m0s)",
		"strategy": "(default: \"all-at-once\")",
	} {
		if !strings.Contains(lines[flag], want) {
			t.Errorf("--%s: %q, want %q", flag, lines[flag], want)
		}
	}
	for _, flag := range []string{"bake-time", "percent", "interval", "expect-status", "replace-env"} {
		if l := lines[flag]; strings.Contains(l, "(default: 0") || strings.Contains(l, "(default: false)") {
			t.Errorf("--%s shows a zero default: %s", flag, l)
		}
	}
}

// TestJSONIsCamelCase checks every key of the --json result and of the
// previous-state file (not the keys of the maps they carry: variable
// names and version numbers are data).
func TestJSONIsCamelCase(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.lambda.SetHandler("fn", okHandler)
	dir := t.TempDir()
	var built atomic.Int32
	wf := &actiontest.Step{Workflow: &actiontest.Workflow{Env: map[string]string{}}}
	state := filepath.Join(dir, "prev.json")
	code := wf.Run(commandFor(w, &built), "--function", "fn", "--alias", "live", "--repository", "app", "--tag", "v2", "--payload", "{}", "--state-file", state, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, &wf.Stderr)
	}
	stateJSON, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"--json": wf.Stdout.Bytes(), "state file": stateJSON} {
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		if len(doc) < 5 {
			t.Errorf("%s has only %v", name, doc)
		}
		for _, bad := range actiontest.NonCamelKeys(doc, "environment", "additionalVersionWeights") {
			t.Errorf("%s: %s is not camelCase", name, bad)
		}
	}
	var res Result
	if err := json.Unmarshal(wf.Stdout.Bytes(), &res); err != nil || res.ImageTag != "v2" || aws.ToString(&res.ImageDigest) == "" {
		t.Errorf("result %+v, %v", res, err)
	}
}

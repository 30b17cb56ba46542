package lambdadeploy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/lambdaalias"
)

// commandFor returns the command wired to the world's fakes, counting how
// often the clients were built.
func commandFor(w *world, built *atomic.Int32) *command.Command {
	return newCommand(func(context.Context, string) (Deps, error) {
		built.Add(1)
		return w.deps(), nil
	})
}

func TestCommandInWorkflow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.lambda.SetHandler("fn", okHandler)
	w.alarms.Add("fn-errors", false, cwtypes.StateValueOk)
	var built atomic.Int32
	wf := actiontest.NewStep(t, map[string]string{
		"function":      "arn:aws:lambda:us-east-1:123456789012:function:fn",
		"alias":         "live",
		"repository":    "app",
		"tag":           "v2",
		"env":           "STAGE=prod\nVERSION=v2\n",
		"secret-env":    "API_TOKEN=tok-123-secret",
		"strategy":      "linear",
		"percent":       "50",
		"interval":      "2m",
		"payload":       `{"amount": 12}`,
		"expect-status": "200",
		"expect":        "body.approved=true",
		"alarm":         "fn-errors",
		"no-rollback":   "false",
		"dry-run":       "false",
		"timeout":       "10m0s",
	})
	if code := wf.Run(commandFor(w, &built)); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &wf.Stdout, &wf.Stderr)
	}
	out := wf.Outputs(t)
	want := map[string]string{
		"function-arn": "arn:aws:lambda:us-east-1:123456789012:function:fn", "version": "2", "previous-version": "1", "alias": "live",
		"image-uri": w.byDigest("v2"), "image-tag": "v2", "image-digest": w.digest("v2"), "rolled-back": "false",
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("output %s = %q, want %q", k, out[k], v)
		}
	}
	for _, k := range []string{"smoke-response-file", "previous-state-file"} {
		if !strings.HasPrefix(out[k], wf.Env["RUNNER_TEMP"]) {
			t.Errorf("output %s = %q, want a file in RUNNER_TEMP", k, out[k])
		}
	}
	var st lambdaalias.PreviousState
	if b, err := os.ReadFile(out["previous-state-file"]); err != nil || json.Unmarshal(b, &st) != nil || st.Alias.FunctionVersion != "1" {
		t.Errorf("previous state %s: %v %+v", out["previous-state-file"], err, st)
	}
	if !strings.Contains(wf.Stdout.String(), "::add-mask::tok-123-secret") {
		t.Error("the secret value was not masked")
	}
	if n := strings.Count(wf.Stdout.String()+wf.Stderr.String(), "tok-123-secret"); n != 1 {
		t.Errorf("the secret value appears %d times beyond its mask", n-1)
	}
	if w.lambda.Latest("fn").Environment.Variables["API_TOKEN"] != "tok-123-secret" {
		t.Error("secret-env was not set")
	}
	summary, _ := os.ReadFile(wf.Env["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(string(summary), "deployed") || !strings.Contains(string(summary), "50% of traffic on version 2") {
		t.Errorf("summary:\n%s", summary)
	}
	if got := w.sleeps(); len(got) != 4 {
		t.Errorf("holds = %v, want one 2m linear step read every 30s", got)
	}
}

func TestCommandFailedCheckWritesOutputs(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.lambda.SetHandler("fn", brokenOn(w.byDigest("v2")))
	var built atomic.Int32
	wf := actiontest.NewStep(t, map[string]string{"function": "fn", "alias": "live", "image-uri": imgV2, "payload": "{}"})
	if code := wf.Run(commandFor(w, &built)); code != exitcode.Failed {
		t.Fatalf("exit %d, want 1\n%s%s", code, &wf.Stdout, &wf.Stderr)
	}
	out := wf.Outputs(t)
	if out["rolled-back"] != "true" || out["previous-version"] != "1" || !strings.Contains(out["smoke-response"], "KeyError") {
		t.Errorf("outputs = %v", out)
	}
	errs := 0
	for _, l := range strings.Split(wf.Stdout.String(), "\n") {
		if strings.HasPrefix(l, "::error::") {
			errs++
			if !strings.Contains(l, "smoke test of version 2") || !strings.Contains(l, "rolled back") {
				t.Errorf("error line = %s", l)
			}
		}
	}
	if errs != 1 {
		t.Errorf("%d ::error:: lines, want 1:\n%s", errs, &wf.Stdout)
	}
}

func TestCommandDryRunOnTerminal(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var built atomic.Int32
	wf := &actiontest.Step{Workflow: &actiontest.Workflow{Env: map[string]string{}}}
	code := wf.Run(commandFor(w, &built), "--function", "fn", "--alias", "live", "--image-uri", imgV3, "--strategy", "canary", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, &wf.Stderr)
	}
	if !strings.Contains(wf.Stdout.String(), "dry run, nothing changed") || !strings.Contains(wf.Stdout.String(), "canary: 10% for 5m0s, then 100%") {
		t.Errorf("stdout:\n%s", &wf.Stdout)
	}
	if ops := w.mutating(); len(ops) != 0 {
		t.Errorf("changes: %v", ops)
	}

	js := &actiontest.Step{Workflow: &actiontest.Workflow{Env: map[string]string{}}}
	if code := js.Run(commandFor(w, &built), "--function", "fn", "--alias", "live", "--image-uri", imgV3, "--dry-run", "--json"); code != 0 {
		t.Fatalf("exit %d\n%s", code, &js.Stderr)
	}
	var res Result
	if err := json.Unmarshal(js.Stdout.Bytes(), &res); err != nil {
		t.Fatalf("--json printed %q: %v", &js.Stdout, err)
	}
	if !res.DryRun || res.PreviousVersion != "1" || res.ImageDigest != w.digest("v3") || len(res.Plan) == 0 {
		t.Errorf("--json result = %+v", res)
	}
}

func TestBadInputExits2BeforeAnyCall(t *testing.T) {
	t.Parallel()
	payload := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(payload, []byte(`{"a":`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // in the one error line
	}{
		{"no function", []string{"--image-uri", imgV2}, "function"},
		{"malformed image uri", []string{"--function", "fn", "--image-uri", "docker.io/library/app:v2"}, `--image-uri "docker.io/library/app:v2": is not in an ECR private registry`},
		{"image without tag", []string{"--function", "fn", "--image-uri", registry + "/app"}, "image-uri"},
		{"bad digest", []string{"--function", "fn", "--image-uri", registry + "/app@sha256:abc"}, "image-uri"},
		{"two images", []string{"--function", "fn", "--image-uri", imgV2, "--tag", "v2", "--repository", "app"}, "exactly one of"},
		{"tag without repository", []string{"--function", "fn", "--tag", "v2"}, `--tag "v2": needs --repository`},
		{"bad repository", []string{"--function", "fn", "--repository", "App!", "--tag", "v2"}, "repository"},
		{"bad tag", []string{"--function", "fn", "--repository", "app", "--tag", "-v2"}, "tag"},
		{"image in another region", []string{"--function", "arn:aws:lambda:eu-west-1:123456789012:function:fn", "--image-uri", imgV2}, "Lambda only takes images from its own region"},
		{"qualified function", []string{"--function", "arn:aws:lambda:us-east-1:123456789012:function:fn:live", "--image-uri", imgV2}, "has a qualifier"},
		{"bad function", []string{"--function", "my function", "--image-uri", imgV2}, "function"},
		{"alias $LATEST", []string{"--function", "fn", "--alias", "$LATEST", "--image-uri", imgV2}, "alias"},
		{"numeric alias", []string{"--function", "fn", "--alias", "12", "--image-uri", imgV2}, "alias"},
		{"unknown strategy", []string{"--function", "fn", "--alias", "live", "--image-uri", imgV2, "--strategy", "blue-green"}, `--strategy "blue-green": not one of all-at-once, canary, linear`},
		{"canary without alias", []string{"--function", "fn", "--image-uri", imgV2, "--strategy", "canary"}, `--strategy "canary": needs --alias`},
		{"percent 0 or less", []string{"--function", "fn", "--alias", "live", "--image-uri", imgV2, "--strategy", "canary", "--percent", "-5"}, "percent"},
		{"percent 100", []string{"--function", "fn", "--alias", "live", "--image-uri", imgV2, "--strategy", "linear", "--percent", "100"}, `--percent "100": must be more than 0 and less than 100`},
		{"percent with all-at-once", []string{"--function", "fn", "--alias", "live", "--image-uri", imgV2, "--percent", "10"}, "only used with --strategy canary or linear"},
		{"negative interval", []string{"--function", "fn", "--alias", "live", "--image-uri", imgV2, "--strategy", "linear", "--interval", "-1m"}, "interval"},
		{"bad duration", []string{"--function", "fn", "--image-uri", imgV2, "--timeout", "soon"}, "timeout"},
		{"payload not JSON", []string{"--function", "fn", "--image-uri", imgV2, "--payload", "{amount: 1}"}, `--payload "{amount: 1}": not valid JSON`},
		{"payload file not JSON", []string{"--function", "fn", "--image-uri", imgV2, "--payload", "@" + payload}, `--payload "@` + payload + `": not valid JSON`},
		{"payload file missing", []string{"--function", "fn", "--image-uri", imgV2, "--payload", "@/nonexistent/e.json"}, `--payload "@/nonexistent/e.json": reading /nonexistent/e.json: no such file`},
		{"expect without payload", []string{"--function", "fn", "--image-uri", imgV2, "--expect", "ok=true"}, `--expect "ok=true": needs --payload`},
		{"bad expect", []string{"--function", "fn", "--image-uri", imgV2, "--payload", "{}", "--expect", "ok"}, "expect"},
		{"env not KEY=VALUE", []string{"--function", "fn", "--image-uri", imgV2, "--env", "STAGE"}, `--env "STAGE": not KEY=VALUE`},
		{"reserved env", []string{"--function", "fn", "--image-uri", imgV2, "--env", "AWS_REGION=x"}, "reserved by Lambda"},
		{"env key too short", []string{"--function", "fn", "--image-uri", imgV2, "--env", "X=1"}, "not a valid variable name"},
		{"env set and unset", []string{"--function", "fn", "--image-uri", imgV2, "--env", "STAGE=a", "--unset", "STAGE"}, `--unset "STAGE": also set by --env`},
		{"env twice", []string{"--function", "fn", "--image-uri", imgV2, "--env", "STAGE=a", "--secret-env", "STAGE=b"}, "given twice"},
		{"secret not KEY=VALUE", []string{"--function", "fn", "--image-uri", imgV2, "--secret-env", "hunter2"}, `--secret-env "***": not KEY=VALUE`},
		{"env too big", []string{"--function", "fn", "--image-uri", imgV2, "--env", "BIG=" + strings.Repeat("x", 5000)}, "4 KB"},
		{"require-alarms-ok without alarm", []string{"--function", "fn", "--image-uri", imgV2, "--require-alarms-ok"}, "needs at least one --alarm"},
		{"payload without end", []string{"--function", "fn", "--image-uri", imgV2, "--payload", "@/dev/zero"}, `--payload "@/dev/zero": more than 6291456 bytes; Lambda takes at most 6 MB`},
		{"linear of a billion steps", []string{"--function", "fn", "--alias", "live", "--image-uri", imgV2, "--strategy", "linear", "--percent", "0.0000001"},
			`--percent "0.0000001": --strategy linear at 0.0000001% takes 999999999 steps; at most 100 are allowed`},
		{"linear of 199 steps", []string{"--function", "fn", "--alias", "live", "--image-uri", imgV2, "--strategy", "linear", "--percent", "0.5"}, "at most 100 are allowed"},
		{"canary below Lambda's precision", []string{"--function", "fn", "--alias", "live", "--image-uri", imgV2, "--strategy", "canary", "--percent", "0.00001"}, `--percent "0.00001": less than Lambda's smallest weight`},
		{"timeout 0", []string{"--function", "fn", "--image-uri", imgV2, "--timeout", "0s"}, `--timeout "0s": must be more than 0`},
		{"negative timeout", []string{"--function", "fn", "--image-uri", imgV2, "--timeout", "-1m"}, `--timeout "-1m0s": must be more than 0`},
		{"response file a directory", []string{"--function", "fn", "--image-uri", imgV2, "--payload", "{}", "--response-file", os.TempDir()}, `--response-file "` + os.TempDir() + `": is a directory`},
		{"state file a directory", []string{"--function", "fn", "--image-uri", imgV2, "--state-file", os.TempDir()}, `--state-file "` + os.TempDir() + `": is a directory`},
		{"state file in no directory", []string{"--function", "fn", "--image-uri", imgV2, "--state-file", "/nonexistent/prev.json"}, `--state-file "/nonexistent/prev.json": directory /nonexistent does not exist`},
		{"state and response in one file", []string{"--function", "fn", "--image-uri", imgV2, "--payload", "{}", "--state-file", payload, "--response-file", payload}, "the same file as --state-file"},
		{"replace-env with unset", []string{"--function", "fn", "--image-uri", imgV2, "--replace-env", "--unset", "STAGE"}, `--unset "STAGE": not used with --replace-env`},
		{"alarm on two lines", []string{"--function", "fn", "--image-uri", imgV2, "--alarm", "a\n::error::x"}, `--alarm "a\n::error::x": not an alarm name`},
		{"bad region", []string{"--function", "fn", "--image-uri", imgV2, "--region", "us-east-1; rm -rf /"}, `--region "us-east-1; rm -rf /": not an AWS region name`},
		{"positional argument", []string{"--function", "fn", "--image-uri", imgV2, "extra"}, "unexpected argument"},
		{"unknown flag", []string{"--function", "fn", "--image-uri", imgV2, "--canary", "10"}, "canary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			var built atomic.Int32
			wf := &actiontest.Step{Workflow: &actiontest.Workflow{Env: map[string]string{}}}
			code := wf.Run(commandFor(w, &built), tc.args...)
			if code != exitcode.BadInput {
				t.Fatalf("exit %d, want 2\nstderr: %s", code, &wf.Stderr)
			}
			stderr := strings.TrimSpace(wf.Stderr.String())
			if strings.Count(stderr, "\n") != 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want one line containing %q", stderr, tc.want)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Error("a secret value was printed")
			}
			if built.Load() != 0 || len(w.calls()) != 0 || ssmCalls(w) != 0 || w.ecr.Calls("DescribeImages") != w.ecrBase {
				t.Errorf("calls were made before the input was checked")
			}
		})
	}
}

func TestStepsValidation(t *testing.T) {
	t.Parallel()
	for _, steps := range [][]Step{
		nil,
		{{Weight: 0.5}},
		{{Weight: 1.5}, {Weight: 1}},
		{{Weight: 0}, {Weight: 1}},
		{{Weight: -0.1}, {Weight: 1}},
	} {
		if err := CheckSteps(steps); exitcode.Of(err) != exitcode.BadInput {
			t.Errorf("steps %v accepted", steps)
		}
	}
	if err := CheckSteps([]Step{{Weight: 0.1}, {Weight: 0.9}, {Weight: 1}}); err != nil {
		t.Error(err)
	}
	cfg := validate(t, &Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Linear, Percent: 33})
	var ws []float64
	for _, s := range cfg.steps {
		ws = append(ws, s.Weight)
	}
	if len(ws) != 4 || ws[0] != 0.33 || ws[1] != 0.66 || ws[2] != 0.99 || ws[3] != 1 {
		t.Errorf("linear 33%% weights = %v", ws)
	}
	// The most steps a linear shift may take: 1% at a time.
	if p := validate(t, &Config{Function: "fn", Alias: "live", ImageURI: imgV2, Strategy: Linear, Percent: 1}); len(p.steps) != MaxLinearSteps || p.steps[98].Weight != 0.99 {
		t.Errorf("linear 1%%: %d steps", len(p.steps))
	}
}

func TestCheckResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		funcErr string
		status  int
		expect  []string
		want    string // a problem containing this; "" for none
	}{
		{"ok", `{"statusCode":200,"body":"{\"approved\":true,\"score\":0.93}"}`, "", 200, []string{"body.approved=true", "body.score=0.93"}, ""},
		{"status as number", `{"statusCode":200.0}`, "", 200, nil, ""},
		{"wrong status", `{"statusCode":500}`, "", 200, nil, "statusCode is 500, want 200"},
		{"status as string", `{"statusCode":"200"}`, "", 200, nil, `statusCode is "200"`},
		{"no status", `{"ok":true}`, "", 200, nil, "no statusCode"},
		{"function error", `{"errorType":"ValueError","errorMessage":"bad input"}`, "Unhandled", 0, nil, "function error (Unhandled): ValueError: bad input"},
		{"text value", `{"result":{"label":"approved"}}`, "", 0, []string{"result.label=approved"}, ""},
		{"text value differs", `{"result":{"label":"denied"}}`, "", 0, []string{"result.label=approved"}, `result.label is "denied", want approved`},
		{"array index", `{"items":[{"id":1},{"id":2}]}`, "", 0, []string{"items.1.id=2"}, ""},
		{"missing field", `{}`, "", 0, []string{"a.b=1"}, "no a.b in the response"},
		{"not JSON", `hello`, "", 0, []string{"a=1"}, "not JSON"},
		{"null", `null`, "", 0, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := validate(t, &Config{Function: "fn", ImageURI: imgV2, PayloadArg: "{}", ExpectStatus: tc.status, ExpectArgs: tc.expect})
			out := invokeOutput(tc.payload, tc.funcErr)
			problems := strings.Join(checkResponse(out, cfg), "; ")
			if tc.want == "" && problems != "" || !strings.Contains(problems, tc.want) {
				t.Errorf("problems = %q, want %q", problems, tc.want)
			}
		})
	}
}

func invokeOutput(payload, funcErr string) *lambda.InvokeOutput {
	out := &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(payload)}
	if funcErr != "" {
		out.FunctionError = aws.String(funcErr)
	}
	return out
}

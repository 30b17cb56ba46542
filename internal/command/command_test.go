package command_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/exitcode"
)

type echoResult struct {
	Greeting string   `json:"greeting"`
	Tags     []string `json:"tags"`
}

func (r echoResult) Outputs() []action.Output {
	return []action.Output{{Name: "greeting", Value: r.Greeting}, {Name: "tags", Value: strings.Join(r.Tags, ",")}}
}

func (r echoResult) Summary() string { return "### " + r.Greeting + "\n" }

// echo is a small tool: it greets --name, fails as --fail asks.
func echo() *command.Command {
	return &command.Command{
		Name:     "echo-tool",
		Usage:    "greets",
		Examples: "echo-tool --name world",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Required: true},
			&cli.StringSliceFlag{Name: "tag"},
			&cli.BoolFlag{Name: "loud"},
			&cli.IntFlag{Name: "count", Value: 1},
			&cli.StringFlag{Name: "fail"},
		},
		Outputs: []command.OutputSpec{{Name: "greeting"}, {Name: "tags"}},
		Run: func(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
			res := echoResult{Greeting: strings.Repeat("hello ", c.Int("count")) + c.String("name"), Tags: c.StringSlice("tag")}
			if c.Bool("loud") {
				res.Greeting = strings.ToUpper(res.Greeting)
			}
			switch c.String("fail") {
			case "check":
				return res, exitcode.Failedf("greeting refused")
			case "input":
				return nil, exitcode.BadInputf("--fail: bad")
			case "plain":
				return nil, errors.New("connection reset\nby peer")
			}
			return res, nil
		},
	}
}

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := echo().Main(append([]string{"echo-tool"}, args...), command.Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
	})
	return code, stdout.String(), stderr.String()
}

func TestExitCodesAndOneLineErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args       []string
		code       int
		stdout     string
		stderrLine string
	}{
		{[]string{"--name", "world"}, 0, "greeting: hello world\ntags: \n", ""},
		{[]string{"--name", "world", "--fail", "check"}, 1, "greeting: hello world\ntags: \n", "echo-tool: greeting refused"},
		{[]string{"--name", "world", "--fail", "input"}, 2, "", "echo-tool: --fail: bad"},
		{[]string{"--name", "world", "--fail", "plain"}, 3, "", "echo-tool: connection reset; by peer"},
		{[]string{}, 2, "", "echo-tool: --name is required (or INPUT_NAME)"},
		{[]string{"--name", "x", "--nope"}, 2, "", "echo-tool: flag provided but not defined: -nope"},
		{[]string{"--name", "x", "--count", "many"}, 2, "", `echo-tool: invalid value "many" for flag -count: parse error`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if stdout != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.stdout)
			}
			want := ""
			if tt.stderrLine != "" {
				want = tt.stderrLine + "\n"
			}
			if stderr != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
		})
	}
}

func TestInputsFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"INPUT_NAME":  "env",
		"INPUT_TAG":   "a\n\n b \nc,d\n",
		"INPUT_LOUD":  "true",
		"INPUT_COUNT": "",
	}
	code, stdout, stderr := run(t, env, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "{\n  \"greeting\": \"HELLO ENV\",\n  \"tags\": [\n    \"a\",\n    \"b\",\n    \"c,d\"\n  ]\n}\n"
	if stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}

	// The command line wins over the environment, lists included.
	code, stdout, _ = run(t, env, "--name", "flag", "--tag", "z", "--loud=false", "--count=2")
	if code != 0 || stdout != "greeting: hello hello flag\ntags: z\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestResultGoesToTheWorkflow(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, map[string]string{"INPUT_NAME": "ci", "INPUT_FAIL": "check"})
	var stdout, stderr bytes.Buffer
	code := echo().Main([]string{"echo-tool"}, command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: w.Getenv})
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if got := w.Outputs(t); got["greeting"] != "hello ci" || len(got) != 2 {
		t.Errorf("outputs = %v", got)
	}
	if got := w.SummaryText(t); got != "### hello ci\n\n" {
		t.Errorf("summary = %q", got)
	}
	if !strings.HasSuffix(stdout.String(), "::error::echo-tool: greeting refused\n") {
		t.Errorf("stdout = %q, want an ::error:: annotation last", stdout.String())
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	code, stdout, _ := run(t, nil, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"echo-tool - greets", "--name value", "EXAMPLES:\n   echo-tool --name world", "INPUT_<NAME>", "EXIT CODES:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = run(t, nil, "--version")
	if code != 0 || stdout != "echo-tool version dev\n" {
		t.Errorf("--version: exit %d, %q", code, stdout)
	}
}

func TestUndeclaredOutputIsAnInternalError(t *testing.T) {
	t.Parallel()
	c := echo()
	c.Outputs = c.Outputs[:1]
	var stdout, stderr bytes.Buffer
	code := c.Main([]string{"echo-tool", "--name", "x"}, command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	if code != 3 || !strings.Contains(stderr.String(), `output "tags" is not declared`) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

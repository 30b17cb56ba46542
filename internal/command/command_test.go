package command_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

type echoPtrResult struct{ echoResult }

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
			&cli.IntFlag{Name: "count", Value: 1, Usage: "how many greetings"},
			&cli.StringFlag{Name: "fail"},
			&cli.DurationFlag{Name: "wait", Usage: "how long to wait (default 5m when --loud)"},
			&cli.Float64Flag{Name: "ratio", Usage: "a share"},
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
			case "partial":
				return res, exitcode.Incompletef("pushing: connection refused")
			case "panic":
				var m map[string]int
				m["x"]++
			case "nil-pointer":
				var r *echoPtrResult
				return r, exitcode.BadInputf("--name: refused")
			case "hang":
				// Busy in work that never looks at ctx.
				select {}
			case "cancel":
				<-ctx.Done()
				return res, exitcode.Incompletef("stopped: %w", ctx.Err())
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
		{[]string{"--name", "x", "--nope"}, 2, "", "echo-tool: --nope: no such option (see --help)"},
		{[]string{"--name", "x", "--count", "many"}, 2, "", `echo-tool: --count "many": want a whole number`},
		{[]string{"--name", "x", "--wait", "5"}, 2, "", `echo-tool: --wait "5": want a duration such as 30s, 5m or 1h`},
		{[]string{"--name", "x", "--ratio=a half"}, 2, "", `echo-tool: --ratio "a half": want a number`},
		{[]string{"--name", "x", "--loud=maybe"}, 2, "", `echo-tool: --loud "maybe": want true or false`},
		{[]string{"--name", "x", "stray"}, 2, "", `echo-tool: unexpected argument "stray": every input is an option (see --help)`},
		{[]string{"--name", "x", "--fail", "partial"}, 3, "", "echo-tool: pushing: connection refused"},
		{[]string{"--name", "x", "--fail", "nil-pointer"}, 2, "", "echo-tool: --name: refused"},
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

// A value from INPUT_<NAME> that does not parse is reported like the flag.
func TestBadInputFromEnvironment(t *testing.T) {
	t.Parallel()
	code, _, stderr := run(t, map[string]string{"INPUT_NAME": "x", "INPUT_WAIT": "10"})
	if code != 2 || stderr != "echo-tool: --wait \"10\": want a duration such as 30s, 5m or 1h\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// A panic is a bug: one line that says so, exit 3, never exit 2 and never a
// stack trace.
func TestPanicIsABugNotBadInput(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, nil, "--name", "x", "--fail", "panic")
	if code != exitcode.Incomplete {
		t.Errorf("exit %d, want 3", code)
	}
	if stdout != "" || strings.Count(stderr, "\n") != 1 ||
		!strings.HasPrefix(stderr, "echo-tool: internal error (a bug in echo-tool dev; please report it with this line): assignment to entry in nil map at ") ||
		!strings.Contains(stderr, "command_test.go:") {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
}

func TestInterruptedRun(t *testing.T) {
	t.Parallel()
	t.Run("a run that watches its context returns its own error", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr bytes.Buffer
		done := make(chan int)
		go func() {
			done <- echo().MainContext(ctx, []string{"echo-tool", "--name", "x", "--fail", "cancel"}, command.Env{
				Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
		}()
		cancel()
		if code := <-done; code != 3 || stderr.String() != "echo-tool: stopped: context canceled\n" {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	})
	t.Run("a run busy in work that ignores its context is abandoned after the grace", func(t *testing.T) {
		t.Parallel()
		c := echo()
		c.Grace = 10 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var stdout, stderr bytes.Buffer
		code := c.MainContext(ctx, []string{"echo-tool", "--name", "x", "--fail", "hang"}, command.Env{
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
		if code != 3 || stderr.String() != "echo-tool: interrupted: the run did not stop within 10ms of the signal\n" {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	})
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
	for _, want := range []string{"echo-tool - greets", "--name value", "EXAMPLES:\n   echo-tool --name world", "INPUT_<NAME>", "EXIT CODES:",
		"(for --name: INPUT_NAME)",
		"how many greetings (default: 1)\n",
		"how long to wait (default 5m when --loud)\n",
		"a share\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, stdout)
		}
	}
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "--loud" && len(f) != 1 {
			t.Errorf("--help: --loud has usage text: %q", line)
		}
	}
	for _, unwanted := range []string{"(default: 0s)", "(default: 0)", "(default: false)", "FAIL_ON"} {
		if strings.Contains(stdout, unwanted) {
			t.Errorf("--help shows %q:\n%s", unwanted, stdout)
		}
	}
	code, stdout, _ = run(t, nil, "--version")
	if code != 0 || stdout != "echo-tool version dev\n" {
		t.Errorf("--version: exit %d, %q", code, stdout)
	}
}

// --version alone is answered before the flag set is built; every other
// form goes through it. Both print the same line, in a workflow too;
// --version alone does not read the inputs, so one that would be bad input
// for a run does not stop it.
func TestVersionForms(t *testing.T) {
	t.Parallel()
	workflow := map[string]string{"GITHUB_ACTIONS": "true"}
	badInput := map[string]string{"GITHUB_ACTIONS": "true", "INPUT_COUNT": "many"}
	tests := []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--version"}, nil},
		{[]string{"--version"}, badInput},
		{[]string{"-v"}, badInput},
		{[]string{"-version"}, nil},
		{[]string{"-version"}, workflow},
		{[]string{"--version=true"}, nil},
		{[]string{"--name", "x", "--version"}, workflow},
		{[]string{"--version", "--json"}, nil},
	}
	for _, tc := range tests {
		code, stdout, stderr := run(t, tc.env, tc.args...)
		if code != 0 || stdout != "echo-tool version dev\n" || stderr != "" {
			t.Errorf("%q (env %v): exit %d, stdout %q, stderr %q", tc.args, tc.env, code, stdout, stderr)
		}
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

type countingResult struct {
	echoResult
	summaries *int
}

func (r countingResult) Summary() string { *r.summaries++; return "### x\n" }

// Outside a workflow nobody reads the job summary, so it is not built (a
// large result's summary can cost as much as the run).
func TestSummaryBuiltOnlyInAWorkflow(t *testing.T) {
	t.Parallel()
	n := 0
	c := echo()
	c.Run = func(context.Context, *cli.Context, *command.Runtime) (command.Result, error) {
		return countingResult{echoResult{Greeting: "hi"}, &n}, nil
	}
	var stdout, stderr bytes.Buffer
	if code := c.Main([]string{"echo-tool", "--name", "x"}, command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}); code != 0 || n != 0 {
		t.Errorf("locally: exit %d, Summary called %d times", code, n)
	}
	w := actiontest.NewWorkflow(t, nil)
	if code := c.Main([]string{"echo-tool", "--name", "x"}, command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: w.Getenv}); code != 0 || n != 1 {
		t.Errorf("in a workflow: exit %d, Summary called %d times", code, n)
	}
}

// --result-file writes what --json prints, for every result (a container
// step's output parameter), making its folder first.
func TestResultFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, want, _ := run(t, nil, "--name", "world", "--tag", "a", "--json")
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"--name", "world", "--tag", "a"}, 0},
		{[]string{"--name", "world", "--tag", "a", "--fail", "check"}, 1},
		{[]string{"--name", "world", "--tag", "a", "--fail", "partial"}, 3},
	} {
		file := filepath.Join(dir, "out", tt.args[len(tt.args)-1], "result.json")
		code, _, stderr := run(t, nil, append(tt.args, "--result-file", file)...)
		if code != tt.code {
			t.Errorf("%q: exit %d (%s), want %d", tt.args, code, stderr, tt.code)
		}
		if b, err := os.ReadFile(file); err != nil || string(b) != want {
			t.Errorf("%q: the file holds %q (%v), want %q", tt.args, b, err, want)
		}
	}
	// No result, no file.
	file := filepath.Join(dir, "none.json")
	if code, _, _ := run(t, nil, "--name", "world", "--fail", "input", "--result-file", file); code != 2 || fileExists(file) {
		t.Errorf("bad input: exit %d, file written %t", code, fileExists(file))
	}
	// A path that cannot be written is bad input before the run.
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, nil, "--name", "world", "--result-file", filepath.Join(blocker, "result.json"))
	if code != 2 || stdout != "" || !strings.HasPrefix(stderr, `echo-tool: --result-file "`) {
		t.Errorf("unwritable --result-file: exit %d, %q %q", code, stdout, stderr)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

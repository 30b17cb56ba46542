// Package command builds and runs a tool's command line the same way for
// every mlship tool: flags that are also INPUT_<NAME> environment variables,
// --help with examples, --version, --json, results written as step outputs
// in a workflow, and the shared exit codes.
package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/exitcode"
	"github.com/mlship/mlship/internal/version"
)

// Result is what a tool returns: plain data that also lists its outputs.
// It is printed as JSON by --json.
type Result interface {
	Outputs() []action.Output
}

// Summarizer is a Result that has Markdown for the job summary.
type Summarizer interface {
	Summary() string
}

// Texter is a Result with its own readable form for a terminal; without it
// the outputs are printed as "name: value" lines.
type Texter interface {
	Text() string
}

// OutputSpec names and describes one output a tool always writes.
type OutputSpec struct {
	Name        string
	Description string
}

// Env is the process's world: streams and environment.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// OSEnv is the real process environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// Runtime is what a running tool gets: its environment and the Action to
// log, warn and mask through.
type Runtime struct {
	Env
	*action.Action
}

// Command describes one tool.
type Command struct {
	Name        string // e.g. "policy-gate"
	Usage       string // one line
	Description string
	Examples    string // shown under EXAMPLES in --help
	Flags       []cli.Flag
	// ArgsUsage describes positional arguments, if the tool takes any.
	ArgsUsage string
	// Outputs are the outputs the tool always writes; action.yml must list
	// the same.
	Outputs []OutputSpec
	// DynamicOutputs allows outputs named at run time (e.g. one per metric)
	// beside Outputs.
	DynamicOutputs bool
	// Grace is how long Run may go on after SIGINT or SIGTERM cancelled its
	// context (to roll back, say) before the process ends with exit 3
	// anyway. Zero means DefaultGrace.
	Grace time.Duration
	Run   func(ctx context.Context, c *cli.Context, rt *Runtime) (Result, error)
}

// DefaultGrace is how long a cancelled tool has to return before it is
// ended: enough to write what it holds, short of the ten seconds or so a
// runner waits between SIGTERM and SIGKILL.
const DefaultGrace = 5 * time.Second

// TempDir is where a tool writes files the user did not name: the runner's
// RUNNER_TEMP in a workflow (cleaned after the job), the system's temporary
// directory elsewhere.
func TempDir(getenv func(string) string) string {
	if d := getenv("RUNNER_TEMP"); d != "" {
		return d
	}
	return os.TempDir()
}

// InputEnv returns the environment variable that carries flag name as an
// action input: INPUT_ plus the name upper-cased, dashes as underscores.
func InputEnv(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

const helpTemplate = `NAME:
   {{.Name}} - {{.Usage}}

USAGE:
   {{.HelpName}} [options]{{if .ArgsUsage}} {{.ArgsUsage}}{{end}}
{{if .Description}}
DESCRIPTION:
   {{template "descriptionTemplate" .}}
{{end}}
OPTIONS:{{template "visibleFlagTemplate" .}}

   Every option can also be given as an INPUT_<NAME> environment variable
   {{if .Metadata.inputExample}}({{.Metadata.inputExample}}); {{end}}options on the command line win. List
   options take one value per line there.
{{if .Metadata.examples}}
EXAMPLES:
{{.Metadata.examples}}
{{end}}
EXIT CODES:
   0 ok, 1 check failed, 2 bad input, 3 could not finish
`

// Main runs the command with args (args[0] is the program name) and returns
// the process exit code. SIGINT or SIGTERM cancels the run's context; a run
// that has not returned Grace later (busy in work that does not watch the
// context) is abandoned with exit 3, and a second signal ends the process
// at once.
func (c *Command) Main(args []string, env Env) int {
	// --version alone is answered before the signal handlers and the flag
	// set exist: it is what scripts and start-up measurements run most.
	// Every other form of it (-version, --version=true, with other
	// options) goes through the flag set and prints the same line.
	if len(args) == 2 && (args[1] == "--version" || args[1] == "-v") {
		c.printVersion(env.Stdout)
		return exitcode.OK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.mainContext(ctx, stop, args, env)
}

// mainContext is Main with the signals as a context: stop restores their
// default action.
func (c *Command) mainContext(ctx context.Context, stop func(), args []string, env Env) int {
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, args, env) }()
	select {
	case code := <-done:
		return code
	case <-ctx.Done():
	}
	stop() // a second signal takes the default action: the process ends
	grace := c.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case code := <-done:
		return code
	case <-t.C:
		fmt.Fprintf(env.Stderr, "%s: interrupted: the run did not stop within %s of the signal\n", c.Name, grace)
		return exitcode.Incomplete
	}
}

func (c *Command) run(ctx context.Context, args []string, env Env) (code int) {
	act := action.New(env.Stdout, env.Stderr, env.Getenv)
	rt := &Runtime{Env: env, Action: act}
	fail := func(err error) {
		code = exitcode.Of(err)
		msg := oneLine(err.Error())
		if act.InWorkflow() {
			act.Errorf("%s: %s", c.Name, msg)
		} else {
			fmt.Fprintf(env.Stderr, "%s: %s\n", c.Name, msg)
		}
	}
	// A panic is a bug, not bad input: it must not exit 2, nor crash with a
	// stack trace in place of the one line every failure gets.
	defer func() {
		if r := recover(); r != nil {
			fail(exitcode.Incompletef("internal error (a bug in %s %s; please report it with this line): %v at %s",
				c.Name, version.String(), r, panicSite(debug.Stack())))
		}
	}()

	app := &cli.App{
		Name:        c.Name,
		HelpName:    c.Name,
		Usage:       c.Usage,
		Description: strings.TrimSpace(c.Description),
		ArgsUsage:   c.ArgsUsage,
		// urfave/cli's own help and version flags are package globals that
		// every run writes to; these are the run's own.
		HideHelp:    true,
		HideVersion: true,
		Flags: append(optional(c.Flags),
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
			&cli.StringFlag{Name: "result-file", Usage: "also write the result as JSON (as --json prints it) to `FILE`, e.g. an output parameter of a container step"},
			&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"},
			&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"},
		),
		Reader:                env.Stdin,
		Writer:                env.Stdout,
		ErrWriter:             env.Stderr,
		CustomAppHelpTemplate: helpTemplate,
		Metadata:              map[string]any{"examples": indent(c.Examples), "inputExample": c.inputExample()},
		HideHelpCommand:       true,
		// A value may hold commas (--set msg=a,b); tools that take
		// comma-separated lists split them themselves.
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return exitcode.Wrap(exitcode.BadInput, c.usageError(err))
		},
		Action: func(cctx *cli.Context) error {
			if cctx.Bool("help") {
				return cli.ShowAppHelp(cctx)
			}
			if cctx.Bool("version") {
				c.printVersion(env.Stdout)
				return nil
			}
			if c.ArgsUsage == "" && cctx.NArg() > 0 {
				return exitcode.BadInputf("unexpected argument %q: every input is an option (see --help)", cctx.Args().First())
			}
			for _, f := range c.Flags {
				if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() && !cctx.IsSet(f.Names()[0]) {
					return exitcode.BadInputf("--%s is required (or %s)", f.Names()[0], InputEnv(f.Names()[0]))
				}
			}
			// The file's folder is made before the run, so that a path
			// that cannot be written is bad input before anything is done.
			if f := cctx.String("result-file"); f != "" {
				if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
					return exitcode.BadInputf("--result-file %q: %v", f, err)
				}
			}
			res, err := c.Run(ctx, cctx, rt)
			if isNil(res) {
				return err
			}
			// A run that could not finish or was given bad input prints its
			// one error line, not a partial result; its outputs still reach
			// a workflow for the steps that handle the failure.
			show := exitcode.Of(err) <= exitcode.Failed
			if werr := c.write(res, rt, cctx.Bool("json"), show); werr != nil {
				err = errors.Join(err, exitcode.Wrap(exitcode.Incomplete, werr))
			}
			// Like the outputs, the file is written for every result, so
			// that the steps that handle a failure can read it.
			if f := cctx.String("result-file"); f != "" {
				if werr := writeJSONFile(f, res); werr != nil {
					err = errors.Join(err, exitcode.Wrap(exitcode.Incomplete, werr))
				}
			}
			return err
		},
	}

	argv := append([]string{args[0]}, envArgs(c.Flags, args[1:], env.Getenv)...)
	argv = append(argv, args[1:]...)
	if err := app.RunContext(ctx, argv); err != nil {
		fail(err)
	}
	return code
}

func (c *Command) printVersion(w io.Writer) {
	fmt.Fprintf(w, "%s version %s\n", c.Name, version.String())
}

// writeJSONFile writes the result as --json prints it, through a file
// beside path renamed into place, so a reader never sees half of it.
func writeJSONFile(path string, res Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--result-file %q: %w", path, err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("--result-file %q: %w", path, err)
	}
	return nil
}

// isNil reports whether a tool returned no result: a nil interface or a
// nil pointer in one.
func isNil(res Result) bool {
	if res == nil {
		return true
	}
	v := reflect.ValueOf(res)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// panicSite is the first frame of a panic's stack that is not the runtime's
// or this function's: where the bug is.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i := 0; i+1 < len(lines); i++ {
		fn := strings.TrimSpace(lines[i])
		if strings.HasPrefix(fn, "panic(") {
			for j := i + 2; j+1 < len(lines); j += 2 {
				if f := strings.TrimSpace(lines[j]); f != "" && !strings.HasPrefix(f, "runtime.") {
					return f + " " + strings.Fields(strings.TrimSpace(lines[j+1]))[0]
				}
			}
		}
	}
	return "unknown location"
}

// inputExample names one of the tool's own options and its variable, for
// the help footer.
func (c *Command) inputExample() string {
	for _, f := range c.Flags {
		if cf, ok := f.(cli.CategorizableFlag); ok && cf.GetCategory() == LocalOnly {
			continue
		}
		n := f.Names()[0]
		return "for --" + n + ": " + InputEnv(n)
	}
	return ""
}

// goFlagError is how Go's flag package, which urfave/cli parses with,
// reports a value that does not parse.
var goFlagError = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([^:]+): `)
})

// usageError turns urfave/cli's parse errors into the one form every bad
// input takes: the option as the user wrote it, then what is wrong.
func (c *Command) usageError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("--%s: no such option (see --help)", name)
	}
	m := goFlagError().FindStringSubmatch(msg)
	if m == nil {
		return err
	}
	value, name := m[1], m[2]
	want := "a value of another form"
	for _, f := range c.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.DurationFlag:
			want = "a duration such as 30s, 5m or 1h"
		case *cli.IntFlag, *cli.Int64Flag, *cli.IntSliceFlag, *cli.Int64SliceFlag:
			want = "a whole number"
		case *cli.UintFlag, *cli.Uint64Flag, *cli.UintSliceFlag, *cli.Uint64SliceFlag:
			want = "a whole number, 0 or more"
		case *cli.Float64Flag, *cli.Float64SliceFlag:
			want = "a number"
		case *cli.BoolFlag:
			want = "true or false"
		}
	}
	return fmt.Errorf("--%s %q: want %s", name, value, want)
}

// optional copies the flags with Required cleared: urfave/cli prints the
// whole help page on a missing required flag, where one line is wanted. The
// Action checks required flags instead.
func optional(flags []cli.Flag) []cli.Flag {
	out := make([]cli.Flag, 0, len(flags))
	for _, f := range flags {
		v := reflect.ValueOf(f)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			out = append(out, f)
			continue
		}
		cp := reflect.New(v.Elem().Type())
		cp.Elem().Set(v.Elem())
		if r := cp.Elem().FieldByName("Required"); r.IsValid() && r.CanSet() && r.Kind() == reflect.Bool {
			r.SetBool(false)
		}
		out = append(out, cp.Interface().(cli.Flag))
	}
	return out
}

// write hands the result to a workflow (outputs, summary) and to the reader
// (text or JSON).
func (c *Command) write(res Result, rt *Runtime, asJSON, show bool) error {
	outs := res.Outputs()
	if !c.DynamicOutputs {
		for _, o := range outs {
			if !slices.ContainsFunc(c.Outputs, func(s OutputSpec) bool { return s.Name == o.Name }) {
				return fmt.Errorf("internal error: output %q is not declared", o.Name)
			}
		}
	}
	var text strings.Builder
	t, isText := res.(Texter)
	switch {
	case !show:
	case asJSON:
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding result: %w", err)
		}
		text.Write(append(b, '\n'))
	case isText:
		text.WriteString(ensureNewline(t.Text()))
	default:
		for _, o := range outs {
			fmt.Fprintf(&text, "%s: %s\n", o.Name, o.Value)
		}
	}
	if err := rt.Print(text.String()); err != nil {
		return err
	}
	if err := rt.SetOutputs(outs); err != nil {
		return err
	}
	// The summary is built only where a runner reads it.
	if s, ok := res.(Summarizer); ok && rt.InWorkflow() && rt.Getenv("GITHUB_STEP_SUMMARY") != "" {
		return rt.AddSummary(s.Summary())
	}
	return nil
}

// envArgs turns INPUT_<NAME> variables into flags for the flags not given on
// the command line. Empty variables count as unset: a composite action maps
// every input, given or not.
func envArgs(flags []cli.Flag, given []string, getenv func(string) string) []string {
	var out []string
	for _, f := range flags {
		names := f.Names()
		if onCommandLine(names, given) {
			continue
		}
		val := ""
		for _, key := range []string{InputEnv(names[0]), "INPUT_" + strings.ToUpper(names[0])} {
			if val = getenv(key); val != "" {
				break
			}
		}
		if strings.TrimSpace(val) == "" {
			continue
		}
		if isList(f) {
			for _, line := range strings.Split(val, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					out = append(out, "--"+names[0]+"="+line)
				}
			}
			continue
		}
		out = append(out, "--"+names[0]+"="+strings.TrimSpace(val))
	}
	return out
}

func init() { cli.FlagStringer = flagString }

var urfaveFlagString = cli.FlagStringer

// flagString is urfave/cli's help line for a flag, with its "(default: X)"
// left out when the usage already says what the default is or when X is
// only the type's zero value: each default is shown once, and only when it
// means something.
func flagString(f cli.Flag) string {
	s := urfaveFlagString(f)
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return s
	}
	def := df.GetDefaultText()
	suffix := "(default: " + def + ")"
	if !strings.HasSuffix(s, suffix) {
		return s
	}
	switch {
	case strings.Contains(df.GetUsage(), "(default"),
		slices.Contains([]string{"", "0", "0s", "false", "[]"}, def):
		return strings.TrimRight(strings.TrimSuffix(s, suffix), " ")
	}
	return s
}

func isList(f cli.Flag) bool {
	switch f.(type) {
	case *cli.StringSliceFlag, *cli.IntSliceFlag, *cli.Int64SliceFlag, *cli.Float64SliceFlag, *cli.UintSliceFlag, *cli.Uint64SliceFlag:
		return true
	}
	return false
}

func onCommandLine(names, args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name := strings.TrimLeft(a, "-")
		if name == a {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if slices.Contains(names, name) {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func indent(s string) string {
	s = strings.Trim(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "   " + l
		}
	}
	return strings.Join(lines, "\n")
}

func ensureNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// LocalOnly is the category of flags meant for a terminal only (printing,
// listing); they are not action inputs.
const LocalOnly = "Local use"

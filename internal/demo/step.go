package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/command"
)

// kv is one input of a step, in the order it is shown.
type kv struct{ k, v string }

// stepRun is one tool run as a workflow step: what it was given and what it
// wrote back.
type stepRun struct {
	Tool     string
	Inputs   []kv
	Code     int
	Outputs  map[string]string
	Log      string // stdout and stderr as the runner's log view shows them
	Summary  string // what the step added to the job summary
	Duration time.Duration
}

// runner runs the tool binaries as the actions do: one process per step,
// inputs as INPUT_<NAME> variables, the file commands pointing at files of
// the step's own, RUNNER_TEMP shared by the job.
type runner struct {
	bin   string // directory holding the tool binaries
	repo  string // working directory of every step (the checkout)
	work  string // the demo's files
	env   []string
	out   io.Writer
	steps int

	history []*stepRun

	mu      sync.Mutex
	running map[*exec.Cmd]bool
	started int
}

// runs returns the outputs of every run of tool so far, in order.
func (r *runner) runs(tool string) []map[string]string {
	var outs []map[string]string
	for _, h := range r.history {
		if h.Tool == tool {
			outs = append(outs, h.Outputs)
		}
	}
	return outs
}

// last returns the outputs of the last run of tool, or nil.
func (r *runner) last(tool string) map[string]string {
	outs := r.runs(tool)
	if len(outs) == 0 {
		return nil
	}
	return outs[len(outs)-1]
}

// run runs tool with inputs in a new step and waits for it. A non-zero
// exit is not an error: the caller judges it. An error is a step that
// could not run or was stopped.
func (r *runner) run(ctx context.Context, tool string, inputs ...kv) (*stepRun, error) {
	r.steps++
	dir := filepath.Join(r.work, "steps", fmt.Sprintf("%02d-%s", r.steps, tool))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	output, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary.md")
	for _, f := range []string{output, summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return nil, err
		}
	}
	env := append(append([]string(nil), r.env...), "GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+summary)
	for _, in := range inputs {
		env = append(env, command.InputEnv(in.k)+"="+in.v)
	}

	fmt.Fprintf(r.out, "  $ %s\n", r.describe(tool, inputs))
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, tool))
	cmd.Dir, cmd.Env = r.repo, env
	// A cancelled demo interrupts the tool as a cancelled job does (so
	// lambda-deploy rolls back), and kills it if it does not stop.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Minute
	log := newLogView(r.out)
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", tool, err)
	}
	r.track(cmd, true)
	err := cmd.Wait()
	r.track(cmd, false)
	log.flush()
	res := &stepRun{Tool: tool, Inputs: inputs, Duration: time.Since(start), Log: log.text(), Code: cmd.ProcessState.ExitCode()}
	r.history = append(r.history, res)
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("%s was interrupted (exit %d): %w", tool, res.Code, ctx.Err())
	case errors.As(err, &exit) && exit.Exited():
	case err != nil:
		return res, fmt.Errorf("running %s: %w", tool, err)
	}
	b, err := os.ReadFile(output)
	if err != nil {
		return res, err
	}
	if res.Outputs, err = action.ParseOutputs(b); err != nil {
		return res, fmt.Errorf("%s: GITHUB_OUTPUT: %w", tool, err)
	}
	s, err := os.ReadFile(summary)
	if err != nil {
		return res, err
	}
	res.Summary = string(s)
	return res, nil
}

func (r *runner) track(cmd *exec.Cmd, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == nil {
		r.running = map[*exec.Cmd]bool{}
	}
	if on {
		r.running[cmd] = true
		r.started++
		return
	}
	delete(r.running, cmd)
}

// stopped reports how many processes were started, and whether every one
// of them has exited (been waited for).
func (r *runner) stopped() (started int, all bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started, len(r.running) == 0
}

// describe shows a step as the tool and its inputs (paths relative to the
// checkout).
func (r *runner) describe(tool string, inputs []kv) string {
	var b strings.Builder
	b.WriteString(tool)
	for _, in := range inputs {
		v := in.v
		if rel, err := filepath.Rel(r.repo, v); err == nil && filepath.IsAbs(v) && !strings.HasPrefix(rel, "..") {
			v = rel
		}
		v = strings.ReplaceAll(v, "\n", `\n`)
		if strings.ContainsAny(v, " \t'\"") || v == "" {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, " %s=%s", in.k, v)
	}
	return b.String()
}

// logView shows a step's output the way the runner's log page does: a
// workflow command is carried out, not shown (a group is a heading, an
// error an "Error:" line, a masked value "***"), and between
// ::stop-commands::TOKEN and ::TOKEN:: lines are only text. Every line is
// printed after a "│" so that nothing the demo prints is a workflow command
// of its own when the demo itself runs in a workflow.
type logView struct {
	mu      sync.Mutex
	out     io.Writer
	partial []byte
	all     strings.Builder
	secrets []string
	stopped string
}

func newLogView(out io.Writer) *logView { return &logView{out: out} }

func (l *logView) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSuffix(string(l.partial[:i]), "\r")
		l.partial = l.partial[i+1:]
		l.line(line)
	}
	return len(p), nil
}

func (l *logView) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
}

func (l *logView) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

func (l *logView) line(raw string) {
	trimmed := strings.TrimSpace(raw)
	if l.stopped != "" {
		if trimmed == "::"+l.stopped+"::" {
			l.stopped = ""
			return
		}
		l.show(raw)
		return
	}
	name, props, msg, ok := parseCommand(trimmed)
	if !ok {
		l.show(raw)
		return
	}
	switch name {
	case "add-mask":
		if msg != "" {
			l.secrets = append(l.secrets, msg)
		}
	case "stop-commands":
		l.stopped = msg
	case "group":
		l.show("▸ " + msg)
	case "endgroup", "debug":
	case "error", "warning", "notice":
		head := strings.ToUpper(name[:1]) + name[1:]
		if t := props["title"]; t != "" {
			head += " (" + t + ")"
		}
		l.show(head + ": " + msg)
	default:
		l.show(raw)
	}
}

func (l *logView) show(s string) {
	for _, secret := range l.secrets {
		s = strings.ReplaceAll(s, secret, "***")
	}
	for _, line := range strings.Split(s, "\n") {
		l.all.WriteString(line + "\n")
		fmt.Fprintf(l.out, "    │ %s\n", line)
	}
}

// parseCommand reads "::name key=value,...::message" with the runner's
// escapes (%25, %0D, %0A; %3A and %2C in properties).
func parseCommand(line string) (name string, props map[string]string, msg string, ok bool) {
	rest, ok := strings.CutPrefix(line, "::")
	if !ok {
		return "", nil, "", false
	}
	head, msg, ok := strings.Cut(rest, "::")
	if !ok || head == "" {
		return "", nil, "", false
	}
	name, propText, _ := strings.Cut(head, " ")
	props = map[string]string{}
	for _, p := range strings.Split(propText, ",") {
		if k, v, ok := strings.Cut(p, "="); ok {
			props[k] = unescape(v, true)
		}
	}
	return name, props, unescape(msg, false), true
}

func unescape(s string, prop bool) string {
	pairs := []string{"%0D", "\r", "%0A", "\n"}
	if prop {
		pairs = append(pairs, "%3A", ":", "%2C", ",")
	}
	pairs = append(pairs, "%25", "%")
	return strings.NewReplacer(pairs...).Replace(s)
}

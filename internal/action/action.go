// Package action is the only place that talks to GitHub Actions: step
// outputs, the job summary, annotations, masks and log groups. Outside a
// workflow the same calls print a readable result instead.
package action

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/sethvargo/go-githubactions"
)

// Output is one named result value: a step output in a workflow, a
// "name: value" line on a terminal.
type Output struct {
	Name  string
	Value string
}

// Action writes results either to GitHub Actions or to a terminal.
type Action struct {
	gh         *githubactions.Action
	getenv     func(string) string
	stdout     io.Writer
	stderr     io.Writer
	inWorkflow bool
}

// New returns an Action writing to stdout and stderr. It talks to GitHub
// Actions when getenv reports GITHUB_ACTIONS=true.
func New(stdout, stderr io.Writer, getenv func(string) string) *Action {
	return &Action{
		gh:         githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(githubactions.GetenvFunc(getenv))),
		getenv:     getenv,
		stdout:     stdout,
		stderr:     stderr,
		inWorkflow: getenv("GITHUB_ACTIONS") == "true",
	}
}

// InWorkflow reports whether the tool runs inside a GitHub Actions step.
func (a *Action) InWorkflow() bool { return a.inWorkflow }

var outputName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// SetOutputs writes step outputs to GITHUB_OUTPUT. Each value is written
// with a delimiter of its own, random and checked not to occur in the value,
// so no value can end its heredoc early and add outputs of its own.
// go-githubactions' SetOutput uses one fixed delimiter and is not used here.
func (a *Action) SetOutputs(outs []Output) error {
	if !a.inWorkflow {
		return nil
	}
	if a.getenv("GITHUB_OUTPUT") == "" {
		return fmt.Errorf("writing outputs: GITHUB_OUTPUT is not set")
	}
	var b strings.Builder
	for _, o := range outs {
		if !outputName.MatchString(o.Name) {
			return fmt.Errorf("writing outputs: invalid output name %q", o.Name)
		}
		delim, err := delimiter(o.Value)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", o.Name, delim, o.Value, delim)
	}
	return a.fileCommand("output", strings.TrimSuffix(b.String(), "\n"))
}

func delimiter(value string) (string, error) {
	for range 3 {
		var buf [16]byte
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("writing outputs: %w", err)
		}
		d := "ghadelimiter_" + hex.EncodeToString(buf[:])
		if !strings.Contains(value, d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("writing outputs: no delimiter found that the value does not contain")
}

// AddSummary appends Markdown to the job summary (GITHUB_STEP_SUMMARY).
// Outside a workflow it does nothing: the terminal gets the plain result.
func (a *Action) AddSummary(markdown string) error {
	if !a.inWorkflow || a.getenv("GITHUB_STEP_SUMMARY") == "" || markdown == "" {
		return nil
	}
	return a.fileCommand("step-summary", markdown)
}

// fileCommand turns the panic go-githubactions raises on a write failure into
// an error.
func (a *Action) fileCommand(name, msg string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("writing %s: %v", name, r)
		}
	}()
	a.gh.IssueFileCommand(&githubactions.Command{Name: name, Message: msg})
	return nil
}

// Errorf reports an error: an ::error:: annotation in a workflow, a line on
// stderr otherwise.
func (a *Action) Errorf(format string, args ...any) {
	if a.inWorkflow {
		a.gh.Errorf(format, args...)
		return
	}
	fmt.Fprintf(a.stderr, "error: "+format+"\n", args...)
}

// Warningf reports a warning: a ::warning:: annotation in a workflow, a line
// on stderr otherwise.
func (a *Action) Warningf(format string, args ...any) {
	if a.inWorkflow {
		a.gh.Warningf(format, args...)
		return
	}
	fmt.Fprintf(a.stderr, "warning: "+format+"\n", args...)
}

// Logger is what a tool's run logs through: progress lines and warnings.
// *Action is one; tests use their own.
type Logger interface {
	Logf(format string, args ...any)
	Warningf(format string, args ...any)
}

// Logf prints progress. In a workflow it goes to the step log (stdout),
// escaped as Print escapes text; locally to stderr, so that stdout holds
// only the result.
func (a *Action) Logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !a.inWorkflow {
		fmt.Fprintln(a.stderr, msg)
		return
	}
	_ = a.Print(msg + "\n")
}

// Print writes a tool's readable result to stdout. In a workflow, text that
// could be read as a workflow command (a line starting with "::", or the
// older "##[" form, say from a function's log or a value in the input) is
// printed between stop-commands markers with a token the text does not
// hold, so the runner shows it and does not act on it.
func (a *Action) Print(text string) error {
	if !a.inWorkflow || !couldBeCommand(text) {
		_, err := io.WriteString(a.stdout, text)
		return err
	}
	token, err := delimiter(text)
	if err != nil {
		return err
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	_, err = fmt.Fprintf(a.stdout, "::stop-commands::%s\n%s::%s::\n", token, text, token)
	return err
}

// couldBeCommand reports whether the runner might read a line of text as a
// workflow command. It errs on the safe side: "::" or "##[" anywhere.
func couldBeCommand(text string) bool {
	return strings.Contains(text, "::") || strings.Contains(text, "##[")
}

// Mask hides secret in all later workflow logs. Every line of a multi-line
// secret is masked on its own, as the runner matches masks per line.
func (a *Action) Mask(secret string) {
	if !a.inWorkflow {
		return
	}
	for _, line := range strings.Split(secret, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			a.gh.AddMask(line)
		}
	}
}

// Group runs fn inside a collapsible log group.
func (a *Action) Group(title string, fn func() error) error {
	if a.inWorkflow {
		a.gh.Group(title)
		defer a.gh.EndGroup()
	} else {
		a.Logf("%s", title)
	}
	return fn()
}

// Package action is the only place that talks to GitHub Actions: step
// outputs, the job summary, annotations, masks and log groups. Outside a
// workflow the same calls print a readable result instead.
package action

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

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
	outputUsed int // of OutputBudget, by SetOutputs
}

// OutputBudget is the most a step's outputs may take, names and values
// counted as GitHub counts them (UTF-16, two bytes for most characters):
// GitHub keeps at most 1 MB of outputs per job. SetOutputs leaves out what
// would go over it.
const OutputBudget = 1_000_000

// SummaryBudget is the most a step's job summary may take: GitHub drops a
// larger one whole. AddSummary cuts what would go over it.
const SummaryBudget = 1 << 20

// UTF16Size is the size of s in UTF-16, as GitHub counts the size of
// outputs.
func UTF16Size(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 4
		} else {
			n += 2
		}
	}
	return n
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

var outputName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`) })

// SetOutputs writes step outputs to GITHUB_OUTPUT. Each value is written
// with a delimiter of its own, random and checked not to occur in the value,
// so no value can end its heredoc early and add outputs of its own.
// go-githubactions' SetOutput uses one fixed delimiter and is not used here.
//
// Outputs are written in order while they fit in OutputBudget; one that
// would go over it is left out (later, smaller ones may still fit), and a
// warning names what was left out. A tool that can have many outputs keeps
// within the budget itself and says where the rest are; this is the rule
// that holds when one does not.
func (a *Action) SetOutputs(outs []Output) error {
	if !a.inWorkflow {
		return nil
	}
	if a.getenv("GITHUB_OUTPUT") == "" {
		return fmt.Errorf("writing outputs: GITHUB_OUTPUT is not set")
	}
	var b strings.Builder
	var left []string
	used := a.outputUsed
	for _, o := range outs {
		if !outputName().MatchString(o.Name) {
			return fmt.Errorf("writing outputs: invalid output name %q", o.Name)
		}
		size := UTF16Size(o.Name) + UTF16Size(o.Value)
		if used+size > OutputBudget {
			left = append(left, o.Name)
			continue
		}
		delim, err := delimiter(o.Value)
		if err != nil {
			return err
		}
		used += size
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", o.Name, delim, o.Value, delim)
	}
	if b.Len() > 0 {
		if err := a.fileCommand("output", strings.TrimSuffix(b.String(), "\n")); err != nil {
			return err
		}
	}
	a.outputUsed = used
	if len(left) > 0 {
		a.Warningf("left out %d of %d outputs, which would take this step's outputs over the 1 MB GitHub keeps: %s", len(left), len(outs), names(left, 10))
	}
	return nil
}

// names lists the first max names, then how many more there are.
func names(all []string, max int) string {
	if len(all) <= max {
		return strings.Join(all, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(all[:max], ", "), len(all)-max)
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
//
// Markdown that would take the step's summary over SummaryBudget is cut at
// the last whole line that fits, with a line in the summary and a warning
// that say how much was left out.
func (a *Action) AddSummary(markdown string) error {
	path := a.getenv("GITHUB_STEP_SUMMARY")
	if !a.inWorkflow || path == "" || markdown == "" {
		return nil
	}
	used := 0
	if info, err := os.Stat(path); err == nil {
		used = int(info.Size())
	}
	room := SummaryBudget - used - 1 // the line end the file command adds
	if len(markdown) <= room {
		return a.fileCommand("step-summary", markdown)
	}
	note := fmt.Sprintf("\n\n*%d bytes of this summary are left out: GitHub shows at most 1 MiB of summary per step.*\n", len(markdown))
	cut := strings.LastIndexByte(markdown[:max(room-len(note), 0)], '\n')
	if cut < 0 {
		a.Warningf("left out the job summary (%d bytes): this step's summary has no room left of the 1 MiB GitHub shows", len(markdown))
		return nil
	}
	note = fmt.Sprintf("\n\n*%d bytes of this summary are left out: GitHub shows at most 1 MiB of summary per step.*\n", len(markdown)-cut)
	a.Warningf("cut the job summary after %d of its %d bytes: GitHub shows at most 1 MiB of summary per step", cut, len(markdown))
	return a.fileCommand("step-summary", markdown[:cut]+note)
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

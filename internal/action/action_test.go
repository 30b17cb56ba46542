package action_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/action/actiontest"
)

func TestSetOutputsWritesEveryValueIntact(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, nil)
	var stdout, stderr bytes.Buffer
	a := action.New(&stdout, &stderr, w.Getenv)
	outs := []action.Output{
		{Name: "plain", Value: "0.93"},
		{Name: "multi-line", Value: "line one\nline two\n"},
		{Name: "empty", Value: ""},
		{Name: "json", Value: `[{"msg":"a=b"}]`},
	}
	if err := a.SetOutputs(outs); err != nil {
		t.Fatal(err)
	}
	got := w.Outputs(t)
	if len(got) != len(outs) {
		t.Fatalf("got %d outputs, want %d: %v", len(got), len(outs), got)
	}
	for _, o := range outs {
		if got[o.Name] != o.Value {
			t.Errorf("output %s = %q, want %q", o.Name, got[o.Name], o.Value)
		}
	}
}

// A value that holds go-githubactions' fixed heredoc delimiter (or any
// name<<X / X pair) on a line of its own must not end the heredoc early and
// smuggle in outputs of its own.
func TestSetOutputsValueCannotInjectOutputs(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, nil)
	a := action.New(&bytes.Buffer{}, &bytes.Buffer{}, w.Getenv)
	evil := "x\n_GitHubActionsFileCommandDelimeter_\nallowed=true\nevil<<EOF\npwned\nEOF\n_GitHubActionsFileCommandDelimeter_"
	if err := a.SetOutputs([]action.Output{{Name: "messages", Value: evil}, {Name: "allowed", Value: "false"}}); err != nil {
		t.Fatal(err)
	}
	got := w.Outputs(t)
	if len(got) != 2 || got["messages"] != evil || got["allowed"] != "false" {
		t.Fatalf("outputs = %q", got)
	}
}

func TestSetOutputsRefusesBadNames(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, nil)
	a := action.New(&bytes.Buffer{}, &bytes.Buffer{}, w.Getenv)
	for _, name := range []string{"", "a\nb", "x<<y", "a=b", "has space"} {
		if err := a.SetOutputs([]action.Output{{Name: name, Value: "v"}}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if b, _ := os.ReadFile(w.OutputFile); len(b) != 0 {
		t.Errorf("GITHUB_OUTPUT written despite errors: %q", b)
	}
}

func TestAnnotationsMasksAndGroupsInWorkflow(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, nil)
	var stdout, stderr bytes.Buffer
	a := action.New(&stdout, &stderr, w.Getenv)
	a.Mask("s3cr3t\nsecond-line")
	a.Warningf("model is %d days old", 9)
	a.Errorf("denied: accuracy 0.85\nbelow 0.9")
	if err := a.Group("Scanning", func() error { a.Logf("layer 1"); return nil }); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"::add-mask::s3cr3t",
		"::add-mask::second-line",
		"::warning::model is 9 days old",
		"::error::denied: accuracy 0.85%0Abelow 0.9",
		"::group::Scanning",
		"layer 1",
		"::endgroup::",
		"",
	}, "\n")
	if stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestSummaryAppends(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, nil)
	a := action.New(&bytes.Buffer{}, &bytes.Buffer{}, w.Getenv)
	for _, md := range []string{"### one\n", "| a | b |\n"} {
		if err := a.AddSummary(md); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.SummaryText(t); got != "### one\n\n| a | b |\n\n" {
		t.Errorf("summary = %q", got)
	}
}

func TestOutsideAWorkflowNothingIsWrittenForTheRunner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"GITHUB_OUTPUT": dir + "/out", "GITHUB_STEP_SUMMARY": dir + "/sum"}
	var stdout, stderr bytes.Buffer
	a := action.New(&stdout, &stderr, func(k string) string { return env[k] })
	a.Mask("s3cr3t")
	a.Warningf("careful")
	a.Logf("progress")
	if err := a.SetOutputs([]action.Output{{Name: "a", Value: "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddSummary("x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/out"); !os.IsNotExist(err) {
		t.Error("GITHUB_OUTPUT written outside a workflow")
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing (progress goes to stderr)", stdout.String())
	}
	if got := stderr.String(); got != "warning: careful\nprogress\n" {
		t.Errorf("stderr = %q", got)
	}
}

func TestOutputFileNotWritableIsAnError(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, map[string]string{"GITHUB_OUTPUT": "/nonexistent/dir/output"})
	a := action.New(&bytes.Buffer{}, &bytes.Buffer{}, w.Getenv)
	if err := a.SetOutputs([]action.Output{{Name: "a", Value: "b"}}); err == nil {
		t.Fatal("no error writing to an unwritable GITHUB_OUTPUT")
	}
}

func TestPrintCannotIssueWorkflowCommands(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, nil)
	var stdout bytes.Buffer
	a := action.New(&stdout, &bytes.Buffer{}, w.Getenv)
	if err := a.Print("plain result\n"); err != nil {
		t.Fatal(err)
	}
	if err := a.Print("deny: model name\n::add-mask::x\n"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(stdout.String(), "\n")
	if len(lines) != 6 || lines[0] != "plain result" || !strings.HasPrefix(lines[1], "::stop-commands::ghadelimiter_") ||
		lines[3] != "::add-mask::x" || lines[4] != "::"+strings.TrimPrefix(lines[1], "::stop-commands::")+"::" {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

// Text from outside the tool (a function's log, an error from AWS, a file)
// logged or printed in a workflow must never act as a workflow command, in
// any of the forms the runner reads.
func TestLogAndPrintCannotIssueWorkflowCommands(t *testing.T) {
	t.Parallel()
	hostile := []string{
		"::stop-commands::x",
		"::add-mask::secret-that-hides-the-log",
		"::error title=injected::the deploy failed",
		"  ::warning::indented",
		"::set-output name=allowed::true",
		"##[set-output name=allowed;]true",
		"::x::",
		"::ghadelimiter_0::",
	}
	for _, h := range hostile {
		t.Run(h, func(t *testing.T) {
			t.Parallel()
			w := actiontest.NewWorkflow(t, nil)
			var stdout bytes.Buffer
			a := action.New(&stdout, &bytes.Buffer{}, w.Getenv)
			a.Logf("function log tail:\n%s\nEND", h)
			a.Logf("%s", h)
			if err := a.Print("result: " + h); err != nil {
				t.Fatal(err)
			}
			a.Logf("after")
			if cmds := actiontest.Commands(stdout.String()); len(cmds) != 0 {
				t.Errorf("the runner would act on %q in:\n%s", cmds, stdout.String())
			}
			if !strings.Contains(stdout.String(), h) || !strings.HasSuffix(stdout.String(), "\nafter\n") {
				t.Errorf("the text is not shown as it is:\n%s", stdout.String())
			}
		})
	}
}

func TestCommandsReadsTheLogAsTheRunnerDoes(t *testing.T) {
	t.Parallel()
	log := "plain\n::warning::a\n  ##[error]b\n::stop-commands::tok\n::error::hidden\n::tok::\n::notice::c\n"
	got := actiontest.Commands(log)
	want := []string{"::warning::a", "##[error]b", "::notice::c"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Commands = %q, want %q", got, want)
	}
}

// TestSetOutputsKeepsWithinBudget: outputs that would take a step over
// OutputBudget (as GitHub counts, in UTF-16) are left out, the ones that fit
// are written whole, and a warning names what was left out.
func TestSetOutputsKeepsWithinBudget(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, nil)
	var stdout bytes.Buffer
	a := action.New(&stdout, &bytes.Buffer{}, w.Getenv)
	// "é" is one UTF-16 unit (2 bytes), "😀" two (4 bytes); "big" alone
	// takes 6 + 600,000 bytes.
	big := strings.Repeat("é", 300_000)
	outs := []action.Output{
		{Name: "first", Value: "1"},
		{Name: "big", Value: big},
		{Name: "too-big", Value: strings.Repeat("😀", 100_000)}, // 400,014 bytes: over by 14 + the rest
		{Name: "small", Value: "2"},
	}
	for i := range 12 {
		outs = append(outs, action.Output{Name: fmt.Sprintf("huge%d", i), Value: big})
	}
	if err := a.SetOutputs(outs); err != nil {
		t.Fatal(err)
	}
	got := w.Outputs(t)
	if len(got) != 3 || got["first"] != "1" || got["big"] != big || got["small"] != "2" {
		t.Errorf("outputs %d: first=%q small=%q big intact: %t", len(got), got["first"], got["small"], got["big"] == big)
	}
	size := 0
	for k, v := range got {
		size += action.UTF16Size(k) + action.UTF16Size(v)
	}
	if size > action.OutputBudget {
		t.Errorf("outputs take %d bytes, over the budget of %d", size, action.OutputBudget)
	}
	want := "::warning::left out 13 of 16 outputs, which would take this step's outputs over the 1 MB GitHub keeps: too-big, huge0, huge1, huge2, huge3, huge4, huge5, huge6, huge7, huge8 and 3 more\n"
	if stdout.String() != want {
		t.Errorf("stdout %q\nwant %q", stdout.String(), want)
	}

	// The budget is the step's: a second call has only what is left.
	stdout.Reset()
	if err := a.SetOutputs([]action.Output{{Name: "late", Value: strings.Repeat("x", 200_000)}, {Name: "tiny", Value: "t"}}); err != nil {
		t.Fatal(err)
	}
	if got := w.Outputs(t); got["tiny"] != "t" || got["late"] != "" {
		t.Errorf("second call: tiny=%q, late of %d bytes", got["tiny"], len(got["late"]))
	}
	if !strings.Contains(stdout.String(), "left out 1 of 2 outputs") || !strings.Contains(stdout.String(), ": late\n") {
		t.Errorf("second call: stdout %q", stdout.String())
	}
}

func TestUTF16Size(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int{"": 0, "abc": 6, "é": 2, "€": 2, "😀": 4, "a😀b": 8} {
		if got := action.UTF16Size(s); got != want {
			t.Errorf("UTF16Size(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestAddSummaryKeepsWithinBudget: a summary that would go over
// SummaryBudget is cut at a line end, says so in the summary and in a
// warning, and the step's summary stays within the budget.
func TestAddSummaryKeepsWithinBudget(t *testing.T) {
	t.Parallel()
	w := actiontest.NewWorkflow(t, nil)
	var stdout bytes.Buffer
	a := action.New(&stdout, &bytes.Buffer{}, w.Getenv)
	if err := a.AddSummary("### Findings\n"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| id | severity |\n| --- | --- |\n")
	for i := 0; b.Len() < 2*action.SummaryBudget; i++ {
		fmt.Fprintf(&b, "| CVE-2026-%06d | HIGH |\n", i)
	}
	table := b.String()
	if err := a.AddSummary(table); err != nil {
		t.Fatal(err)
	}
	got := w.SummaryText(t)
	if len(got) > action.SummaryBudget {
		t.Errorf("summary of %d bytes, over the budget of %d", len(got), action.SummaryBudget)
	}
	if len(got) < action.SummaryBudget-200 {
		t.Errorf("summary of %d bytes: cut more than needed", len(got))
	}
	body, note, ok := strings.Cut(got, "\n\n*")
	if !ok || !strings.HasPrefix(body, "### Findings\n\n| id | severity |\n") || !strings.HasSuffix(body, "| HIGH |") {
		t.Fatalf("summary not cut at a line end:\n...%s", got[max(0, len(got)-300):])
	}
	left := len(table) - (len(body) - len("### Findings\n\n"))
	wantNote := fmt.Sprintf("%d bytes of this summary are left out: GitHub shows at most 1 MiB of summary per step.*\n\n", left)
	if note != wantNote {
		t.Errorf("note %q, want %q", note, wantNote)
	}
	if !strings.HasPrefix(stdout.String(), "::warning::cut the job summary after ") || !strings.Contains(stdout.String(), "GitHub shows at most 1 MiB of summary per step") {
		t.Errorf("stdout %q", stdout.String())
	}

	// Nearly full: a later summary that has no line that fits is left out
	// whole, with a warning.
	stdout.Reset()
	if err := a.AddSummary(strings.Repeat("x", 999) + "\n"); err != nil {
		t.Fatal(err)
	}
	if w.SummaryText(t) != got || !strings.Contains(stdout.String(), "left out the job summary (1000 bytes)") {
		t.Errorf("a summary added to a full one: stdout %q", stdout.String())
	}
}

package ecrpush

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// TestDocsExamplesLint lints every workflow snippet of docs/ecr-push.md
// with actionlint, as the steps of a job: a step output read from a step
// that no snippet defines, a context that does not exist or a malformed
// expression fails here, not in a user's workflow.
func TestDocsExamplesLint(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/ecr-push.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlocks(string(b))
	if len(blocks) < 5 {
		t.Fatalf("found %d yaml examples; the page has more", len(blocks))
	}
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, block := range blocks {
		wf := stepsWorkflow(block)
		errs, err := linter.Lint(fmt.Sprintf("docs/ecr-push.md example %d", i+1), []byte(wf), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Errorf("docs/ecr-push.md example %d: %s\n%s", i+1, e.Message, block)
		}
	}
}

// yamlBlocks returns the ```yaml fenced blocks of a Markdown page.
func yamlBlocks(md string) []string {
	var out []string
	var cur []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```yaml":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			out = append(out, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	return out
}

var inputRef = regexp.MustCompile(`inputs\.([A-Za-z0-9_-]+)`)

// stepsWorkflow wraps a list of steps in a workflow whose dispatch inputs
// are the inputs the steps read.
func stepsWorkflow(steps string) string {
	var inputs []string
	for _, m := range inputRef.FindAllStringSubmatch(steps, -1) {
		if !slices.Contains(inputs, m[1]) {
			inputs = append(inputs, m[1])
		}
	}
	var b strings.Builder
	b.WriteString("on:\n  workflow_dispatch:\n")
	if len(inputs) > 0 {
		b.WriteString("    inputs:\n")
		for _, in := range inputs {
			fmt.Fprintf(&b, "      %s:\n        type: string\n", in)
		}
	}
	b.WriteString("jobs:\n  example:\n    runs-on: ubuntu-latest\n    steps:\n")
	for _, line := range strings.Split(steps, "\n") {
		b.WriteString("      " + line + "\n")
	}
	return b.String()
}

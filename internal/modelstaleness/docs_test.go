package modelstaleness

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rhysd/actionlint"
)

const docsPage = "../../docs/model-staleness.md"

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocsWorkflows lints every workflow and step snippet of the docs page
// with actionlint against actions/model-staleness/action.yml (so an input
// the action does not have is caught), and reads the config example as
// --config does.
func TestDocsWorkflows(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(docsPage)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	project, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{WorkingDir: root})
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlock.FindAllStringSubmatch(string(b), -1)
	workflows, steps, configs := 0, 0, 0
	for i, m := range blocks {
		src := strings.ReplaceAll(m[1], "mlship/mlship/actions/model-staleness@v1", "./actions/model-staleness")
		switch {
		case strings.HasPrefix(src, "models:") || strings.HasPrefix(src, "defaults:"):
			configs++
			file := writeFile(t, t.TempDir(), "models.yaml", src)
			c := Config{Model: ModelSpec{Source: SourceGit}, ConfigFile: file, Timeout: time.Minute}
			if err := c.Validate(); err != nil {
				t.Errorf("config example %d: %v", i, err)
			}
			continue
		case strings.Contains(src, "\njobs:"):
			workflows++
		case strings.HasPrefix(src, "- "):
			steps++
			src = "on: push\npermissions: {}\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n" + indentLines(src, "      ")
		default:
			t.Errorf("yaml block %d is neither a workflow, steps nor a config:\n%s", i, src)
			continue
		}
		errs, err := linter.Lint("docs/model-staleness.md", []byte(src), project)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Errorf("yaml block %d, line %d: %s [%s]\n%s", i, e.Line, e.Message, e.Kind, src)
		}
	}
	if workflows < 2 || steps < 2 || configs < 1 {
		t.Errorf("found %d workflows, %d step snippets and %d configs in the docs", workflows, steps, configs)
	}
}

func indentLines(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestDocsTables: the Inputs and Outputs tables list exactly the flags and
// outputs.
func TestDocsTables(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(docsPage)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	table := func(heading string) []string {
		_, rest, ok := strings.Cut(doc, "\n## "+heading+"\n")
		if !ok {
			t.Fatalf("no %q section", heading)
		}
		rest, _, _ = strings.Cut(rest, "\n## ")
		rest, _, _ = strings.Cut(rest, "\n### ")
		var names []string
		for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|").FindAllStringSubmatch(rest, -1) {
			names = append(names, m[1])
		}
		slices.Sort(names)
		return names
	}
	var flags, outs []string
	for _, f := range Command().Flags {
		flags = append(flags, f.Names()[0])
	}
	for _, o := range Command().Outputs {
		outs = append(outs, o.Name)
	}
	slices.Sort(flags)
	slices.Sort(outs)
	if got := table("Inputs"); !slices.Equal(got, flags) {
		t.Errorf("docs inputs %v\nflags       %v", got, flags)
	}
	if got := table("Outputs"); !slices.Equal(got, outs) {
		t.Errorf("docs outputs %v\noutputs      %v", got, outs)
	}
}

package actions

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/toolset"
)

// TestDocsNameEveryInputAndOutput keeps docs/<tool>.md in step with the
// tool: every action input and every output is named there, in backticks.
func TestDocsNameEveryInputAndOutput(t *testing.T) {
	for _, tool := range toolset.All {
		name, cmd := tool.Name, tool.Command
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "docs", name+".md"))
			if err != nil {
				t.Fatalf("docs page: %v", err)
			}
			doc := string(b)
			c := cmd()
			var missing []string
			for _, f := range c.Flags {
				if cf, ok := f.(cli.CategorizableFlag); ok && cf.GetCategory() == command.LocalOnly {
					continue
				}
				if n := f.Names()[0]; !strings.Contains(doc, "`"+n+"`") && !strings.Contains(doc, "`--"+n) {
					missing = append(missing, "input "+n)
				}
			}
			for _, o := range c.Outputs {
				if !strings.Contains(doc, "`"+o.Name+"`") {
					missing = append(missing, "output "+o.Name)
				}
			}
			slices.Sort(missing)
			for _, m := range missing {
				t.Errorf("docs/%s.md does not name %s", name, m)
			}
		})
	}
}

// TestReadmeListsEveryTool keeps the README's tools table in step with the
// list of tools: a row for each, linking its page.
func TestReadmeListsEveryTool(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range toolset.Names() {
		row := "| " + name + " |"
		link := "[docs/" + name + ".md](docs/" + name + ".md)"
		found := false
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, row) && strings.Contains(line, link) {
				found = true
			}
		}
		if !found {
			t.Errorf("README.md has no tools-table row for %s linking %s", name, link)
		}
	}
}

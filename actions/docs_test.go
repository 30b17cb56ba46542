package actions

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/command"
)

// TestDocsNameEveryInputAndOutput keeps docs/<tool>.md in step with the
// tool: every action input and every output is named there, in backticks.
func TestDocsNameEveryInputAndOutput(t *testing.T) {
	for name, cmd := range tools {
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

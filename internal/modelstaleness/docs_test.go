package modelstaleness

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const docsPage = "../../docs/model-staleness.md"

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocsConfigExample reads the docs page's config example as --config
// does. (actions/examples_test.go lints its workflow snippets.)
func TestDocsConfigExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(docsPage)
	if err != nil {
		t.Fatal(err)
	}
	configs := 0
	for _, m := range yamlBlock.FindAllStringSubmatch(string(b), -1) {
		if !strings.HasPrefix(m[1], "models:") && !strings.HasPrefix(m[1], "defaults:") {
			continue
		}
		configs++
		file := writeFile(t, t.TempDir(), "models.yaml", m[1])
		if err := validate(Config{Model: ModelSpec{Source: SourceGit}, ConfigFile: file, Timeout: time.Minute}); err != nil {
			t.Errorf("config example %d: %v", configs, err)
		}
	}
	if configs == 0 {
		t.Error("the docs page has no config example")
	}
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

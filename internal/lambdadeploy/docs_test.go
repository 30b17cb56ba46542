package lambdadeploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsMatchCommand checks the Inputs and Outputs tables of
// docs/lambda-deploy.md against the command's flags and outputs.
func TestDocsMatchCommand(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/lambda-deploy.md")
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
		var names []string
		for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|").FindAllStringSubmatch(rest, -1) {
			names = append(names, m[1])
		}
		slices.Sort(names)
		return names
	}
	cmd := Command()
	var flags, outs []string
	for _, f := range cmd.Flags {
		flags = append(flags, f.Names()[0])
	}
	for _, o := range cmd.Outputs {
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

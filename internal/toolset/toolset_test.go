package toolset_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mlship/mlship/internal/action/actiontest"
	"github.com/mlship/mlship/internal/toolset"
)

var update = flag.Bool("update", false, "rewrite goreleaser.yaml from the list of tools")

const goreleaserFile = "../../goreleaser.yaml"

func TestGoreleaserIsGenerated(t *testing.T) {
	want := toolset.Goreleaser()
	if *update {
		if err := os.WriteFile(goreleaserFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(goreleaserFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("goreleaser.yaml is not what the list of tools makes: run go test ./internal/toolset -update")
	}
}

// The list and cmd/ agree, and each command is named as its tool.
func TestListIsEveryCommand(t *testing.T) {
	t.Parallel()
	mains, err := filepath.Glob("../../cmd/*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, m := range mains {
		cmds = append(cmds, filepath.Base(filepath.Dir(m)))
	}
	names := toolset.Names()
	slices.Sort(cmds)
	sorted := slices.Sorted(slices.Values(names))
	if !slices.Equal(cmds, sorted) {
		t.Errorf("cmd/ has %q, the list has %q", cmds, sorted)
	}
	for _, tool := range toolset.All {
		if got := tool.Command().Name; got != tool.Name {
			t.Errorf("tool %s: its command is named %q", tool.Name, got)
		}
	}
}

// Every tool's result speaks one JSON style: camelCase keys, everywhere in
// it (docs/contributing.md).
func TestResultJSONIsCamelCase(t *testing.T) {
	t.Parallel()
	for _, tool := range toolset.All {
		if tool.Result == nil {
			t.Errorf("%s: no result type in the list", tool.Name)
			continue
		}
		for _, bad := range actiontest.NonCamelFields(tool.Result) {
			t.Errorf("%s: %s is not camelCase", tool.Name, bad)
		}
	}
}

func TestNonCamelFieldsFindsThem(t *testing.T) {
	t.Parallel()
	type inner struct {
		OK  string `json:"imageUri"`
		Bad string `json:"image_uri"`
	}
	type result struct {
		Inner   []inner `json:"inner"`
		NoTag   string
		Skipped string `json:"-"`
	}
	got := actiontest.NonCamelFields(result{})
	want := []string{`toolset_test.result.inner.Bad (json "image_uri")`, `toolset_test.result.NoTag (json "")`}
	if !slices.Equal(got, want) {
		t.Errorf("NonCamelFields = %q, want %q", got, want)
	}
	if got := actiontest.NonCamelKeys(map[string]any{"a_b": 1, "env": map[string]any{"MY_VAR": 1}, "list": []any{map[string]any{"X": 1}}}, "env"); !slices.Equal(got, []string{".a_b", ".list[].X"}) {
		t.Errorf("NonCamelKeys = %q", got)
	}
}

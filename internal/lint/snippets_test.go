package lint

import (
	"slices"
	"strings"
	"testing"
)

func TestCodeBlocks(t *testing.T) {
	t.Parallel()
	md := "# Title\n\n```yaml\n- run: echo\n```\n\n- item:\n\n  ```sh\n  tool --flag \\\n    x\n  ```\n\n````md\n```yaml\nnot: a block of its own\n```\n````\n\n```\nplain\n```\n"
	got := CodeBlocks([]byte(md))
	want := []CodeBlock{
		{Lang: "yaml", Line: 4, Text: "- run: echo\n"},
		{Lang: "sh", Line: 10, Text: "tool --flag \\\n  x\n"},
		{Lang: "md", Line: 15, Text: "```yaml\nnot: a block of its own\n```\n"},
		{Lang: "", Line: 21, Text: "plain\n"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("CodeBlocks =\n%+v\nwant\n%+v", got, want)
	}
}

// TestSnippetKinds: what Snippet lints, and where it reports a problem.
func TestSnippetKinds(t *testing.T) {
	t.Parallel()
	root := writeRepo(t, map[string]string{actionFile: goodAction})
	tests := []struct {
		name, src, kind string
		line            int // of a problem, 0 for none
	}{
		{"steps", "- uses: ./actions/demo\n  with:\n    policy: p.rego\n", KindSteps, 0},
		{"steps reading workflow inputs", "- run: echo \"$V\"\n  env:\n    V: ${{ inputs.version }}\n", KindSteps, 0},
		{"steps with a problem", "- run: echo\n- uses: ./actions/demo\n  with:\n    polcy: p.rego\n", KindSteps, 4},
		{"jobs", "jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ inputs.x }}\n", KindJobs, 0},
		{"workflow", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n        shell: bsh\n", KindWorkflow, 7},
		{"expression", "${{ fromJSON(steps.m.outputs.metrics).ACCURACY }}\n", KindExpression, 0},
		{"config file", "ignore:\n  - id: CVE-1\n", "", 0},
		{"not YAML", "a: [\n", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kind, p, err := Snippet(root, "doc.md", []byte(tt.src), nil)
			if err != nil {
				t.Fatal(err)
			}
			if kind != tt.kind {
				t.Errorf("kind %q, want %q", kind, tt.kind)
			}
			switch {
			case tt.line == 0 && len(p) != 0:
				t.Errorf("problems %v", p)
			case tt.line != 0 && !slices.ContainsFunc(p, func(x Problem) bool { return x.Line == tt.line }):
				t.Errorf("problems %v, want one on line %d", p, tt.line)
			}
			for _, x := range p {
				if !strings.HasPrefix(x.String(), "doc.md:") {
					t.Errorf("problem %s not in doc.md", x)
				}
			}
		})
	}
}

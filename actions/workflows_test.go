package actions

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/internal/lint"
)

// The reusable pipelines and the example callers of docs/examples. Both are
// linted, with this repository's actions and workflows as their own, by
// internal/lint (TestRepository); the tests here hold them to the rules
// every pipeline follows.

// pipelines are the reusable workflows, one or more per pipeline of
// docs/pipelines.md.
var pipelines = []string{"lambda-model.yml", "eks-model.yml", "lambda-release.yml", "promote-image.yml", "model-monitor.yml"}

// deployTools are the actions that change what serves traffic: a job that
// runs one runs in a GitHub environment (for approval) and in a
// concurrency group of that environment.
var deployTools = []string{"lambda-deploy", "eks-rollout", "health-rollback"}

var (
	pinned      = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$`)
	versionNote = regexp.MustCompile(`^# v[0-9]+\.[0-9]+\.[0-9]+$`)
	ownAction   = regexp.MustCompile(`^mlship/mlship/actions/([a-z0-9-]+)@v1$`)
	headerPerms = regexp.MustCompile(`(?m)^#\s+permissions: \{([^}]*)\}$`)
)

func readYAML(t *testing.T, path string) (*yaml.Node, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		t.Fatalf("%s: not one YAML document", path)
	}
	return doc.Content[0], string(b)
}

func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func pairs(n *yaml.Node) [][2]*yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	return out
}

// items is the content of a sequence node, nil for anything else.
func items(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// header is the comment block a workflow file starts with.
func header(src string) string {
	var b strings.Builder
	for _, l := range strings.Split(src, "\n") {
		if strings.HasPrefix(l, "name:") || (l == "" && b.Len() == 0) {
			continue
		}
		if !strings.HasPrefix(l, "#") && l != "" {
			break
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// headerNames are the names listed in the header's section that starts
// with label ("Inputs", "Secrets:", "Outputs:") and ends before next, in
// lists such as "AWS: aws-region*, role-to-assume*".
func headerNames(head, label, next string) []string {
	i := strings.Index(head, "# "+label)
	if i < 0 {
		return nil
	}
	section := head[i+len("# "+label):]
	if j := strings.Index(section, "# "+next); next != "" && j >= 0 {
		section = section[:j]
	} else if j := strings.Index(section, "\n#\n"); j >= 0 {
		section = section[:j]
	}
	var names []string
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimPrefix(line, "#")
		if _, list, ok := strings.Cut(line, ":"); ok && !strings.Contains(line, "(") {
			line = list
		}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '.' }) {
			names = append(names, strings.TrimSuffix(f, "*"))
		}
	}
	return names
}

// checkPipeline lists how a reusable workflow breaks the rules every
// pipeline follows.
func checkPipeline(wf *yaml.Node, src string) []string {
	var problems []string
	add := func(line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
	}

	on := get(wf, "on")
	call := get(on, "workflow_call")
	if call == nil || len(on.Content) != 2 {
		add(on.Line, "on: want workflow_call only")
	}
	if p := get(wf, "permissions"); p == nil || p.Kind != yaml.MappingNode || len(p.Content) != 0 {
		add(wf.Line, "permissions: want {} at the top, and each job's own")
	}

	// The header names every input, secret and output, and the permissions
	// a caller must grant; the workflow_call block describes each.
	head := header(src)
	if !strings.Contains(head, "Secrets:") || !strings.Contains(head, "Outputs:") || !strings.Contains(head, "Inputs") {
		add(1, "the header comment has no Inputs, Secrets: and Outputs: lists")
	}
	listed := map[string][]string{
		"inputs":  headerNames(head, "Inputs", "Secrets:"),
		"secrets": headerNames(head, "Secrets:", "Outputs:"),
		"outputs": headerNames(head, "Outputs:", ""),
	}
	for _, section := range []string{"inputs", "secrets", "outputs"} {
		for _, kv := range pairs(get(call, section)) {
			name := kv[0].Value
			if !slices.Contains(listed[section], name) {
				add(kv[0].Line, "%s %q is not named in the header comment", strings.TrimSuffix(section, "s"), name)
			}
			if d := get(kv[1], "description"); d == nil || strings.TrimSpace(d.Value) == "" {
				add(kv[0].Line, "%s %q has no description", strings.TrimSuffix(section, "s"), name)
			}
		}
	}

	asked := map[string]string{}
	for _, kv := range pairs(get(wf, "jobs")) {
		name, job := kv[0].Value, kv[1]
		perms := get(job, "permissions")
		if perms == nil || perms.Kind != yaml.MappingNode {
			add(kv[0].Line, "job %q: want its own permissions: mapping", name)
		}
		for _, p := range pairs(perms) {
			if asked[p[0].Value] != "write" {
				asked[p[0].Value] = p[1].Value
			}
		}
		if get(job, "timeout-minutes") == nil {
			add(kv[0].Line, "job %q: no timeout-minutes", name)
		}

		usesAWS, deploys := false, false
		for _, step := range items(get(job, "steps")) {
			uses := get(step, "uses")
			if run := get(step, "run"); run != nil && strings.Contains(run.Value, "${{") {
				add(run.Line, "job %q: a run: script holds an expression; pass it in env:", name)
			}
			if uses == nil {
				continue
			}
			if m := ownAction.FindStringSubmatch(uses.Value); m != nil {
				dry := get(get(step, "with"), "dry-run")
				if slices.Contains(deployTools, m[1]) && (dry == nil || dry.Value != "true") {
					deploys = true
				}
				continue
			}
			if strings.HasPrefix(uses.Value, "mlship/mlship/") {
				add(uses.Line, "job %q: %s: use this repository's actions at @v1", name, uses.Value)
				continue
			}
			if !pinned.MatchString(uses.Value) || !versionNote.MatchString(uses.LineComment) {
				add(uses.Line, "job %q: %s %s: pin a third-party action by its full commit SHA, with a # vX.Y.Z comment", name, uses.Value, uses.LineComment)
			}
			if strings.HasPrefix(uses.Value, "aws-actions/configure-aws-credentials@") {
				usesAWS = true
			}
		}
		idToken := get(perms, "id-token")
		switch {
		case usesAWS && (idToken == nil || idToken.Value != "write"):
			add(kv[0].Line, "job %q assumes an AWS role but has no id-token: write", name)
		case !usesAWS && idToken != nil && idToken.Value != "none":
			add(kv[0].Line, "job %q does not call AWS but asks for id-token: %s", name, idToken.Value)
		}

		env, conc := get(job, "environment"), get(job, "concurrency")
		if deploys && env == nil {
			add(kv[0].Line, "job %q deploys outside a GitHub environment (no approval can hold it)", name)
		}
		if env != nil {
			group, cancel := get(conc, "group"), get(conc, "cancel-in-progress")
			envExpr := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(env.Value, "${{"), "}}"))
			switch {
			case group == nil:
				add(kv[0].Line, "job %q runs in an environment without a concurrency group: two deploys could overlap", name)
			case !strings.Contains(group.Value, envExpr) && !strings.Contains(group.Value, "inputs.environment"):
				add(group.Line, "job %q: concurrency group %q does not hold the environment (%s)", name, group.Value, env.Value)
			case cancel == nil || cancel.Value != "false":
				add(kv[0].Line, "job %q: want cancel-in-progress: false (a cancelled deploy stops halfway)", name)
			}
		}
	}

	// The permissions the header tells callers to grant are what the jobs
	// ask for.
	m := headerPerms.FindStringSubmatch(head)
	if m == nil {
		add(1, "the header comment shows no caller's permissions: {...}")
	} else {
		told := map[string]string{}
		for _, p := range strings.Split(m[1], ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), ":")
			told[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		for _, k := range sortedKeys(asked) {
			if asked[k] != "none" && told[k] != asked[k] {
				add(1, "the header's caller permissions give %s: %q, the jobs ask for %q", k, told[k], asked[k])
			}
		}
		for _, k := range sortedKeys(told) {
			if asked[k] == "" {
				add(1, "the header's caller permissions give %s, which no job asks for", k)
			}
		}
	}
	return problems
}

// TestPipelineWorkflows holds each reusable workflow to the rules: called
// only (workflow_call), no permissions but each job's own, id-token: write
// exactly on the jobs that assume an AWS role, deploys in a GitHub
// environment with a concurrency group of that environment that never
// cancels a running deploy, third-party actions pinned by commit SHA,
// expressions never pasted into a script, and a header that names every
// input, secret and output and the permissions a caller grants.
func TestPipelineWorkflows(t *testing.T) {
	t.Parallel()
	for _, name := range pipelines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wf, src := readYAML(t, filepath.Join("..", ".github", "workflows", name))
			for _, p := range checkPipeline(wf, src) {
				t.Errorf(".github/workflows/%s: %s", name, p)
			}
		})
	}
	files, err := filepath.Glob(filepath.Join("..", ".github", "workflows", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		wf, _ := readYAML(t, f)
		if get(get(wf, "on"), "workflow_call") != nil && !slices.Contains(pipelines, filepath.Base(f)) {
			t.Errorf("%s is a reusable workflow: add it to the pipelines this test checks", rel(f))
		}
	}
}

// TestCheckPipelineFindsDrift breaks a good pipeline in each way
// checkPipeline must catch.
func TestCheckPipelineFindsDrift(t *testing.T) {
	t.Parallel()
	good := `name: demo

# A demo pipeline.
#
# Inputs: region*, environment
# Secrets: none.
# Outputs: version.
#
#   jobs:
#     demo:
#       permissions: {contents: read, id-token: write}

on:
  workflow_call:
    inputs:
      region:
        description: the region
        type: string
        required: true
      environment:
        description: where
        type: string
        default: production
    outputs:
      version:
        description: the version
        value: ${{ jobs.deploy.outputs.version }}

permissions: {}

jobs:
  deploy:
    runs-on: ubuntu-latest
    timeout-minutes: 10
    environment: ${{ inputs.environment }}
    concurrency:
      group: demo-${{ inputs.environment }}
      cancel-in-progress: false
    permissions:
      contents: read
      id-token: write
    outputs:
      version: ${{ steps.deploy.outputs.version }}
    steps:
      - uses: aws-actions/configure-aws-credentials@61815dcd50bd041e203e49132bacad1fd04d2708 # v5.1.1
        with:
          aws-region: ${{ inputs.region }}
      - id: deploy
        uses: mlship/mlship/actions/lambda-deploy@v1
        with:
          function: demo
      - run: echo "$VERSION"
        env:
          VERSION: ${{ steps.deploy.outputs.version }}
`
	parse := func(src string) *yaml.Node {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Content[0]
	}
	if p := checkPipeline(parse(good), good); len(p) != 0 {
		t.Fatalf("good pipeline reported: %q", p)
	}
	tests := []struct{ name, old, new, want string }{
		{"another trigger", "on:\n  workflow_call:\n", "on:\n  push:\n  workflow_call:\n", "want workflow_call only"},
		{"workflow-wide permissions", "permissions: {}\n", "permissions: write-all\n", "want {} at the top"},
		{"job without permissions", "    permissions:\n      contents: read\n      id-token: write\n", "", `job "deploy": want its own permissions`},
		{"AWS without id-token", "      id-token: write\n", "", `job "deploy" assumes an AWS role but has no id-token: write`},
		{"id-token without AWS", "      - uses: aws-actions/configure-aws-credentials@61815dcd50bd041e203e49132bacad1fd04d2708 # v5.1.1\n        with:\n          aws-region: ${{ inputs.region }}\n", "", `job "deploy" does not call AWS but asks for id-token`},
		{"action by tag", "configure-aws-credentials@61815dcd50bd041e203e49132bacad1fd04d2708 # v5.1.1", "configure-aws-credentials@v5", "pin a third-party action by its full commit SHA"},
		{"SHA without its version", "d2708 # v5.1.1", "d2708", "with a # vX.Y.Z comment"},
		{"own action by branch", "lambda-deploy@v1", "lambda-deploy@main", "use this repository's actions at @v1"},
		{"deploy outside an environment", "    environment: ${{ inputs.environment }}\n", "", `job "deploy" deploys outside a GitHub environment`},
		{"no concurrency", "    concurrency:\n      group: demo-${{ inputs.environment }}\n      cancel-in-progress: false\n", "", "without a concurrency group"},
		{"group without the environment", "group: demo-${{ inputs.environment }}", "group: demo", "does not hold the environment"},
		{"cancels a running deploy", "cancel-in-progress: false", "cancel-in-progress: true", "want cancel-in-progress: false"},
		{"no timeout", "    timeout-minutes: 10\n", "", `job "deploy": no timeout-minutes`},
		{"expression in a script", `- run: echo "$VERSION"`, `- run: echo "${{ steps.deploy.outputs.version }}"`, "a run: script holds an expression"},
		{"input not in the header", "# Inputs: region*, environment\n", "# Inputs: region*\n", `input "environment" is not named in the header comment`},
		{"output not in the header", "# Outputs: version.\n", "# Outputs: none.\n", `output "version" is not named in the header comment`},
		{"input named only in prose", "# A demo pipeline.\n#\n# Inputs: region*, environment\n", "# A demo pipeline for an environment.\n#\n# Inputs: region*\n", `input "environment" is not named in the header comment`},
		{"input without description", "        description: where\n", "", `input "environment" has no description`},
		{"header permissions short", "{contents: read, id-token: write}", "{contents: read}", `give id-token: "", the jobs ask for "write"`},
		{"header permissions too many", "{contents: read, id-token: write}", "{contents: read, id-token: write, issues: write}", "give issues, which no job asks for"},
		{"no Secrets list", "# Secrets: none.\n", "", "no Inputs, Secrets: and Outputs: lists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := strings.Replace(good, tt.old, tt.new, 1)
			if src == good {
				t.Fatalf("%q is not in the good pipeline", tt.old)
			}
			p := checkPipeline(parse(src), src)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("problems %q, want one containing %q", p, tt.want)
			}
		})
	}
}

// TestExamplesCallEveryPipeline: docs/examples holds a caller for each
// reusable workflow, with the triggers docs/pipelines.md describes: a
// paths: trigger on the notebook, a weekly schedule:, and the retail API's
// branches mapped to environments.
func TestExamplesCallEveryPipeline(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "docs", "examples", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("docs/examples has %d workflows, want a caller for each of the five pipelines", len(files))
	}
	called := map[string]bool{}
	var notebookPaths, weekly bool
	callRef := regexp.MustCompile(`^mlship/mlship/\.github/workflows/([a-z-]+\.yml)@v1$`)
	for _, f := range files {
		wf, src := readYAML(t, f)
		if !strings.HasPrefix(src, "# Pipeline ") {
			t.Errorf("%s: start with a comment saying which pipeline of docs/pipelines.md it is", rel(f))
		}
		calls := 0
		for _, kv := range pairs(get(wf, "jobs")) {
			for _, step := range items(get(kv[1], "steps")) {
				uses := get(step, "uses")
				if uses == nil || ownAction.MatchString(uses.Value) {
					continue
				}
				if !pinned.MatchString(uses.Value) || !versionNote.MatchString(uses.LineComment) {
					t.Errorf("%s: job %q: %s: pin a third-party action by its full commit SHA, with a # vX.Y.Z comment", rel(f), kv[0].Value, uses.Value)
				}
			}
			if uses := get(kv[1], "uses"); uses != nil {
				m := callRef.FindStringSubmatch(uses.Value)
				if m == nil {
					t.Errorf("%s: job %q uses %q, want mlship/mlship/.github/workflows/<pipeline>@v1", rel(f), kv[0].Value, uses.Value)
					continue
				}
				called[m[1]] = true
				calls++
			}
		}
		if calls == 0 {
			t.Errorf("%s calls none of the pipelines", rel(f))
		}
		on := get(wf, "on")
		for _, p := range items(get(get(on, "push"), "paths")) {
			notebookPaths = notebookPaths || strings.HasSuffix(p.Value, ".ipynb")
		}
		for _, s := range items(get(on, "schedule")) {
			if fields := strings.Fields(get(s, "cron").Value); len(fields) == 5 && fields[4] != "*" && fields[2] == "*" {
				weekly = true
			}
		}
		if filepath.Base(f) == "retail-api.yml" {
			branches := get(get(on, "push"), "branches")
			var got []string
			for _, b := range items(branches) {
				got = append(got, b.Value)
			}
			env := get(get(get(get(wf, "jobs"), "ship"), "with"), "environment")
			if !slices.Contains(got, "develop") || !slices.Contains(got, "main") || env == nil ||
				env.Value != "${{ github.ref_name == 'main' && 'production' || 'staging' }}" {
				t.Errorf("%s: want pushes to develop and main, and environment main -> production, else (develop) staging; got branches %v, environment %v", rel(f), got, env)
			}
		}
	}
	for _, p := range pipelines {
		if !called[p] {
			t.Errorf("no example in docs/examples calls %s", p)
		}
	}
	if !notebookPaths {
		t.Error("no example runs on a push that touches the notebook (on.push.paths with a .ipynb)")
	}
	if !weekly {
		t.Error("no example has a weekly schedule: (a cron with a day of the week)")
	}
}

// TestWorkflowChecksOnTheRealFiles breaks the repository's own workflows
// and examples in the ways the checks of internal/lint must catch, so that
// the examples cannot drift from the workflows they call, nor the
// workflows from the actions they use.
func TestWorkflowChecksOnTheRealFiles(t *testing.T) {
	t.Parallel()
	tests := []struct{ file, old, new, want string }{
		{"docs/examples/credit-approval.yml", "      min-accuracy: '0.9'", "      min-acuracy: '0.9'",
			`input "min-acuracy" is not an input of mlship/mlship/.github/workflows/lambda-model.yml`},
		{"docs/examples/credit-approval.yml", "      repository: credit/inference\n", "",
			`mlship/mlship/.github/workflows/lambda-model.yml needs input "repository"`},
		{"docs/examples/credit-approval.yml", "needs.ship.outputs.healthy", "needs.ship.outputs.health",
			`mlship/mlship/.github/workflows/lambda-model.yml has no output "health"`},
		{"docs/examples/credit-approval.yml", "      issues: write # the staleness issue\n", "",
			`needs "issues: write", but job "ship" grants "issues: none"`},
		{"docs/examples/retail-api.yml", "      deployment: retail-api\n", "",
			`mlship/mlship/.github/workflows/eks-model.yml needs input "deployment"`},
		{"docs/examples/pricing-api.yml", "      ssm-parameter: /pricing/api/image-tag\n      tag:", "      ssm-param: /pricing/api/image-tag\n      tag:",
			`input "ssm-param" is not an input of mlship/mlship/.github/workflows/lambda-release.yml`},
		{"docs/examples/model-monitor.yml", "needs.notebook.outputs.age-human", "needs.notebook.outputs.age",
			`mlship/mlship/.github/workflows/model-monitor.yml has no output "age"`},
		{".github/workflows/lambda-release.yml", "          ssm-parameter: ${{ inputs.ssm-parameter }}", "          ssm: ${{ inputs.ssm-parameter }}",
			`input "ssm" is not an input of mlship/mlship/actions/ecr-push`},
		{".github/workflows/lambda-release.yml", "${{ steps.plan.outputs.image-tag }}", "${{ steps.plan.outputs.tag }}",
			`mlship/mlship/actions/lambda-deploy has no output "tag"`},
		{".github/workflows/eks-model.yml", "          path: ${{ inputs.health-path || '/' }}", "          probe-path: ${{ inputs.health-path || '/' }}",
			`input "probe-path" is not an input of mlship/mlship/actions/health-rollback`},
		{".github/workflows/model-monitor.yml", "value: ${{ jobs.check.outputs.age-human }}", "value: ${{ jobs.check.outputs.age }}",
			`output "age-human" reads jobs.check.outputs.age: job "check" has no output "age"`},
		{".github/workflows/promote-image.yml", "      - name: Policies allow the promotion\n        if: inputs.policy != ''\n        uses: mlship/mlship/actions/policy-gate@v1\n        with:\n          policy: ${{ inputs.policy }}\n",
			"      - name: Policies allow the promotion\n        if: inputs.policy != ''\n        uses: mlship/mlship/actions/policy-gate@v1\n        with:\n",
			`mlship/mlship/actions/policy-gate needs input "policy"`},
	}
	for _, tt := range tests {
		src, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(tt.file)))
		if err != nil {
			t.Fatal(err)
		}
		if _, p, err := lint.Snippet("..", tt.file, src, nil); err != nil || len(p) != 0 {
			t.Errorf("%s as it is: %v %v", tt.file, p, err)
			continue
		}
		broken := strings.Replace(string(src), tt.old, tt.new, 1)
		if broken == string(src) {
			t.Fatalf("%s: %q is not in it", tt.file, tt.old)
		}
		kind, p, err := lint.Snippet("..", tt.file, []byte(broken), nil)
		if err != nil || kind != lint.KindWorkflow {
			t.Fatalf("%s: %s, %v", tt.file, kind, err)
		}
		if !slices.ContainsFunc(p, func(p lint.Problem) bool {
			return strings.HasPrefix(p.Kind, "mlship-") && strings.Contains(p.Message, tt.want)
		}) {
			t.Errorf("%s with %q: problems %v, want one of ours containing %q", tt.file, tt.new, p, tt.want)
		}
	}
}

// stepScript is the run: script of the step of job named name (or, when
// name is empty, of the one step of the job with a run: script).
func stepScript(t *testing.T, file, job, name string) string {
	t.Helper()
	wf, _ := readYAML(t, filepath.Join("..", ".github", "workflows", file))
	j := get(get(wf, "jobs"), job)
	if j == nil {
		t.Fatalf("%s has no job %q", file, job)
	}
	for _, s := range items(get(j, "steps")) {
		if n := get(s, "name"); n != nil && n.Value == name {
			run := get(s, "run")
			if run == nil {
				t.Fatalf("%s: job %s: step %q has no run:", file, job, name)
			}
			if sh := get(s, "shell"); sh == nil || sh.Value != "bash" {
				t.Fatalf("%s: job %s: step %q: want shell: bash", file, job, name)
			}
			return run.Value
		}
	}
	t.Fatalf("%s: job %s has no step %q", file, job, name)
	return ""
}

type scriptRun struct {
	code    int
	stdout  string
	outputs string // what it wrote to GITHUB_OUTPUT
}

// runScript runs a step's script as the runner runs a shell: bash step
// (bash --noprofile --norc -eo pipefail), with env and a GITHUB_OUTPUT file.
func runScript(t *testing.T, script string, env map[string]string, path string) scriptRun {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "output")
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "step.sh")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", f)
	cmd.Env = []string{"GITHUB_OUTPUT=" + out, "RUNNER_TEMP=" + dir, "PATH=" + path}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatal(err)
		}
		code = exit.ExitCode()
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return scriptRun{code: code, stdout: stdout.String(), outputs: string(b)}
}

// TestWorkflowScripts runs the shell steps of the pipelines, which are
// logic of their own (thresholds, tag and digest checks, the build's
// arguments), the way the runner does, and checks what they do with good
// and with bad input.
func TestWorkflowScripts(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("SKIPPED, not passed: no bash on PATH")
	}
	path := os.Getenv("PATH")
	params := func(out string) string {
		// params<<DELIM\n...\nDELIM\n
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "params<<params_") || lines[len(lines)-1] != strings.TrimPrefix(lines[0], "params<<") {
			return "not a multi-line output: " + out
		}
		return strings.Join(lines[1:len(lines)-1], "\n")
	}

	t.Run("thresholds", func(t *testing.T) {
		t.Parallel()
		for _, file := range []string{"eks-model.yml", "lambda-model.yml"} {
			job := map[string]string{"eks-model.yml": "test", "lambda-model.yml": "gate"}[file]
			script := stepScript(t, file, job, "Thresholds")
			tests := []struct {
				env    map[string]string
				code   int
				params string
				error  string
			}{
				{map[string]string{"POLICY": "builtin:model-quality", "MIN_ACCURACY": "0.8", "MIN_F1": "0.7"}, 0, "min_accuracy=0.8\nmin_f1=0.7", ""},
				{map[string]string{"POLICY": "builtin:model-quality", "MIN_ACCURACY": "0.8", "MIN_F1": "", "EXTRA": "max_age_days=7"}, 0, "min_accuracy=0.8\nmax_age_days=7", ""},
				{map[string]string{"POLICY": "builtin:model-quality", "MIN_ACCURACY": "0.8 # or less"}, 2, "", "::error::input min-accuracy is '0.8 # or less', want a number"},
				{map[string]string{"POLICY": "builtin:model-quality", "MIN_ACCURACY": "0.8\nmin_accuracy=0"}, 2, "", "want a number"},
				{map[string]string{"POLICY": "builtin:model-quality", "MIN_F1": "NaN"}, 2, "", "::error::input min-f1 is 'NaN', want a number"},
				{map[string]string{"POLICY": "builtin:model-quality", "MIN_ACCURACY": "", "MIN_F1": ""}, 2, "", "checks nothing without a threshold"},
				{map[string]string{"POLICY": "policies/", "MIN_ACCURACY": "", "MIN_F1": ""}, 0, "", ""},
			}
			if file == "lambda-model.yml" {
				tests = append(tests, struct {
					env    map[string]string
					code   int
					params string
					error  string
				}{map[string]string{"POLICY": "builtin:model-quality", "MIN_ACCURACY": "0.9", "MAX_FAIRNESS_GAP": "21"}, 0, "min_accuracy=0.9\nmax_fairness_gap=21", ""})
			}
			for _, tt := range tests {
				r := runScript(t, script, tt.env, path)
				if r.code != tt.code || !strings.Contains(r.stdout, tt.error) {
					t.Errorf("%s with %q: exit %d, %q; want exit %d and %q", file, tt.env, r.code, r.stdout, tt.code, tt.error)
					continue
				}
				if tt.code == 0 {
					if got := params(r.outputs); got != tt.params {
						t.Errorf("%s with %q: params %q, want %q", file, tt.env, got, tt.params)
					}
				} else if r.outputs != "" {
					t.Errorf("%s with %q: failed, but wrote outputs %q", file, tt.env, r.outputs)
				}
			}
		}
	})

	t.Run("first tag", func(t *testing.T) {
		t.Parallel()
		for _, file := range []string{"lambda-release.yml", "lambda-model.yml"} {
			script := stepScript(t, file, "build", "The first tag")
			for tags, want := range map[string]string{"12-abc1234,latest": "12-abc1234", "987654": "987654"} {
				if r := runScript(t, script, map[string]string{"TAGS": tags}, path); r.code != 0 || r.outputs != "tag="+want+"\n" {
					t.Errorf("%s: tags %q: exit %d, outputs %q, want tag=%s", file, tags, r.code, r.outputs, want)
				}
			}
		}
	})

	t.Run("the scanned digest", func(t *testing.T) {
		t.Parallel()
		for _, file := range []string{"lambda-release.yml", "lambda-model.yml"} {
			script := stepScript(t, file, "record", "It is the image that was scanned")
			same := map[string]string{"WANT": "sha256:aaa", "GOT": "sha256:aaa", "TAG": "12"}
			if r := runScript(t, script, same, path); r.code != 0 {
				t.Errorf("%s: the same digest: exit %d, %s", file, r.code, r.stdout)
			}
			moved := map[string]string{"WANT": "sha256:aaa", "GOT": "sha256:bbb", "TAG": "12"}
			if r := runScript(t, script, moved, path); r.code != 1 || !strings.Contains(r.stdout, "::error::tag 12 points at sha256:bbb, not at the scanned sha256:aaa") {
				t.Errorf("%s: a moved tag: exit %d, %q", file, r.code, r.stdout)
			}
			if r := runScript(t, script, map[string]string{"WANT": "sha256:aaa", "GOT": "", "TAG": "12"}, path); r.code != 1 {
				t.Errorf("%s: no digest looked up: exit %d, want 1", file, r.code)
			}
		}
	})

	t.Run("promotion inputs", func(t *testing.T) {
		t.Parallel()
		script := stepScript(t, "promote-image.yml", "gate", "The integration test of ${{ inputs.from }} passed")
		tests := []struct {
			passed, from, to, version string
			code                      int
			want                      string
		}{
			{"true", "staging", "canary", "1.0.7", 0, "integration test of staging passed"},
			{"false", "staging", "canary", "1.0.7", 1, "::error::the integration test of staging did not pass: nothing is promoted"},
			{"", "staging", "canary", "1.0.7", 1, "did not pass"},
			{"true", "staging", "canary", "1.0.7\npromotion.to=production", 2, "::error::input version"},
			{"true", "staging", "canary", "1.0.7\"", 2, "::error::input version"},
			{"true", "staging", "canary", "", 2, "::error::input version ''"},
			{"true", "stag ing", "canary", "1.0.7", 2, "::error::input from 'stag ing'"},
			{"true", "staging", "-canary", "1.0.7", 2, "::error::input to '-canary'"},
			{"true", "staging", "staging", "1.0.7", 2, "::error::input to 'staging': the same environment as from"},
		}
		for _, tt := range tests {
			r := runScript(t, script, map[string]string{"PASSED": tt.passed, "FROM": tt.from, "TO": tt.to, "VERSION": tt.version}, path)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.want) {
				t.Errorf("passed %q from %q to %q version %q: exit %d, %q; want exit %d and %q", tt.passed, tt.from, tt.to, tt.version, r.code, r.stdout, tt.code, tt.want)
			}
		}
	})

	t.Run("test command", func(t *testing.T) {
		t.Parallel()
		for _, file := range []string{"lambda-release.yml", "eks-model.yml"} {
			script := stepScript(t, file, "test", "Run the tests")
			if r := runScript(t, script, map[string]string{"TEST_COMMAND": "echo testing; true"}, path); r.code != 0 || !strings.Contains(r.stdout, "testing") {
				t.Errorf("%s: a passing command: exit %d, %q", file, r.code, r.stdout)
			}
			for _, failing := range []string{"false", "false | cat", "echo $UNSET_VARIABLE", "exit 3"} {
				if r := runScript(t, script, map[string]string{"TEST_COMMAND": failing}, path); r.code == 0 {
					t.Errorf("%s: %q passed", file, failing)
				}
			}
		}
	})

	t.Run("deploy time", func(t *testing.T) {
		t.Parallel()
		r := runScript(t, stepScript(t, "lambda-release.yml", "deploy", "The deploy time"), nil, path)
		if !regexp.MustCompile(`^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$`).MatchString(r.outputs) || r.code != 0 {
			t.Errorf("exit %d, outputs %q, want time=<RFC 3339 UTC>", r.code, r.outputs)
		}
	})

	// The build's docker command line, with a docker that records it.
	t.Run("buildx arguments", func(t *testing.T) {
		t.Parallel()
		bin := t.TempDir()
		record := filepath.Join(bin, "args")
		fake := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + record + "\n"
		if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
		script := stepScript(t, "eks-model.yml", "build", "Build the image")
		r := runScript(t, script, map[string]string{
			"CONTEXT": "app dir", "DOCKERFILE": "app dir/Dockerfile.api", "PLATFORM": "linux/arm64",
			"BUILD_ARGS": "MODEL=retail v2\n\nREVISION=abc=1\n",
		}, bin+string(os.PathListSeparator)+path)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stdout)
		}
		args, err := os.ReadFile(record)
		if err != nil {
			t.Fatal(err)
		}
		layout := strings.TrimPrefix(strings.TrimSpace(r.outputs), "layout=")
		want := []string{"buildx", "build", "--platform", "linux/arm64", "--provenance=false", "--output", "type=oci,dest=" + layout + ",tar=false",
			"--file", "app dir/Dockerfile.api", "--build-arg", "MODEL=retail v2", "--build-arg", "REVISION=abc=1", "app dir"}
		if got := strings.Split(strings.TrimSuffix(string(args), "\n"), "\n"); !slices.Equal(got, want) {
			t.Errorf("docker %q\nwant   %q", got, want)
		}
		if !strings.HasSuffix(layout, "/mlship-image") {
			t.Errorf("outputs %q, want layout=$RUNNER_TEMP/mlship-image", r.outputs)
		}
		if err := os.WriteFile(filepath.Join(bin, "docker"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if r := runScript(t, script, map[string]string{"CONTEXT": ".", "PLATFORM": "linux/amd64"}, bin+string(os.PathListSeparator)+path); r.code == 0 || r.outputs != "" {
			t.Errorf("a failed build: exit %d, outputs %q", r.code, r.outputs)
		}
	})
}

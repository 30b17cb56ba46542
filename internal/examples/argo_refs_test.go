package examples

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/toolset"
)

// The checks here are those `argo lint` makes that a schema cannot: that
// every template, templateRef, task, parameter and volume a template names
// exists, that a task reads outputs only of the tasks it depends on; and
// mlship's own: every mlship step's command line parses with the tool's
// flags, its result file is an output parameter, and nothing is promoted
// unless a health check of the model's version passed before it.

const mlshipImage = "ghcr.io/mlship/mlship:"

var (
	simpleTag = regexp.MustCompile(`\{\{\s*([^={}][^{}]*?)\s*\}\}`)
	exprTag   = regexp.MustCompile(`\{\{=([^{}]*)\}\}`)
	// References inside an expression: tasks['x'].outputs.parameters.y,
	// tasks.x.outputs.parameters.y, inputs.parameters['x'] and the rest.
	exprTasks  = regexp.MustCompile(`tasks(?:\['([^']+)'\]|\.([A-Za-z0-9_]+))\.outputs\.parameters(?:\['([^']+)'\]|\.([A-Za-z0-9_-]+))`)
	exprInputs = regexp.MustCompile(`inputs\.parameters(?:\['([^']+)'\]|\.([A-Za-z0-9_]+))`)
	exprWF     = regexp.MustCompile(`workflow\.parameters(?:\['([^']+)'\]|\.([A-Za-z0-9_]+))`)
	dependsRef = regexp.MustCompile(`([A-Za-z0-9][A-Za-z0-9-]*)(?:\.([A-Za-z]+))?`)
)

var dependsResults = []string{"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}

// globals are the variables Argo sets for every workflow that the
// examples may read.
var globals = []string{"workflow.name", "workflow.namespace", "workflow.uid", "workflow.serviceAccountName", "workflow.creationTimestamp"}

type checker struct {
	set      map[string]*workflowTemplate // by name: the examples' WorkflowTemplates
	problems []string
}

func (c *checker) addf(format string, a ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, a...))
}

func names(ps []parameter) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func (wt *workflowTemplate) template(name string) *template {
	for i := range wt.Spec.Templates {
		if wt.Spec.Templates[i].Name == name {
			return &wt.Spec.Templates[i]
		}
	}
	return nil
}

func (wt *workflowTemplate) volumes() []string {
	var out []string
	for _, v := range wt.Spec.Volumes {
		out = append(out, v.Name)
	}
	for _, v := range wt.Spec.VolumeClaimTemplates {
		out = append(out, v.Metadata.Name)
	}
	return out
}

// resolve returns the template a task runs and the WorkflowTemplate it is in.
func (c *checker) resolve(wt *workflowTemplate, tk *task) (*template, *workflowTemplate) {
	if tk.TemplateRef != nil {
		ref, ok := c.set[tk.TemplateRef.Name]
		if !ok {
			return nil, nil
		}
		return ref.template(tk.TemplateRef.Template), ref
	}
	return wt.template(tk.Template), wt
}

func (c *checker) check(wt *workflowTemplate) {
	name := wt.Metadata.Name
	library := wt.Spec.Entrypoint == ""
	if !library && wt.template(wt.Spec.Entrypoint) == nil {
		c.addf("%s: entrypoint %s is not a template", name, wt.Spec.Entrypoint)
	}
	for i := range wt.Spec.Templates {
		tm := &wt.Spec.Templates[i]
		where := name + "/" + tm.Name
		c.checkVariables(where, wt, tm, library)
		if cn := tm.container(); cn != nil && !library {
			for _, m := range cn.VolumeMounts {
				if !slices.Contains(wt.volumes(), m.Name) {
					c.addf("%s: mounts volume %s, which %s does not have", where, m.Name, name)
				}
			}
		}
		if cn := tm.container(); cn != nil && strings.HasPrefix(cn.Image, mlshipImage) {
			c.checkMlshipStep(where, tm, cn)
		}
		if tm.Resource != nil {
			c.checkCreatedWorkflow(where, tm)
		}
		if tm.DAG != nil {
			c.checkDAG(where, wt, tm)
		}
	}
}

// checkVariables checks the {{inputs.parameters.x}} and
// {{workflow.parameters.x}} a template reads.
func (c *checker) checkVariables(where string, wt *workflowTemplate, tm *template, library bool) {
	for _, text := range tm.texts() {
		for _, m := range simpleTag.FindAllStringSubmatch(text, -1) {
			c.checkVariable(where, wt, tm, m[1], library)
		}
		for _, m := range exprTag.FindAllStringSubmatch(text, -1) {
			for _, r := range exprInputs.FindAllStringSubmatch(m[1], -1) {
				c.checkVariable(where, wt, tm, "inputs.parameters."+r[1]+r[2], library)
			}
			for _, r := range exprWF.FindAllStringSubmatch(m[1], -1) {
				c.checkVariable(where, wt, tm, "workflow.parameters."+r[1]+r[2], library)
			}
		}
	}
}

func (c *checker) checkVariable(where string, wt *workflowTemplate, tm *template, v string, library bool) {
	switch {
	case strings.HasPrefix(v, "inputs.parameters."):
		if p := strings.TrimPrefix(v, "inputs.parameters."); !slices.Contains(names(tm.Inputs.Parameters), p) {
			c.addf("%s: reads {{%s}}, but has no input parameter %s", where, v, p)
		}
	case strings.HasPrefix(v, "workflow.parameters."):
		p := strings.TrimPrefix(v, "workflow.parameters.")
		switch {
		case library:
			c.addf("%s: a library template reads {{%s}}, which a workflow calling it may not have; take it as an input", where, v)
		case !slices.Contains(names(wt.Spec.Arguments.Parameters), p):
			c.addf("%s: reads {{%s}}, but %s has no argument %s", where, v, wt.Metadata.Name, p)
		}
	case strings.HasPrefix(v, "tasks."):
		// Checked with the DAG.
	case !slices.Contains(globals, v):
		c.addf("%s: reads {{%s}}, not a variable the examples may use", where, v)
	}
}

func (c *checker) checkDAG(where string, wt *workflowTemplate, tm *template) {
	tasks := map[string]*task{}
	for i := range tm.DAG.Tasks {
		tk := &tm.DAG.Tasks[i]
		if tasks[tk.Name] != nil {
			c.addf("%s: task %s twice", where, tk.Name)
		}
		tasks[tk.Name] = tk
	}
	deps := map[string][]string{}
	for _, tk := range tm.DAG.Tasks {
		for _, m := range dependsRef.FindAllStringSubmatch(tk.Depends, -1) {
			if m[2] != "" && !slices.Contains(dependsResults, m[2]) {
				c.addf("%s: task %s depends on %s.%s, not a task result", where, tk.Name, m[1], m[2])
			}
			if tasks[m[1]] == nil {
				c.addf("%s: task %s depends on %s, not a task of the DAG", where, tk.Name, m[1])
				continue
			}
			deps[tk.Name] = append(deps[tk.Name], m[1])
		}
	}
	ancestors := func(name string) []string {
		var out []string
		queue := slices.Clone(deps[name])
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			if !slices.Contains(out, n) {
				out = append(out, n)
				queue = append(queue, deps[n]...)
			}
		}
		return out
	}
	for i := range tm.DAG.Tasks {
		tk := &tm.DAG.Tasks[i]
		tw := where + " task " + tk.Name
		target, targetWT := c.resolve(wt, tk)
		if target == nil {
			if tk.TemplateRef != nil {
				c.addf("%s: templateRef %s/%s does not exist", tw, tk.TemplateRef.Name, tk.TemplateRef.Template)
			} else {
				c.addf("%s: template %s does not exist", tw, tk.Template)
			}
			continue
		}
		given := names(tk.Arguments.Parameters)
		for _, in := range target.Inputs.Parameters {
			if in.Value == nil && in.Default == nil && !slices.Contains(given, in.Name) {
				c.addf("%s: %s needs the parameter %s", tw, target.Name, in.Name)
			}
		}
		for _, g := range given {
			if !slices.Contains(names(target.Inputs.Parameters), g) {
				c.addf("%s: passes %s, not an input of %s", tw, g, target.Name)
			}
		}
		if targetWT != wt {
			if cn := target.container(); cn != nil {
				for _, m := range cn.VolumeMounts {
					if !slices.Contains(wt.volumes(), m.Name) {
						c.addf("%s: %s/%s mounts volume %s, which %s does not have", tw, targetWT.Metadata.Name, target.Name, m.Name, wt.Metadata.Name)
					}
				}
			}
		}
		var texts []string
		for _, a := range tk.Arguments.Parameters {
			if a.Value != nil {
				texts = append(texts, *a.Value)
			}
		}
		texts = append(texts, tk.When)
		for _, text := range texts {
			var refs [][2]string
			for _, m := range simpleTag.FindAllStringSubmatch(text, -1) {
				v := m[1]
				if !strings.HasPrefix(v, "tasks.") {
					c.checkVariable(tw, wt, tm, v, false)
					continue
				}
				parts := strings.SplitN(strings.TrimPrefix(v, "tasks."), ".outputs.parameters.", 2)
				if len(parts) != 2 {
					c.addf("%s: reads {{%s}}, not an output parameter of a task", tw, v)
					continue
				}
				refs = append(refs, [2]string{parts[0], parts[1]})
			}
			for _, m := range exprTag.FindAllStringSubmatch(text, -1) {
				for _, r := range exprTasks.FindAllStringSubmatch(m[1], -1) {
					refs = append(refs, [2]string{r[1] + r[2], r[3] + r[4]})
				}
				if strings.Contains(m[1], "tasks.") && strings.Contains(m[1], "-") && exprTasks.FindString(m[1]) == "" {
					c.addf("%s: expression %q: a task name with a dash is read as tasks['name']", tw, m[1])
				}
			}
			for _, r := range refs {
				from, out := r[0], r[1]
				if !slices.Contains(ancestors(tk.Name), from) {
					c.addf("%s: reads an output of %s, which it does not depend on", tw, from)
					continue
				}
				src, _ := c.resolve(wt, tasks[from])
				if src == nil || !slices.Contains(names(src.Outputs.Parameters), out) {
					c.addf("%s: reads output %s of task %s, which its template does not have", tw, out, from)
				}
			}
		}
	}
	c.checkGates(where, wt, tm, tasks, deps)
}

// checkMlshipStep parses an mlship step's command line with the tool's own
// flags, every {{variable}} a placeholder, and checks that its result file
// is an output parameter.
func (c *checker) checkMlshipStep(where string, tm *template, cn *container) {
	if len(cn.Command) != 1 || !slices.Contains(toolset.Names(), cn.Command[0]) {
		c.addf("%s: the mlship image runs one tool: command %q", where, cn.Command)
		return
	}
	if !strings.HasSuffix(cn.Image, ":v1") {
		c.addf("%s: image %s, want the major tag %sv1", where, cn.Image, mlshipImage)
	}
	var args []string
	for _, a := range cn.Args {
		a = exprTag.ReplaceAllString(a, "VALUE")
		args = append(args, simpleTag.ReplaceAllString(a, "VALUE"))
	}
	if msg := parseWithTool(cn.Command[0], args); msg != "" {
		c.addf("%s: %s %s: %s", where, cn.Command[0], strings.Join(cn.Args, " "), msg)
	}
	for _, a := range cn.Args {
		if file, ok := strings.CutPrefix(a, "--result-file="); ok {
			if !slices.ContainsFunc(tm.Outputs.Parameters, func(p parameter) bool { return p.ValueFrom != nil && p.ValueFrom.Path == file }) {
				c.addf("%s: writes its result to %s, which no output parameter reads", where, file)
			}
		}
	}
}

// parseWithTool parses args with the tool's command line and a Run that
// does nothing, returning the error the tool printed, or "".
func parseWithTool(tool string, args []string) string {
	i := slices.IndexFunc(toolset.All, func(tl toolset.Tool) bool { return tl.Name == tool })
	cmd := toolset.All[i].Command()
	cmd.Run = func(context.Context, *cli.Context, *command.Runtime) (command.Result, error) { return nil, nil }
	var stdout, stderr bytes.Buffer
	code := cmd.Main(append([]string{tool}, args...), command.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	if code != 0 {
		return fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	return ""
}

// checkCreatedWorkflow checks the Workflow a resource template creates
// from one of the examples' WorkflowTemplates: the template exists and
// gets every argument it needs, and only those it has.
func (c *checker) checkCreatedWorkflow(where string, tm *template) {
	var wf struct {
		Kind string `json:"kind"`
		Spec struct {
			WorkflowTemplateRef struct {
				Name string `json:"name"`
			} `json:"workflowTemplateRef"`
			Arguments struct {
				Parameters []parameter `json:"parameters"`
			} `json:"arguments"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(tm.Resource.Manifest), &wf); err != nil {
		c.addf("%s: manifest: %v", where, err)
		return
	}
	if wf.Kind != "Workflow" {
		return
	}
	target, ok := c.set[wf.Spec.WorkflowTemplateRef.Name]
	if !ok {
		c.addf("%s: creates a Workflow of %s, not one of the examples' WorkflowTemplates", where, wf.Spec.WorkflowTemplateRef.Name)
		return
	}
	given := names(wf.Spec.Arguments.Parameters)
	for _, p := range target.Spec.Arguments.Parameters {
		if p.Value == nil && !slices.Contains(given, p.Name) {
			c.addf("%s: the Workflow of %s it creates needs the argument %s", where, target.Metadata.Name, p.Name)
		}
	}
	for _, g := range given {
		if !slices.Contains(names(target.Spec.Arguments.Parameters), g) {
			c.addf("%s: passes %s, not an argument of %s", where, g, target.Metadata.Name)
		}
	}
}

// checkGates: a task that promotes (ecr-push --source-tag, or a Workflow of
// promote-model) runs only after a health check of the model's version
// (health-rollback --expect-body) succeeded, every task between them
// depending on the one before with NAME.Succeeded alone: a failed check,
// or one that did not run, stops the promotion.
func (c *checker) checkGates(where string, wt *workflowTemplate, tm *template, tasks map[string]*task, deps map[string][]string) {
	runs := func(tk *task, tool, flag string) bool {
		target, _ := c.resolve(wt, tk)
		if target == nil {
			return false
		}
		if cn := target.container(); cn != nil && slices.Equal(cn.Command, []string{tool}) {
			return slices.ContainsFunc(cn.Args, func(a string) bool { return strings.HasPrefix(a, flag+"=") })
		}
		return false
	}
	promotes := func(tk *task) bool {
		if runs(tk, "ecr-push", "--source-tag") {
			return true
		}
		target, _ := c.resolve(wt, tk)
		return target != nil && target.Resource != nil && strings.Contains(target.Resource.Manifest, "name: promote-model")
	}
	strict := regexp.MustCompile(`^\s*[A-Za-z0-9-]+\.Succeeded(\s*&&\s*[A-Za-z0-9-]+\.Succeeded)*\s*$`)
	for _, tk := range tm.DAG.Tasks {
		if !promotes(&tk) {
			continue
		}
		// Walk back along strict dependencies to a version check.
		seen := map[string]bool{}
		queue := []string{tk.Name}
		found := false
		for len(queue) > 0 && !found {
			n := queue[0]
			queue = queue[1:]
			if seen[n] {
				continue
			}
			seen[n] = true
			cur := tasks[n]
			if n != tk.Name && runs(cur, "health-rollback", "--expect-body") {
				found = true
				break
			}
			if !strict.MatchString(cur.Depends) {
				continue
			}
			queue = append(queue, deps[n]...)
		}
		if !found {
			c.addf("%s: task %s promotes without a health check of the model's version (health-rollback --expect-body) succeeding before it, through NAME.Succeeded dependencies only", where, tk.Name)
		}
	}
}

func exampleSet(t *testing.T) (map[string]*workflowTemplate, []argoDoc) {
	t.Helper()
	docs := argoDocs(t)
	set := map[string]*workflowTemplate{}
	for _, d := range docs {
		if d.wt != nil && strings.HasPrefix(d.where, "docs/examples/") {
			if set[d.wt.Metadata.Name] != nil {
				t.Errorf("%s: WorkflowTemplate %s twice", d.where, d.wt.Metadata.Name)
			}
			set[d.wt.Metadata.Name] = d.wt
		}
	}
	return set, docs
}

// TestArgoExamplesReferences runs the reference checks over the examples
// and the docs' snippets (which call the examples' templates).
func TestArgoExamplesReferences(t *testing.T) {
	t.Parallel()
	set, docs := exampleSet(t)
	for _, name := range []string{"mlship-steps", "train-model", "build-container-image", "promote-model"} {
		if set[name] == nil {
			t.Errorf("docs/examples/argo has no WorkflowTemplate %s", name)
		}
	}
	for _, d := range docs {
		if d.wt == nil {
			continue
		}
		c := &checker{set: set}
		c.check(d.wt)
		for _, p := range c.problems {
			t.Errorf("%s: %s", d.where, p)
		}
	}
}

// The reference checks find what they are for: each change below breaks
// one of the examples in one way.
func TestArgoReferenceChecksFindMistakes(t *testing.T) {
	t.Parallel()
	set, docs := exampleSet(t)
	raw := map[string]string{}
	for _, d := range docs {
		if d.wt != nil && set[d.wt.Metadata.Name] == d.wt {
			raw[d.wt.Metadata.Name] = string(d.raw)
		}
	}
	for _, tt := range []struct{ wt, old, new, want string }{
		{"promote-model", "            depends: test-source.Succeeded\n", "", "promotes without a health check"},
		{"promote-model", "            depends: test-source.Succeeded\n", "            depends: test-source\n", "promotes without a health check"},
		{"promote-model", "            depends: test-source.Succeeded\n", "            depends: test-source.Succeeded || test-source.Failed\n", "promotes without a health check"},
		{"build-container-image", "            depends: test-staging.Succeeded\n", "            depends: deploy-staging.Succeeded\n", "task promote-to-canary promotes without a health check"},
		{"mlship-steps", "          - --expect-body=\"{{inputs.parameters.version}}\"\n          - --interval=10s", "          - --interval=10s", "promotes without a health check"},
		{"train-model", "              template: image-changed", "              template: image-change", "templateRef mlship-steps/image-change does not exist"},
		{"train-model", `"{{tasks.clone.outputs.parameters.commit}}"`, `"{{tasks.clone.outputs.parameters.comit}}"`, "reads output comit of task clone"},
		{"train-model", "                - name: min-accuracy\n", "                - name: min-acuracy\n", "passes min-acuracy, not an input of metrics-gate"},
		{"train-model", "            depends: image-changed.Succeeded\n", "            depends: clone.Succeeded\n", "reads an output of image-changed, which it does not depend on"},
		{"mlship-steps", "--label-equals=", "--label-equal=", "--label-equal: no such option"},
		{"mlship-steps", "          - --result-file=/tmp/result.json\n      outputs:\n        parameters:\n          - name: result\n            valueFrom:\n              path: /tmp/result.json\n\n    # Pushes", "          - --result-file=/tmp/result.json\n      outputs:\n        parameters:\n          - name: result\n            valueFrom:\n              path: /tmp/out.json\n\n    # Pushes", "writes its result to /tmp/result.json, which no output parameter reads"},
		{"mlship-steps", "--oci-layout={{inputs.parameters.layout}}", "--oci-layout={{inputs.parameters.layuot}}", "has no input parameter layuot"},
		{"build-container-image", "                - name: source-environment\n                  value: staging\n", "", "needs the argument source-environment"},
		{"build-container-image", "        name: workdir\n", "        name: work\n", "mounts volume workdir, which build-container-image does not have"},
	} {
		src, ok := raw[tt.wt]
		if !ok || !strings.Contains(src, tt.old) {
			t.Fatalf("%s: %q is not in the example", tt.wt, tt.old)
		}
		var broken workflowTemplate
		if err := yaml.Unmarshal([]byte(strings.Replace(src, tt.old, tt.new, 1)), &broken); err != nil {
			t.Fatal(err)
		}
		s := map[string]*workflowTemplate{}
		for k, v := range set {
			s[k] = v
		}
		s[tt.wt] = &broken
		var problems []string
		for _, wt := range s {
			c := &checker{set: s}
			c.check(wt)
			problems = append(problems, c.problems...)
		}
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
			t.Errorf("%s: %q -> %q: problems %q, want one containing %q", tt.wt, tt.old, tt.new, problems, tt.want)
		}
	}
}

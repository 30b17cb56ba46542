package lint

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file checks calls of root's reusable workflows
// (mlship/mlship/.github/workflows/<file>@ref, linted as
// ./.github/workflows/<file>) the way checkActionUses checks steps that use
// root's actions: from the workflow_call of the called file, not from what
// actionlint happens to check. A caller must give only inputs and secrets
// the workflow declares, every required one, the permissions its jobs ask
// for (GitHub refuses to start a run whose caller grants less, even for a
// job that would be skipped), and may read only outputs it declares.

// rewriteUses points every uses: of mlship/mlship/actions/<tool>@ref and
// mlship/mlship/.github/workflows/<file>@ref at root's own copy
// (./actions/<tool>, ./.github/workflows/<file>), so that actionlint and the
// checks read root's files. It returns the targets that do not exist in
// root, except the actions of the planned tools, which it leaves as they
// are. Lines are kept where they were.
func rewriteUses(root string, src []byte, planned []string) (string, []string) {
	var missing []string
	text := mlshipUses.ReplaceAllStringFunc(string(src), func(m string) string {
		sub := mlshipUses.FindStringSubmatch(m)
		target := sub[2]
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(target))); err != nil {
			if tool, ok := strings.CutPrefix(target, "actions/"); !ok || !slices.Contains(planned, tool) {
				missing = append(missing, target)
			}
			return m
		}
		return sub[1] + "./" + target
	})
	return text, missing
}

// workflowMeta is what the checks read from a reusable workflow.
type workflowMeta struct {
	inputs   map[string]bool // name: required (and without a default)
	secrets  map[string]bool // name: required
	outputs  map[string]bool
	jobPerms map[string]permissions // what each job asks for, when it says
}

// Permission levels, in order.
const (
	permNone = iota
	permRead
	permWrite
)

var levelNames = []string{"none", "read", "write"}

// permissionScopes are the scopes of a GITHUB_TOKEN.
var permissionScopes = []string{
	"actions", "attestations", "checks", "contents", "deployments", "discussions", "id-token",
	"issues", "models", "packages", "pages", "pull-requests", "repository-projects",
	"security-events", "statuses",
}

// permissions is a permissions: block: the level of each scope. A scope
// not in it is none.
type permissions map[string]int

// parsePermissions reads a permissions: node; ok is false when there is
// none (the token then has the default permissions, or the caller's).
func parsePermissions(n *yaml.Node) (p permissions, ok bool) {
	if n == nil {
		return nil, false
	}
	p = permissions{}
	switch n.Kind {
	case yaml.ScalarNode:
		level := permNone
		switch n.Value {
		case "read-all":
			level = permRead
		case "write-all":
			level = permWrite
		}
		for _, s := range permissionScopes {
			p[s] = level
		}
	case yaml.MappingNode:
		eachPair(n, func(scope string, v *yaml.Node) {
			p[scope] = max(slices.Index(levelNames, v.Value), permNone)
		})
	}
	return p, true
}

// defaultPermissions are what a job that sets none gets from a repository
// with the restricted default (the default of new repositories and
// organizations); a check cannot know a repository's setting, so it
// assumes the lesser one.
var defaultPermissions = permissions{"contents": permRead, "packages": permRead}

func (p permissions) String() string {
	var parts []string
	for _, s := range permissionScopes {
		if p[s] > permNone {
			parts = append(parts, s+": "+levelNames[p[s]])
		}
	}
	if len(parts) == 0 {
		return "{}"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func readWorkflowMeta(root, file string) *workflowMeta {
	b, err := os.ReadFile(filepath.Join(root, ".github", "workflows", file))
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil {
		return nil
	}
	wf := mappingOf(&doc)
	call := lookup(lookup(wf, "on"), "workflow_call")
	if call == nil {
		return nil
	}
	m := &workflowMeta{inputs: map[string]bool{}, secrets: map[string]bool{}, outputs: map[string]bool{}, jobPerms: map[string]permissions{}}
	eachPair(lookup(call, "inputs"), func(k string, v *yaml.Node) {
		req := lookup(v, "required")
		m.inputs[k] = req != nil && req.Value == "true" && lookup(v, "default") == nil
	})
	eachPair(lookup(call, "secrets"), func(k string, v *yaml.Node) {
		req := lookup(v, "required")
		m.secrets[k] = req != nil && req.Value == "true"
	})
	eachPair(lookup(call, "outputs"), func(k string, _ *yaml.Node) { m.outputs[k] = true })
	top, topOK := parsePermissions(lookup(wf, "permissions"))
	eachPair(lookup(wf, "jobs"), func(name string, job *yaml.Node) {
		if p, ok := parsePermissions(lookup(job, "permissions")); ok {
			m.jobPerms[name] = p
		} else if topOK {
			m.jobPerms[name] = top
		}
	})
	return m
}

var (
	localWorkflow = regexp.MustCompile(`^\./\.github/workflows/([A-Za-z0-9_.-]+)$`)
	needsOutput   = regexp.MustCompile(`needs\.([A-Za-z_][A-Za-z0-9_-]*)\.outputs(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'([^']+)'\s*\])`)
	jobsOutput    = regexp.MustCompile(`jobs\.([A-Za-z_][A-Za-z0-9_-]*)\.outputs(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'([^']+)'\s*\])`)
)

// checkWorkflowCalls checks the jobs of wf that call root's reusable
// workflows, the outputs read from any job through needs, and, when wf is
// itself a reusable workflow, that its outputs name job outputs that exist.
func checkWorkflowCalls(root string, wf *yaml.Node) []Problem {
	var problems []Problem
	add := func(n *yaml.Node, format string, args ...any) {
		problems = append(problems, Problem{Line: n.Line, Column: n.Column, Kind: "mlship-workflow", Message: fmt.Sprintf(format, args...)})
	}
	metas := map[string]*workflowMeta{}
	meta := func(file string) *workflowMeta {
		if m, ok := metas[file]; ok {
			return m
		}
		metas[file] = readWorkflowMeta(root, file)
		return metas[file]
	}
	top, topOK := parsePermissions(lookup(wf, "permissions"))
	jobs := lookup(wf, "jobs")

	// What each job lets others read: the outputs of a reusable workflow it
	// calls, or its own outputs: mapping.
	type jobOutputs struct {
		names map[string]bool
		from  string // the workflow called, "" for a job of steps
	}
	declared := map[string]*jobOutputs{}
	eachPair(jobs, func(name string, job *yaml.Node) {
		if uses := lookup(job, "uses"); uses != nil {
			if m := localWorkflow.FindStringSubmatch(uses.Value); m != nil {
				if wm := meta(m[1]); wm != nil {
					declared[name] = &jobOutputs{names: wm.outputs, from: m[1]}
				}
			}
			return
		}
		out := &jobOutputs{names: map[string]bool{}}
		eachPair(lookup(job, "outputs"), func(k string, _ *yaml.Node) { out.names[k] = true })
		declared[name] = out
	})

	eachPair(jobs, func(jobName string, job *yaml.Node) {
		uses := lookup(job, "uses")
		if uses != nil {
			if m := localWorkflow.FindStringSubmatch(uses.Value); m != nil {
				checkCall(jobName, job, uses, m[1], meta(m[1]), top, topOK, add)
			}
		}
		var visit func(*yaml.Node)
		visit = func(n *yaml.Node) {
			if n.Kind == yaml.ScalarNode {
				for _, m := range needsOutput.FindAllStringSubmatch(n.Value, -1) {
					id, out := m[1], m[2]+m[3]
					d, ok := declared[id]
					if !ok || d.names[out] {
						continue // no such job: actionlint says so
					}
					if d.from != "" {
						add(n, "needs.%s.outputs.%s: mlship/mlship/.github/workflows/%s has no output %q", id, out, d.from, out)
					} else {
						add(n, "needs.%s.outputs.%s: job %q has no output %q", id, out, id, out)
					}
				}
			}
			for _, c := range n.Content {
				visit(c)
			}
		}
		visit(job)
	})

	// A reusable workflow's outputs are its jobs' outputs.
	eachPair(lookup(lookup(lookup(wf, "on"), "workflow_call"), "outputs"), func(name string, v *yaml.Node) {
		val := lookup(v, "value")
		if val == nil {
			return
		}
		for _, m := range jobsOutput.FindAllStringSubmatch(val.Value, -1) {
			id, out := m[1], m[2]+m[3]
			d, ok := declared[id]
			switch {
			case !ok:
				add(val, "output %q reads jobs.%s.outputs.%s: there is no job %q", name, id, out, id)
			case !d.names[out]:
				add(val, "output %q reads jobs.%s.outputs.%s: job %q has no output %q", name, id, out, id, out)
			}
		}
	})
	return problems
}

// checkCall checks one job that calls the reusable workflow file.
func checkCall(jobName string, job, uses *yaml.Node, file string, wm *workflowMeta, top permissions, topOK bool, add func(*yaml.Node, string, ...any)) {
	if wm == nil {
		return // not a reusable workflow: actionlint says so
	}
	name := "mlship/mlship/.github/workflows/" + file
	with := lookup(job, "with")
	eachPair(with, func(k string, _ *yaml.Node) {
		if _, ok := wm.inputs[k]; !ok {
			add(keyNode(with, k), "input %q is not an input of %s", k, name)
		}
	})
	for _, in := range sortedKeys(wm.inputs) {
		if wm.inputs[in] && lookup(with, in) == nil {
			add(uses, "%s needs input %q", name, in)
		}
	}
	secrets := lookup(job, "secrets")
	if secrets == nil || secrets.Kind != yaml.ScalarNode || secrets.Value != "inherit" {
		eachPair(secrets, func(k string, _ *yaml.Node) {
			if _, ok := wm.secrets[k]; !ok {
				add(keyNode(secrets, k), "secret %q is not a secret of %s", k, name)
			}
		})
		for _, s := range sortedKeys(wm.secrets) {
			if wm.secrets[s] && lookup(secrets, s) == nil {
				add(uses, "%s needs secret %q", name, s)
			}
		}
	}

	granted, ok := parsePermissions(lookup(job, "permissions"))
	where := fmt.Sprintf("job %q", jobName)
	if !ok && topOK {
		granted, ok = top, true
		where = "the workflow"
	}
	if !ok {
		granted = defaultPermissions
		where = "the default token (no permissions: set)"
	}
	for _, callee := range sortedKeys(wm.jobPerms) {
		need := wm.jobPerms[callee]
		for _, scope := range permissionScopes {
			if need[scope] > granted[scope] {
				add(uses, "%s: its job %q needs %q, but %s grants %q; GitHub refuses to start the run (grant it to the calling job)",
					name, callee, scope+": "+levelNames[need[scope]], where, scope+": "+levelNames[granted[scope]])
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package policygate

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/mlship/mlship/internal/exitcode"
)

// Deps is what a run reads from outside its files.
type Deps struct {
	Stdin io.Reader // read for --input -
}

// Run loads the policies, compiles them once, judges every input and writes
// the decision file. A denial is a Result with Allowed false, not an error.
func Run(ctx context.Context, p *Plan, deps Deps) (*Result, error) {
	files, data, err := loadPolicies(ctx, p.policies)
	if err != nil {
		return nil, err
	}
	for _, path := range p.data {
		if err := p.readData(ctx, path, data); err != nil {
			return nil, err
		}
	}
	if len(p.params) > 0 {
		merge(data, map[string]any{"params": p.params})
	}
	gate, err := Compile(ctx, files, p.regoVersion, data)
	if err != nil {
		return nil, err
	}
	var empty []string // why the gate checked nothing
	if gate.decisive() == 0 {
		empty = append(empty, "no policy defines an allow, deny or warn rule")
	}

	res := &Result{Allowed: true, Mode: p.mode, Messages: []Message{}, Policies: p.policies}
	several := len(p.inputs) > 1 && p.inputs[0].name == ""
	err = p.eachDocument(ctx, deps.Stdin, func(in document) error {
		j, err := gate.judge(ctx, in.name, in.value)
		if exitcode.Of(err) == exitcode.BadInput {
			return exitcode.BadInputf("%s: %w", in.from, err)
		} else if err != nil {
			return err
		}
		j.Inputs, j.Set = in.files, p.set
		if p.includeInput {
			if j.Input, err = ast.JSON(in.value); err != nil {
				return exitcode.Incompletef("writing %s into the decision file: %w", in.from, err)
			}
		}
		for _, b := range p.builtins.builtins {
			if !j.checkedBy["builtin:"+b.Name] {
				why := fmt.Sprintf("builtin:%s compared no value (set one of its parameters: %s)", b.Name, strings.Join(b.parameterNames(), ", "))
				if several {
					why = in.name + ": " + why
				}
				empty = append(empty, why)
			}
		}
		res.Allowed = res.Allowed && j.Allowed
		for _, m := range j.Messages {
			if several {
				m.Message = in.name + ": " + m.Message
			}
			if m.Level == "deny" {
				res.DenyCount++
			} else {
				res.WarnCount++
			}
			res.Messages = append(res.Messages, m)
		}
		res.Judgements = append(res.Judgements, j)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(empty) > 0 {
		if !p.allowEmpty {
			return nil, exitcode.BadInputf("the gate checked nothing: %s; give --allow-empty if that is meant", strings.Join(slices.Compact(empty), "; "))
		}
		for _, why := range slices.Compact(empty) {
			res.Messages = append(res.Messages, Message{Level: "warn", Message: "the gate checked nothing: " + why, Rule: "--allow-empty"})
			res.WarnCount++
		}
	}
	if err := res.writeDecision(p.decisionFile, p.tempDir); err != nil {
		return nil, err
	}
	return res, nil
}

// readData reads one --data file into data. With built-in policies, its
// params must be theirs, and numbers.
func (p *Plan) readData(ctx context.Context, path string, data map[string]any) error {
	from := origin{flag: "data", value: path}
	doc, err := readDocument(ctx, from, path, nil)
	if err != nil {
		return err
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return from.errorf("want an object at the top level")
	}
	if params, ok := obj["params"]; ok && len(p.builtins.builtins) > 0 {
		m, ok := params.(map[string]any)
		if !ok {
			return from.errorf("params is not an object")
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if problem := p.builtins.problem(k, m[k]); problem != "" {
				return from.errorf("params.%s: %s", k, problem)
			}
		}
	}
	merge(data, obj)
	return nil
}

// document is one document to judge.
type document struct {
	name  string // what messages name it by when there are several
	from  string // the options it came from
	value ast.Value
	files []InputFile
}

// eachDocument reads the inputs and hands judge one document at a time:
// one per file, or, when they are named, one of them all; the --set values
// merged over it. Only the document being judged is held in memory.
func (p *Plan) eachDocument(ctx context.Context, stdin io.Reader, judge func(document) error) error {
	set, err := ast.InterfaceToValue(p.set)
	if err != nil {
		return exitcode.BadInputf("--set: %w", err)
	}
	named := document{value: ast.NewObject()}
	var names, from []string
	for _, in := range p.inputs {
		v, file, err := readInput(ctx, in, stdin)
		if err != nil {
			return err
		}
		if in.name != "" {
			named.value.(ast.Object).Insert(ast.StringTerm(in.name), ast.NewTerm(v))
			named.files = append(named.files, file)
			names, from = append(names, in.raw), append(from, in.origin().String())
			continue
		}
		if len(p.set) > 0 {
			obj, ok := v.(ast.Object)
			if !ok {
				return in.origin().errorf("not an object, so --set cannot set keys in it")
			}
			v = mergeObjects(obj, set.(ast.Object))
		}
		if err := judge(document{in.path, in.origin().String(), v, []InputFile{file}}); err != nil {
			return err
		}
	}
	switch {
	case len(names) > 0:
		named.value = mergeObjects(named.value.(ast.Object), set.(ast.Object))
		named.name, named.from = strings.Join(names, " "), strings.Join(from, " ")
		return judge(named)
	case len(p.inputs) == 0:
		return judge(document{"--set", "--set", set, nil})
	}
	return nil
}

// mergeObjects deep-merges src into dst, as merge does: src's values win,
// objects merge. Nested objects are merged before they are put back, so
// that every object's hash stays right.
func mergeObjects(dst, src ast.Object) ast.Object {
	src.Foreach(func(k, v *ast.Term) {
		if sv, ok := v.Value.(ast.Object); ok {
			if dt := dst.Get(k); dt != nil {
				if dv, ok := dt.Value.(ast.Object); ok {
					dst.Insert(k, ast.NewTerm(mergeObjects(dv, sv)))
					return
				}
			}
		}
		dst.Insert(k, v)
	})
	return dst
}

// Source is the policies' Rego source, built-ins included, for a user to
// copy and adapt one (--print).
func Source(ctx context.Context, p *Plan) (string, error) {
	files, _, err := loadPolicies(ctx, p.policies)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "# %s\n%s\n", f.Name, strings.TrimRight(f.Source, "\n"))
	}
	return b.String(), nil
}

package policygate

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

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

	inputs, err := p.readInputs(ctx, deps.Stdin)
	if err != nil {
		return nil, err
	}
	res := &Result{Allowed: true, Mode: p.mode, Messages: []Message{}, Policies: p.policies}
	for _, in := range inputs {
		j, err := gate.Judge(ctx, in.name, in.doc)
		if exitcode.Of(err) == exitcode.BadInput {
			return nil, exitcode.BadInputf("%s: %w", in.from, err)
		} else if err != nil {
			return nil, err
		}
		for _, b := range p.builtins.builtins {
			if !j.checkedBy["builtin:"+b.Name] {
				why := fmt.Sprintf("builtin:%s compared no value (set one of its parameters: %s)", b.Name, strings.Join(b.parameterNames(), ", "))
				if len(inputs) > 1 {
					why = in.name + ": " + why
				}
				empty = append(empty, why)
			}
		}
		res.Allowed = res.Allowed && j.Allowed
		for _, m := range j.Messages {
			if len(inputs) > 1 {
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
	name string // what messages name it by when there are several
	from string // the options it came from
	doc  any
}

// readInputs reads the input files: one document each, or, when they are
// named, one document of them all; --set values merged over each.
func (p *Plan) readInputs(ctx context.Context, stdin io.Reader) ([]document, error) {
	var docs []document
	named := map[string]any{}
	for _, in := range p.inputs {
		doc, err := readDocument(ctx, in.origin(), in.path, stdin)
		if err != nil {
			return nil, err
		}
		if in.name != "" {
			named[in.name] = doc
			continue
		}
		if len(p.set) > 0 {
			obj, ok := doc.(map[string]any)
			if !ok {
				return nil, in.origin().errorf("not an object, so --set cannot set keys in it")
			}
			merge(obj, p.set)
		}
		docs = append(docs, document{in.path, in.origin().String(), doc})
	}
	switch {
	case len(named) > 0:
		merge(named, p.set)
		var names, from []string
		for _, in := range p.inputs {
			names = append(names, in.raw)
			from = append(from, in.origin().String())
		}
		docs = append(docs, document{strings.Join(names, " "), strings.Join(from, " "), named})
	case len(docs) == 0:
		docs = append(docs, document{"--set", "--set", p.set})
	}
	return docs, nil
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

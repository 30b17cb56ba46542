package policygate

import (
	"embed"
	"encoding/json"
	"path"
	"slices"
	"strings"

	"github.com/mlship/mlship/internal/exitcode"
)

// The built-in policies, with their Rego unit tests, the parameters they
// read and their defaults.
//
//go:embed builtin
var builtinFS embed.FS

type builtin struct {
	Name   string // e.g. model-quality
	Source string
	// Parameters are the names the policy reads at data.params, each with
	// what it means; every one takes a number.
	Parameters map[string]string `json:"parameters"`
	// Defaults are data.params values used when neither --param nor a
	// data file sets them.
	Defaults map[string]any `json:"defaults"`
}

// Builtins lists the names of the built-in policies.
func Builtins() []string {
	entries, _ := builtinFS.ReadDir("builtin")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".rego"); ok && !strings.HasSuffix(n, "_test") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func builtinPolicy(name string) (builtin, error) {
	src, err := builtinFS.ReadFile(path.Join("builtin", name+".rego"))
	if err != nil || strings.HasSuffix(name, "_test") {
		return builtin{}, exitcode.BadInputf("--policy %q: no such built-in policy (have: builtin:%s)", "builtin:"+name, strings.Join(Builtins(), ", builtin:"))
	}
	b := builtin{Name: name, Source: string(src)}
	meta, err := builtinFS.ReadFile(path.Join("builtin", name+".json"))
	if err != nil {
		return builtin{}, err
	}
	if err := json.Unmarshal(meta, &b); err != nil {
		return builtin{}, err
	}
	return b, nil
}

// parameterNames lists a built-in's parameters, sorted.
func (b builtin) parameterNames() []string {
	names := make([]string, 0, len(b.Parameters))
	for n := range b.Parameters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

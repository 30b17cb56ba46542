package policygate

import (
	"embed"
	"encoding/json"
	"path"
	"slices"
	"strings"

	"github.com/mlship/mlship/internal/exitcode"
)

// The built-in policies, with their Rego unit tests and default data.
//
//go:embed builtin
var builtinFS embed.FS

type builtin struct {
	Source   string
	Defaults map[string]any
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
		return builtin{}, exitcode.BadInputf("policy builtin:%s: no such built-in policy (have: builtin:%s)", name, strings.Join(Builtins(), ", builtin:"))
	}
	b := builtin{Source: string(src)}
	if data, err := builtinFS.ReadFile(path.Join("builtin", name+".json")); err == nil {
		if err := json.Unmarshal(data, &b.Defaults); err != nil {
			return builtin{}, err
		}
	}
	return b, nil
}

package policygate

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestBuiltinRegoTests runs the Rego unit tests shipped beside each
// built-in policy (builtin/*_test.rego) with OPA's test runner, with
// built-in errors raised as policy-gate evaluates built-ins.
func TestBuiltinRegoTests(t *testing.T) {
	modules := map[string]*ast.Module{}
	err := fs.WalkDir(builtinFS, "builtin", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(path, ".rego") {
			return err
		}
		src, err := builtinFS.ReadFile(path)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		modules[path] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := tester.NewRunner().SetModules(modules).RaiseBuiltinErrors(true).RunTests(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for r := range ch {
		ran++
		if r.Fail || r.Error != nil {
			t.Errorf("%s.%s failed: %v", r.Package, r.Name, r.Error)
		}
		if r.Skip {
			t.Errorf("%s.%s skipped", r.Package, r.Name)
		}
	}
	if ran < 40 {
		t.Errorf("ran %d Rego tests, want at least 40 (were some not found?)", ran)
	}
}

func TestBuiltinsListed(t *testing.T) {
	got := strings.Join(Builtins(), ",")
	if got != "image-scan,model-age,model-quality" {
		t.Errorf("Builtins() = %s", got)
	}
	for _, name := range Builtins() {
		if _, err := builtinPolicy(name); err != nil {
			t.Errorf("builtin %s: %v", name, err)
		}
	}
	for _, bad := range []string{"nope", "model-quality_test"} {
		if _, err := builtinPolicy(bad); err == nil {
			t.Errorf("builtin %s: no error", bad)
		}
	}
}

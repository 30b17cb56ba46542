// Package actiontest runs tools as a GitHub Actions step would, for tests:
// a fake workflow environment and a reader for the files the runner reads
// back (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY).
package actiontest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/action"
	"github.com/mlship/mlship/internal/command"
)

// Workflow is a fake step environment: GITHUB_ACTIONS=true, the file
// commands pointing at empty files in a temp dir (the runner creates them
// before a step), and an empty RUNNER_TEMP of its own.
type Workflow struct {
	Env        map[string]string
	OutputFile string
	Summary    string // path of GITHUB_STEP_SUMMARY
}

// NewWorkflow returns a step environment with extra variables set.
func NewWorkflow(t testing.TB, extra map[string]string) *Workflow {
	t.Helper()
	dir := t.TempDir()
	w := &Workflow{
		OutputFile: filepath.Join(dir, "output"),
		Summary:    filepath.Join(dir, "summary.md"),
	}
	temp := filepath.Join(dir, "runner-temp")
	if err := os.Mkdir(temp, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{w.OutputFile, w.Summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w.Env = map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       w.OutputFile,
		"GITHUB_STEP_SUMMARY": w.Summary,
		"RUNNER_TEMP":         temp,
	}
	for k, v := range extra {
		w.Env[k] = v
	}
	return w
}

// Getenv reads the fake environment.
func (w *Workflow) Getenv(key string) string { return w.Env[key] }

// Outputs parses GITHUB_OUTPUT the way the runner does and returns every
// output; it fails the test on a malformed file or a name set twice.
func (w *Workflow) Outputs(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(w.OutputFile)
	if err != nil {
		t.Fatalf("reading GITHUB_OUTPUT: %v", err)
	}
	outs, err := ParseOutputs(b)
	if err != nil {
		t.Fatalf("GITHUB_OUTPUT: %v", err)
	}
	return outs
}

// SummaryText returns the job summary written so far.
func (w *Workflow) SummaryText(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(w.Summary)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ParseOutputs parses the GITHUB_OUTPUT file format as the runner does
// (action.ParseOutputs).
func ParseOutputs(b []byte) (map[string]string, error) { return action.ParseOutputs(b) }

// Commands returns the workflow commands the runner would act on in a
// step's log, as it reads them: a line that starts with "::name" (or the
// older "##[name"), after leading white space, is a command, except between
// ::stop-commands::TOKEN and ::TOKEN::, where only that closing line is.
// The stop and resume lines themselves are not returned.
func Commands(log string) []string {
	var cmds []string
	stopped := ""
	for _, line := range strings.Split(strings.ReplaceAll(log, "\r\n", "\n"), "\n") {
		l := strings.TrimSpace(line)
		if stopped != "" {
			if l == "::"+stopped+"::" {
				stopped = ""
			}
			continue
		}
		if token, ok := strings.CutPrefix(l, "::stop-commands::"); ok && token != "" {
			stopped = token
			continue
		}
		if strings.HasPrefix(l, "::") || strings.HasPrefix(l, "##[") {
			cmds = append(cmds, l)
		}
	}
	return cmds
}

// Step is one run of a tool as a workflow step: the fake environment with
// the inputs as INPUT_<NAME> variables (the way action.yml passes them) and
// the step's streams.
type Step struct {
	*Workflow
	Stdout, Stderr bytes.Buffer
}

// NewStep returns a step whose inputs (by input name, such as
// "fail-on") are set as INPUT_ variables, beside extra environment.
func NewStep(t testing.TB, inputs map[string]string) *Step {
	t.Helper()
	env := map[string]string{}
	for k, v := range inputs {
		env[command.InputEnv(k)] = v
	}
	return &Step{Workflow: NewWorkflow(t, env)}
}

// Run runs cmd in the step with args after the program name and returns
// its exit code; standard input is empty.
func (s *Step) Run(cmd *command.Command, args ...string) int {
	return cmd.Main(append([]string{"tool"}, args...), command.Env{
		Stdin: strings.NewReader(""), Stdout: &s.Stdout, Stderr: &s.Stderr, Getenv: s.Getenv,
	})
}

// camelCase is the style of every JSON key mlship writes (as kubectl and
// the AWS CLI do): acronyms as words, imageUri, trivyDb.
var camelCase = regexp.MustCompile(`^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]+)*$`)

// NonCamelKeys lists the keys of a decoded JSON document (from
// json.Unmarshal into any) that are not camelCase, as paths. The values
// under the keys named in data are the user's (variables, metrics, an
// input document): their keys are not looked at.
func NonCamelKeys(doc any, data ...string) []string {
	var bad []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !camelCase.MatchString(k) {
					bad = append(bad, path+"."+k)
				}
				if !slices.Contains(data, k) {
					walk(path+"."+k, x)
				}
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("", doc)
	slices.Sort(bad)
	return bad
}

// NonCamelFields lists the JSON keys of a result type's fields (and of
// the struct types it holds, in this module) that are not camelCase, or
// that have no json tag at all.
func NonCamelFields(v any) []string {
	var bad []string
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || !strings.HasPrefix(typ.PkgPath(), "github.com/mlship/mlship/") {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case key == "-":
				continue
			case key == "" && f.Anonymous:
				walk(f.Type, path) // embedded: its fields are the result's
				continue
			case !camelCase.MatchString(key):
				bad = append(bad, fmt.Sprintf("%s.%s (json %q)", path, f.Name, key))
			}
			walk(f.Type, path+"."+key)
		}
	}
	walk(reflect.TypeOf(v), reflect.TypeOf(v).String())
	return bad
}

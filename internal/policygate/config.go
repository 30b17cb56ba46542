package policygate

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/mlship/mlship/internal/exitcode"
)

// Config is one run's options as given, one field per flag.
type Config struct {
	Policies     []string // files, directories, builtin:NAME
	Inputs       []string // JSON or YAML files; "-" is standard input; NAME=FILE names one
	Set          []string // key=value pairs merged into every input
	Data         []string // JSON or YAML data files, merged at data
	Params       []string // key=value pairs placed at data.params
	Mode         string   // enforce or warn
	RegoVersion  string   // auto, v0 or v1
	DecisionFile string   // where to write the decision; empty: a new file in TempDir
	TempDir      string   // empty: the system's temp dir
	AllowEmpty   bool     // a run that checked nothing passes (with a warning) instead of exit 2
	IncludeInput bool     // the decision file holds each judged document whole, not only its files' digests
	Print        bool     // print the policies' sources instead of evaluating them
}

// Plan is a Config that Validate checked and parsed: what Run reads and
// evaluates. Only Validate makes one.
type Plan struct {
	policies     []string
	builtins     paramCheck
	inputs       []inputSpec
	set          map[string]any
	data         []string
	params       map[string]any
	mode         string
	regoVersion  string
	decisionFile string
	tempDir      string
	allowEmpty   bool
	includeInput bool
	print        bool
}

// Validate checks and parses the configuration once, before anything is
// read. Every error is bad input (exit 2) naming the option.
func (c Config) Validate() (*Plan, error) {
	p := &Plan{
		policies: c.Policies, data: c.Data, mode: c.Mode, regoVersion: c.RegoVersion,
		decisionFile: c.DecisionFile, tempDir: c.TempDir, allowEmpty: c.AllowEmpty, includeInput: c.IncludeInput,
		print: c.Print,
	}
	if len(c.Policies) == 0 {
		return nil, exitcode.BadInputf("--policy: at least one policy file, directory or builtin:NAME is needed")
	}
	var err error
	if p.builtins, err = newParamCheck(c.Policies); err != nil {
		return nil, err
	}
	if c.Mode != "enforce" && c.Mode != "warn" {
		return nil, exitcode.BadInputf("--mode %q: want enforce or warn", c.Mode)
	}
	if !slices.Contains([]string{"auto", "v0", "v1"}, c.RegoVersion) {
		return nil, exitcode.BadInputf("--rego-version %q: want auto, v0 or v1", c.RegoVersion)
	}
	if c.Print {
		return p, nil
	}
	if len(c.Inputs) == 0 && len(c.Set) == 0 {
		return nil, exitcode.BadInputf("no input: give --input FILE, --input - (standard input) or --set key=value")
	}
	if p.inputs, err = parseInputs(c.Inputs); err != nil {
		return nil, err
	}
	if p.set, err = parseSet(c.Set, "set"); err != nil {
		return nil, err
	}
	if p.params, err = parseSet(c.Params, "param"); err != nil {
		return nil, err
	}
	for _, pair := range c.Params {
		key, val, _ := parsePair(pair, "param")
		name, rest, dotted := strings.Cut(key, ".")
		if dotted {
			val = map[string]any{rest: val}
		}
		if problem := p.builtins.problem(name, val); problem != "" {
			return nil, exitcode.BadInputf("--param %q: %s", pair, problem)
		}
	}
	if c.DecisionFile != "" {
		if info, err := os.Stat(c.DecisionFile); err == nil && info.IsDir() {
			return nil, exitcode.BadInputf("--decision-file %q: is a directory", c.DecisionFile)
		}
	}
	return p, nil
}

// inputSpec is one --input: a file ("-" for standard input), with the name
// it has in the merged document when given as NAME=FILE.
type inputSpec struct {
	raw        string // as given
	name, path string
}

func (in inputSpec) origin() origin { return origin{flag: "input", value: in.raw} }

var inputName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// parseInputs reads the --input values. Named ones (metrics=metrics.json)
// are merged into one document under their names; unnamed ones are judged
// each on its own; the two do not mix.
func parseInputs(values []string) ([]inputSpec, error) {
	var specs []inputSpec
	names := map[string]bool{}
	stdin := false
	for _, v := range values {
		in := inputSpec{raw: v, path: v}
		if name, path, ok := strings.Cut(v, "="); ok && inputName.MatchString(name) {
			in.name, in.path = name, path
		}
		switch {
		case in.path == "":
			return nil, exitcode.BadInputf("--input %q: want FILE, - or NAME=FILE", v)
		case in.path == "-" && stdin:
			return nil, exitcode.BadInputf("--input %q: standard input (-) can be read only once", v)
		case names[in.name] && in.name != "":
			return nil, exitcode.BadInputf("--input %q: the name %s is given twice", v, in.name)
		case len(specs) > 0 && (in.name == "") != (specs[0].name == ""):
			return nil, exitcode.BadInputf("--input %q: name every input (NAME=FILE, merged into one document) or none (each judged on its own)", v)
		}
		stdin = stdin || in.path == "-"
		names[in.name] = true
		specs = append(specs, in)
	}
	return specs, nil
}

// paramCheck knows the parameters of the built-in policies of a run.
type paramCheck struct {
	builtins []builtin
	only     bool // every policy is a built-in: no other parameter is read
}

func newParamCheck(policies []string) (paramCheck, error) {
	pc := paramCheck{only: true}
	for _, spec := range policies {
		name, ok := strings.CutPrefix(spec, "builtin:")
		if !ok {
			pc.only = false
			continue
		}
		b, err := builtinPolicy(name)
		if err != nil {
			return pc, err
		}
		pc.builtins = append(pc.builtins, b)
	}
	return pc, nil
}

// problem says what is wrong with a parameter for the built-ins, or "".
// Every built-in parameter is a number. A name no built-in reads is wrong
// when only built-ins are evaluated: a misspelled threshold would
// otherwise check nothing.
func (pc paramCheck) problem(name string, value any) string {
	if len(pc.builtins) == 0 {
		return ""
	}
	for _, b := range pc.builtins {
		if _, ok := b.Parameters[name]; ok {
			if !isNumber(value) {
				return "want a number"
			}
			return ""
		}
	}
	if !pc.only {
		return "" // one of the other policies may read it
	}
	var known []string
	for _, b := range pc.builtins {
		known = append(known, "builtin:"+b.Name+" reads "+strings.Join(b.parameterNames(), ", "))
	}
	return fmt.Sprintf("no policy reads the parameter %s (%s)", name, strings.Join(known, "; "))
}

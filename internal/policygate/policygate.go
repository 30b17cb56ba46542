// Package policygate is the policy-gate tool: it evaluates Rego policies
// against a document of release evidence (model metrics, scan counts, model
// age) and allows or denies.
//
// # The shape of a tool
//
// Every mlship tool is put together the same way; a new one starts from
// this one:
//
//   - [Command] is the command line: the flags (each also an INPUT_<NAME>
//     variable, so the action passes inputs as environment variables),
//     the help, the outputs the tool always writes. Its adapter reads the
//     flags into a [Config] and does nothing else.
//   - [Config] is the flags' values as given. [Config.Validate] runs once,
//     before anything is read or called, and returns a [Plan]: the same
//     values checked and parsed. Bad input is exit 2 there, one line of the
//     form `--flag "value": what is wrong`.
//   - [Run] does the work. It takes the *[Plan], whose fields only Validate
//     can fill, so it cannot be handed something unchecked and nothing is
//     parsed twice; and [Deps], what it reads from outside (here standard
//     input; in the AWS tools, clients behind interfaces declared by the
//     code that calls them). It honours ctx, which SIGINT and SIGTERM
//     cancel, in every read and evaluation.
//   - [Result] is plain data with camelCase JSON (--json, the decision
//     file). Outputs lists the step outputs Command declares; Text and
//     Summary are the terminal's and the job summary's. A finding (a denied
//     rule) is a value in it; an error carries its exit code
//     (internal/exitcode), and a run that fails returns no Result.
//
// The shared command code (internal/command) does the rest: INPUT_
// variables, --help, --json, one-line errors, exit codes, signals.
package policygate

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/exitcode"
)

// Command is the policy-gate command line.
func Command() *command.Command {
	return &command.Command{
		Name:  "policy-gate",
		Usage: "allow or deny a release by evaluating Rego policies against its evidence",
		Description: `Evaluates Rego policies (v1 or the older v0 syntax) against a JSON or YAML
document of evidence — model metrics, scan counts, model age — and decides.
A policy may define allow (boolean), deny and warn (sets of messages) in any
package; the gate denies when any deny message exists or an allow rule is
defined and not true. Built-in policies: ` + strings.Join(prefixed(Builtins()), ", ") + `
(print one with --policy builtin:NAME --print to copy and adapt it).`,
		Examples: `policy-gate --policy builtin:model-quality --param min_accuracy=0.9 \
  --param max_fairness_gap=21 --set accuracy=0.93 --set fairness_gap=12.5

cat metrics.json | policy-gate --policy policies/ --input - --data thresholds.yaml

policy-gate --policy builtin:model-quality --policy builtin:image-scan \
  --input metrics=metrics.json --input scan=image-scan-summary.json \
  --param min_accuracy=0.9 --param max_critical=0

policy-gate --policy policies/quality.rego --input metrics.json --mode warn`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "policy", Aliases: []string{"p"}, Required: true, Usage: "Rego policy file, directory, or builtin:NAME (repeatable)"},
			&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, Usage: "input document, JSON or YAML; - reads standard input (repeatable: each is judged); NAME=FILE inputs are merged into one document, each at input.NAME"},
			&cli.StringSliceFlag{Name: "set", Usage: "set input `key=value` (numbers and booleans typed, dotted keys nest; repeatable)"},
			&cli.StringSliceFlag{Name: "data", Aliases: []string{"d"}, Usage: "data file, JSON or YAML, merged at data (repeatable)"},
			&cli.StringSliceFlag{Name: "param", Usage: "policy parameter `key=value` at data.params, e.g. min_accuracy=0.9 (repeatable)"},
			&cli.StringFlag{Name: "mode", Value: "enforce", Usage: "enforce (deny fails the step) or warn (deny warns and continues)"},
			&cli.StringFlag{Name: "rego-version", Value: "auto", Usage: "Rego syntax of the policies: auto, v0 or v1"},
			&cli.BoolFlag{Name: "allow-empty", Usage: "let a run in which no rule checked any value pass, with a warning (else it exits 2)"},
			&cli.StringFlag{Name: "decision-file", Usage: "write the decision JSON here (default: a new file in RUNNER_TEMP or the temp dir)"},
			&cli.BoolFlag{Name: "decision-include-input", Usage: "write each judged document whole into the decision file (by default: each input file's path, size and SHA-256)"},
			&cli.BoolFlag{Name: "print", Category: command.LocalOnly, Usage: "print the policies' Rego source (built-ins included) and exit, to copy and adapt one"},
		},
		Outputs: []command.OutputSpec{
			{Name: "allowed", Description: "true when the policies allow the release"},
			{Name: "deny-count", Description: "number of deny messages"},
			{Name: "warn-count", Description: "number of warn messages"},
			{Name: "messages", Description: "JSON array of every message: level, msg, rule and policy"},
			{Name: "decision-file", Description: "path of a JSON file with the whole decision and the digest of every input it judged"},
		},
		Run: runCommand,
	}
}

func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "builtin:" + n
	}
	return out
}

func runCommand(ctx context.Context, c *cli.Context, rt *command.Runtime) (command.Result, error) {
	// A run is short and its heap small: collect half as often as Go's
	// default, which saves much of the CPU that evaluation spends in the
	// collector for little memory. GOGC, when set, wins.
	if rt.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	cfg := Config{
		Policies:     c.StringSlice("policy"),
		Inputs:       c.StringSlice("input"),
		Set:          c.StringSlice("set"),
		Data:         c.StringSlice("data"),
		Params:       c.StringSlice("param"),
		Mode:         c.String("mode"),
		RegoVersion:  c.String("rego-version"),
		DecisionFile: c.String("decision-file"),
		TempDir:      command.TempDir(rt.Getenv),
		AllowEmpty:   c.Bool("allow-empty"),
		IncludeInput: c.Bool("decision-include-input"),
		Print:        c.Bool("print"),
	}
	plan, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	if cfg.Print {
		src, err := Source(ctx, plan)
		if err != nil {
			return nil, err
		}
		return nil, rt.Print(src)
	}
	res, err := Run(ctx, plan, Deps{Stdin: rt.Stdin})
	if err != nil {
		return nil, err
	}
	if res.Allowed {
		for _, m := range res.Messages {
			rt.Warningf("%s (%s)", m.Message, m.Rule)
		}
		return res, nil
	}
	if cfg.Mode == "warn" {
		for _, m := range res.Messages {
			rt.Warningf("policy %s: %s (%s)", m.Level, m.Message, m.Rule)
		}
		return res, nil
	}
	first := res.Messages[0].Message
	if res.DenyCount > 1 {
		first += fmt.Sprintf(" (and %d more)", res.DenyCount-1)
	}
	return res, exitcode.Failedf("denied: %s", first)
}

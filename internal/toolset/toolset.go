// Package toolset is the one list of mlship's tools. The action checks, the
// docs checks, the README check and goreleaser.yaml (generated from it) all
// read this list: adding a tool means cmd/<tool>, internal/<tool>,
// actions/<tool>, docs/<tool>.md and one line here.
package toolset

import (
	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/ecrpush"
	"github.com/mlship/mlship/internal/eksrollout"
	"github.com/mlship/mlship/internal/healthrollback"
	"github.com/mlship/mlship/internal/imagescan"
	"github.com/mlship/mlship/internal/lambdadeploy"
	"github.com/mlship/mlship/internal/metricsexport"
	"github.com/mlship/mlship/internal/modelstaleness"
	"github.com/mlship/mlship/internal/policygate"
)

// Tool is one tool: its name (the folder under cmd/, actions/ and the page
// under docs/), its command line, and the type of its result (what --json
// prints), as a zero value.
type Tool struct {
	Name    string
	Command func() *command.Command
	Result  command.Result
}

// All is every tool, in the order a pipeline uses them.
var All = []Tool{
	{"ecr-push", ecrpush.Command, &ecrpush.Result{}},
	{"image-scan", imagescan.Command, &imagescan.Result{}},
	{"metrics-export", metricsexport.Command, &metricsexport.Result{}},
	{"policy-gate", policygate.Command, &policygate.Result{}},
	{"lambda-deploy", lambdadeploy.Command, &lambdadeploy.Result{}},
	{"eks-rollout", eksrollout.Command, &eksrollout.Result{}},
	{"health-rollback", healthrollback.Command, &healthrollback.Result{}},
	{"model-staleness", modelstaleness.Command, &modelstaleness.Result{}},
}

// Names lists the tools' names in the order of All.
func Names() []string {
	names := make([]string, len(All))
	for i, t := range All {
		names[i] = t.Name
	}
	return names
}

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
// under docs/) and its command line.
type Tool struct {
	Name    string
	Command func() *command.Command
}

// All is every tool, in the order a pipeline uses them.
var All = []Tool{
	{"ecr-push", ecrpush.Command},
	{"image-scan", imagescan.Command},
	{"metrics-export", metricsexport.Command},
	{"policy-gate", policygate.Command},
	{"lambda-deploy", lambdadeploy.Command},
	{"eks-rollout", eksrollout.Command},
	{"health-rollback", healthrollback.Command},
	{"model-staleness", modelstaleness.Command},
}

// Names lists the tools' names in the order of All.
func Names() []string {
	names := make([]string, len(All))
	for i, t := range All {
		names[i] = t.Name
	}
	return names
}

// Command policy-gate allows or denies a release by evaluating Rego policies
// against its evidence.
package main

import (
	"os"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/policygate"
)

func main() {
	os.Exit(policygate.Command().Main(os.Args, command.OSEnv()))
}

// Command lambda-deploy deploys a container image to a Lambda function:
// update, wait, publish, shift an alias with checks, roll back.
package main

import (
	"os"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/lambdadeploy"
)

func main() {
	os.Exit(lambdadeploy.Command().Main(os.Args, command.OSEnv()))
}

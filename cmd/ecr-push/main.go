// Command ecr-push pushes an image to Amazon ECR or any OCI registry, tags
// it and promotes it by digest.
package main

import (
	"os"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/ecrpush"
)

func main() {
	os.Exit(ecrpush.Command().Main(os.Args, command.OSEnv()))
}

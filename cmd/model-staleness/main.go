// Command model-staleness tells when a model has not been retrained: it
// finds when the model last changed, judges its age and notifies once.
package main

import (
	"os"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/modelstaleness"
)

func main() {
	os.Exit(modelstaleness.Command().Main(os.Args, command.OSEnv()))
}

// Command metrics-export exports model metrics as step outputs, uploads
// reports to S3, puts metrics to CloudWatch and compares with a baseline.
package main

import (
	"os"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/metricsexport"
)

func main() {
	os.Exit(metricsexport.Command().Main(os.Args, command.OSEnv()))
}

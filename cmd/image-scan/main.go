// Command image-scan scans a container image with embedded Trivy and/or
// reads ECR's scan findings, behind one severity gate.
package main

import (
	"os"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/imagescan"
)

func main() {
	code := imagescan.Command().Main(os.Args, command.OSEnv())
	_ = imagescan.RemoveTempFiles()
	os.Exit(code)
}

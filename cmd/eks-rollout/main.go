// Command eks-rollout rolls a new image out to a Kubernetes workload, on
// EKS natively or any cluster through a kubeconfig: set images or apply
// manifests, wait with kubectl's meaning of done, say why it failed, roll
// back.
package main

import (
	"os"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/eksrollout"
)

func main() {
	os.Exit(eksrollout.Command().Main(os.Args, command.OSEnv()))
}

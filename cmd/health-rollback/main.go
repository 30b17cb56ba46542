// Command health-rollback checks what was just deployed (HTTP probes, a
// Service's load balancer, CloudWatch alarms) and rolls a Kubernetes
// workload or a Lambda alias back when it is unhealthy.
package main

import (
	"os"

	"github.com/mlship/mlship/internal/command"
	"github.com/mlship/mlship/internal/healthrollback"
)

func main() {
	os.Exit(healthrollback.Command().Main(os.Args, command.OSEnv()))
}

package toolset_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/toolset"
)

// Packages a tool's common path does not need and whose initialisation
// is most of its start-up: each binary leaves out the ones listed for it.
// The AWS SDK's per-service schemas packages (service/ecr from v1.66)
// build their tables when the program starts, whether or not a call is
// made; ECR is pinned below that (go.mod), SSM and CloudWatch are called
// through small clients of our own (internal/ssmclient, internal/alarms).
var keptOut = map[string][]string{
	"ecr-push":        {"github.com/aws/aws-sdk-go-v2/service/ecr/schemas", "github.com/aws/aws-sdk-go-v2/service/ssm"},
	"lambda-deploy":   {"github.com/aws/aws-sdk-go-v2/service/ecr/schemas", "github.com/aws/aws-sdk-go-v2/service/ssm", "github.com/aws/aws-sdk-go-v2/service/cloudwatch"},
	"health-rollback": {"github.com/aws/aws-sdk-go-v2/service/ssm", "github.com/aws/aws-sdk-go-v2/service/cloudwatch"},
}

func TestStartUpPackagesStayOut(t *testing.T) {
	t.Parallel()
	for tool, pkgs := range keptOut {
		cmd := exec.Command("go", "list", "-tags", toolset.BuildTags, "-deps", "github.com/mlship/mlship/cmd/"+tool)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", tool, err)
		}
		deps := strings.Fields(string(out))
		for _, p := range pkgs {
			for _, d := range deps {
				if d == p || strings.HasPrefix(d, p+"/") {
					t.Errorf("%s links %s: its package initialisation is start-up time the tool does not need (docs/contributing.md, Start-up)", tool, d)
				}
			}
		}
	}
}

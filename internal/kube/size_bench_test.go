package kube_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mlship/mlship/internal/toolset"
)

// maxBinary is the size the tools that link Kubernetes aim to stay under.
const maxBinary = 60 << 20

var (
	sizesOnce sync.Once
	sizes     map[string]int64
	sizesErr  error
)

// BenchmarkBinarySize builds eks-rollout and health-rollback as they are
// released (CGO_ENABLED=0, -trimpath, -ldflags '-s -w') and reports their
// sizes; it fails when one exceeds 60 MB. kubectl's rollout helpers link
// k8s.io/cli-runtime (and through it cobra and kustomize's kyaml); the
// tools import no kubectl command code (k8s.io/kubectl/pkg/cmd/...) and
// build their clientset of the API groups they use only.
func BenchmarkBinarySize(b *testing.B) {
	if _, err := exec.LookPath("go"); err != nil {
		b.Skip("SKIPPED, not measured: no go command")
	}
	sizesOnce.Do(func() {
		dir := b.TempDir()
		sizes = map[string]int64{}
		for _, tool := range []string{"eks-rollout", "health-rollback"} {
			out := filepath.Join(dir, tool)
			cmd := exec.Command("go", "build", "-trimpath", "-tags", toolset.BuildTags, "-ldflags", "-s -w", "-o", out, "../../cmd/"+tool)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if msg, err := cmd.CombinedOutput(); err != nil {
				sizesErr = err
				b.Logf("%s", msg)
				return
			}
			st, err := os.Stat(out)
			if err != nil {
				sizesErr = err
				return
			}
			sizes[tool] = st.Size()
		}
	})
	if sizesErr != nil {
		b.Fatal(sizesErr)
	}
	// Nothing is timed: the sizes are the result.
	b.ReportMetric(0, "ns/op")
	for tool, n := range sizes {
		b.ReportMetric(float64(n)/(1<<20), tool+"-MB")
		if n > maxBinary {
			b.Errorf("%s is %.1f MB, more than %d MB", tool, float64(n)/(1<<20), maxBinary>>20)
		}
	}
}

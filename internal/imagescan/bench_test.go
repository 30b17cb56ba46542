package imagescan

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mlship/mlship/internal/exitcode"
)

// BenchmarkTrivyScan is one whole scan of the fixture OCI layout with the
// fixture database: open the database, analyse the image (with the layer
// cache warm after the first iteration, as on a rescan), detect, judge and
// write the three reports.
func BenchmarkTrivyScan(b *testing.B) {
	cfg := baseConfig(b)
	cfg.CacheDir = copyCache(b, cfg.CacheDir)
	deps := testDeps(b, nil)
	deps.Log = nopLogger{}
	for b.Loop() {
		if _, err := runConfig(context.Background(), cfg, deps); exitcode.Of(err) != exitcode.Failed {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrivyScanColdLayerCache analyses the image every time.
func BenchmarkTrivyScanColdLayerCache(b *testing.B) {
	cfg := baseConfig(b)
	cfg.CacheDir = copyCache(b, cfg.CacheDir)
	deps := testDeps(b, nil)
	deps.Log = nopLogger{}
	for b.Loop() {
		b.StopTimer()
		if err := os.RemoveAll(filepath.Join(cfg.CacheDir, "fanal")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := runConfig(context.Background(), cfg, deps); exitcode.Of(err) != exitcode.Failed {
			b.Fatal(err)
		}
	}
}

// copyCache copies the fixture database into a cache of the benchmark's
// own, so its layer cache starts empty.
func copyCache(b *testing.B, from string) string {
	b.Helper()
	to := b.TempDir()
	if err := os.MkdirAll(filepath.Join(to, "db"), 0o700); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"trivy.db", "metadata.json"} {
		data, err := os.ReadFile(filepath.Join(from, "db", f))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, "db", f), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return to
}

// maxBinary is the target size of the stripped release binary, in MB
// (10^6 bytes).
const maxBinary = 60

// BenchmarkBinarySize builds image-scan as released and reports its size
// with the target: PASS, or FAIL (an error) past it.
func BenchmarkBinarySize(b *testing.B) {
	if _, err := exec.LookPath("go"); err != nil {
		b.Skip("SKIPPED, not measured: no go command")
	}
	binSizeOnce.Do(func() {
		out := filepath.Join(b.TempDir(), "image-scan")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "../../cmd/image-scan")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			binSizeErr = fmt.Errorf("%w: %s", err, msg)
			return
		}
		st, err := os.Stat(out)
		if err != nil {
			binSizeErr = err
			return
		}
		binSize = st.Size()
	})
	if binSizeErr != nil {
		b.Fatal(binSizeErr)
	}
	// Nothing is timed: the size is the result.
	b.ReportMetric(0, "ns/op")
	mb := float64(binSize) / 1e6
	b.ReportMetric(mb, "image-scan-MB")
	if mb > maxBinary {
		b.Errorf("FAIL: image-scan is %.1f MB stripped, target <= %d MB", mb, maxBinary)
	} else {
		b.Logf("PASS: image-scan is %.1f MB stripped, target <= %d MB", mb, maxBinary)
	}
}

var (
	binSizeOnce sync.Once
	binSize     int64
	binSizeErr  error
)

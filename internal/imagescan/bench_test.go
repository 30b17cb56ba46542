package imagescan

import (
	"context"
	"os"
	"path/filepath"
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

package ecrpush

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The benchmarks push a generated five-layer OCI layout (benchLayers layers
// of benchLayerSize random, incompressible bytes) to an in-process registry.
// The comparison with crane and skopeo on a 300 MB image against Debian's
// docker-registry is internal/ecrpush/bench/compare.sh.
const (
	benchLayers    = 5
	benchLayerSize = 4 << 20
)

var (
	benchOnce   sync.Once
	benchDir    string
	benchBytes  int64
	benchErr    error
	benchTmpDir string
)

// benchLayout writes the benchmark image once per process.
func benchLayout(b *testing.B) (string, int64) {
	b.Helper()
	benchOnce.Do(func() {
		img := v1.Image(empty.Image)
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		for range benchLayers {
			l, err := random.Layer(benchLayerSize, types.OCILayer)
			if err != nil {
				benchErr = err
				return
			}
			if img, err = mutate.AppendLayers(img, l); err != nil {
				benchErr = err
				return
			}
			size, _ := l.Size()
			benchBytes += size
		}
		benchTmpDir, benchErr = os.MkdirTemp("", "ecr-push-bench-")
		if benchErr != nil {
			return
		}
		benchDir = filepath.Join(benchTmpDir, "layout")
		p, err := layout.Write(benchDir, empty.Index)
		if err == nil {
			err = p.AppendImage(img)
		}
		benchErr = err
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir, benchBytes
}

func benchRegistry(b *testing.B) (string, func()) {
	b.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	return strings.TrimPrefix(srv.URL, "http://"), srv.Close
}

// BenchmarkPushLayout pushes the whole image to an empty registry each
// time: every layer is uploaded, four at a time.
func BenchmarkPushLayout(b *testing.B) {
	dir, size := benchLayout(b)
	deps := Deps{Keychain: authn.NewMultiKeychain()}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		host, stop := benchRegistry(b)
		b.StartTimer()
		res, err := runConfig(context.Background(), Config{Registry: host, Repository: "bench/model", OCILayout: dir, Tags: []string{"v1"}, Jobs: 4}, deps)
		if err != nil {
			b.Fatal(err)
		}
		if res.PushedBytes < size {
			b.Fatalf("pushed %d bytes, want at least %d", res.PushedBytes, size)
		}
		b.StopTimer()
		stop()
		b.StartTimer()
	}
}

// BenchmarkRepushUnchanged pushes an image the registry has under the same
// tag: one manifest lookup, nothing uploaded.
func BenchmarkRepushUnchanged(b *testing.B) {
	dir, _ := benchLayout(b)
	deps := Deps{Keychain: authn.NewMultiKeychain()}
	host, stop := benchRegistry(b)
	defer stop()
	cfg := Config{Registry: host, Repository: "bench/model", OCILayout: dir, Tags: []string{"v1", "latest"}, Jobs: 4}
	if _, err := runConfig(context.Background(), cfg, deps); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		res, err := runConfig(context.Background(), cfg, deps)
		if err != nil {
			b.Fatal(err)
		}
		if res.PushedBytes != 0 {
			b.Fatalf("re-push uploaded %d bytes", res.PushedBytes)
		}
	}
}

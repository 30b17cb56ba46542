// Command genlayout writes an OCI image layout with a few layers of random,
// incompressible bytes (like model weights) for the push comparison in
// ../compare.sh. Layers are gzip streams without compression, so the
// layout is written quickly and pushed as is.
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	out := flag.String("out", "", "layout directory to write")
	layers := flag.Int("layers", 5, "number of layers")
	mb := flag.Int("mb", 60, "MiB of random data per layer")
	flag.Parse()
	if err := run(*out, *layers, int64(*mb)<<20); err != nil {
		fmt.Fprintln(os.Stderr, "genlayout:", err)
		os.Exit(1)
	}
}

func run(out string, n int, size int64) error {
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	tmp, err := os.MkdirTemp("", "genlayout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i := range n {
		path := filepath.Join(tmp, fmt.Sprintf("layer%d.tar", i))
		if err := writeTar(path, fmt.Sprintf("model/part-%d.bin", i), size); err != nil {
			return err
		}
		l, err := tarball.LayerFromFile(path, tarball.WithCompressionLevel(gzip.NoCompression), tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return err
		}
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img); err != nil {
		return err
	}
	d, _ := img.Digest()
	var total int64
	ls, _ := img.Layers()
	for _, l := range ls {
		s, _ := l.Size()
		total += s
	}
	fmt.Printf("%s: %d layers, %d MiB, %s\n", out, n, total>>20, d)
	return nil
}

// writeTar writes a tar with one file of size random bytes.
func writeTar(path, name string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, rand.Reader, size); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

package image

import (
	"archive/tar"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// file is one entry of a layer: a directory (isDir), a file with the bytes
// of data, or a file copied from src.
type file struct {
	name     string // without a leading slash
	isDir    bool
	data     []byte
	src      string
	mode     int64
	uid, gid int
}

// dirs returns directory entries for path and each of its parents,
// root-owned, mode 0755.
func dirs(path string) []file {
	var out []file
	parts := strings.Split(path, "/")
	for i := range parts {
		out = append(out, file{name: strings.Join(parts[:i+1], "/"), isDir: true, mode: 0o755})
	}
	return out
}

// writeLayer writes the files as a gzipped tar in tmp, every entry dated
// created, and returns it as an OCI layer.
func writeLayer(tmp, name string, created time.Time, files []file) (v1.Layer, error) {
	f, err := os.CreateTemp(tmp, "mlship-image-"+name+"-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("writing layer %s: %w", name, err)
	}
	defer f.Close()
	if err := writeTar(f, created, files); err != nil {
		return nil, fmt.Errorf("writing layer %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing layer %s: %w", name, err)
	}
	l, err := tarball.LayerFromFile(f.Name(), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("reading layer %s: %w", name, err)
	}
	return l, nil
}

func writeTar(w io.Writer, created time.Time, files []file) error {
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, e := range files {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: created,
			Format:  tar.FormatPAX,
		}
		switch {
		case e.isDir:
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		case e.src != "":
			if err := copyFile(tw, h, e.src); err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(e.data); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func copyFile(tw *tar.Writer, h *tar.Header, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h.Typeflag, h.Size = tar.TypeReg, st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// baseLayer holds the user the tools run as (nonroot, 65532, as in
// distroless images), its home directory and /tmp.
func baseLayer(tmp string, created time.Time) (v1.Layer, error) {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:" + Home + ":/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	files := []file{
		{name: "etc", isDir: true, mode: 0o755},
		{name: "etc/group", data: []byte(group), mode: 0o644},
		{name: "etc/passwd", data: []byte(passwd), mode: 0o644},
		{name: "home", isDir: true, mode: 0o755},
		{name: strings.TrimPrefix(Home, "/"), isDir: true, mode: 0o700, uid: UID, gid: UID},
		{name: "tmp", isDir: true, mode: 0o1777},
	}
	return writeLayer(tmp, "base", created, files)
}

// caLayer holds the CA roots the tools trust, as a PEM bundle where Go
// (and most other software) looks on Linux. The roots are the Mozilla NSS
// trust store that golang.org/x/crypto/x509roots/fallback carries, at the
// version go.mod names, so a build does not depend on the building
// machine's certificates. Roots that NSS trusts only with a constraint a
// PEM file cannot hold (distrust of certificates issued after a date) are
// left out: a root the bundle cannot constrain is not trusted at all.
func caLayer(tmp string, created time.Time) (v1.Layer, error) {
	pemBytes, err := CABundle()
	if err != nil {
		return nil, err
	}
	files := append(dirs("etc/ssl/certs"), file{name: strings.TrimPrefix(CAFile, "/"), data: pemBytes, mode: 0o644})
	return writeLayer(tmp, "ca-certificates", created, files)
}

// CABundle returns the PEM bundle the image's CA layer holds.
func CABundle() ([]byte, error) {
	var b strings.Builder
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		cert, err := x509.ParseCertificate(r.Certificate)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		fmt.Fprintf(&b, "# %s\n", cert.Subject.String())
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("CA bundle: no roots")
	}
	return []byte(b.String()), nil
}

const fallbackModule = "golang.org/x/crypto/x509roots/fallback"

// caSource names the module and version the CA roots come from.
func caSource() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == fallbackModule {
				return m.Path + " " + m.Version
			}
		}
	}
	return fallbackModule
}

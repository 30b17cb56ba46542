package oci

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxUnpacked bounds what one database archive may extract to: Trivy's
// databases are well under a gigabyte each, uncompressed; an archive that
// unpacks to more is damaged or hostile, and would fill the runner's disk.
var maxUnpacked int64 = 8 << 30

// unpack puts the downloaded file into dir: a gzipped tar archive (the
// vulnerability and Java databases) is extracted, any other file copied.
// It stands for trivy's go-getter based pkg/downloader, which fetches from
// many more kinds of sources than a local file.
func unpack(file, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := filepath.Base(file)
	if !strings.HasSuffix(name, ".tar.gz") && !strings.HasSuffix(name, ".tgz") {
		return copyFile(file, filepath.Join(dir, name), 0o644)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	left := maxUnpacked
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rel := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("%s: entry %q is outside the archive", name, h.Name)
		}
		dst := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if h.Size > left {
				return fmt.Errorf("%s: unpacks to more than %d bytes", name, maxUnpacked)
			}
			left -= h.Size
			perm := os.FileMode(h.Mode).Perm() | 0o600 // readable by the scan whatever the archive says
			if err := writeFile(dst, io.LimitReader(tr, h.Size), perm); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: entry %q is not a regular file or directory", name, h.Name)
		}
	}
}

func copyFile(src, dst string, perm os.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeFile(dst, f, perm)
}

func writeFile(dst string, r io.Reader, perm os.FileMode) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

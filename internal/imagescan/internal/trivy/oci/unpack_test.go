package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTarGz(t *testing.T, path string, entries map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range entries {
		if strings.HasSuffix(name, "/") {
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o400, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestUnpackTarGz(t *testing.T) {
	src := filepath.Join(t.TempDir(), "db.tar.gz")
	writeTarGz(t, src, map[string]string{"trivy.db": "bolt", "metadata.json": "{}", "sub/": "", "sub/x": "x"})
	dir := filepath.Join(t.TempDir(), "out")
	if err := unpack(src, dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"trivy.db": "bolt", "metadata.json": "{}", "sub/x": "x"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	// Extracted again over the first: files are replaced, not refused.
	if err := unpack(src, dir); err != nil {
		t.Errorf("second unpack: %v", err)
	}
}

func TestUnpackRefusesEntriesOutside(t *testing.T) {
	for _, name := range []string{"../evil", "/abs/evil", "a/../../evil"} {
		src := filepath.Join(t.TempDir(), "db.tar.gz")
		writeTarGz(t, src, map[string]string{name: "x"})
		root := t.TempDir()
		err := unpack(src, filepath.Join(root, "out"))
		if err == nil || !strings.Contains(err.Error(), "outside the archive") {
			t.Errorf("%s: err %v, want refused", name, err)
		}
		if _, err := os.Stat(filepath.Join(root, "evil")); err == nil {
			t.Errorf("%s: written outside the directory", name)
		}
	}
}

func TestUnpackCopiesOtherFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "javadb.bin")
	if err := os.WriteFile(src, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := unpack(src, dir); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "javadb.bin")); err != nil || string(got) != "data" {
		t.Errorf("copied file: %q, %v", got, err)
	}
}

func TestUnpackDamagedArchive(t *testing.T) {
	src := filepath.Join(t.TempDir(), "db.tar.gz")
	if err := os.WriteFile(src, []byte("not gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unpack(src, t.TempDir()); err == nil {
		t.Error("a damaged archive unpacked without error")
	}
}

func TestUnpackRefusesTooMuch(t *testing.T) {
	old := maxUnpacked
	maxUnpacked = 10
	t.Cleanup(func() { maxUnpacked = old })
	src := filepath.Join(t.TempDir(), "db.tar.gz")
	writeTarGz(t, src, map[string]string{"a": "123456", "b": "123456"})
	if err := unpack(src, t.TempDir()); err == nil || !strings.Contains(err.Error(), "more than 10 bytes") {
		t.Errorf("err %v, want refused past the limit", err)
	}
}

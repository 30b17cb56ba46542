package statefile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/statefile"
)

type record struct {
	Schema string            `json:"schema"`
	Values map[string]string `json:"values"`
}

func TestWriteThenRead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	want := record{Schema: "x/v1", Values: map[string]string{"API_KEY": "secret"}}
	if err := statefile.Write(path, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v: want 0600 (the record may hold secrets)", fi.Mode(), err)
	}
	var got record
	if err := statefile.Read(path, 1<<20, &got); err != nil || got.Schema != want.Schema || got.Values["API_KEY"] != "secret" {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left files beside the record: %v", entries)
	}
	// Overwriting replaces the record whole.
	if err := statefile.Write(path, record{Schema: "x/v2"}); err != nil {
		t.Fatal(err)
	}
	if err := statefile.Read(path, 1<<20, &got); err != nil || got.Schema != "x/v2" {
		t.Errorf("after overwrite: %+v, %v", got, err)
	}
}

func TestBadPathsAndRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(`{"schema":"`+strings.Repeat("x", 100)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"":                                "no path",
		dir:                               "is a directory",
		filepath.Join(dir, "no", "state"): "does not exist",
		filepath.Join(file, "state"):      "is not a directory",
	} {
		if err := statefile.CheckPath(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPath(%q) = %v, want %q", path, err, want)
		}
		if err := statefile.Write(path, record{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Write(%q) = %v, want %q", path, err, want)
		}
	}
	var r record
	for path, want := range map[string]string{
		filepath.Join(dir, "missing"): "no such file",
		file:                          "not JSON",
		big:                           "larger than 64 bytes",
	} {
		if err := statefile.Read(path, 64, &r); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Read(%q) = %v, want %q", path, err, want)
		}
	}
}

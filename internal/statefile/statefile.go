// Package statefile writes and reads the JSON records a tool that changes
// something leaves before its first change (what it takes to put it back),
// for the tool that rolls back. The record types live with the code that
// knows them (lambdaalias, kube); the file handling is this package's: a
// record is written whole or not at all, readable by its owner only, and
// read back with a limit.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CheckPath refuses a path a record cannot be written to: empty, a
// directory, or a file in a directory that does not exist. It writes
// nothing, so a tool can check before its first change.
func CheckPath(path string) error {
	if path == "" {
		return errors.New("no path")
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return errors.New("is a directory")
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return pathless(err)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// Write records v at path as indented JSON, mode 0600. It writes a
// temporary file beside path, syncs it and renames it into place, so a
// reader never sees half a record and a crash leaves the old one.
func Write(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the record: %w", err)
	}
	if err := CheckPath(path); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return pathless(err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return pathless(err)
}

// Read decodes the record at path into v, reading at most limit bytes: a
// larger file is not a record. A record that cannot be read is an error,
// never an empty record.
func Read(path string, limit int64, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return pathless(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return pathless(err)
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("larger than %d bytes, not a state record", limit)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}

// pathless drops the path an *os.PathError repeats: callers name the path.
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Package atomicfile writes files so that a reader or a crash sees either the
// old content or the new, never part of it. It is the module's one helper for
// that (attestd's keys and TLS files, the CLI's bundles, the corpus cache).
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes b to path with mode through a synced temporary file in the
// same directory and a rename, then syncs the directory. On error the
// temporary file is removed and path is unchanged.
func Write(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

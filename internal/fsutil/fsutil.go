// Package fsutil writes the agent's small files (the state file, the
// scaling group cache) so that a crash never leaves one torn.
package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data: a temporary file in the same
// directory (created, like the directory, readable by the owner only),
// fsync, rename over the old file, fsync the directory. A crash at any point
// leaves either the old content or the new, never a mix.
func WriteFileAtomic(path string, data []byte) error {
	return WriteFileAtomicPerm(path, data, 0o600)
}

// WriteFileAtomicPerm is WriteFileAtomic for a file that others may read:
// the file gets perm, and a directory it creates lets in whoever perm lets
// read the file (0o644 gives 0o755, less the umask). The temporary file's name ends in
// .tmp, so a reader that takes only one suffix (node_exporter's textfile
// collector reads *.prom) never sees it.
func WriteFileAtomicPerm(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	read := perm & 0o044
	if err := os.MkdirAll(dir, 0o700|read|read>>2); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if perm != 0o600 { // CreateTemp's own mode
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, os.ErrPermission) {
		return err // Windows cannot fsync a directory: that is not a failure there
	}
	return nil
}

//go:build windows

package trust

import (
	"os"
	"syscall"
)

// Dir only checks that dir is a directory: on Windows the directory's ACL
// (ProgramData, writable by administrators) is what protects drop-ins.
func (p Policy) Dir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &Error{Path: dir, Reason: "not a directory", Err: syscall.ENOTDIR}
	}
	return nil
}

// Open opens path when it is a regular file (or a link to one); on Windows
// there are no owner or mode rules.
func (p Policy) Open(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, err
		}
		return nil, notRegular(path, fi.Mode())
	}
	return f, nil
}

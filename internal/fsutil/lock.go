package fsutil

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked means another process holds the lock.
var ErrLocked = errors.New("held by another process")

// Lock takes an exclusive lock on the file at path (created 0600 if
// missing) and returns the function that releases it. The lock belongs to
// the open file, so it ends with the process however that ends: a crash
// never leaves a stale lock behind. A lock another process holds is
// ErrLocked, at once.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

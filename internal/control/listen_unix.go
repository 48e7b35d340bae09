//go:build !windows

package control

import (
	"net"
	"os"
	"path/filepath"
)

// listenPrivate creates the socket in a fresh 0700 directory next to path,
// makes it 0600, and renames it into place: no one else can connect in
// between, and nothing touches the process-wide umask (which would race
// with files the agent creates meanwhile).
func listenPrivate(path string) (net.Listener, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".agent-sock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	// The listener must not unlink tmp (gone after the rename) on Close;
	// Serve removes path itself.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

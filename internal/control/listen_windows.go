//go:build windows

package control

import (
	"net"
	"os"
)

// listenPrivate on Windows relies on the directory's ACL (ProgramData,
// writable by administrators) and sets the file mode for what it is worth.
func listenPrivate(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

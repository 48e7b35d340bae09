//go:build !linux

package control

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/rs/zerolog"
)

// withPeer has no peer credentials to read outside Linux.
func withPeer(ctx context.Context, _ net.Conn) context.Context { return ctx }

// checkServer cannot read the server's credentials outside Linux; the
// socket's directory is created for administrators only.
func checkServer(net.Conn, string) error { return nil }

// requirePeer relies on the socket's file permissions outside Linux: the
// socket is created 0600 in a directory only administrators can write.
func requirePeer(next http.Handler, _ zerolog.Logger) http.Handler { return next }

func isConnRefused(err error) bool {
	return errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "refused")
}

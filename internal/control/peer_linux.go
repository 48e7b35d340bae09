//go:build linux

package control

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/rs/zerolog"
)

type peerKey struct{}

// withPeer records the connecting process's uid, read with SO_PEERCRED.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	uid := -1
	if uc, ok := c.(*net.UnixConn); ok {
		if raw, err := uc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) {
				if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
					uid = int(cred.Uid)
				}
			})
		}
	}
	return context.WithValue(ctx, peerKey{}, uid)
}

// requirePeer refuses every peer but root and the agent's own user.
func requirePeer(next http.Handler, log zerolog.Logger) http.Handler {
	self := os.Geteuid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := r.Context().Value(peerKey{}).(int)
		if uid != 0 && uid != self {
			log.Warn().Int("uid", uid).Msg("control socket: refused a peer that is neither root nor the agent's user")
			writeJSON(w, http.StatusForbidden, errorBody{"permission denied: only root may control the agent"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

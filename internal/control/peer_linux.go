//go:build linux

package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/rs/zerolog"
)

type peerKey struct{}

// peerUID is the uid of the process at the other end of c, read with
// SO_PEERCRED; -1 when it cannot be read.
func peerUID(c net.Conn) int {
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
	return uid
}

// withPeer records the connecting process's uid.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, peerUID(c))
}

// checkServer refuses a socket served by anyone but root or this user: in
// a socket directory someone else could write to, they could have put
// their own server there, whose answers `asagent status` would show and
// which would swallow `asagent complete`.
func checkServer(c net.Conn, path string) error {
	if uid := peerUID(c); uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("the control socket %s is served by user %d, neither root nor you: refusing to talk to it", path, uid)
	}
	return nil
}

// requirePeer refuses every peer but root and the agent's own user.
func requirePeer(next http.Handler, log zerolog.Logger) http.Handler {
	self := os.Geteuid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := r.Context().Value(peerKey{}).(int)
		if uid != 0 && uid != self {
			log.Warn().Int("uid", uid).Msg("control socket: refused a peer that is neither root nor the agent's user")
			w.Header().Set("Connection", "close") // no idle connection for a refused peer
			writeJSON(w, http.StatusForbidden, errorBody{"permission denied: only root may control the agent"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

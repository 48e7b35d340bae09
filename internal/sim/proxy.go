package sim

import (
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
)

// ConnectProxy is an HTTPS forward proxy in front of the simulator: it
// answers CONNECT for any host by connecting to the simulator's address,
// as a site's proxy connects to AS. A client can then be tested with its
// real proxy settings and an AS endpoint name that only the proxy
// "resolves", so nothing reaches the simulator but through the proxy. Serve
// it with httptest.NewServer (or any http.Server).
type ConnectProxy struct {
	target string

	mu    sync.Mutex
	hosts []string
}

// NewConnectProxy returns a proxy that connects every CONNECT to target
// (host:port, e.g. an httptest TLS server's listener address).
func NewConnectProxy(target string) *ConnectProxy { return &ConnectProxy{target: target} }

// Hosts returns the host:port of every CONNECT so far, oldest first.
func (p *ConnectProxy) Hosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.hosts)
}

// ServeHTTP tunnels one CONNECT to the target; other methods get 405.
func (p *ConnectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "this proxy only tunnels (CONNECT)", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.hosts = append(p.hosts, r.Host)
	p.mu.Unlock()
	dst, err := net.Dial("tcp", p.target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		dst.Close()
		return
	}
	_, _ = conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	go func() {
		_, _ = io.Copy(dst, rw) // rw first: it may hold bytes read past the CONNECT
		dst.Close()
	}()
	_, _ = io.Copy(conn, dst)
	conn.Close()
}

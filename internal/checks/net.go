package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/asagent/asagent/internal/config"
)

// maxBody is how much of an HTTP response body is searched for
// body_contains; a health endpoint that hides its marker deeper is broken.
const maxBody = 64 << 10

// httpProber asks a URL and looks at the status and, optionally, the body.
// Redirects are not followed (a 3xx is a status like any other, and
// expect_status decides), no proxy is used (the target is on or near the
// instance), and every attempt opens a fresh connection.
type httpProber struct {
	c    config.Check
	want config.StatusSet
}

func newHTTPProber(c config.Check) (*httpProber, error) {
	if c.URL == "" {
		return nil, errors.New("http check has no url")
	}
	if c.ExpectStatus == "" {
		c.ExpectStatus = "200-399"
	}
	want, err := config.ParseStatusSet(c.ExpectStatus)
	if err != nil {
		return nil, fmt.Errorf("expect_status: %w", err)
	}
	return &httpProber{c: c, want: want}, nil
}

func (h *httpProber) probe(ctx context.Context, _ attempt) outcome {
	tlsCfg, err := h.tlsConfig()
	if err != nil {
		return outcome{kind: notYet, err: err}
	}
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       (&net.Dialer{}).DialContext,
		TLSClientConfig:   tlsCfg,
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := h.request(ctx)
	if err != nil {
		return outcome{kind: giveUp, err: fmt.Errorf("http check: %w", err)}
	}
	resp, err := client.Do(req)
	if err != nil {
		return outcome{kind: notYet, err: err}
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	shown := body
	if len(shown) > OutputCap {
		shown = shown[:OutputCap]
	}
	out := outcome{
		output:      strings.TrimRight(resp.Proto+" "+resp.Status+"\n"+sanitize(shown, true), "\n"),
		outputBytes: int64(len(body)),
	}
	switch {
	case !h.want.Contains(resp.StatusCode):
		out.err = fmt.Errorf("status %d, want %s", resp.StatusCode, h.c.ExpectStatus)
	case h.c.BodyContains != "" && readErr != nil:
		out.err = fmt.Errorf("reading body: %w", readErr)
	case h.c.BodyContains != "" && !bytes.Contains(body, []byte(h.c.BodyContains)):
		out.err = fmt.Errorf("body (first %d KiB) does not contain %q", maxBody>>10, h.c.BodyContains)
	default:
		out.kind = pass
		return out
	}
	out.kind = notYet
	return out
}

// request builds the check's request: its method (GET by default), URL and
// headers, a Host header setting the request's host.
func (h *httpProber) request(ctx context.Context) (*http.Request, error) {
	method := h.c.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, h.c.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "asagent-check")
	for k, v := range h.c.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	return req, nil
}

// tlsConfig is built at every attempt so that a renewed CA file is picked up.
func (h *httpProber) tlsConfig() (*tls.Config, error) {
	t := h.c.TLS
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, // the user asked for it (self-signed local endpoints)
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate in it", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// tcpProber passes when a TCP connection to address opens.
type tcpProber struct{ address string }

func (t tcpProber) probe(ctx context.Context, _ attempt) outcome {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", t.address)
	if err != nil {
		return outcome{kind: notYet, err: err}
	}
	out := outcome{kind: pass, output: "connected to " + conn.RemoteAddr().String()}
	_ = conn.Close()
	return out
}

// fileProber passes when path exists (following symlinks), or with absent
// when it does not. An error other than "does not exist" (permission
// denied) is "not yet" either way: the answer is unknown.
type fileProber struct {
	path   string
	absent bool
}

func (f fileProber) probe(context.Context, attempt) outcome {
	_, err := os.Stat(f.path)
	switch {
	case err == nil && !f.absent:
		return outcome{kind: pass, output: f.path + " exists"}
	case err == nil:
		return outcome{kind: notYet, err: fmt.Errorf("%s exists, waiting for it to go", f.path)}
	case errors.Is(err, os.ErrNotExist) && f.absent:
		return outcome{kind: pass, output: f.path + " is absent"}
	case errors.Is(err, os.ErrNotExist):
		return outcome{kind: notYet, err: fmt.Errorf("%s does not exist yet", f.path)}
	}
	return outcome{kind: notYet, err: err}
}

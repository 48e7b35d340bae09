package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

// Client talks to a running agent's control socket.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{path: path, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, err
			}
			if err := checkServer(c, path); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	}}}
}

// ErrNotRunning means nothing listens on the socket: the agent is not running
// (or runs with another control_socket).
var ErrNotRunning = errors.New("the agent is not running")

// Status returns the agent's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Signal sends one of the Signal* names.
func (c *Client) Signal(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/signal", signalRequest{Signal: name}, nil)
}

// Complete asks the agent to answer the current phase's hooks with result.
func (c *Client) Complete(ctx context.Context, result, hook string) error {
	return c.do(ctx, http.MethodPost, "/v1/complete", completeRequest{Result: result, Hook: hook}, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || isConnRefused(err) {
			return fmt.Errorf("%w (no one answers on %s)", ErrNotRunning, c.path)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb errorBody
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&eb)
		if eb.Error == "" {
			eb.Error = resp.Status
		}
		return errors.New(eb.Error)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

package registry

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/kubegate/kubegate/images"
)

// timeoutTransport gives every request, its body included, its own deadline: a registry
// that stalls fails that request (and is retried) instead of hanging the gate.
type timeoutTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !images.Loopback(req.URL.Hostname()) {
		if rec, ok := req.Context().Value(plainHTTPKey{}).(*plainHTTP); ok {
			rec.saw(req.URL.Host)
		}
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// plainHTTP records a request sent over plain HTTP to a host that is not a loopback
// address: go-containerregistry falls back to http for private-range addresses without
// saying so, and an image fetched that way can be swapped.
type plainHTTP struct {
	mu   sync.Mutex
	host string
}

type plainHTTPKey struct{}

func (p *plainHTTP) saw(host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.host == "" {
		p.host = host
	}
}

func (p *plainHTTP) seen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.host
}

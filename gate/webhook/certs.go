package webhook

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate in its files, reloading it when they change (a
// renewed Secret, a cert-manager rotation), at most once a second. A broken renewal keeps
// the old certificate and is logged.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string
	checked time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	stamp, err := c.fileStamp()
	if err != nil {
		return nil, err
	}
	if err := c.load(stamp); err != nil {
		return nil, err
	}
	return c, nil
}

// fileStamp changes when either file does; Kubernetes swaps Secret volumes by symlink, and
// Stat follows it.
func (c *certReloader) fileStamp() (string, error) {
	var stamp string
	for _, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		stamp += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return stamp, nil
}

func (c *certReloader) load(stamp string) error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	c.cert, c.stamp = &cert, stamp
	c.log.Info("serving certificate loaded", "file", c.certFile, "notAfter", cert.Leaf.NotAfter.UTC().Format(time.RFC3339), "dnsNames", cert.Leaf.DNSNames)
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= time.Second {
		c.checked = time.Now()
		if stamp, err := c.fileStamp(); err == nil && stamp != c.stamp {
			if err := c.load(stamp); err != nil {
				c.stamp = stamp // tried: wait for the next change
				c.log.Error("keeping the previous serving certificate", "error", err)
			}
		}
	}
	return c.cert, nil
}

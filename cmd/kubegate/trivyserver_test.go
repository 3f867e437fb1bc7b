package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aquasecurity/trivy/pkg/cache"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	trivyserver "github.com/aquasecurity/trivy/pkg/rpc/server"

	"github.com/kubegate/kubegate/images/trivy"
)

// TestTrivyServerMode: with --trivy-server, a runner with no DB of its own finds what the
// server's DB says, and a server it cannot reach fails the images closed.
func TestTrivyServerMode(t *testing.T) {
	w := newImageWorld(t, 0, 0)
	// Trivy's own server, on the world's DB (opened as Trivy's global DB, as trivy server does).
	local, err := trivy.Open(context.Background(), trivy.Options{CacheDir: w.trivyDir, SkipDBUpdate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	var wg sync.WaitGroup
	srv := httptest.NewServer(trivyserver.NewServer("test", "", w.trivyDir, "s3cret", "Trivy-Token", "", nil, ftypes.RegistryOptions{}).
		NewServeMux(context.Background(), cache.NewMemoryCache(), &wg, &wg))
	defer srv.Close()

	empty := t.TempDir() // the runner's Trivy cache: no DB
	args := func(extra ...string) []string {
		return append([]string{"check", "--config", w.policy, "--trivy-cache-dir", empty, "--verdict-cache-dir", t.TempDir(), "--quiet", w.manifests}, extra...)
	}
	code, out, errOut := kubegate(t, "", args("--trivy-server", srv.URL, "--trivy-server-token", "s3cret")...)
	if code != 1 || !strings.Contains(out, "CVE-2026-3001 (critical) in musl 1.2.5-r9, fixed in 1.2.5-r10") || strings.Contains(out, "image-not-scanned") {
		t.Fatalf("through the server: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = kubegate(t, "", args("--trivy-server", srv.URL, "--trivy-server-token", "wrong")...)
	if code != 1 || !strings.Contains(out, "image-not-scanned") || !strings.Contains(out, "invalid token") {
		t.Errorf("a wrong token: exit %d\n%s", code, out)
	}
	srv.Close()
	code, out, _ = kubegate(t, "", args("--trivy-server", srv.URL)...)
	if code != 1 || !strings.Contains(out, "image-not-scanned") || !strings.Contains(out, "Trivy server "+srv.URL) {
		t.Errorf("no server: exit %d\n%s", code, out)
	}
}

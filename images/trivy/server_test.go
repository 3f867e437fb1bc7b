package trivy

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aquasecurity/trivy/pkg/cache"
	"github.com/aquasecurity/trivy/pkg/fanal/types"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	trivyserver "github.com/aquasecurity/trivy/pkg/rpc/server"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/imagetest"
)

// countingCache is the server's layer cache, counting the layers put into it.
type countingCache struct {
	*cache.MemoryCache
	puts atomic.Int32
}

func (c *countingCache) PutBlob(ctx context.Context, key string, b types.BlobInfo) error {
	c.puts.Add(1)
	return c.MemoryCache.PutBlob(ctx, key, b)
}

// trivyServer runs Trivy's own server (`trivy server`) on loopback, with the DB in dir
// (opened as Trivy's global DB by Open) and a token.
func trivyServer(t *testing.T, dir string) (url string, c *countingCache) {
	t.Helper()
	c = &countingCache{MemoryCache: cache.NewMemoryCache()}
	var wg sync.WaitGroup
	mux := trivyserver.NewServer("test", "", dir, "s3cret", "Trivy-Token", "", nil, ftypes.RegistryOptions{}).NewServeMux(context.Background(), c, &wg, &wg)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, c
}

// TestServerScanMatchesLocal: through a Trivy server, the same images give the same OS and
// vulnerabilities as the local scan; a layer the server's cache has is not read or sent
// again; a wrong token and a server without a DB are errors.
func TestServerScanMatchesLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := WriteDB(dir, testAdvisories, time.Now()); err != nil {
		t.Fatal(err)
	}
	local, err := Open(ctx, Options{CacheDir: dir, SkipDBUpdate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	url, serverCache := trivyServer(t, dir)
	srv, err := OpenServer(ctx, url, ServerOptions{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if srv.DB().Version != local.DB().Version {
		t.Errorf("the server's DB %+v, the local one %+v", srv.DB(), local.DB())
	}

	reg := imagetest.NewRegistry()
	defer reg.Close()
	alpine, _ := imagetest.Alpine("3.19.1", map[string]string{"musl": "1.2.4-r2", "busybox": "1.36.1-r15", "zlib": "1.3.1-r0"}, "", "linux/amd64")
	debian, _ := imagetest.Debian("12.7", map[string]string{"openssl": "3.0.14-1~deb12u2", "bash": "5.2.15-2"}, "1000", "linux/amd64")
	for repo, img := range map[string]v1.Image{"app/alpine:1": alpine, "app/debian:1": debian} {
		if _, err := reg.Push(repo, img); err != nil {
			t.Fatal(err)
		}
		res := resolve(t, reg, repo)
		want, err := local.Scan(ctx, repo, res.Platforms[0])
		if err != nil {
			t.Fatal(err)
		}
		got, err := srv.Scan(ctx, repo, res.Platforms[0])
		if err != nil {
			t.Fatalf("%s through the server: %v", repo, err)
		}
		if got.OS != want.OS || got.EndOfLife != want.EndOfLife || len(got.Vulnerabilities) == 0 ||
			strings.Join(vulnLines(got), "\n") != strings.Join(vulnLines(want), "\n") {
			t.Errorf("%s: through the server %+v\nlocally %+v", repo, got, want)
		}
	}
	puts := serverCache.puts.Load()
	if puts == 0 {
		t.Fatal("no layer was put into the server's cache")
	}
	res := resolve(t, reg, "app/alpine:1")
	if _, err := srv.Scan(ctx, "app/alpine:1", res.Platforms[0]); err != nil || serverCache.puts.Load() != puts {
		t.Errorf("a second scan put %d layers again (%v)", serverCache.puts.Load()-puts, err)
	}

	wrong, err := OpenServer(ctx, url, ServerOptions{Token: "wrong"})
	if err != nil {
		t.Fatal(err) // /version needs no token
	}
	if _, err := wrong.Scan(ctx, "app/alpine:1", res.Platforms[0]); err == nil || !strings.Contains(err.Error(), "invalid token") {
		t.Errorf("a wrong token: %v", err)
	}
	emptyURL, _ := trivyServer(t, t.TempDir())
	if _, err := OpenServer(ctx, emptyURL, ServerOptions{}); err == nil || !strings.Contains(err.Error(), "has no vulnerability DB") {
		t.Errorf("a server without a DB: %v", err)
	}
	if _, err := OpenServer(ctx, "http://127.0.0.1:1", ServerOptions{}); err == nil || !strings.Contains(err.Error(), "Trivy server http://127.0.0.1:1") {
		t.Errorf("no server: %v", err)
	}
}

func vulnLines(r *images.ScanReport) []string {
	var out []string
	for _, v := range r.Vulnerabilities {
		out = append(out, strings.Join([]string{v.ID, v.Package, v.Installed, v.Fixed, v.Severity, v.Title}, " "))
	}
	return out
}

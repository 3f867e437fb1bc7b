package trivy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"

	"github.com/kubegate/kubegate/scanners"
	"github.com/kubegate/kubegate/scanners/imagetest"
	"github.com/kubegate/kubegate/scanners/registry"
)

var testAdvisories = []Advisory{
	{Source: "alpine 3.19", Package: "musl", ID: "CVE-2026-0001", Fixed: "1.2.4-r3", Severity: "CRITICAL", Title: "musl: heap overflow"},
	{Source: "alpine 3.19", Package: "busybox", ID: "CVE-2026-0002", Fixed: "", Severity: "HIGH", Title: "busybox: no fix yet"},
	{Source: "alpine 3.19", Package: "zlib", ID: "CVE-2026-0003", Fixed: "1.2.0-r0", Severity: "HIGH", Title: "already fixed in the image"},
	{Source: "debian 12", Package: "openssl", ID: "CVE-2026-0004", Fixed: "3.0.15-1~deb12u1", Severity: "HIGH", Title: "openssl: bad thing"},
}

func resolve(t *testing.T, reg *imagetest.Registry, repoTag string) *scanners.Resolved {
	t.Helper()
	r := registry.New(registry.Options{Insecure: []string{reg.Host()}})
	res, err := r.Resolve(context.Background(), reg.Host()+"/"+repoTag, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestScanFindsOSPackageVulnerabilities(t *testing.T) {
	cache := t.TempDir()
	if err := WriteDB(cache, testAdvisories, time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Options{CacheDir: cache, SkipDBUpdate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	reg := imagetest.NewRegistry()
	defer reg.Close()
	alpine, _ := imagetest.Alpine("3.19.1", map[string]string{"musl": "1.2.4-r2", "busybox": "1.36.1-r15", "zlib": "1.3.1-r0"}, "", "linux/amd64")
	debian, _ := imagetest.Debian("12.7", map[string]string{"openssl": "3.0.14-1~deb12u2", "bash": "5.2.15-2"}, "1000", "linux/amd64")
	if _, err := reg.Push("app/alpine:1", alpine); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push("app/debian:1", debian); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		repoTag, os string
		want        []string
	}{
		{"app/alpine:1", "alpine 3.19.1", []string{"CVE-2026-0001 musl 1.2.4-r2 -> 1.2.4-r3 CRITICAL musl: heap overflow", "CVE-2026-0002 busybox 1.36.1-r15 ->  HIGH busybox: no fix yet"}},
		{"app/debian:1", "debian 12.7", []string{"CVE-2026-0004 openssl 3.0.14-1~deb12u2 -> 3.0.15-1~deb12u1 HIGH openssl: bad thing"}},
	} {
		res := resolve(t, reg, tc.repoTag)
		rep, err := s.Scan(context.Background(), tc.repoTag, res.Platforms[0])
		if err != nil {
			t.Fatalf("%s: %v", tc.repoTag, err)
		}
		if rep.OS != tc.os {
			t.Errorf("%s: OS %q, want %q", tc.repoTag, rep.OS, tc.os)
		}
		var got []string
		for _, v := range rep.Vulnerabilities {
			got = append(got, strings.Join([]string{v.ID, v.Package, v.Installed, "->", v.Fixed, v.Severity, v.Title}, " "))
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.repoTag, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	if s.DB().Version == "" || s.DB().UpdatedAt.IsZero() {
		t.Errorf("DB info missing: %+v", s.DB())
	}
}

func TestOpenFailsWithoutDB(t *testing.T) {
	_, err := Open(context.Background(), Options{CacheDir: t.TempDir(), SkipDBUpdate: true})
	if err == nil || !strings.Contains(err.Error(), "--skip-db-update cannot be specified on the first run") {
		t.Fatalf("got %v", err)
	}
}

func TestOpenFailsWhenDBCannotBeDownloaded(t *testing.T) {
	reg := imagetest.NewRegistry() // serves no DB
	defer reg.Close()
	_, err := Open(context.Background(), Options{CacheDir: t.TempDir(), DBRepositories: []string{reg.Host() + "/aquasec/trivy-db:2"}})
	if err == nil || !strings.Contains(err.Error(), "downloading the vulnerability DB from "+reg.Host()+"/aquasec/trivy-db:2") {
		t.Fatalf("got %v", err)
	}
}

// TestOpenDownloadsTheDB: the DB is pulled from the repository given, like trivy does,
// into Trivy's cache layout, and opened.
func TestOpenDownloadsTheDB(t *testing.T) {
	reg := imagetest.NewRegistry()
	defer reg.Close()
	built := t.TempDir()
	updated := time.Now().UTC().Truncate(time.Second)
	if err := WriteDB(built, testAdvisories, updated); err != nil {
		t.Fatal(err)
	}
	art, err := dbArtifact(filepath.Join(built, "db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push("aquasec/trivy-db:2", art); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	s, err := Open(context.Background(), Options{CacheDir: cache, DBRepositories: []string{reg.Host() + "/aquasec/trivy-db:2"}, InsecureDBRegistry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.DB().UpdatedAt.Equal(updated) {
		t.Errorf("DB updated at %v, want %v", s.DB().UpdatedAt, updated)
	}
	if _, err := os.Stat(filepath.Join(cache, "db", "trivy.db")); err != nil {
		t.Errorf("the DB is not in Trivy's cache layout: %v", err)
	}
}

// dbArtifact packs a DB directory as Trivy publishes it: one tar+gzip layer of
// trivy.db and metadata.json, titled db.tar.gz.
func dbArtifact(dir string) (v1.Image, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []string{"trivy.db", "metadata.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		tw.WriteHeader(&tar.Header{Name: f, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
	layer := static.NewLayer(buf.Bytes(), "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip")
	return mutate.Append(empty.Image, mutate.Addendum{Layer: layer, MediaType: "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip",
		Annotations: map[string]string{"org.opencontainers.image.title": "db.tar.gz"}})
}

func TestOpenFailsOnCorruptDB(t *testing.T) {
	cache := t.TempDir()
	if err := WriteDB(cache, testAdvisories, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "db", "trivy.db"), bytes.Repeat([]byte("not bolt"), 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{CacheDir: cache, SkipDBUpdate: true})
	if err == nil || !strings.Contains(err.Error(), "opening the vulnerability DB in "+filepath.Join(cache, "db")) {
		t.Fatalf("got %v", err)
	}
}

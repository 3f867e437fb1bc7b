package trivy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy/pkg/clock"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/imagetest"
	"github.com/kubegate/kubegate/images/registry"
)

var testAdvisories = []Advisory{
	{Source: "alpine 3.19", Package: "musl", ID: "CVE-2026-0001", Fixed: "1.2.4-r3", Severity: "CRITICAL", Title: "musl: heap overflow"},
	{Source: "alpine 3.19", Package: "busybox", ID: "CVE-2026-0002", Fixed: "", Severity: "HIGH", Title: "busybox: no fix yet"},
	{Source: "alpine 3.19", Package: "zlib", ID: "CVE-2026-0003", Fixed: "1.2.0-r0", Severity: "HIGH", Title: "already fixed in the image"},
	{Source: "debian 12", Package: "openssl", ID: "CVE-2026-0004", Fixed: "3.0.15-1~deb12u1", Severity: "HIGH", Title: "openssl: bad thing"},
}

func resolve(t *testing.T, reg *imagetest.Registry, repoTag string) *images.Resolved {
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
	updated := time.Now().UTC().Truncate(time.Second)
	pushDB(t, reg, dbArtifact(t, testAdvisories, updated))
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

// pushDB publishes a DB with the advisories, built at updated, as the repository's :2.
// dbArtifact is DBArtifact or the end of the test. Like WriteDB, it writes through Trivy's
// process-global DB handle: build artifacts before a Scanner is opened.
func dbArtifact(t *testing.T, advisories []Advisory, updated time.Time) v1.Image {
	t.Helper()
	art, err := DBArtifact(advisories, updated)
	if err != nil {
		t.Fatal(err)
	}
	return art
}

// pushDB publishes a DB artifact as the repository's :2.
func pushDB(t *testing.T, reg *imagetest.Registry, art v1.Image) {
	t.Helper()
	if _, err := reg.Push("aquasec/trivy-db:2", art); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshSwapsTheDB: a long-running process (the webhook) takes a newer DB when
// Trivy's schedule says one is due, and scans see its advisories; scans go on while it
// downloads and during the swap; when the repository fails, the DB open stays usable.
func TestRefreshSwapsTheDB(t *testing.T) {
	reg := imagetest.NewRegistry()
	defer reg.Close()
	first, second := time.Now().UTC().Add(-48*time.Hour).Truncate(time.Second), time.Now().UTC().Truncate(time.Second)
	firstDB, secondDB := dbArtifact(t, testAdvisories[:1], first), dbArtifact(t, testAdvisories, second)
	pushDB(t, reg, firstDB)
	s, err := Open(context.Background(), Options{CacheDir: t.TempDir(), DBRepositories: []string{reg.Host() + "/aquasec/trivy-db:2"}, InsecureDBRegistry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if changed, err := s.Refresh(context.Background()); changed || err != nil {
		t.Fatalf("refreshed a DB downloaded a moment ago: %v %v", changed, err)
	}
	img, _ := imagetest.Alpine("3.19.1", map[string]string{"musl": "1.2.4-r2", "busybox": "1.36.1-r15"}, "", "linux/amd64")
	reg.Push("app/alpine:1", img)
	pi := resolve(t, reg, "app/alpine:1").Platforms[0]
	scan := func() int {
		rep, err := s.Scan(context.Background(), "app/alpine:1", pi)
		if err != nil {
			t.Error(err)
			return -1
		}
		return len(rep.Vulnerabilities)
	}
	if n := scan(); n != 1 {
		t.Fatalf("first DB: %d vulnerabilities, want 1", n)
	}

	later := clock.With(context.Background(), time.Now().Add(2*time.Hour)) // past the next update and the download hour
	reg.Inject("/v2/aquasec/trivy-db/", imagetest.Fault{Status: 500})
	if changed, err := s.Refresh(later); changed || err == nil || !strings.Contains(err.Error(), "downloading the vulnerability DB") {
		t.Fatalf("refresh against a failing repository: %v %v", changed, err)
	}
	if n := scan(); n != 1 || !s.DB().UpdatedAt.Equal(first) {
		t.Fatalf("a failed refresh broke the open DB: %d vulnerabilities, DB %+v", n, s.DB())
	}
	reg.Clear()
	pushDB(t, reg, secondDB)
	reg.Inject("/v2/aquasec/trivy-db/blobs/", imagetest.Fault{Delay: 300 * time.Millisecond}) // a download that takes a while
	refreshed := make(chan error)
	go func() {
		changed, err := s.Refresh(later)
		if err == nil && !changed {
			err = errors.New("nothing changed")
		}
		refreshed <- err
	}()
	scans := 0
	for running := true; running; scans++ { // scans during the download and the swap
		select {
		case err := <-refreshed:
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			running = false
		default:
		}
		if n := scan(); n != 1 && n != 2 { // the old DB's answer or the new one's, never an error
			t.Fatalf("scan %d during the refresh: %d vulnerabilities", scans, n)
		}
	}
	if scans < 2 {
		t.Fatalf("only %d scans ran during the refresh", scans)
	}
	if n := scan(); n != 2 || !s.DB().UpdatedAt.Equal(second) {
		t.Fatalf("after the refresh: %d vulnerabilities (want 2), DB %+v", n, s.DB())
	}
}

// layer is a tar+gzip layer of the named files, each holding "{}".
func layer(names ...string) *bytes.Buffer {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
		tw.Write([]byte("{}"))
	}
	tw.Close()
	gz.Close()
	return &buf
}

// TestUntarDBWritesOnlyTheDB: a crafted layer cannot write outside the directory, and a
// layer without both files is not a DB.
func TestUntarDBWritesOnlyTheDB(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "db")
	os.Mkdir(dir, 0o755)
	if err := untarDB(layer("../evil", "/abs", "trivy.db", "metadata.json"), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(parent, "evil")); err == nil {
		t.Error("../evil written")
	}
	if err := untarDB(layer("trivy.db"), t.TempDir()); err == nil || err.Error() != "not a vulnerability DB layer: want trivy.db and metadata.json in it" {
		t.Errorf("half a DB: %v", err)
	}
	if err := untarDB(bytes.NewBufferString("plain"), t.TempDir()); err == nil || !strings.HasPrefix(err.Error(), "not a vulnerability DB layer: ") {
		t.Errorf("not gzip: %v", err)
	}
}

// errAtEOF returns its bytes, then err wherever io.EOF would be: go-containerregistry's
// digest check.
type errAtEOF struct {
	r   io.Reader
	err error
}

func (e *errAtEOF) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

// TestUntarDBKeepsTheDigestError: a layer whose bytes are a valid DB but do not match their
// digest is refused, whichever reader (gzip's read-ahead or the final drain) meets the error.
func TestUntarDBKeepsTheDigestError(t *testing.T) {
	buf := layer(dbFiles...)
	mismatch := errors.New("error verifying sha256 checksum")
	for name, src := range map[string]io.Reader{ // gzip reads ahead to the end, or leaves the end to the drain
		"one read": bytes.NewReader(buf.Bytes()),
		"bytewise": iotest.OneByteReader(bytes.NewReader(buf.Bytes())),
	} {
		if err := untarDB(&errAtEOF{r: src, err: mismatch}, t.TempDir()); !errors.Is(err, mismatch) {
			t.Errorf("%s: %v, want the digest error", name, err)
		}
	}
}

// TestNeedsUpdate holds the DB update decision to Trivy's (trivy/pkg/db.Client.NeedsUpdate),
// which kubegate and the trivy CLI sharing one cache must agree on.
func TestNeedsUpdate(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		meta    *metadata.Metadata // nil: no DB
		skip    bool
		want    bool
		wantErr string
	}{
		{"no DB", nil, false, true, ""},
		{"no DB, update skipped", nil, true, false, "--skip-db-update cannot be specified on the first run"},
		{"fresh", &metadata.Metadata{Version: 2, NextUpdate: now.Add(time.Hour), DownloadedAt: now.Add(-5 * time.Hour)}, false, false, ""},
		{"due", &metadata.Metadata{Version: 2, NextUpdate: now.Add(-time.Minute), DownloadedAt: now.Add(-2 * time.Hour)}, false, true, ""},
		{"due, downloaded within the hour", &metadata.Metadata{Version: 2, NextUpdate: now.Add(-time.Minute), DownloadedAt: now.Add(-30 * time.Minute)}, false, false, ""},
		{"due, update skipped", &metadata.Metadata{Version: 2, NextUpdate: now.Add(-48 * time.Hour), DownloadedAt: now.Add(-72 * time.Hour)}, true, false, ""},
		{"not downloaded by Trivy", &metadata.Metadata{Version: 2, NextUpdate: now.Add(time.Hour)}, false, true, ""},
		{"not downloaded by Trivy, update skipped", &metadata.Metadata{Version: 2, NextUpdate: now.Add(time.Hour)}, true, false, ""},
		{"older schema", &metadata.Metadata{Version: 1, NextUpdate: now.Add(time.Hour), DownloadedAt: now}, false, true, ""},
		{"older schema, update skipped", &metadata.Metadata{Version: 1, DownloadedAt: now}, true, false, "--skip-db-update cannot be specified with the old DB schema. Local DB: 1, Expected: 2"},
		{"newer schema", &metadata.Metadata{Version: 3, DownloadedAt: now}, false, false, "the version of DB schema doesn't match. Local DB: 3, Expected: 2"},
	} {
		dir := filepath.Join(t.TempDir(), "db")
		if tc.meta != nil {
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "trivy.db"), nil, 0o644)
			if err := metadata.NewClient(dir).Update(*tc.meta); err != nil {
				t.Fatal(err)
			}
		}
		got, err := needsUpdate(dir, tc.skip, now)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
			t.Errorf("%s: %v, %v; want %v, %q", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kubegate/kubegate/images/imagetest"
	"github.com/kubegate/kubegate/images/trivy"
)

// TestDBMirrorRoundTrip mirrors a DB the way an air-gapped setup does: push the DB of one
// cache into a registry, pull it into an empty cache, and check with that cache as it is
// (--skip-db-update); and check reads the mirror itself through --db-repository.
func TestDBMirrorRoundTrip(t *testing.T) {
	noGitHub(t)
	w := newFailWorld(t)
	src := filepath.Join(w.dir, "src")
	updated := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	// The mirror's DB knows a CVE the world's own DB does not: a check that fails on it
	// read the mirrored DB.
	if err := trivy.WriteDB(src, []trivy.Advisory{{Source: "debian 12", Package: "openssl", ID: "CVE-2026-4009", Fixed: "3.0.16-1", Severity: "CRITICAL", Title: "mirrored"}}, updated); err != nil {
		t.Fatal(err)
	}
	version := "v2-" + updated.Format("20060102T150405Z")
	mirror := w.reg.Host() + "/mirror/trivy-db"

	code, out, errOut := kubegate(t, "", "db", "push", "--to", mirror, "--trivy-cache-dir", src)
	if code != 0 || !strings.HasPrefix(out, "Pushed vulnerability DB "+version+" (updated ") || !strings.Contains(out, " to "+mirror+":2@sha256:") {
		t.Fatalf("push: exit %d\n%s%s", code, out, errOut)
	}
	// Without a tag, the tag is the schema version, as trivy --db-repository reads it.
	tag, _ := name.ParseReference(mirror + ":2")
	if _, err := remote.Head(tag, w.reg.Remote()...); err != nil {
		t.Fatalf("no %s:2 after the push: %v", mirror, err)
	}

	dst := filepath.Join(w.dir, "dst")
	code, out, errOut = kubegate(t, "", "db", "pull", "--db-repository", mirror, "--trivy-cache-dir", dst)
	if code != 0 || out != "Vulnerability DB "+version+" (updated "+updated.Format("2006-01-02 15:04 UTC")+") from "+mirror+":2 in "+dst+"\n" {
		t.Fatalf("pull: exit %d\n%s%s", code, out, errOut)
	}
	run := func(trivyDir string, extra ...string) (int, string) {
		args := append([]string{"check", "--config", w.policy, "--fail-on", "critical", "--no-cache", "--trivy-cache-dir", trivyDir}, extra...)
		code, out, errOut := kubegate(t, "", append(args, w.manifests(t, w.web))...)
		return code, out + errOut
	}
	if code, out := run(dst, "--skip-db-update"); code != 1 || !strings.Contains(out, "CVE-2026-4009") {
		t.Errorf("check on the pulled DB: exit %d, want 1 with CVE-2026-4009\n%s", code, out)
	}
	// Trivy's own downloader (check's) takes what db push wrote.
	empty := filepath.Join(w.dir, "empty")
	if code, out := run(empty, "--db-repository", mirror); code != 1 || !strings.Contains(out, "CVE-2026-4009") {
		t.Errorf("check downloading from the mirror: exit %d, want 1 with CVE-2026-4009\n%s", code, out)
	}

	// A DB download slower than an image request's timeout still completes: the DB's
	// requests have their own.
	w.reg.Inject("/v2/mirror/trivy-db/blobs/", imagetest.Fault{Delay: 700 * time.Millisecond})
	if code, out := run(filepath.Join(w.dir, "slow"), "--db-repository", mirror, "--registry-timeout", "300ms"); code != 1 || !strings.Contains(out, "CVE-2026-4009") {
		t.Errorf("check with a slow DB registry: exit %d, want 1 with CVE-2026-4009\n%s", code, out)
	}
	w.reg.Clear()

	// A pull that fails leaves the DB in place and says why, per repository.
	code, _, errOut = kubegate(t, "", "db", "pull", "--db-repository", w.web, "--db-repository", w.reg.Host()+"/none/trivy-db", "--trivy-cache-dir", dst)
	if code != 2 || !strings.Contains(errOut, w.web+": not a vulnerability DB: layer media type") || !strings.Contains(errOut, w.reg.Host()+"/none/trivy-db:2: ") {
		t.Errorf("pull of a non-DB: exit %d\n%s", code, errOut)
	}
	// A layer that does not match its digest (a mirror serving altered bytes) is refused.
	w.reg.Inject("/v2/mirror/trivy-db/blobs/", imagetest.Fault{FlipByte: true})
	code, _, errOut = kubegate(t, "", "db", "pull", "--db-repository", mirror, "--trivy-cache-dir", dst)
	w.reg.Clear()
	if code != 2 || !strings.Contains(errOut, mirror+":2: ") {
		t.Errorf("pull of a corrupted layer: exit %d\n%s", code, errOut)
	}
	if info, err := trivy.ReadDB(filepath.Join(dst, "db")); err != nil || info.Version != version {
		t.Errorf("the DB after a failed pull: %+v, %v", info, err)
	}
}

func TestDBCommandErrors(t *testing.T) {
	noGitHub(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"db", "push"}, "kubegate: db push needs --to REGISTRY/REPOSITORY[:TAG]\n"},
		{[]string{"db", "push", "--to", "127.0.0.1:1/x", "--trivy-cache-dir", dir}, "kubegate: pushing the vulnerability DB to 127.0.0.1:1/x:2: no vulnerability DB in " + filepath.Join(dir, "db")},
		{[]string{"db", "push", "--to", "UPPER/case"}, `kubegate: vulnerability DB repository "UPPER/case": could not parse reference`},
		{[]string{"db", "pull", "extra"}, `unknown command "extra" for "kubegate db pull"`},
	} {
		code, _, errOut := kubegate(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q\n%s", tc.args, code, tc.want, errOut)
		}
	}
	// A DB of another schema version is refused before anything is pushed.
	os.MkdirAll(filepath.Join(dir, "db"), 0o755)
	write(t, dir, "db/metadata.json", `{"Version": 3}`)
	write(t, dir, "db/trivy.db", "")
	if code, _, errOut := kubegate(t, "", "db", "push", "--to", "127.0.0.1:1/x", "--trivy-cache-dir", dir); code != 2 || !strings.Contains(errOut, "has schema version 3; this kubegate reads version 2") {
		t.Errorf("push of a v3 DB: exit %d\n%s", code, errOut)
	}
}

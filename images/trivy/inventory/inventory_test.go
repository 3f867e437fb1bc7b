package inventory_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/images/trivy/inventory"
)

const apkDB = "P:musl\nV:1.2.4-r2\no:musl\nA:x86_64\n\nP:zlib\nV:1.3.1-r0\no:zlib\n\n"

func alpineLayer(t *testing.T, db string) v1.Layer {
	return layer(t, entry{name: "etc/alpine-release", data: []byte("3.19.1\n")},
		entry{name: "lib/apk/db/installed", data: []byte(db)})
}

// lying is a layer that says it is another layer (its diff ID), or cannot be read.
type lying struct {
	v1.Layer
	diffID  v1.Hash
	readErr error
}

func (l lying) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l lying) Uncompressed() (io.ReadCloser, error) {
	if l.readErr != nil {
		return nil, l.readErr
	}
	return l.Layer.Uncompressed()
}

func packages(d inventory.Detail) string {
	var s []string
	for _, p := range d.Packages {
		s = append(s, p.Name+"@"+p.Version)
	}
	return strings.Join(s, " ")
}

func TestLayerCache(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	clean := alpineLayer(t, apkDB)
	diffID, _ := clean.DiffID()
	d, err := inventory.Image(ctx, image(t, clean), cache)
	if err != nil || packages(d) != "musl@1.2.4-r2 zlib@1.3.1-r0" || d.OS.Name != "3.19.1" {
		t.Fatalf("first scan: %q %+v %v", packages(d), d.OS, err)
	}
	kept := filepath.Join(cache, "kubegate-layers", "v1", diffID.Hex+".json")
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the layer's analysis is not kept: %v", err)
	}

	t.Run("a layer analysed before is not read again", func(t *testing.T) {
		unreadable := lying{Layer: clean, diffID: diffID, readErr: errors.New("registry down")}
		d, err := inventory.Image(ctx, image(t, unreadable), cache)
		if err != nil || packages(d) != "musl@1.2.4-r2 zlib@1.3.1-r0" {
			t.Fatalf("from the cache: %q %v", packages(d), err)
		}
	})

	t.Run("a layer whose content is not its diff ID fails and is not kept", func(t *testing.T) {
		other := t.TempDir()
		forged := lying{Layer: alpineLayer(t, "P:openssl\nV:1.0.0-r0\n\n"), diffID: diffID}
		_, err := inventory.Image(ctx, image(t, forged), other)
		if err == nil || !strings.Contains(err.Error(), "not its diff ID") {
			t.Fatalf("want a diff ID mismatch, got %v", err)
		}
		if entries, _ := os.ReadDir(filepath.Join(other, "kubegate-layers", "v1")); len(entries) != 0 {
			t.Errorf("a forged layer's analysis was kept: %v", entries)
		}
	})

	t.Run("an unreadable cache entry is analysed again", func(t *testing.T) {
		if err := os.WriteFile(kept, []byte(`{"PackageInfos": [`), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := inventory.Image(ctx, image(t, clean), cache)
		if err != nil || packages(d) != "musl@1.2.4-r2 zlib@1.3.1-r0" {
			t.Fatalf("after a broken cache entry: %q %v", packages(d), err)
		}
	})

	t.Run("a layer that cannot be read fails the scan", func(t *testing.T) {
		unreadable := lying{Layer: clean, diffID: diffID, readErr: errors.New("registry down")}
		_, err := inventory.Image(ctx, image(t, unreadable), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "registry down") {
			t.Fatalf("want the read error, got %v", err)
		}
	})
}

func TestUnreadableInputFailsTheScan(t *testing.T) {
	ctx := context.Background()
	t.Run("an RPM database that does not read", func(t *testing.T) {
		img := image(t, layer(t, entry{name: "etc/redhat-release", data: []byte("Red Hat Enterprise Linux release 9.4 (Plow)\n")},
			entry{name: "var/lib/rpm/rpmdb.sqlite", data: []byte("SQLite format 3\x00 but not a database")}))
		_, err := inventory.Image(ctx, img, "")
		if err == nil || !strings.Contains(err.Error(), "reading the RPM database var/lib/rpm/rpmdb.sqlite") {
			t.Fatalf("want an RPM database error, got %v", err)
		}
	})
	t.Run("a layer that is not a tar", func(t *testing.T) {
		_, err := inventory.AnalyzeLayer(ctx, strings.NewReader(strings.Repeat("not a tar archive ", 64)))
		if err == nil || !strings.Contains(err.Error(), "reading the layer") {
			t.Fatalf("want a tar error, got %v", err)
		}
	})
	t.Run("a cancelled scan", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := inventory.Image(cctx, image(t, alpineLayer(t, apkDB)), "")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	})
}

// A malformed record is skipped, not the file around it, and a Python distribution whose
// metadata does not parse does not take the layer's other distributions with it (Trivy
// drops them all).
func TestMalformedRecordsAreSkippedAlone(t *testing.T) {
	img := image(t, layer(t,
		entry{name: "etc/debian_version", data: []byte("12.7\n")},
		entry{name: "var/lib/dpkg/status", data: []byte("Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n\n" +
			"Package: broken\nStatus: install ok installed\nVersion: :::\n\n" +
			"Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0-1\n\n" +
			"Package: openssl\nStatus: install ok installed\nSource: openssl (3.0.14-1~deb12u2)\nVersion: 3.0.14-1~deb12u2\n")},
		entry{name: "usr/lib/python3/dist-packages/bad.dist-info/METADATA", data: []byte("Summary: no name\n")},
		entry{name: "usr/lib/python3/dist-packages/six.dist-info/METADATA", data: []byte("Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n")},
	))
	d, err := inventory.Image(context.Background(), img, "")
	if err != nil {
		t.Fatal(err)
	}
	got := packages(d)
	if !strings.Contains(got, "bash@5.2.15") || !strings.Contains(got, "openssl@3.0.14") || strings.Contains(got, "broken") || strings.Contains(got, "gone") {
		t.Errorf("dpkg packages: %q", got)
	}
	if len(d.Applications) != 1 || len(d.Applications[0].Packages) != 1 || d.Applications[0].Packages[0].Name != "six" {
		t.Errorf("python packages: %+v", d.Applications)
	}
}

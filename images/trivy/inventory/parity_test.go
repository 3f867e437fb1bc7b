package inventory_test

// The parity test holds the inventory to Trivy's fanal analyzers, which it replaced: the
// same fourteen analyzers, run through fanal's image artifact and applier on the same
// images, must find the same OS, OS packages and language packages. Its inputs are
// nobody's here: the images and files of Trivy's and go-rpmdb's own tests, read from the
// module cache where the build put them (both modules are dependencies), stacked into
// layers with whiteouts and opaque directories.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aquasecurity/trivy/pkg/cache"
	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/applier"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	artimage "github.com/aquasecurity/trivy/pkg/fanal/artifact/image"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	// The analyzers kubegate registered with fanal.
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/language/golang/binary"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/language/nodejs/pkg"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/language/python/packaging"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/language/ruby/gemspec"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/language/rust/binary"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/os/alpine"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/os/amazonlinux"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/os/debian"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/os/redhatbase"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/os/release"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/os/ubuntu"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/pkg/apk"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/pkg/dpkg"
	_ "github.com/aquasecurity/trivy/pkg/fanal/analyzer/pkg/rpm"

	"github.com/kubegate/kubegate/images/trivy/inventory"
)

// moduleDir is where the build keeps a dependency module's files.
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Fatalf("go list -m %s: %v", mod, err)
	}
	return dir
}

// entry is one tar entry of a layer: a file (mode 0 is 0644), or a whiteout by its name.
type entry struct {
	name string
	data []byte
	mode int64
}

func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: mode, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func image(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// txtar reads the files of a txtar archive (Trivy's dpkg fixtures) as layer entries.
func txtar(t *testing.T, name string) []entry {
	var out []entry
	for _, part := range strings.Split("\n"+string(file(t, name)), "\n-- ")[1:] {
		header, body, _ := strings.Cut(part, "\n")
		out = append(out, entry{name: strings.TrimSuffix(header, " --"), data: []byte(body)})
	}
	return out
}

// saved is a `docker save` archive of Trivy's tests, gzipped or not.
func saved(t *testing.T, name string) v1.Image {
	t.Helper()
	img, err := tarball.Image(func() (io.ReadCloser, error) {
		f, err := os.Open(name)
		if err != nil || !strings.HasSuffix(name, ".gz") {
			return f, err
		}
		zr, err := gzip.NewReader(f)
		return struct {
			io.Reader
			io.Closer
		}{zr, f}, err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// fanalImage is the image as fanal's type.
type fanalImage struct{ v1.Image }

func (fanalImage) Name() string { return "parity" }
func (i fanalImage) ID() (string, error) {
	h, err := i.ConfigName()
	return h.String(), err
}
func (fanalImage) RepoTags() []string    { return nil }
func (fanalImage) RepoDigests() []string { return nil }

// viaFanal is kubegate's former scan path: fanal's image artifact and applier.
func viaFanal(t *testing.T, img v1.Image) inventory.Detail {
	t.Helper()
	c := cache.NewMemoryCache()
	art, err := artimage.NewArtifact(fanalImage{img}, c, artifact.Option{Offline: true, NoProgress: true, Parallel: 2,
		DisabledAnalyzers: []analyzer.Type{analyzer.TypeSecret, analyzer.TypeLicenseFile}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := art.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, _ := applier.NewApplier(c).ApplyLayers(context.Background(), ref.ID, ref.BlobIDs) // ErrUnknownOS and ErrNoPkgsDetected still return the detail
	return inventory.Detail{OS: d.OS, Packages: d.Packages, Applications: d.Applications}
}

// describe is a detail as text, one line per package, with what matching reads (not
// licences, digests, installed files, layers or identifiers, which the inventory leaves
// out), sorted: neither path promises an order.
func describe(d inventory.Detail) string {
	pkg := func(p ftypes.Package) string {
		return fmt.Sprintf("id=%s name=%s v=%d:%s-%s arch=%s src=%s %d:%s-%s mod=%s repo=%s path=%s rel=%s deps=%v",
			p.ID, p.Name, p.Epoch, p.Version, p.Release, p.Arch, p.SrcName, p.SrcEpoch, p.SrcVersion, p.SrcRelease,
			p.Modularitylabel, p.Repository.Class, p.FilePath, p.Relationship, p.DependsOn)
	}
	lines := []string{fmt.Sprintf("os %s %s extended=%v", d.OS.Family, d.OS.Name, d.OS.Extended)}
	for _, p := range d.Packages {
		lines = append(lines, "ospkg "+pkg(p))
	}
	for _, a := range d.Applications {
		for _, p := range a.Packages {
			lines = append(lines, fmt.Sprintf("app %s %s %s", a.Type, a.FilePath, pkg(p)))
		}
	}
	slices.Sort(lines[1:])
	return strings.Join(lines, "\n")
}

func TestParityWithFanal(t *testing.T) {
	trivy := moduleDir(t, "github.com/aquasecurity/trivy")
	rpmdb := filepath.Join(moduleDir(t, "github.com/knqyf263/go-rpmdb"), "pkg", "testdata")
	td := func(p string) string { return filepath.Join(trivy, "pkg", filepath.FromSlash(p)) }
	release := func(p string) []byte { return file(t, td("fanal/analyzer/os/"+p)) }
	self, err := os.Executable() // a real Go binary with many modules: this test
	if err != nil {
		t.Fatal(err)
	}
	goBin := file(t, self)

	type tc struct {
		name       string
		img        v1.Image
		minPkgs    int    // the fixture must have given this many packages (so parity is not of two empty lists)
		wantInDesc string // and this line
	}
	cases := []tc{
		{"alpine 3.10 (docker save)", saved(t, td("fanal/test/testdata/alpine-310.tar.gz")), 10, "os alpine 3.10.4"},
		{"alpine 3.11 (docker save)", saved(t, td("fanal/test/testdata/alpine-311.tar.gz")), 10, "os alpine 3.11"},
		{"distroless (docker save)", saved(t, td("fanal/test/testdata/distroless.tar.gz")), 5, "os debian 9.12"},
		{"vuln-image (docker save)", saved(t, td("fanal/test/testdata/vuln-image.tar.gz")), 5, "os debian 9.9"},
		{"image1 (docker save)", saved(t, td("fanal/test/testdata/image1.tar")), 1, ""},
		{"ubuntu dpkg, ESM", image(t,
			layer(t, append(txtar(t, td("fanal/analyzer/pkg/dpkg/testdata/valid.txtar")),
				entry{name: "etc/debian_version", data: []byte("buster/sid\n")},
				entry{name: "etc/lsb-release", data: release("ubuntu/testdata/lsb-release")})...),
			layer(t, entry{name: "var/lib/ubuntu-advantage/status.json", data: release("ubuntu/testdata/esm_enabled_status.json")}),
		), 3, "os ubuntu 18.04 extended=true"},
		{"debian dpkg, third-party maintainers", image(t,
			layer(t, append(txtar(t, td("fanal/analyzer/pkg/dpkg/testdata/third-party.txtar")),
				entry{name: "etc/debian_version", data: []byte("12.7\n")})...),
		), 2, "repo=third-party"},
		{"distroless status.d beside status", image(t,
			layer(t, append(txtar(t, td("fanal/analyzer/pkg/dpkg/testdata/valid.txtar")),
				entry{name: "etc/debian_version", data: []byte("12.7\n")})...),
			layer(t, func() []entry { // the same records again as status.d files: counted once
				es := txtar(t, td("fanal/analyzer/pkg/dpkg/testdata/valid.txtar"))
				es[0].name = "var/lib/dpkg/status.d/base"
				return es
			}()...),
		), 3, "os debian 12.7"},
		{"alpine apk, then deleted", image(t,
			layer(t, entry{name: "etc/alpine-release", data: []byte("3.19.1\n")},
				entry{name: "lib/apk/db/installed", data: file(t, td("fanal/analyzer/pkg/apk/testdata/apk"))},
				entry{name: "usr/lib/apk/db/installed", data: file(t, td("fanal/analyzer/pkg/apk/testdata/apk"))}),
			layer(t, entry{name: "usr/lib/apk/db/.wh.installed"}),
		), 10, "os alpine 3.19.1"},
	}
	for _, rdb := range []struct{ dir, file, release string }{
		{"centos7-plain", "var/lib/rpm/Packages", "CentOS Linux release 7.6.1810 (Core)\n"},
		{"centos8-modularitylabel", "var/lib/rpm/Packages", "CentOS Linux release 8.1.1911 (Core)\n"},
		{"fedora35", "var/lib/rpm/rpmdb.sqlite", "Fedora release 35 (Thirty Five)\n"},
		{"cbl-mariner-2.0", "var/lib/rpm/rpmdb.sqlite", ""},
		{"sle15-bci", "usr/lib/sysimage/rpm/Packages.db", ""},
	} {
		es := []entry{{name: rdb.file, data: file(t, filepath.Join(rpmdb, rdb.dir, path.Base(rdb.file)))}}
		if rdb.release != "" {
			es = append(es, entry{name: "etc/redhat-release", data: []byte(rdb.release)})
		}
		if rdb.dir == "centos7-plain" { // redhat-release first says RHEL; centos-release corrects it
			es = append(es, entry{name: "etc/centos-release", data: []byte(rdb.release)})
		}
		cases = append(cases, tc{"rpm " + rdb.dir, image(t, layer(t, es...)), 10, "ospkg "})
	}
	for _, rel := range []string{"alma", "azurelinux-3.0", "bottlerocket", "centos-stream", "echo", "fedora", "mariner-2.0", "minimos"} {
		cases = append(cases, tc{"os-release " + rel, image(t, layer(t,
			entry{name: "etc/os-release", data: release("release/testdata/" + rel)})), 0, ""})
	}
	for _, rel := range []string{"alma/almalinux-release", "centos/centos-release", "fedora_29/fedora-release", "oracle_7/oracle-release", "redhat_6/redhat-release", "rocky/rocky-release"} {
		name := "etc/" + path.Base(rel)
		cases = append(cases, tc{"redhat family " + rel, image(t,
			layer(t, entry{name: "etc/redhat-release", data: release("redhatbase/testdata/redhat_6/redhat-release")}),
			layer(t, entry{name: name, data: release("redhatbase/testdata/" + rel)})), 0, ""})
	}
	lang := []entry{
		{name: "app/server", data: goBin, mode: 0o755},
		{name: "usr/local/bin/gobin", data: file(t, td("dependency/parser/golang/binary/testdata/test.elf")), mode: 0o755},
		{name: "usr/local/bin/rustbin", data: file(t, td("dependency/parser/rust/binary/testdata/test.elf")), mode: 0o755},
		{name: "usr/local/bin/not-exec", data: file(t, td("dependency/parser/rust/binary/testdata/test.elf"))},
		{name: "app/node_modules/lodash/package.json", data: file(t, td("dependency/parser/nodejs/packagejson/testdata/package.json"))},
		{name: "app/package.json", data: file(t, td("dependency/parser/nodejs/packagejson/testdata/without_version_package.json"))},
		{name: "usr/lib/python3/site-packages/zipp-3.12.1.dist-info/METADATA", data: file(t, td("dependency/parser/python/packaging/testdata/zipp-3.12.1.METADATA"))},
		{name: "usr/lib/python3/site-packages/distlib-0.3.1.egg-info", data: file(t, td("dependency/parser/python/packaging/testdata/distlib-0.3.1-py3.9.egg-info"))},
		{name: "usr/lib/python3/site-packages/setuptools.egg-info/PKG-INFO", data: file(t, td("dependency/parser/python/packaging/testdata/setuptools-51.3.3-py3.8.egg-info.PKG-INFO"))},
		{name: "usr/lib/ruby/gems/3.1.0/specifications/normal00.gemspec", data: file(t, td("dependency/parser/ruby/gemspec/testdata/normal00.gemspec"))},
		{name: "usr/lib/ruby/gems/3.1.0/specifications/license.gemspec", data: file(t, td("dependency/parser/ruby/gemspec/testdata/license.gemspec"))},
		{name: "proc/1/package.json", data: file(t, td("dependency/parser/nodejs/packagejson/testdata/package.json"))},
	}
	if eggs, err := filepath.Glob(td("fanal/analyzer/language/python/packaging/testdata/egg-zip/*.egg")); err == nil && len(eggs) > 0 {
		lang = append(lang, entry{name: "usr/lib/python3/site-packages/" + filepath.Base(eggs[0]), data: file(t, eggs[0])})
	}
	cases = append(cases,
		tc{"language packages", image(t, layer(t, lang...)), 8, "app gobinary usr/local/bin/gobin"},
		tc{"language packages, some deleted", image(t,
			layer(t, append(lang, entry{name: "etc/alpine-release", data: []byte("3.20.0\n")})...),
			layer(t, entry{name: "app/node_modules/.wh..wh..opq"}, entry{name: "usr/local/bin/.wh.rustbin"},
				entry{name: "usr/lib/ruby/gems/3.1.0/specifications/.wh.license.gemspec"}),
			layer(t, entry{name: "etc/alpine-release", data: []byte("3.21.0\n")}),
		), 4, "os alpine 3.20.0"},
	)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := viaFanal(t, c.img)
			got, err := inventory.Image(context.Background(), c.img, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if g, w := describe(got), describe(want); g != w {
				t.Errorf("the inventory and fanal differ:\n%s", lineDiff(w, g))
			}
			n := len(want.Packages)
			for _, a := range want.Applications {
				n += len(a.Packages)
			}
			if n < c.minPkgs || !strings.Contains(describe(want), c.wantInDesc) {
				t.Errorf("the fixture gave fanal %d packages (want ≥ %d) and no line %q:\n%s", n, c.minPkgs, c.wantInDesc, describe(want))
			}
		})
	}
}

// lineDiff lists the lines only one side has.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- fanal:     "+l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ inventory: "+l)
		}
	}
	return strings.Join(out, "\n")
}

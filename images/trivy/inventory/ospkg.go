package inventory

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/textproto"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	apkversion "github.com/knqyf263/go-apk-version"
	debversion "github.com/knqyf263/go-deb-version"
	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	_ "modernc.org/sqlite" // go-rpmdb's SQLite databases (RHEL 9, Fedora ≥ 36, Azure Linux) need a driver; the trivy CLI registers this one in its main
)

// apkInstalled reads Alpine's (and Wolfi's, Chainguard's) lib/apk/db/installed: the
// fields vulnerability matching uses (fanal/analyzer/pkg/apk).
func apkInstalled(_ context.Context, l *Layer, p string, _ fs.FileInfo, f file) error {
	var pkgs []ftypes.Package
	var pkg ftypes.Package
	var version string
	provides := map[string]string{}
	seen := map[string]bool{}
	add := func() {
		if !pkg.Empty() && !seen[pkg.Name] { // the first record of a name counts
			seen[pkg.Name] = true
			pkgs = append(pkgs, pkg)
		}
		pkg = ftypes.Package{}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 2 {
			add()
			continue
		}
		switch line[:2] {
		case "P:":
			pkg.Name = line[2:]
		case "V:":
			version = line[2:]
			if !apkversion.Valid(version) {
				continue
			}
			pkg.Version = version
		case "o:":
			pkg.SrcName, pkg.SrcVersion = line[2:], version
		case "A:":
			pkg.Arch = line[2:]
		case "p:":
			for _, pr := range strings.Fields(line[2:]) {
				provides[trimRequirement(pr)] = pkg.ID
			}
		case "D:":
			pkg.DependsOn = nil
			for _, d := range strings.Fields(line[2:]) {
				if !strings.HasPrefix(d, "!") {
					pkg.DependsOn = append(pkg.DependsOn, trimRequirement(d))
				}
			}
		}
		if pkg.Name != "" && pkg.Version != "" {
			pkg.ID = pkg.Name + "@" + pkg.Version
			provides[pkg.Name] = pkg.ID
		}
	}
	add()
	for i := range pkgs {
		pkgs[i].DependsOn = resolveDeps(pkgs[i].DependsOn, provides, "\x00")
	}
	l.PackageInfos = append(l.PackageInfos, ftypes.PackageInfo{FilePath: p, Packages: pkgs})
	return nil
}

func trimRequirement(s string) string {
	if i := strings.IndexAny(s, "<>="); i >= 0 {
		return s[:i]
	}
	return s
}

// resolveDeps maps dependency names to the IDs of the packages that provide them,
// sorted and without repeats; the ID self is left out ("\x00": none is).
func resolveDeps(deps []string, provides map[string]string, self string) []string {
	var ids []string
	for _, d := range deps {
		if id, ok := provides[d]; ok && id != self {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	return ids
}

// isDpkgStatus: Debian's status file and distroless's status.d records (not the
// md5sums lists beside them).
func isDpkgStatus(p string) bool {
	dir, base := path.Split(p)
	return p == "var/lib/dpkg/status" || (dir == "var/lib/dpkg/status.d/" && !strings.HasSuffix(base, ".md5sums"))
}

var dpkgSource = regexp.MustCompile(`(?P<name>[^\s]*)( \((?P<version>.*)\))?`)

// dpkgStatus reads a dpkg status file (fanal/analyzer/pkg/dpkg): installed packages,
// their source package and version, and whether a third party maintains them (Trivy's
// detectors leave those out: the distribution's advisories do not cover them).
func dpkgStatus(_ context.Context, l *Layer, p string, _ fs.FileInfo, f file) error {
	pkgs := map[string]*ftypes.Package{}
	ids := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 128<<10), 128<<10)
	sc.Split(splitParagraphs)
	for sc.Scan() {
		h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(sc.Bytes()))).ReadMIMEHeader()
		if err != nil && !errors.Is(err, io.EOF) {
			continue
		}
		if pkg := dpkgPackage(h); pkg != nil {
			pkgs[pkg.ID] = pkg
			ids[pkg.Name] = pkg.ID
		}
	}
	if err := sc.Err(); err != nil { // a paragraph over 128 KiB: Trivy drops the file too
		return nil
	}
	info := ftypes.PackageInfo{FilePath: p}
	for _, pkg := range pkgs {
		pkg.DependsOn = resolveDeps(pkg.DependsOn, ids, "\x00")
		info.Packages = append(info.Packages, *pkg)
	}
	l.PackageInfos = append(l.PackageInfos, info)
	return nil
}

func splitParagraphs(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
		return i + 2, data[:i], nil
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func dpkgPackage(h textproto.MIMEHeader) *ftypes.Package {
	for _, s := range strings.Fields(h.Get("Status")) {
		if s == "deinstall" || s == "purge" {
			return nil
		}
	}
	pkg := &ftypes.Package{Name: h.Get("Package"), Version: h.Get("Version"), Arch: h.Get("Architecture"),
		Maintainer: h.Get("Maintainer")}
	if pkg.Name == "" || pkg.Version == "" {
		return nil
	}
	for _, dep := range strings.Split(h.Get("Depends"), ",") {
		for _, d := range strings.Split(dep, "|") {
			d, _, _ = strings.Cut(d, "(")
			if d = strings.TrimSpace(d); !slices.Contains(pkg.DependsOn, d) {
				pkg.DependsOn = append(pkg.DependsOn, d)
			}
		}
	}
	if src := h.Get("Source"); src != "" {
		m := dpkgSource.FindStringSubmatch(src)
		pkg.SrcName, pkg.SrcVersion = strings.TrimSpace(m[1]), strings.TrimSpace(m[3])
	}
	if pkg.SrcName == "" {
		pkg.SrcName = pkg.Name
	}
	if pkg.SrcVersion == "" {
		pkg.SrcVersion = pkg.Version
	}
	v, err := debversion.NewVersion(pkg.Version)
	if err != nil {
		return nil
	}
	pkg.ID = pkg.Name + "@" + pkg.Version
	pkg.Version, pkg.Epoch, pkg.Release = v.Version(), v.Epoch(), v.Revision()
	sv, err := debversion.NewVersion(pkg.SrcVersion)
	if err != nil {
		return nil
	}
	pkg.SrcVersion, pkg.SrcEpoch, pkg.SrcRelease = sv.Version(), sv.Epoch(), sv.Revision()
	pkg.Repository.Class = ftypes.RepositoryClassOfficial
	if dpkgThirdParty(pkg.Maintainer) {
		pkg.Repository.Class = ftypes.RepositoryClassThirdParty
	}
	return pkg
}

// Trivy's list of third-party Debian package maintainers (Docker, NVIDIA, HashiCorp, …).
var (
	dpkgThirdPartyPatterns = []string{"support@docker.com", "@nvidia.com", "Google Cloud CLI Authors",
		"sapmachine@sap.com", "@hashicorp.com", "@microsoft.com", "@mongodb.com", "developers@lists.mariadb.org",
		"dev@couchdb.apache.org", "info@elastic.co", "nginx-packaging@f5.com", "@konghq.com", "@cloudflare.com",
		"support@influxdb.com", "support@gitlab.com", "contact@grafana.com", "@datadoghq.com", "@nodesource.com",
		"info@tailscale.com", "@openrobotics.org", "@osrfoundation.org"}
	dpkgThirdPartyExact = []string{"GitHub", "HashiCorp"}
)

func dpkgThirdParty(maintainer string) bool {
	return slices.Contains(dpkgThirdPartyExact, maintainer) ||
		slices.ContainsFunc(dpkgThirdPartyPatterns, func(p string) bool { return strings.Contains(maintainer, p) })
}

var rpmDBFiles = []string{"usr/lib/sysimage/rpm/Packages", "var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages.db",
	"var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite", "usr/share/rpm/rpmdb.sqlite"}

func isRPMDB(p string) bool { return slices.Contains(rpmDBFiles, p) }

// rpmDB reads an RPM database (Berkeley DB, NDB or SQLite, through go-rpmdb, which needs
// a file on disk) as fanal/analyzer/pkg/rpm does: packages from a vendor other than the
// distribution's are third-party.
func rpmDB(_ context.Context, l *Layer, p string, _ fs.FileInfo, f file) error {
	disk, onDisk := f.(tmpFile) // a large database is on disk already
	if !onDisk {
		var err error
		if disk, err = spill(f); err != nil {
			return fmt.Errorf("copying %s: %w", p, err)
		}
		defer disk.Close()
	}
	dbPath := disk.Name()
	// An RPM database that does not read fails the scan: Trivy skips it, and the image
	// would pass with none of its OS packages checked.
	db, err := rpmdb.Open(dbPath)
	if err != nil {
		return fmt.Errorf("reading the RPM database %s: %w", p, err)
	}
	defer db.Close()
	list, err := db.ListPackages()
	if err != nil {
		return fmt.Errorf("reading the RPM database %s: %w", p, err)
	}
	var pkgs []ftypes.Package
	provides := map[string]string{}
	for _, r := range list {
		arch := r.Arch
		if arch == "" {
			arch = "None"
		}
		pkg := ftypes.Package{
			ID:   fmt.Sprintf("%s@%s-%s.%s", r.Name, r.Version, r.Release, r.Arch),
			Name: r.Name, Epoch: r.EpochNum(), Version: r.Version, Release: r.Release, Arch: arch,
			SrcEpoch: r.EpochNum(), Modularitylabel: r.Modularitylabel, DependsOn: r.Requires, Maintainer: r.Vendor,
			Repository: ftypes.PackageRepository{Class: ftypes.RepositoryClassThirdParty},
		}
		if r.SourceRpm != "(none)" && r.SourceRpm != "" {
			pkg.SrcName, pkg.SrcVersion, pkg.SrcRelease = splitRPMFileName(r.SourceRpm)
		}
		if rpmFromVendor(r) {
			pkg.Repository.Class = ftypes.RepositoryClassOfficial
		}
		pkgs = append(pkgs, pkg)
		for _, pr := range r.Provides {
			provides[pr] = pkg.ID
		}
	}
	for i := range pkgs {
		pkgs[i].DependsOn = resolveDeps(pkgs[i].DependsOn, provides, pkgs[i].ID)
	}
	l.PackageInfos = append(l.PackageInfos, ftypes.PackageInfo{FilePath: p, Packages: pkgs})
	return nil
}

// splitRPMFileName splits a source RPM's file name, name-version-release.arch.rpm; a
// name not of that form gives empty parts, as in Trivy.
func splitRPMFileName(s string) (name, ver, rel string) {
	s = strings.TrimSuffix(s, ".rpm")
	a := strings.LastIndex(s, ".")
	if a < 0 {
		return "", "", ""
	}
	r := strings.LastIndex(s[:a], "-")
	if r < 0 {
		return "", "", ""
	}
	v := strings.LastIndex(s[:r], "-")
	if v < 0 {
		return "", "", ""
	}
	return s[:v], s[v+1 : r], s[r+1 : a]
}

var rpmVendors = []string{"Amazon Linux", "Amazon.com", "CentOS", "Fedora Project", "Oracle America", "Red Hat",
	"AlmaLinux", "CloudLinux", "VMware", "SUSE", "openSUSE", "Microsoft Corporation", "Rocky"}

func rpmFromVendor(r *rpmdb.PackageInfo) bool {
	if r.Vendor == "" {
		return strings.Contains(r.Release, "amzn")
	}
	return slices.ContainsFunc(rpmVendors, func(v string) bool { return strings.HasPrefix(r.Vendor, v) })
}

package inventory

import (
	"bufio"
	"context"
	"encoding/json"
	"io/fs"
	"regexp"
	"strings"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
)

// releaseParser reads one release file: the OS it names, or ok=false.
type releaseParser func(f file) (os ftypes.OS, ok bool)

// releaseFiles are Trivy's OS analyzers (fanal/analyzer/os/...), by the files they read.
var releaseFiles = map[string]releaseParser{
	"etc/os-release":     osReleaseFile,
	"usr/lib/os-release": osReleaseFile,
	"aarch64-bottlerocket-linux-gnu/sys-root/usr/lib/os-release": osReleaseFile,
	"x86_64-bottlerocket-linux-gnu/sys-root/usr/lib/os-release":  osReleaseFile,
	"etc/alpine-release":                   firstLine(ftypes.Alpine),
	"etc/debian_version":                   firstLine(ftypes.Debian),
	"etc/lsb-release":                      lsbRelease,
	"var/lib/ubuntu-advantage/status.json": ubuntuESM,
	"etc/system-release":                   amazonRelease,
	"usr/lib/system-release":               amazonRelease,
	"etc/redhat-release":                   redhatRelease(nil),
	"etc/centos-release":                   redhatRelease(map[string]ftypes.OSType{"centos": ftypes.CentOS, "centos linux": ftypes.CentOS}),
	"etc/almalinux-release":                redhatRelease(map[string]ftypes.OSType{"alma": ftypes.Alma, "almalinux": ftypes.Alma, "alma linux": ftypes.Alma}),
	"etc/rocky-release":                    redhatRelease(map[string]ftypes.OSType{"rocky": ftypes.Rocky, "rocky linux": ftypes.Rocky}),
	"etc/fedora-release":                   redhatRelease(map[string]ftypes.OSType{"fedora": ftypes.Fedora, "fedora linux": ftypes.Fedora}),
	"usr/lib/fedora-release":               redhatRelease(map[string]ftypes.OSType{"fedora": ftypes.Fedora, "fedora linux": ftypes.Fedora}),
	"etc/oracle-release":                   redhatRelease(map[string]ftypes.OSType{"": ftypes.Oracle}),
}

// osRelease merges what a release file names into the layer's OS, as Trivy merges its
// OS analyzers' results (ftypes.OS.Merge: a later Debian or Red Hat guess gives way to
// Ubuntu or Oracle, whichever file is read first).
func osRelease(parse releaseParser) parser {
	return func(_ context.Context, l *Layer, _ string, _ fs.FileInfo, f file) error {
		if os, ok := parse(f); ok {
			l.OS.Merge(os)
		}
		return nil
	}
}

// osReleaseFile is the os-release analyzer: ID and VERSION_ID, for the distributions
// Trivy identifies by their os-release (not Debian or Ubuntu: their own files say more).
func osReleaseFile(f file) (ftypes.OS, bool) {
	var id, name, version string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"'`)
		switch strings.TrimSpace(key) {
		case "NAME":
			name = value
		case "ID":
			id = value
		case "VERSION_ID":
			version = value
		}
	}
	family := osReleaseIDs[id]
	if family == "" || version == "" {
		return ftypes.OS{}, false
	}
	if family == ftypes.CentOS && name == "CentOS Stream" {
		family = ftypes.CentOSStream
	}
	return ftypes.OS{Family: family, Name: version}, true
}

var osReleaseIDs = map[string]ftypes.OSType{
	"activestate": ftypes.ActiveState, "rhel": ftypes.RedHat, "centos": ftypes.CentOS,
	"rocky": ftypes.Rocky, "almalinux": ftypes.Alma, "ol": ftypes.Oracle, "fedora": ftypes.Fedora,
	"alpine": ftypes.Alpine, "bottlerocket": ftypes.Bottlerocket,
	"opensuse-tumbleweed": ftypes.OpenSUSETumbleweed, "opensuse-leap": ftypes.OpenSUSELeap,
	"opensuse": ftypes.OpenSUSELeap, "sles": ftypes.SLES, "sle-micro": ftypes.SLEMicro,
	"sl-micro": ftypes.SLEMicro, "sle-micro-rancher": ftypes.SLEMicro, "photon": ftypes.Photon,
	"wolfi": ftypes.Wolfi, "chainguard": ftypes.Chainguard, "azurelinux": ftypes.Azure,
	"mariner": ftypes.CBLMariner, "echo": ftypes.Echo, "minimos": ftypes.MinimOS, "coreos": ftypes.CoreOS,
}

// firstLine: the file's first line is the version (alpine-release, debian_version).
func firstLine(family ftypes.OSType) releaseParser {
	return func(f file) (ftypes.OS, bool) {
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			return ftypes.OS{Family: family, Name: sc.Text()}, true
		}
		return ftypes.OS{}, false
	}
}

// lsbRelease: DISTRIB_RELEASE after DISTRIB_ID=Ubuntu.
func lsbRelease(f file) (ftypes.OS, bool) {
	ubuntu := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "DISTRIB_ID=Ubuntu" {
			ubuntu = true
		} else if v, ok := strings.CutPrefix(line, "DISTRIB_RELEASE="); ok && ubuntu {
			return ftypes.OS{Family: ftypes.Ubuntu, Name: strings.TrimSpace(v)}, true
		}
	}
	return ftypes.OS{}, false
}

// ubuntuESM: Ubuntu Pro's status file says whether ESM updates are enabled.
func ubuntuESM(f file) (ftypes.OS, bool) {
	var st struct {
		Services []struct{ Name, Status string } `json:"services"`
	}
	if json.NewDecoder(f).Decode(&st) != nil {
		return ftypes.OS{}, false
	}
	for _, s := range st.Services {
		if s.Name == "esm-infra" && s.Status == "enabled" {
			return ftypes.OS{Family: ftypes.Ubuntu, Extended: true}, true
		}
	}
	return ftypes.OS{}, false
}

func amazonRelease(f file) (ftypes.OS, bool) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Amazon Linux release 2"):
			if len(fields) >= 5 {
				return ftypes.OS{Family: ftypes.Amazon, Name: strings.Join(fields[3:], " ")}, true
			}
		case strings.HasPrefix(line, "Amazon Linux"):
			return ftypes.OS{Family: ftypes.Amazon, Name: strings.Join(fields[2:], " ")}, true
		}
	}
	return ftypes.OS{}, false
}

var redhatRe = regexp.MustCompile(`(.*) release (\d[\d\.]*)`)

// redhatRelease reads "<name> release <version>" files. names maps the lower-cased
// name to the family; nil is redhat-release's own mapping (any other name is RHEL), and
// the key "" matches any name (oracle-release). Like Trivy, a first line that is not of
// that form ends the reading.
func redhatRelease(names map[string]ftypes.OSType) releaseParser {
	return func(f file) (ftypes.OS, bool) {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			m := redhatRe.FindStringSubmatch(strings.TrimSpace(sc.Text()))
			if len(m) != 3 {
				return ftypes.OS{}, false
			}
			name := strings.ToLower(m[1])
			if names == nil {
				return ftypes.OS{Family: redhatFamily(name), Name: m[2]}, true
			}
			if family, ok := names[name]; ok {
				return ftypes.OS{Family: family, Name: m[2]}, true
			}
			if family, ok := names[""]; ok {
				return ftypes.OS{Family: family, Name: m[2]}, true
			}
		}
		return ftypes.OS{}, false
	}
}

func redhatFamily(name string) ftypes.OSType {
	switch name {
	case "centos", "centos linux":
		return ftypes.CentOS
	case "rocky", "rocky linux":
		return ftypes.Rocky
	case "alma", "almalinux", "alma linux":
		return ftypes.Alma
	case "oracle", "oracle linux", "oracle linux server":
		return ftypes.Oracle
	case "fedora", "fedora linux":
		return ftypes.Fedora
	}
	return ftypes.RedHat
}

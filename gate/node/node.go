// Package node audits a node's files (practices 000-11 and 000-12, CIS 1.1.x and 4.1.x):
// the modes and owners of the static Pod manifests, kubeconfigs, PKI, etcd data directory
// and kubelet files under a root directory (/ on a node, or a snapshot of one). Inputs names
// the manifests and kubelet files found there, for the flag checks to read.
package node

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

var (
	// FilePermissions and FileOwnership are the node audit's rules (gate/rules lists them).
	FilePermissions = &finding.Rule{
		ID: "node-file-permissions", Title: "Node file permissions too open", Severity: finding.High,
		Practices: []string{"000-11", "000-12"},
		Refs: []string{"CIS 1.1.1", "CIS 1.1.3", "CIS 1.1.5", "CIS 1.1.7", "CIS 1.1.11", "CIS 1.1.13", "CIS 1.1.15",
			"CIS 1.1.17", "CIS 1.1.20", "CIS 1.1.21", "CIS 4.1.1", "CIS 4.1.5", "CIS 4.1.7", "CIS 4.1.9",
			"https://www.cisecurity.org/benchmark/kubernetes"},
		Fix: "chmod the file to the mode the message names (or stricter).",
		Doc: "`kubegate node` checks that the static Pod manifests, the admin, super-admin, scheduler, " +
			"controller-manager and kubelet kubeconfigs, the kubelet config and systemd drop-in, the PKI " +
			"keys (600) and certificates (644), the kubelet's client CA file (644) and the etcd data " +
			"directory (700) are no more open than the CIS benchmark allows. The message names the CIS id.",
	}
	FileOwnership = &finding.Rule{
		ID: "node-file-ownership", Title: "Node file not owned as required", Severity: finding.High,
		Practices: []string{"000-11", "000-12"},
		Refs: []string{"CIS 1.1.2", "CIS 1.1.4", "CIS 1.1.6", "CIS 1.1.8", "CIS 1.1.12", "CIS 1.1.14", "CIS 1.1.16",
			"CIS 1.1.18", "CIS 1.1.19", "CIS 4.1.2", "CIS 4.1.6", "CIS 4.1.8", "CIS 4.1.10",
			"https://www.cisecurity.org/benchmark/kubernetes"},
		Fix: "chown the file to the owner the message names.",
		Doc: "`kubegate node` checks that the same files, and everything under the PKI directory, are " +
			"owned by root:root, and the etcd data directory by etcd:etcd (CIS 1.1.12; kubeadm runs etcd " +
			"as root, so kubeadm nodes need an exemption or a chown). User and group names come from " +
			"the root's /etc/passwd and /etc/group; ids they do not name are shown as numbers.",
	}
)

// Info is what the audit reads of a file.
type Info struct {
	Mode     fs.FileMode
	UID, GID int
}

// Stat reads a file's mode and owner; tests replace it where they cannot chown.
type Stat func(path string) (Info, error)

// fileCheck is one CIS file check: the files (relative to the root), the most open mode
// and the owner.
type fileCheck struct {
	cisMode, cisOwner string
	files             []string
	maxMode           fs.FileMode
	owner             string
	recursive         bool   // the directory and everything under it
	suffix            string // with recursive: only files with this suffix
}

// Result is what the audit found.
type Result struct {
	Findings []finding.Finding
	// Checked counts the files whose mode and owner were checked.
	Checked int
}

// Audit checks the files under root. etcdDataDir and clientCAFile are where the node's etcd
// keeps its data and which CA file its kubelet trusts, when known from their configuration
// (empty: kubeadm's defaults).
func Audit(root string, stat Stat, etcdDataDir, clientCAFile string) (*Result, error) {
	if st, err := os.Stat(root); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, err
	} else if !st.IsDir() {
		return nil, errors.New("not a directory")
	}
	if etcdDataDir == "" {
		etcdDataDir = "/var/lib/etcd"
	}
	if clientCAFile == "" {
		clientCAFile = "/etc/kubernetes/pki/ca.crt"
	}
	names := newNames(root)
	res := &Result{}
	for _, c := range checks(etcdDataDir, clientCAFile) {
		for _, f := range c.files {
			for _, p := range expand(root, f, c) {
				info, err := stat(p)
				if errors.Is(err, fs.ErrNotExist) {
					continue // not this kind of node (a worker has no manifests)
				}
				if err != nil {
					return nil, err
				}
				res.Checked++
				res.Findings = append(res.Findings, judge(root, p, info, c, names)...)
			}
		}
	}
	if res.Checked == 0 {
		return nil, errors.New("none of the control-plane or kubelet files the CIS benchmark names is here (is --root the node's /?)")
	}
	return res, nil
}

func checks(etcdDataDir, clientCAFile string) []fileCheck {
	manifests := "/etc/kubernetes/manifests/"
	return []fileCheck{
		{cisMode: "1.1.1", cisOwner: "1.1.2", files: []string{manifests + "kube-apiserver.yaml"}, maxMode: 0o600, owner: "root:root"},
		{cisMode: "1.1.3", cisOwner: "1.1.4", files: []string{manifests + "kube-controller-manager.yaml"}, maxMode: 0o600, owner: "root:root"},
		{cisMode: "1.1.5", cisOwner: "1.1.6", files: []string{manifests + "kube-scheduler.yaml"}, maxMode: 0o600, owner: "root:root"},
		{cisMode: "1.1.7", cisOwner: "1.1.8", files: []string{manifests + "etcd.yaml"}, maxMode: 0o600, owner: "root:root"},
		{cisMode: "1.1.11", cisOwner: "1.1.12", files: []string{etcdDataDir}, maxMode: 0o700, owner: "etcd:etcd"},
		{cisMode: "1.1.13", cisOwner: "1.1.14", files: []string{"/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf"}, maxMode: 0o600, owner: "root:root"},
		{cisMode: "1.1.15", cisOwner: "1.1.16", files: []string{"/etc/kubernetes/scheduler.conf"}, maxMode: 0o600, owner: "root:root"},
		{cisMode: "1.1.17", cisOwner: "1.1.18", files: []string{"/etc/kubernetes/controller-manager.conf"}, maxMode: 0o600, owner: "root:root"},
		{cisOwner: "1.1.19", files: []string{"/etc/kubernetes/pki"}, owner: "root:root", recursive: true},
		{cisMode: "1.1.20", files: []string{"/etc/kubernetes/pki"}, maxMode: 0o644, recursive: true, suffix: ".crt"},
		{cisMode: "1.1.21", files: []string{"/etc/kubernetes/pki"}, maxMode: 0o600, recursive: true, suffix: ".key"},
		{cisMode: "4.1.1", cisOwner: "4.1.2", files: []string{"/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
			"/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"}, maxMode: 0o600, owner: "root:root"},
		{cisMode: "4.1.5", cisOwner: "4.1.6", files: []string{"/etc/kubernetes/kubelet.conf"}, maxMode: 0o600, owner: "root:root"},
		{cisMode: "4.1.7", cisOwner: "4.1.8", files: []string{clientCAFile}, maxMode: 0o644, owner: "root:root"},
		{cisMode: "4.1.9", cisOwner: "4.1.10", files: []string{"/var/lib/kubelet/config.yaml"}, maxMode: 0o600, owner: "root:root"},
	}
}

// expand lists the paths a check covers under root.
func expand(root, file string, c fileCheck) []string {
	p := filepath.Join(root, filepath.FromSlash(file))
	if !c.recursive {
		return []string{p}
	}
	var out []string
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && (c.suffix == "" || (!d.IsDir() && strings.HasSuffix(q, c.suffix))) {
			out = append(out, q)
		}
		return nil
	})
	return out
}

func judge(root, p string, info Info, c fileCheck, names *names) []finding.Finding {
	rel, _ := filepath.Rel(root, p) // p is under root
	shown := "/" + filepath.ToSlash(rel)
	obj := manifest.Ref{Kind: "File", Name: shown}
	src := manifest.Source{File: p}
	var out []finding.Finding
	if c.cisMode != "" && info.Mode&fs.ModeSymlink == 0 { // a link's own mode is always 0777
		if mode := info.Mode.Perm(); mode&^c.maxMode != 0 {
			out = append(out, finding.Finding{RuleID: FilePermissions.ID, Severity: FilePermissions.Severity, Object: obj, Source: src,
				Message: fmt.Sprintf("mode %04o, want %04o or stricter (CIS %s)", mode, c.maxMode, c.cisMode)})
		}
	}
	if c.cisOwner != "" {
		if got := names.user(info.UID) + ":" + names.group(info.GID); got != c.owner {
			out = append(out, finding.Finding{RuleID: FileOwnership.ID, Severity: FileOwnership.Severity, Object: obj, Source: src,
				Message: fmt.Sprintf("owned by %s, want %s (CIS %s)", got, c.owner, c.cisOwner)})
		}
	}
	return out
}

// Inputs are the files under root the flag checks read: the static Pod manifests, the
// kubelet config and the files kubelet flags are written in (in the order their flags
// override each other).
func Inputs(root string) []string {
	var out []string
	matches, _ := filepath.Glob(filepath.Join(root, "etc/kubernetes/manifests/*.yaml"))
	out = append(out, matches...)
	for _, f := range []string{"var/lib/kubelet/config.yaml", "var/lib/kubelet/kubeadm-flags.env",
		"etc/default/kubelet", "etc/sysconfig/kubelet"} {
		if st, err := os.Stat(filepath.Join(root, f)); err == nil && !st.IsDir() {
			out = append(out, filepath.Join(root, f))
		}
	}
	for _, dir := range []string{"etc/systemd/system/kubelet.service.d", "usr/lib/systemd/system/kubelet.service.d"} {
		matches, _ := filepath.Glob(filepath.Join(root, dir, "*.conf"))
		out = append(out, matches...)
	}
	return out
}

// names resolves user and group ids by the root's /etc/passwd and /etc/group (the node's
// own names), falling back to the numbers; uid and gid 0 are root everywhere.
type names struct{ users, groups map[int]string }

func newNames(root string) *names {
	return &names{users: idFile(filepath.Join(root, "etc/passwd")), groups: idFile(filepath.Join(root, "etc/group"))}
}

func (n *names) user(id int) string  { return lookup(n.users, id) }
func (n *names) group(id int) string { return lookup(n.groups, id) }

func lookup(m map[int]string, id int) string {
	if name, ok := m[id]; ok {
		return name
	}
	if id == 0 {
		return "root"
	}
	return strconv.Itoa(id)
}

// idFile reads name:x:id lines (passwd and group have the same first three fields).
func idFile(p string) map[int]string {
	m := map[int]string{}
	f, err := os.Open(p)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 {
			continue
		}
		if id, err := strconv.Atoi(fields[2]); err == nil {
			if _, dup := m[id]; !dup {
				m[id] = fields[0]
			}
		}
	}
	return m
}

package node

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// copyTree copies testdata/node-insecure to a temporary root, so that the test sets the
// modes itself (a checkout's modes depend on the umask).
func copyTree(t *testing.T) string {
	t.Helper()
	src, root := "../../testdata/node-insecure", t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(root, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// chmodAll sets every file to fileMode and every directory to dirMode.
func chmodAll(t *testing.T, root string, fileMode, dirMode fs.FileMode) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, dirMode)
		}
		return os.Chmod(p, fileMode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// owners is a file-info seam: real modes, owners from a table (default uid/gid def).
func owners(def int, by map[string]int) Stat {
	return func(p string) (Info, error) {
		st, err := os.Lstat(p)
		if err != nil {
			return Info{}, err
		}
		id := def
		for suffix, u := range by {
			if strings.HasSuffix(p, suffix) {
				id = u
			}
		}
		return Info{Mode: st.Mode(), UID: id, GID: id}, nil
	}
}

func messages(res *Result, root string) []string {
	var out []string
	for _, f := range res.Findings {
		rel, _ := filepath.Rel(root, f.Source.File)
		out = append(out, "/"+filepath.ToSlash(rel)+" "+f.RuleID+": "+f.Message)
	}
	slices.Sort(out)
	return out
}

func TestInsecureNode(t *testing.T) {
	root := copyTree(t)
	chmodAll(t, root, 0o644, 0o755)
	res, err := Audit(root, owners(1000, nil), "", "")
	if err != nil {
		t.Fatal(err)
	}
	got := messages(res, root)
	perm := func(p, mode, want, cis string) string {
		return p + " node-file-permissions: mode " + mode + ", want " + want + " or stricter (CIS " + cis + ")"
	}
	owner := func(p, want, cis string) string {
		return p + " node-file-ownership: owned by 1000:1000, want " + want + " (CIS " + cis + ")"
	}
	want := []string{
		perm("/etc/kubernetes/admin.conf", "0644", "0600", "1.1.13"), owner("/etc/kubernetes/admin.conf", "root:root", "1.1.14"),
		perm("/etc/kubernetes/controller-manager.conf", "0644", "0600", "1.1.17"), owner("/etc/kubernetes/controller-manager.conf", "root:root", "1.1.18"),
		perm("/etc/kubernetes/kubelet.conf", "0644", "0600", "4.1.5"), owner("/etc/kubernetes/kubelet.conf", "root:root", "4.1.6"),
		perm("/etc/kubernetes/manifests/etcd.yaml", "0644", "0600", "1.1.7"), owner("/etc/kubernetes/manifests/etcd.yaml", "root:root", "1.1.8"),
		perm("/etc/kubernetes/manifests/kube-apiserver.yaml", "0644", "0600", "1.1.1"), owner("/etc/kubernetes/manifests/kube-apiserver.yaml", "root:root", "1.1.2"),
		perm("/etc/kubernetes/manifests/kube-controller-manager.yaml", "0644", "0600", "1.1.3"), owner("/etc/kubernetes/manifests/kube-controller-manager.yaml", "root:root", "1.1.4"),
		perm("/etc/kubernetes/manifests/kube-scheduler.yaml", "0644", "0600", "1.1.5"), owner("/etc/kubernetes/manifests/kube-scheduler.yaml", "root:root", "1.1.6"),
		owner("/etc/kubernetes/pki", "root:root", "1.1.19"),
		owner("/etc/kubernetes/pki/apiserver-kubelet-client.crt", "root:root", "1.1.19"),
		owner("/etc/kubernetes/pki/apiserver-kubelet-client.key", "root:root", "1.1.19"),
		perm("/etc/kubernetes/pki/apiserver-kubelet-client.key", "0644", "0600", "1.1.21"),
		owner("/etc/kubernetes/pki/apiserver.crt", "root:root", "1.1.19"),
		owner("/etc/kubernetes/pki/apiserver.key", "root:root", "1.1.19"),
		perm("/etc/kubernetes/pki/apiserver.key", "0644", "0600", "1.1.21"),
		owner("/etc/kubernetes/pki/ca.crt", "root:root", "1.1.19"), owner("/etc/kubernetes/pki/ca.crt", "root:root", "4.1.8"),
		owner("/etc/kubernetes/pki/ca.key", "root:root", "1.1.19"),
		perm("/etc/kubernetes/pki/ca.key", "0644", "0600", "1.1.21"),
		owner("/etc/kubernetes/pki/etcd", "root:root", "1.1.19"),
		owner("/etc/kubernetes/pki/etcd/ca.crt", "root:root", "1.1.19"),
		owner("/etc/kubernetes/pki/etcd/ca.key", "root:root", "1.1.19"),
		perm("/etc/kubernetes/pki/etcd/ca.key", "0644", "0600", "1.1.21"),
		owner("/etc/kubernetes/pki/etcd/server.crt", "root:root", "1.1.19"),
		owner("/etc/kubernetes/pki/etcd/server.key", "root:root", "1.1.19"),
		perm("/etc/kubernetes/pki/etcd/server.key", "0644", "0600", "1.1.21"),
		perm("/etc/kubernetes/scheduler.conf", "0644", "0600", "1.1.15"), owner("/etc/kubernetes/scheduler.conf", "root:root", "1.1.16"),
		perm("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "0644", "0600", "4.1.1"),
		owner("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "root:root", "4.1.2"),
		perm("/var/lib/etcd", "0755", "0700", "1.1.11"), owner("/var/lib/etcd", "etcd:etcd", "1.1.12"),
		perm("/var/lib/kubelet/config.yaml", "0644", "0600", "4.1.9"), owner("/var/lib/kubelet/config.yaml", "root:root", "4.1.10"),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCorrectNodePasses(t *testing.T) {
	root := copyTree(t)
	chmodAll(t, root, 0o600, 0o755)
	for _, p := range []string{"etc/kubernetes/pki/ca.crt", "etc/kubernetes/pki/apiserver.crt", "etc/kubernetes/pki/etcd/ca.crt"} {
		if err := os.Chmod(filepath.Join(root, p), 0o644); err != nil { // certificates may be world-readable
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "var/lib/etcd"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The node's own user database names uid 998 etcd.
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\netcd:x:998:998::/var/lib/etcd:/sbin/nologin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\netcd:x:998:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Audit(root, owners(0, map[string]int{"/var/lib/etcd": 998}), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 || res.Checked != 34 {
		t.Errorf("%d files checked, findings:\n%s", res.Checked, strings.Join(messages(res, root), "\n"))
	}
}

// TestRealOwnership reads owners from the file system: as root it can make a file belong
// to someone else.
func TestRealOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root; ownership is covered through the file-info seam")
	}
	root := copyTree(t)
	chmodAll(t, root, 0o600, 0o700)
	cfg := filepath.Join(root, "var/lib/kubelet/config.yaml")
	if err := os.Chown(cfg, 1234, 1234); err != nil {
		t.Fatal(err)
	}
	res, err := Audit(root, OSStat, "", "")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(messages(res, root), "\n")
	if !strings.Contains(got, "/var/lib/kubelet/config.yaml node-file-ownership: owned by 1234:1234, want root:root (CIS 4.1.10)") {
		t.Errorf("findings:\n%s", got)
	}
}

func TestAuditErrors(t *testing.T) {
	if _, err := Audit(filepath.Join(t.TempDir(), "missing"), OSStat, "", ""); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing root: %v", err)
	}
	if _, err := Audit(t.TempDir(), OSStat, "", ""); err == nil || !strings.Contains(err.Error(), "is --root the node's /?") {
		t.Errorf("empty root: %v", err)
	}
}

func TestInputsInOverrideOrder(t *testing.T) {
	root := copyTree(t)
	var rel []string
	for _, p := range Inputs(root) {
		r, _ := filepath.Rel(root, p)
		rel = append(rel, filepath.ToSlash(r))
	}
	want := []string{"etc/kubernetes/manifests/etcd.yaml", "etc/kubernetes/manifests/kube-apiserver.yaml",
		"etc/kubernetes/manifests/kube-controller-manager.yaml", "etc/kubernetes/manifests/kube-scheduler.yaml",
		"var/lib/kubelet/config.yaml", "var/lib/kubelet/kubeadm-flags.env",
		"etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "etc/systemd/system/kubelet.service.d/20-extra.conf"}
	if !slices.Equal(rel, want) {
		t.Errorf("inputs %q", rel)
	}
}

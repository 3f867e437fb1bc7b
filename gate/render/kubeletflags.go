package render

import (
	"bufio"
	"bytes"
	"path/filepath"
	"strings"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/internal/shellwords"
)

// isKubeletFlagsFile says whether p is where kubelet flags are written on a node: a systemd
// unit or drop-in of the kubelet, kubeadm's kubeadm-flags.env, or the KUBELET_EXTRA_ARGS
// file (/etc/default/kubelet, /etc/sysconfig/kubelet).
func isKubeletFlagsFile(p string) bool {
	base, dir := filepath.Base(p), filepath.Base(filepath.Dir(p))
	switch {
	case base == "kubeadm-flags.env", base == "kubelet.service":
		return true
	case dir == "kubelet.service.d" && strings.HasSuffix(base, ".conf"):
		return true
	case base == "kubelet" && (dir == "default" || dir == "sysconfig"):
		return true
	}
	return false
}

// kubeletFlags reads the kubelet flags a unit or environment file sets: KUBELET_*
// variables (Environment= lines of a unit, VAR=value lines of an environment file) and the
// literal flags of an ExecStart= line that runs the kubelet. It makes one object of kind
// KubeletFlags whose args point at their lines, or nil when the file sets none.
func kubeletFlags(data []byte, file string) *manifest.Object {
	var args []any
	var lines []int
	add := func(words []string, line int) {
		for _, w := range words {
			if strings.HasPrefix(w, "-") {
				args, lines = append(args, w), append(lines, line)
			}
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			words := strings.Fields(v)
			if len(words) > 0 && filepath.Base(words[0]) == "kubelet" {
				add(words[1:], n)
			}
			continue
		}
		line = strings.TrimPrefix(strings.TrimPrefix(line, "Environment="), "export ")
		for _, assign := range shellwords.Split(line) {
			name, value, _ := strings.Cut(assign, "=")
			if strings.HasPrefix(name, "KUBELET_") {
				add(strings.Fields(value), n)
			}
		}
	}
	if len(args) == 0 {
		return nil
	}
	o, _ := manifest.NewObject(map[string]any{
		"apiVersion": manifest.KubeletFlagsAPIVersion, "kind": manifest.KubeletFlagsKind,
		"metadata": map[string]any{"name": filepath.Base(file)},
		"args":     args,
	}, manifest.Source{File: file, Line: lines[0]})
	o.LocateList("args", lines)
	return o
}

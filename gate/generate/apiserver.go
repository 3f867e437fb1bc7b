// Package generate writes the cluster-side configuration the hardening guides call for
// (practices 000-5, 002-2 and 002-6): the ImagePolicyWebhook admission configuration and
// the kubeconfig it points to, an EncryptionConfiguration with fresh keys and its staged
// rotation, and an audit Policy. Each generator also says what kube-apiserver needs to use
// the file: flags and host paths, as a static-Pod snippet and as a kubeadm patch.
//
// Output is deterministic apart from key material, so generated files diff cleanly.
package generate

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// APIServerChange is what a generated file needs from kube-apiserver.
type APIServerChange struct {
	Flags   []Flag
	Volumes []Volume
	// Notes are caveats a person applying the change must read.
	Notes []string
}

// Flag is one kube-apiserver flag.
type Flag struct{ Name, Value string }

// Volume is a host path mounted into the kube-apiserver static Pod.
type Volume struct {
	Name      string
	HostPath  string // the same path inside the container
	ReadOnly  bool
	Directory bool // DirectoryOrCreate, else File
}

func (v Volume) pathType() corev1.HostPathType {
	if v.Directory {
		return corev1.HostPathDirectoryOrCreate
	}
	return corev1.HostPathFile
}

// Args are the flags as kube-apiserver's command line items.
func (c APIServerChange) Args() []string {
	out := make([]string, len(c.Flags))
	for i, f := range c.Flags {
		out[i] = "--" + f.Name + "=" + f.Value
	}
	return out
}

// StaticPodVolumes are the volumeMounts and volumes to add to the static Pod.
func (c APIServerChange) StaticPodVolumes() ([]corev1.VolumeMount, []corev1.Volume) {
	var mounts []corev1.VolumeMount
	var vols []corev1.Volume
	for _, v := range c.Volumes {
		mounts = append(mounts, corev1.VolumeMount{Name: v.Name, MountPath: v.HostPath, ReadOnly: v.ReadOnly})
		vols = append(vols, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: v.HostPath, Type: new(v.pathType())}}})
	}
	return mounts, vols
}

// KubeadmPatch is the change as a kubeadm ClusterConfiguration (v1beta4) to merge into the
// cluster's own: extraArgs and extraVolumes of apiServer.
func (c APIServerChange) KubeadmPatch() string {
	type arg struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type volume struct {
		Name      string              `json:"name"`
		HostPath  string              `json:"hostPath"`
		MountPath string              `json:"mountPath"`
		ReadOnly  bool                `json:"readOnly,omitempty"`
		PathType  corev1.HostPathType `json:"pathType"`
	}
	var apiServer struct {
		ExtraArgs    []arg    `json:"extraArgs,omitempty"`
		ExtraVolumes []volume `json:"extraVolumes,omitempty"`
	}
	for _, f := range c.Flags {
		apiServer.ExtraArgs = append(apiServer.ExtraArgs, arg{f.Name, f.Value})
	}
	for _, v := range c.Volumes {
		apiServer.ExtraVolumes = append(apiServer.ExtraVolumes, volume{v.Name, v.HostPath, v.HostPath, v.ReadOnly, v.pathType()})
	}
	return "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n" + mustYAML(map[string]any{"apiServer": apiServer})
}

// Instructions tell a person how to apply the change, on a static Pod and with kubeadm.
func (c APIServerChange) Instructions() string {
	var b strings.Builder
	b.WriteString("# kube-apiserver, on every control-plane node (/etc/kubernetes/manifests/kube-apiserver.yaml):\n# add to the command\n")
	for _, a := range c.Args() {
		fmt.Fprintf(&b, "    - %s\n", a)
	}
	mounts, vols := c.StaticPodVolumes()
	b.WriteString("# add to the container's volumeMounts\n")
	b.WriteString(indent(mustYAML(mounts), "    "))
	b.WriteString("# add to the Pod's volumes\n")
	b.WriteString(indent(mustYAML(vols), "  "))
	b.WriteString("\n# or, with kubeadm, merge into the ClusterConfiguration (kubeadm init --config, or kubeadm upgrade):\n")
	b.WriteString(c.KubeadmPatch())
	if len(c.Notes) > 0 {
		b.WriteString("\n")
	}
	for _, n := range c.Notes {
		b.WriteString("# note: " + n + "\n")
	}
	return b.String()
}

func mustYAML(v any) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return string(out)
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

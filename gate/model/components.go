package model

// Control-plane and node components where the repository configures them: kubeadm's static
// Pods, kubeadm configuration files, KubeletConfiguration files and kubelet flag files
// (systemd drop-ins, kubeadm-flags.env, /etc/default/kubelet). Each is read into layers of
// settings, highest precedence first, so that a check sees the value the component runs
// with and where it is written.

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/internal/shellwords"
)

// The components the control-plane rules check.
const (
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Etcd              = "etcd"
	Kubelet           = "kubelet"
)

// Component is one configured instance of a component.
type Component struct {
	Name   string
	Object *manifest.Object // the static Pod, kubeadm config, KubeletConfiguration or flags file
	// Container is the static Pod's container that runs the component.
	Container string
	// Field is where the component's settings are written in Object (its container's
	// command, a kubeadm section): findings about a setting that is not written point there.
	Field string
	// Version is the Kubernetes version the component runs, when it is written (image tag
	// of a static Pod, kubeadm's kubernetesVersion), with the field that says so.
	Version, VersionField string
	layers                []layer
	// ConfigFile: the kubelet reads a config file, so a field absent from it takes the
	// KubeletConfiguration default rather than the flag default.
	ConfigFile bool
}

// layer is one place settings come from.
type layer struct {
	obj  *manifest.Object
	args Args           // command-line flags
	cfg  map[string]any // KubeletConfiguration fields
	// defaults: the layer is what a tool writes when the user does not (kubeadm), named here.
	defaults string
}

// Setting is a value a component runs with and where it comes from.
type Setting struct {
	Name   string // as written: "--flag" or the config field
	Value  string
	Source manifest.Source
	// From is how the value was given: "" when written by the user, else "kubeadm's
	// default" or the component's "default".
	From string
}

// Setting is the value the first configured component of that name has for flag (or the
// kubelet's KubeletConfiguration field), when it is written.
func (s *Set) Setting(component, flag, field string) (string, bool) {
	for _, c := range s.Components() {
		if c.Name == component {
			st, ok := c.Lookup(flag, field)
			return st.Value, ok
		}
	}
	return "", false
}

// Lookup finds flag (or, for the kubelet, the KubeletConfiguration field) in the layers.
func (c *Component) Lookup(flag, field string) (Setting, bool) {
	for _, l := range c.layers {
		if v, f, ok := l.args.get(flag); ok {
			return Setting{Name: "--" + flag, Value: v, Source: l.source(f), From: l.defaults}, true
		}
		if field == "" || l.cfg == nil {
			continue
		}
		if v, ok := configValue(l.cfg, field); ok {
			return Setting{Name: field, Value: v, Source: l.source(field), From: l.defaults}, true
		}
	}
	return Setting{}, false
}

func (l layer) source(field string) manifest.Source {
	if l.defaults != "" {
		return l.obj.Source
	}
	return l.obj.SourceOf(field)
}

// configValue reads a KubeletConfiguration field as the flag would be written. A zero
// duration ("0s") means "use the default" in the file (the kubelet's defaulting replaces
// it), so it counts as absent; numbers are kept (readOnlyPort: 0 is meant). Lists join
// with commas and maps become k=v lists, as --tls-cipher-suites and --feature-gates are
// written.
func configValue(cfg map[string]any, field string) (string, bool) {
	v := manifest.Lookup(cfg, strings.Split(field, ".")...)
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		if x == "" || (strings.HasSuffix(x, "s") && IsZeroDuration(x)) {
			return "", false
		}
		return x, true
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ","), true
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			keys[i] = fmt.Sprintf("%s=%v", k, x[k])
		}
		return strings.Join(keys, ","), true
	default:
		return fmt.Sprint(x), true
	}
}

func IsZeroDuration(s string) bool {
	return strings.Trim(s, "0hms.") == "" && strings.ContainsAny(s, "0")
}

// ComponentKinds are the kinds findComponents reads: control-plane static Pods, kubeadm's
// configurations, KubeletConfiguration and kubelet flag files. The control-plane rules'
// scope.
var ComponentKinds = []string{"Pod", "ClusterConfiguration", "InitConfiguration", "JoinConfiguration", "KubeletConfiguration", manifest.KubeletFlagsKind}

// findComponents finds every configured component of the set.
func (s *Set) findComponents() []*Component {
	out := slices.Clone(s.staticComponents)
	var kubeletConfigs, kubeletFlags []*manifest.Object
	kubeadmByFile := map[string]*manifest.Object{}
	kubeadmKubelets := map[string]*Component{} // kubeletExtraArgs, by file
	for _, o := range s.Objects {
		switch g := manifest.Group(o.APIVersion); {
		case g == "kubeadm.k8s.io":
			for _, c := range kubeadmComponents(o) {
				if c.Name == Kubelet {
					kubeadmKubelets[o.Source.File] = c
				} else {
					out = append(out, c)
				}
			}
			kubeadmByFile[o.Source.File] = o
		case g == "kubelet.config.k8s.io" && o.Kind == "KubeletConfiguration":
			kubeletConfigs = append(kubeletConfigs, o)
		case o.APIVersion == manifest.KubeletFlagsAPIVersion && o.Kind == manifest.KubeletFlagsKind:
			kubeletFlags = append(kubeletFlags, o)
		}
	}
	// Flags override the config file. Of several flag files, the one whose variable comes
	// later on kubeadm's ExecStart line wins: KUBELET_EXTRA_ARGS (/etc/default/kubelet)
	// over KUBELET_KUBEADM_ARGS (kubeadm-flags.env) over the unit's own.
	slices.SortStableFunc(kubeletFlags, func(a, b *manifest.Object) int {
		return flagFileRank(a.Source.File) - flagFileRank(b.Source.File)
	})
	var flagLayers []layer
	for i := len(kubeletFlags) - 1; i >= 0; i-- {
		flagLayers = append(flagLayers, flagsLayer(kubeletFlags[i]))
	}
	for _, o := range kubeletConfigs {
		c := &Component{Name: Kubelet, Object: o, ConfigFile: true}
		c.layers = slices.Clone(flagLayers)
		if k := kubeadmKubelets[o.Source.File]; k != nil {
			// kubeadm passes kubeletExtraArgs as flags over the KubeletConfiguration it ships
			// in the same file: one kubelet.
			c.layers = append(c.layers, k.layers[0])
			delete(kubeadmKubelets, o.Source.File)
		}
		c.layers = append(c.layers, layer{obj: o, cfg: o.Raw()})
		if k := kubeadmByFile[o.Source.File]; k != nil {
			// kubeadm fills in its own KubeletConfiguration defaults under the user's.
			c.layers = append(c.layers, layer{obj: k, cfg: kubeadmKubeletDefaults, defaults: "kubeadm's default"})
		}
		out = append(out, c)
	}
	for _, o := range s.Objects { // the kubeadm kubelets without a KubeletConfiguration, in order
		if c := kubeadmKubelets[o.Source.File]; c != nil && c.Object == o {
			out = append(out, c)
		}
	}
	if len(kubeletConfigs) == 0 && len(flagLayers) > 0 {
		c := &Component{Name: Kubelet, Object: kubeletFlags[0], layers: flagLayers}
		_, c.ConfigFile = c.Lookup("config", "")
		out = append(out, c)
	}
	return out
}

func flagFileRank(file string) int {
	switch path.Base(file) {
	case "kubelet":
		return 2
	case "kubeadm-flags.env":
		return 1
	}
	return 0
}

func flagsLayer(o *manifest.Object) layer {
	argv, _ := o.Raw()["args"].([]any)
	strs, fields := make([]string, len(argv)), make([]string, len(argv))
	for i, a := range argv {
		strs[i], fields[i] = fmt.Sprint(a), fmt.Sprintf("args[%d]", i)
	}
	return layer{obj: o, args: parseArgs(strs, fields)}
}

// staticPodComponent recognises a control-plane static Pod as kubeadm writes it: a Pod in
// kube-system whose container runs kube-apiserver, kube-controller-manager, kube-scheduler
// or etcd (by its command, or by its image when the command is the image's entrypoint).
func staticPodComponent(s *Set, p *Pod) *Component {
	if p.Object.Kind != "Pod" || s.NamespaceOf(p.Object) != "kube-system" {
		return nil
	}
	for _, c := range p.Containers {
		if c.Init || c.Ephemeral {
			continue
		}
		argv, fields := containerArgv(c)
		name := path.Base(c.Ref.Repo) // the image's entrypoint runs
		if len(c.Command) > 0 {
			name = "" // the command runs: an empty "sh -c" script runs nothing
			if len(argv) > 0 {
				name = path.Base(argv[0])
			}
		}
		name = strings.TrimSuffix(name, "-amd64")
		if !slices.Contains([]string{APIServer, ControllerManager, Scheduler, Etcd}, name) {
			continue
		}
		comp := &Component{Name: name, Object: p.Object, Container: c.Name, Field: c.Path + ".command"}
		if len(c.Command) == 0 {
			comp.Field = c.Path + ".args"
		}
		if name != Etcd && c.Ref.Tag != "" {
			comp.Version, comp.VersionField = c.Ref.Tag, c.Path+".image"
		}
		comp.layers = []layer{{obj: p.Object, args: parseArgs(argv, fields)}}
		if name == Etcd {
			comp.layers = append(comp.layers, layer{obj: p.Object, args: etcdEnv(c)})
		}
		return comp
	}
	return nil
}

// containerArgv is command + args with the field path of each element; a "sh -c SCRIPT"
// command is split into words, all pointing at the script.
func containerArgv(c PodContainer) (argv, fields []string) {
	for i, a := range c.Command {
		argv, fields = append(argv, a), append(fields, fmt.Sprintf("%s.command[%d]", c.Path, i))
	}
	for i, a := range c.Args {
		argv, fields = append(argv, a), append(fields, fmt.Sprintf("%s.args[%d]", c.Path, i))
	}
	if len(argv) >= 3 && (path.Base(argv[0]) == "sh" || path.Base(argv[0]) == "bash") && argv[1] == "-c" {
		words := shellwords.Split(argv[2])
		if len(words) > 0 && words[0] == "exec" {
			words = words[1:]
		}
		f := fields[2]
		argv, fields = words, make([]string, len(words))
		for i := range fields {
			fields[i] = f
		}
	}
	return argv, fields
}

// etcdEnv reads etcd's ETCD_<FLAG> environment variables as flags (the command line wins).
func etcdEnv(c PodContainer) Args {
	a := Args{}
	for i, e := range c.Env {
		if name, ok := strings.CutPrefix(e.Name, "ETCD_"); ok && e.ValueFrom == nil {
			flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
			a[flag] = append(a[flag], arg{value: e.Value, field: fmt.Sprintf("%s.env[%d].value", c.Path, i)})
		}
	}
	return a
}

// kubeadmComponents reads a ClusterConfiguration's extraArgs over the flags kubeadm writes
// itself, and an Init/JoinConfiguration's kubeletExtraArgs.
func kubeadmComponents(o *manifest.Object) []*Component {
	var out []*Component
	switch o.Kind {
	case "ClusterConfiguration":
		version, _ := o.Raw()["kubernetesVersion"].(string)
		for _, sec := range []struct{ name, field string }{
			{APIServer, "apiServer"}, {ControllerManager, "controllerManager"},
			{Scheduler, "scheduler"}, {Etcd, "etcd.local"},
		} {
			if sec.name == Etcd && manifest.Lookup(o.Raw(), "etcd", "external") != nil {
				continue // an external etcd is configured elsewhere
			}
			c := &Component{Name: sec.name, Object: o, Field: sec.field}
			if sec.name == APIServer && version != "" {
				// One version for the whole control plane: reported once.
				c.Version, c.VersionField = version, "kubernetesVersion"
			}
			c.layers = []layer{
				{obj: o, args: extraArgs(o, sec.field+".extraArgs")},
				{obj: o, args: kubeadmDefaults[sec.name], defaults: "kubeadm's default"},
			}
			out = append(out, c)
		}
	case "InitConfiguration", "JoinConfiguration":
		if manifest.Lookup(o.Raw(), "nodeRegistration", "kubeletExtraArgs") == nil {
			return nil
		}
		out = append(out, &Component{Name: Kubelet, Object: o, Field: "nodeRegistration.kubeletExtraArgs", ConfigFile: true, layers: []layer{
			{obj: o, args: extraArgs(o, "nodeRegistration.kubeletExtraArgs")},
			{obj: o, cfg: kubeadmKubeletDefaults, defaults: "kubeadm's default"},
		}})
	}
	return out
}

// extraArgs reads kubeadm's extraArgs: a map in v1beta3, a list of {name, value} in v1beta4.
func extraArgs(o *manifest.Object, field string) Args {
	a := Args{}
	switch v := manifest.Lookup(o.Raw(), strings.Split(field, ".")...).(type) {
	case map[string]any:
		for k, val := range v {
			a[k] = []arg{{value: fmt.Sprint(val), field: manifest.Field(field, k)}}
		}
	case []any:
		for i, e := range v {
			m, _ := e.(map[string]any)
			name, _ := m["name"].(string)
			if name != "" {
				a[name] = append(a[name], arg{value: fmt.Sprint(m["value"]), field: fmt.Sprintf("%s[%d].value", field, i)})
			}
		}
	}
	return a
}

// kubeadmDefaults are the security-relevant flags kubeadm (v1.30+) writes into the static
// Pod manifests before applying extraArgs (cmd/kubeadm/app/phases/controlplane/manifests.go
// and phases/etcd/local.go).
var kubeadmDefaults = map[string]Args{
	APIServer: fixedArgs(
		"--authorization-mode=Node,RBAC", "--client-ca-file=/etc/kubernetes/pki/ca.crt",
		"--enable-admission-plugins=NodeRestriction", "--enable-bootstrap-token-auth=true",
		"--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt", "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
		"--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key", "--etcd-servers=https://127.0.0.1:2379",
		"--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
		"--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
		"--service-account-key-file=/etc/kubernetes/pki/sa.pub", "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
		"--tls-cert-file=/etc/kubernetes/pki/apiserver.crt", "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
	),
	ControllerManager: fixedArgs(
		"--bind-address=127.0.0.1", "--root-ca-file=/etc/kubernetes/pki/ca.crt",
		"--service-account-private-key-file=/etc/kubernetes/pki/sa.key", "--use-service-account-credentials=true",
	),
	Scheduler: fixedArgs("--bind-address=127.0.0.1"),
	Etcd: fixedArgs(
		"--cert-file=/etc/kubernetes/pki/etcd/server.crt", "--key-file=/etc/kubernetes/pki/etcd/server.key",
		"--client-cert-auth=true", "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
		"--peer-key-file=/etc/kubernetes/pki/etcd/peer.key", "--peer-client-cert-auth=true",
		"--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt", "--listen-client-urls=https://127.0.0.1:2379",
		"--advertise-client-urls=https://127.0.0.1:2379", "--data-dir=/var/lib/etcd",
	),
}

// kubeadmKubeletDefaults are the KubeletConfiguration fields kubeadm sets when the user's
// KubeletConfiguration does not (cmd/kubeadm/app/componentconfigs/kubelet.go).
var kubeadmKubeletDefaults = map[string]any{
	"authentication": map[string]any{
		"anonymous": map[string]any{"enabled": false},
		"webhook":   map[string]any{"enabled": true},
		"x509":      map[string]any{"clientCAFile": "/etc/kubernetes/pki/ca.crt"},
	},
	"authorization":      map[string]any{"mode": "Webhook"},
	"rotateCertificates": true,
}

func fixedArgs(flags ...string) Args {
	return parseArgs(flags, make([]string, len(flags)))
}

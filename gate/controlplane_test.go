package gate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/render"
	"github.com/kubegate/kubegate/gate/rules"
)

// The hardened control plane of testdata/controlplane/hardened (kubeadm's static Pods, a
// KubeletConfiguration and a kubeadm configuration) passes every rule; each defect below,
// one usual mistake, yields exactly the finding of the CIS check it violates.

// readControlPlane reads hardened files into one text. The kubeadm configuration is read on
// its own: in the same file as a KubeletConfiguration, kubeadm's defaults would fill it in.
func readControlPlane(t *testing.T, files ...string) string {
	t.Helper()
	var docs []string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("../testdata/controlplane/hardened", f))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(data))
	}
	return strings.Join(docs, "---\n")
}

var staticPodFiles = []string{"kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml",
	"etcd.yaml", "kubelet-config.yaml"}

func TestHardenedControlPlaneHasNoFindings(t *testing.T) {
	for _, files := range [][]string{staticPodFiles, {"kubeadm-config.yaml"}} {
		res := checkText(t, readControlPlane(t, files...), "failOn: info\n")
		if len(res.Findings) != 0 || len(res.Errors) != 0 || res.ExitCode() != 0 {
			t.Errorf("%v: findings:\n%s errors %v", files, findingsText(res.Findings), res.Errors)
		}
	}
}

// remove deletes a line from the manifests.
func remove(line string) []edit { return []edit{{line, ""}} }

// insertAfter adds lines after the first occurrence of anchor.
func insertAfter(anchor, lines string) []edit { return []edit{{anchor, anchor + lines}} }

const (
	apiServerCommand = "  - command:\n    - kube-apiserver"
	cmCommand        = "  - command:\n    - kube-controller-manager"
	schedulerCommand = "  - command:\n    - kube-scheduler"
	etcdCommand      = "  - command:\n    - etcd"
	kubeletConfig    = "apiVersion: kubelet.config.k8s.io/v1beta1"
	securePort       = "    - --secure-port=6443\n"
)

var controlPlaneDefects = []defect{
	// kube-apiserver
	{rule: "apiserver-anonymous-auth", edits: insertAfter("    - --anonymous-auth=false\n", "    - --anonymous-auth\n"),
		msg: "kube-apiserver: --anonymous-auth=true: want false", at: "    - --anonymous-auth\n"},
	{rule: "apiserver-token-auth-file", edits: insertAfter(securePort, "    - --token-auth-file=/etc/kubernetes/tokens.csv\n"),
		msg: "kube-apiserver: --token-auth-file=/etc/kubernetes/tokens.csv: must not be set", at: "--token-auth-file"},
	{rule: "apiserver-kubelet-client-cert", edits: remove("    - --kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key\n"),
		msg: "kube-apiserver: --kubelet-client-key not set", at: apiServerCommand},
	{rule: "apiserver-kubelet-certificate-authority", edits: remove("    - --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt\n"),
		msg: "kube-apiserver: --kubelet-certificate-authority not set", at: apiServerCommand},
	{rule: "apiserver-authorization-always-allow", edits: []edit{{"--authorization-mode=Node,RBAC", "--authorization-mode=Node,RBAC,AlwaysAllow"}},
		msg: "kube-apiserver: --authorization-mode=Node,RBAC,AlwaysAllow: includes AlwaysAllow", at: "--authorization-mode=Node,RBAC,AlwaysAllow"},
	{rule: "apiserver-authorization-node", edits: []edit{{"--authorization-mode=Node,RBAC", "--authorization-mode=RBAC"}},
		msg: "kube-apiserver: --authorization-mode=RBAC: does not include Node", at: "--authorization-mode=RBAC"},
	{rule: "apiserver-authorization-rbac", edits: []edit{{"    - --authorization-mode=Node,RBAC\n", "    - --authorization-mode\n    - Node\n"}},
		msg: "kube-apiserver: --authorization-mode=Node: does not include RBAC", at: "    - --authorization-mode\n"},
	{rule: "apiserver-admission-always-admit", edits: insertAfter("    - --enable-admission-plugins=NodeRestriction\n", "    - --enable-admission-plugins=AlwaysAdmit\n"),
		msg: "kube-apiserver: --enable-admission-plugins=NodeRestriction,AlwaysAdmit: includes AlwaysAdmit", at: "=AlwaysAdmit"},
	{rule: "apiserver-admission-service-account", edits: insertAfter(securePort, "    - --disable-admission-plugins=ServiceAccount\n"),
		msg: "kube-apiserver: --disable-admission-plugins=ServiceAccount: includes ServiceAccount", at: "--disable-admission-plugins"},
	{rule: "apiserver-admission-namespace-lifecycle", edits: insertAfter(securePort, "    - --disable-admission-plugins=DefaultStorageClass,NamespaceLifecycle\n"),
		msg: "kube-apiserver: --disable-admission-plugins=DefaultStorageClass,NamespaceLifecycle: includes NamespaceLifecycle", at: "--disable-admission-plugins"},
	{rule: "apiserver-admission-node-restriction", edits: []edit{{"--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins=DenyServiceExternalIPs"}},
		msg: "kube-apiserver: --enable-admission-plugins=DenyServiceExternalIPs: does not include NodeRestriction", at: "--enable-admission-plugins"},
	{rule: "apiserver-profiling", edits: []edit{{"    - --profiling=false\n    - --proxy-client-cert-file", "    - --proxy-client-cert-file"}},
		msg: "kube-apiserver: --profiling not set (default true): want false", at: apiServerCommand},
	{rule: "apiserver-audit-log-path", edits: remove("    - --audit-log-path=/var/log/kubernetes/audit/audit.log\n"),
		msg: "kube-apiserver: --audit-log-path not set", at: apiServerCommand},
	{rule: "apiserver-audit-log-maxage", edits: []edit{{"--audit-log-maxage=30", "--audit-log-maxage=7"}},
		msg: "kube-apiserver: --audit-log-maxage=7: want at least 30", at: "--audit-log-maxage=7"},
	{rule: "apiserver-audit-log-maxbackup", edits: []edit{{"--audit-log-maxbackup=10", "--audit-log-maxbackup=ten"}},
		msg: `kube-apiserver: --audit-log-maxbackup=ten: "ten" is not a number`, at: "--audit-log-maxbackup=ten"},
	{rule: "apiserver-audit-log-maxsize", edits: []edit{{"    - --audit-log-maxsize=100\n", "    - --audit-log-maxsize\n    - \"50\"\n"}},
		msg: "kube-apiserver: --audit-log-maxsize=50: want at least 100", at: "    - --audit-log-maxsize\n"},
	{rule: "apiserver-audit-policy-file", edits: remove("    - --audit-policy-file=/etc/kubernetes/audit-policy.yaml\n"),
		msg: "kube-apiserver: --audit-policy-file not set", at: apiServerCommand},
	{rule: "apiserver-service-account-lookup", edits: insertAfter(securePort, "    - --service-account-lookup=0\n"),
		msg: "kube-apiserver: --service-account-lookup=0: want true", at: "--service-account-lookup=0"},
	{rule: "apiserver-service-account-key-file", edits: remove("    - --service-account-key-file=/etc/kubernetes/pki/sa.pub\n"),
		msg: "kube-apiserver: --service-account-key-file not set", at: apiServerCommand},
	{rule: "apiserver-service-account-signing-key", edits: remove("    - --service-account-signing-key-file=/etc/kubernetes/pki/sa.key\n"),
		msg: "kube-apiserver: --service-account-signing-key-file not set", at: apiServerCommand},
	{rule: "apiserver-service-account-extend-token-expiration", edits: []edit{{"--service-account-extend-token-expiration=false", "--service-account-extend-token-expiration=TRUE"}},
		msg: "kube-apiserver: --service-account-extend-token-expiration=TRUE: want false", at: "--service-account-extend-token-expiration"},
	{rule: "apiserver-etcd-client-cert", edits: remove("    - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt\n"),
		msg: "kube-apiserver: --etcd-certfile not set", at: apiServerCommand},
	{rule: "apiserver-etcd-ca", edits: remove("    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt\n"),
		msg: "kube-apiserver: --etcd-cafile not set", at: apiServerCommand},
	{rule: "apiserver-etcd-https", edits: []edit{{"--etcd-servers=https://127.0.0.1:2379", "--etcd-servers=https://10.0.0.11:2379,http://10.0.0.12:2379"}},
		msg: "kube-apiserver: --etcd-servers=https://10.0.0.11:2379,http://10.0.0.12:2379: not https: http://10.0.0.12:2379", at: "--etcd-servers"},
	{rule: "apiserver-tls-cert", edits: remove("    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n"),
		msg: "kube-apiserver: --tls-private-key-file not set", at: apiServerCommand},
	{rule: "apiserver-client-ca", edits: []edit{{"    - --client-ca-file=/etc/kubernetes/pki/ca.crt\n    - --enable-admission-plugins", "    - --enable-admission-plugins"}},
		msg: "kube-apiserver: --client-ca-file not set", at: apiServerCommand},
	{rule: "apiserver-encryption-provider-config", edits: remove("    - --encryption-provider-config=/etc/kubernetes/encryption-config.yaml\n"),
		msg: "kube-apiserver: --encryption-provider-config not set", at: apiServerCommand},
	{rule: "apiserver-tls-cipher-suites", edits: []edit{{"--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,", "--tls-cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA,"}},
		msg: "kube-apiserver: --tls-cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: weak suites TLS_RSA_WITH_AES_128_CBC_SHA",
		at:  "--tls-cipher-suites=TLS_RSA"},
	{rule: "apiserver-tls-min-version", edits: []edit{{"--tls-min-version=VersionTLS12", "--tls-min-version=VersionTLS11"}},
		msg: "kube-apiserver: --tls-min-version=VersionTLS11: want one of VersionTLS12,VersionTLS13", at: "--tls-min-version"},
	{rule: "apiserver-insecure-port", edits: insertAfter(securePort, "    - --insecure-port=0\n"),
		msg: "kube-apiserver: --insecure-port is set: the flag was removed in Kubernetes 1.24, the component will not start", at: "--insecure-port"},
	{rule: "apiserver-insecure-bind-address", edits: insertAfter(securePort, "    - --insecure-bind-address=127.0.0.1\n"),
		msg: "kube-apiserver: --insecure-bind-address is set: the flag was removed in Kubernetes 1.24, the component will not start", at: "--insecure-bind-address"},
	{rule: "apiserver-public-bind-address", edits: insertAfter(securePort, "    - --bind-address=198.51.100.7\n"),
		msg: "kube-apiserver: --bind-address=198.51.100.7: 198.51.100.7 is a public address", at: "198.51.100.7"},
	{rule: "apiserver-public-advertise-address", edits: []edit{{"--advertise-address=10.0.0.10", "--advertise-address=34.120.1.2"}},
		msg: "kube-apiserver: --advertise-address=34.120.1.2: 34.120.1.2 is a public address", at: "34.120.1.2"},

	// kube-controller-manager
	{rule: "controller-manager-terminated-pod-gc-threshold", edits: remove("    - --terminated-pod-gc-threshold=10\n"),
		msg: "kube-controller-manager: --terminated-pod-gc-threshold not set", at: cmCommand},
	{rule: "controller-manager-profiling", edits: []edit{{"    - --profiling=false\n    - --requestheader-client-ca-file", "    - --requestheader-client-ca-file"}},
		msg: "kube-controller-manager: --profiling not set (default true): want false", at: cmCommand},
	{rule: "controller-manager-service-account-credentials", edits: []edit{{"--use-service-account-credentials=true", "--use-service-account-credentials=false"}},
		msg: "kube-controller-manager: --use-service-account-credentials=false: want true", at: "--use-service-account-credentials"},
	{rule: "controller-manager-service-account-private-key", edits: remove("    - --service-account-private-key-file=/etc/kubernetes/pki/sa.key\n"),
		msg: "kube-controller-manager: --service-account-private-key-file not set", at: cmCommand},
	{rule: "controller-manager-root-ca", edits: remove("    - --root-ca-file=/etc/kubernetes/pki/ca.crt\n"),
		msg: "kube-controller-manager: --root-ca-file not set", at: cmCommand},
	{rule: "controller-manager-rotate-kubelet-server-certificate", edits: insertAfter("    - --use-service-account-credentials=true\n", "    - --feature-gates=RotateKubeletServerCertificate=0\n"),
		msg: "kube-controller-manager: --feature-gates=RotateKubeletServerCertificate=0: RotateKubeletServerCertificate is turned off", at: "--feature-gates=Rotate"},
	{rule: "controller-manager-bind-address", edits: []edit{{"    - --bind-address=127.0.0.1\n    - --client-ca-file", "    - --bind-address=0.0.0.0\n    - --client-ca-file"}},
		msg: "kube-controller-manager: --bind-address=0.0.0.0: want 127.0.0.1", at: "--bind-address=0.0.0.0"},

	// kube-scheduler
	{rule: "scheduler-profiling", edits: []edit{{"    - --profiling=false\n    image: registry.k8s.io/kube-scheduler", "    image: registry.k8s.io/kube-scheduler"}},
		msg: "kube-scheduler: --profiling not set (default true): want false", at: schedulerCommand},
	{rule: "scheduler-bind-address", edits: []edit{{"    - --bind-address=127.0.0.1\n    - --kubeconfig=/etc/kubernetes/scheduler.conf", "    - --bind-address=10.0.0.10\n    - --kubeconfig=/etc/kubernetes/scheduler.conf"}},
		msg: "kube-scheduler: --bind-address=10.0.0.10: want 127.0.0.1", at: "--bind-address=10.0.0.10"},

	// etcd
	{rule: "etcd-tls-cert", edits: remove("    - --key-file=/etc/kubernetes/pki/etcd/server.key\n"),
		msg: "etcd: --key-file not set", at: etcdCommand},
	{rule: "etcd-client-cert-auth", edits: []edit{{"    - --client-cert-auth=true\n", "    - --client-cert-auth=false\n"}},
		msg: "etcd: --client-cert-auth=false: want true", at: "    - --client-cert-auth=false"},
	{rule: "etcd-auto-tls", edits: insertAfter("    - --data-dir=/var/lib/etcd\n", "    - --auto-tls\n"),
		msg: "etcd: --auto-tls=true: want false", at: "--auto-tls"},
	{rule: "etcd-peer-tls-cert", edits: remove("    - --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt\n"),
		msg: "etcd: --peer-cert-file not set", at: etcdCommand},
	{rule: "etcd-peer-client-cert-auth", edits: remove("    - --peer-client-cert-auth=true\n"),
		msg: "etcd: --peer-client-cert-auth not set (default false): want true", at: etcdCommand},
	{rule: "etcd-peer-auto-tls", edits: []edit{{"    name: etcd\n", "    env:\n    - name: ETCD_PEER_AUTO_TLS\n      value: \"true\"\n    name: etcd\n"}},
		msg: "etcd: --peer-auto-tls=true: want false", at: `      value: "true"`},
	{rule: "etcd-client-urls-https", edits: []edit{{"--advertise-client-urls=https://10.0.0.10:2379", "--advertise-client-urls=http://10.0.0.10:2379"}},
		msg: "etcd: --advertise-client-urls=http://10.0.0.10:2379: not https: http://10.0.0.10:2379", at: "--advertise-client-urls"},
	{rule: "etcd-trusted-ca-distinct", edits: []edit{{"--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt", "--trusted-ca-file=/etc/kubernetes/pki/ca.crt"}},
		msg: "etcd: --trusted-ca-file=/etc/kubernetes/pki/ca.crt is also the API server's --client-ca-file (app.yaml:24)", at: "    - --trusted-ca-file"},

	// kubelet
	{rule: "kubelet-anonymous-auth", edits: []edit{{"  anonymous:\n    enabled: false", "  anonymous:\n    enabled: true"}},
		msg: "kubelet: authentication.anonymous.enabled=true: want false", at: "    enabled: true\n  webhook"},
	{rule: "kubelet-authorization-mode", edits: []edit{{"  mode: Webhook", "  mode: AlwaysAllow"}},
		msg: "kubelet: authorization.mode=AlwaysAllow: want Webhook", at: "  mode: AlwaysAllow"},
	{rule: "kubelet-client-ca", edits: remove("  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\n"),
		msg: "kubelet: authentication.x509.clientCAFile not set", at: kubeletConfig},
	{rule: "kubelet-read-only-port", edits: []edit{{"readOnlyPort: 0", "readOnlyPort: 10255"}},
		msg: "kubelet: readOnlyPort=10255: want 0", at: "readOnlyPort"},
	{rule: "kubelet-iptables-util-chains", edits: insertAfter("cgroupDriver: systemd\n", "makeIPTablesUtilChains: false\n"),
		msg: "kubelet: makeIPTablesUtilChains=false: want true", at: "makeIPTablesUtilChains"},
	{rule: "kubelet-event-qps", edits: insertAfter("cgroupDriver: systemd\n", "eventRecordQPS: -5\n"),
		msg: "kubelet: eventRecordQPS=-5: want at least 0", at: "eventRecordQPS"},
	{rule: "kubelet-tls-cert", edits: []edit{{"serverTLSBootstrap: true", "serverTLSBootstrap: false"}},
		msg: "kubelet: tlsCertFile and tlsPrivateKeyFile not set", at: kubeletConfig},
	{rule: "kubelet-rotate-certificates", edits: remove("rotateCertificates: true\n"),
		msg: "kubelet: rotateCertificates not set (default false): want true", at: kubeletConfig},
	{rule: "kubelet-tls-cipher-suites", edits: []edit{{"\n- TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n", "\n- TLS_RSA_WITH_AES_256_GCM_SHA384\n"}},
		msg: "kubelet: tlsCipherSuites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_256_GCM_SHA384: weak suites TLS_RSA_WITH_AES_256_GCM_SHA384",
		at:  "tlsCipherSuites:"},
	{rule: "kubelet-protect-kernel-defaults", edits: []edit{{"protectKernelDefaults: true", "protectKernelDefaults: false"}},
		msg: "kubelet: protectKernelDefaults=false: want true", at: "protectKernelDefaults"},

	// kubeconfigs in the repository (002-3)
	{rule: "kubeconfig-public-endpoint", add: "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://10.0.0.10:6443\n" +
		"- name: edge\n  cluster:\n    server: https://52.14.7.9:6443\n",
		msg: `cluster "edge" is reached at https://52.14.7.9:6443, a public address`, at: "    server: https://52.14.7.9"},

	// version (000-1)
	{rule: "kubernetes-version-unsupported", edits: []edit{{"kube-scheduler:v1.36.2", "kube-scheduler:v1.34.1"}},
		msg: "kube-scheduler runs Kubernetes v1.34.1: 1.34 reached end of life; the oldest supported minor on 2026-11-22 is 1.35", at: "kube-scheduler:v1.34.1"},
}

// kubeadmDefects are applied to the hardened kubeadm configuration: extraArgs over the
// flags kubeadm writes itself, in v1beta3's map form and v1beta4's list form.
var kubeadmDefects = []defect{
	{rule: "apiserver-authorization-always-allow", edits: insertAfter("apiServer:\n  extraArgs:\n", "    authorization-mode: Node,RBAC,AlwaysAllow\n"),
		msg: "kube-apiserver: --authorization-mode=Node,RBAC,AlwaysAllow: includes AlwaysAllow", at: "    authorization-mode"},
	{rule: "scheduler-profiling", edits: remove("scheduler:\n  extraArgs:\n    profiling: \"false\"\n"),
		msg: "kube-scheduler: --profiling not set (default true): want false", at: "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration"},
	{rule: "etcd-client-cert-auth", edits: insertAfter("kind: ClusterConfiguration\n", "etcd:\n  local:\n    extraArgs:\n      client-cert-auth: \"false\"\n"),
		msg: "etcd: --client-cert-auth=false: want true", at: "      client-cert-auth"},
	{rule: "kubernetes-version-unsupported", edits: []edit{{"kubernetesVersion: v1.36.2", "kubernetesVersion: v1.31.0"}},
		msg: "the control plane runs Kubernetes v1.31.0: 1.31 reached end of life; the oldest supported minor on 2026-11-22 is 1.35", at: "kubernetesVersion"},
	{rule: "kubelet-streaming-idle-timeout", edits: insertAfter("    rotate-server-certificates: \"true\"\n", "    streaming-connection-idle-timeout: \"0\"\n"),
		msg: "kubelet: --streaming-connection-idle-timeout=0: zero disables the timeout", at: "streaming-connection-idle-timeout"},
	{rule: "kubelet-read-only-port", add: "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n" +
		"  - name: rotate-server-certificates\n    value: \"true\"\n  - name: protect-kernel-defaults\n    value: \"true\"\n" +
		"  - name: tls-cipher-suites\n    value: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n  - name: read-only-port\n    value: \"10255\"\n",
		msg: "kubelet: --read-only-port=10255: want 0", at: "    value: \"10255\""},
}

// TestKubeadmKubeletIsOneKubelet: kubeletExtraArgs and a KubeletConfiguration in the same
// kubeadm file configure one kubelet, the flags over the file.
func TestKubeadmKubeletIsOneKubelet(t *testing.T) {
	text := readControlPlane(t, "kubelet-config.yaml") + "---\n" +
		"apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n" +
		"  - name: read-only-port\n    value: \"10255\"\n"
	res := checkText(t, text, "")
	if len(res.Findings) != 1 || res.Findings[0].RuleID != "kubelet-read-only-port" || res.Findings[0].Message != "kubelet: --read-only-port=10255: want 0" {
		t.Errorf("findings:\n%s", findingsText(res.Findings))
	}
}

// TestOddStaticPodCommands: commands that run nothing recognisable are not components, and
// never crash the gate.
func TestOddStaticPodCommands(t *testing.T) {
	for _, command := range []string{`["sh", "-c", ""]`, `["sh", "-c"]`, `[]`, `[""]`} {
		pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: odd\n  namespace: kube-system\nspec:\n  containers:\n" +
			"  - name: c\n    image: registry.k8s.io/pause:3.10\n    command: " + command + "\n"
		res := checkText(t, pod, "")
		if slices.ContainsFunc(res.Findings, func(f finding.Finding) bool { return strings.HasPrefix(f.RuleID, "apiserver-") }) {
			t.Errorf("command %s read as the API server:\n%s", command, findingsText(res.Findings))
		}
		if !slices.ContainsFunc(res.Findings, func(f finding.Finding) bool { return strings.HasPrefix(f.RuleID, "pss-") }) {
			t.Errorf("command %s: not judged as a workload:\n%s", command, findingsText(res.Findings))
		}
	}
}

func TestHardenedControlPlaneDefects(t *testing.T) {
	testDefects(t, readControlPlane(t, staticPodFiles...), controlPlaneDefects)
}

func TestHardenedKubeadmDefects(t *testing.T) {
	testDefects(t, readControlPlane(t, "kubeadm-config.yaml"), kubeadmDefects)
}

// TestInsecureControlPlane: the insecure fixtures (as kubeadm writes them, with the usual
// mistakes, plus a kubelet drop-in) violate each control-plane check at least once, and
// every finding names its CIS id (or the rule's reference) through the rule's refs.
func TestInsecureControlPlane(t *testing.T) {
	res := Run(context.Background(), Options{Paths: []string{"../testdata/controlplane/insecure"}, Render: render.Options{KubeVersion: "1.37"}})
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, filepath.Base(f.Source.File)+" "+f.RuleID)
		r, _ := rules.Lookup(f.RuleID)
		if !slices.ContainsFunc(r.Refs, func(ref string) bool { return strings.HasPrefix(ref, "CIS ") }) &&
			!slices.Contains(nonCIS, f.RuleID) {
			t.Errorf("%s: no CIS id in refs %v", f.RuleID, r.Refs)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, insecureFindings) {
		t.Errorf("findings on the insecure control plane:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(insecureFindings, "\n"))
	}
	// The drop-in's flags override the KubeletConfiguration file.
	for _, f := range res.Findings {
		if f.RuleID == "kubelet-rotate-certificates" && !strings.HasSuffix(f.Source.String(), "kubelet.service.d/20-extra.conf:3") {
			t.Errorf("kubelet-rotate-certificates at %s, want the drop-in's line", f.Source)
		}
	}
}

// nonCIS are the control-plane rules the seed asks for that no CIS check covers.
var nonCIS = []string{"apiserver-etcd-https", "apiserver-tls-min-version", "apiserver-public-bind-address",
	"apiserver-public-advertise-address", "apiserver-service-account-signing-key", "etcd-client-urls-https",
	"kubernetes-version-unsupported"}

// insecureFindings: one per violated check, per component (the kubeadm configuration's
// components and the static Pods are separate control planes); no workload rule fires.
var insecureFindings = []string{
	"20-extra.conf kubelet-rotate-certificates",
	"20-extra.conf kubelet-streaming-idle-timeout",
	"etcd.yaml etcd-auto-tls",
	"etcd.yaml etcd-client-cert-auth",
	"etcd.yaml etcd-client-urls-https",
	"etcd.yaml etcd-peer-auto-tls",
	"etcd.yaml etcd-peer-client-cert-auth",
	"etcd.yaml etcd-peer-tls-cert",
	"etcd.yaml etcd-tls-cert",
	"etcd.yaml etcd-trusted-ca-distinct",
	"kube-apiserver.yaml apiserver-admission-always-admit",
	"kube-apiserver.yaml apiserver-admission-service-account",
	"kube-apiserver.yaml apiserver-anonymous-auth",
	"kube-apiserver.yaml apiserver-audit-log-maxage",
	"kube-apiserver.yaml apiserver-audit-log-maxbackup",
	"kube-apiserver.yaml apiserver-audit-log-maxsize",
	"kube-apiserver.yaml apiserver-audit-log-path",
	"kube-apiserver.yaml apiserver-audit-policy-file",
	"kube-apiserver.yaml apiserver-authorization-rbac",
	"kube-apiserver.yaml apiserver-encryption-provider-config",
	"kube-apiserver.yaml apiserver-etcd-ca",
	"kube-apiserver.yaml apiserver-etcd-https",
	"kube-apiserver.yaml apiserver-insecure-port",
	"kube-apiserver.yaml apiserver-kubelet-certificate-authority",
	"kube-apiserver.yaml apiserver-profiling",
	"kube-apiserver.yaml apiserver-public-bind-address",
	"kube-apiserver.yaml apiserver-service-account-extend-token-expiration",
	"kube-apiserver.yaml apiserver-service-account-lookup",
	"kube-apiserver.yaml apiserver-tls-cipher-suites",
	"kube-apiserver.yaml apiserver-token-auth-file",
	"kube-apiserver.yaml kubernetes-version-unsupported",
	"kube-controller-manager.yaml controller-manager-bind-address",
	"kube-controller-manager.yaml controller-manager-profiling",
	"kube-controller-manager.yaml controller-manager-root-ca",
	"kube-controller-manager.yaml controller-manager-rotate-kubelet-server-certificate",
	"kube-controller-manager.yaml controller-manager-service-account-credentials",
	"kube-controller-manager.yaml controller-manager-service-account-private-key",
	"kube-controller-manager.yaml controller-manager-terminated-pod-gc-threshold",
	"kube-scheduler.yaml scheduler-bind-address",
	"kube-scheduler.yaml scheduler-profiling",
	"kubeadm-config.yaml apiserver-anonymous-auth",
	"kubeadm-config.yaml apiserver-audit-log-maxage",
	"kubeadm-config.yaml apiserver-audit-log-maxbackup",
	"kubeadm-config.yaml apiserver-audit-log-maxsize",
	"kubeadm-config.yaml apiserver-audit-log-path",
	"kubeadm-config.yaml apiserver-audit-policy-file",
	"kubeadm-config.yaml apiserver-authorization-always-allow",
	"kubeadm-config.yaml apiserver-authorization-node",
	"kubeadm-config.yaml apiserver-authorization-rbac",
	"kubeadm-config.yaml apiserver-encryption-provider-config",
	"kubeadm-config.yaml apiserver-kubelet-certificate-authority",
	"kubeadm-config.yaml apiserver-service-account-extend-token-expiration",
	"kubeadm-config.yaml apiserver-tls-cipher-suites",
	"kubeadm-config.yaml controller-manager-bind-address",
	"kubeadm-config.yaml controller-manager-profiling",
	"kubeadm-config.yaml controller-manager-terminated-pod-gc-threshold",
	"kubeadm-config.yaml etcd-client-cert-auth",
	"kubeadm-config.yaml kubelet-protect-kernel-defaults",
	"kubeadm-config.yaml kubelet-read-only-port",
	"kubeadm-config.yaml kubelet-tls-cert",
	"kubeadm-config.yaml kubelet-tls-cipher-suites",
	"kubeadm-config.yaml kubernetes-version-unsupported",
	"kubeadm-config.yaml scheduler-profiling",
	"kubelet-config.yaml kubelet-anonymous-auth",
	"kubelet-config.yaml kubelet-authorization-mode",
	"kubelet-config.yaml kubelet-client-ca",
	"kubelet-config.yaml kubelet-event-qps",
	"kubelet-config.yaml kubelet-iptables-util-chains",
	"kubelet-config.yaml kubelet-protect-kernel-defaults",
	"kubelet-config.yaml kubelet-read-only-port",
	"kubelet-config.yaml kubelet-tls-cert",
	"kubelet-config.yaml kubelet-tls-cipher-suites",
}

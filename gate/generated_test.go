package gate

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	gen "github.com/kubegate/kubegate/gate/generate"
	"github.com/kubegate/kubegate/internal/testpki"
)

// What kubegate generates is held to kubegate's own rules: the generated files pass them,
// and so does the hardened control plane once the generated kube-apiserver changes are
// applied to it, as a static Pod and as a kubeadm ClusterConfiguration.

func generated(t *testing.T) (files []gen.File, changes []gen.APIServerChange) {
	t.Helper()
	ip, err := gen.GenerateImagePolicy(gen.ImagePolicy{WebhookURL: "https://10.96.0.50/imagereview",
		CA: testpki.NewCA(t).CertPEM, ClientCert: "/etc/kubernetes/pki/imagepolicy-client.crt", ClientKey: "/etc/kubernetes/pki/imagepolicy-client.key"})
	if err != nil {
		t.Fatal(err)
	}
	enc, encChange, err := gen.GenerateEncryption(gen.Encryption{})
	if err != nil {
		t.Fatal(err)
	}
	audit, auditChange := gen.GenerateAuditPolicy()
	files = append(ip.Files, gen.File{Name: "encryption.yaml", Data: enc}, gen.File{Name: "audit-policy.yaml", Data: audit})
	return files, []gen.APIServerChange{ip.Change, encChange, auditChange}
}

func TestGeneratedFilesPassTheGate(t *testing.T) {
	files, _ := generated(t)
	for _, f := range files {
		res := checkText(t, string(f.Data), "failOn: info\n")
		if len(res.Findings) != 0 || len(res.Errors) != 0 {
			t.Errorf("%s: findings:\n%s errors %v", f.Name, findingsText(res.Findings), res.Errors)
		}
	}
}

// applyToStaticPod sets the change's flags on the kube-apiserver command (replacing any
// earlier value) and adds its mounts.
func applyToStaticPod(t *testing.T, manifest string, change gen.APIServerChange) string {
	t.Helper()
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(manifest), &pod); err != nil {
		t.Fatal(err)
	}
	c := &pod.Spec.Containers[0]
	for _, f := range change.Flags {
		c.Command = slices.DeleteFunc(c.Command, func(arg string) bool { return strings.HasPrefix(arg, "--"+f.Name+"=") })
	}
	c.Command = append(c.Command, change.Args()...)
	// An operator replaces a mount of the same path and a volume of the same name (the
	// API server rejects duplicates: the schema rules caught this helper appending them).
	mounts, vols := change.StaticPodVolumes()
	for _, m := range mounts {
		c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(x corev1.VolumeMount) bool { return x.MountPath == m.MountPath || x.Name == m.Name })
	}
	for _, v := range vols {
		pod.Spec.Volumes = slices.DeleteFunc(pod.Spec.Volumes, func(x corev1.Volume) bool { return x.Name == v.Name })
	}
	c.VolumeMounts = append(c.VolumeMounts, mounts...)
	pod.Spec.Volumes = append(pod.Spec.Volumes, vols...)
	out, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// applyToKubeadm merges the change's kubeadm patch (v1beta4) into the hardened kubeadm
// configuration (v1beta3 extraArgs maps), the way an operator merges it.
func applyToKubeadm(t *testing.T, config string, change gen.APIServerChange) string {
	t.Helper()
	docs := strings.SplitN(config, "---\n", 2)
	var cluster, patch map[string]any
	if err := yaml.Unmarshal([]byte(docs[0]), &cluster); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(change.KubeadmPatch()), &patch); err != nil {
		t.Fatal(err)
	}
	if patch["apiVersion"] != "kubeadm.k8s.io/v1beta4" || patch["kind"] != "ClusterConfiguration" {
		t.Fatalf("patch is a %v %v", patch["apiVersion"], patch["kind"])
	}
	cluster["apiVersion"] = "kubeadm.k8s.io/v1beta4"
	for _, sec := range []string{"apiServer", "controllerManager", "scheduler"} {
		m, _ := cluster[sec].(map[string]any)
		old, _ := m["extraArgs"].(map[string]any)
		var args []any
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range old {
				if !yield(k) {
					return
				}
			}
		}) {
			args = append(args, map[string]any{"name": name, "value": old[name]})
		}
		if sec == "apiServer" {
			p := patch["apiServer"].(map[string]any)
			for _, a := range p["extraArgs"].([]any) {
				name := a.(map[string]any)["name"]
				args = slices.DeleteFunc(args, func(x any) bool { return x.(map[string]any)["name"] == name })
				args = append(args, a)
			}
			m["extraVolumes"] = p["extraVolumes"]
		}
		m["extraArgs"] = args
	}
	out, err := yaml.Marshal(cluster)
	if err != nil {
		t.Fatal(err)
	}
	return string(out) + "---\n" + docs[1]
}

func TestGeneratedAPIServerChangesPassTheGate(t *testing.T) {
	_, changes := generated(t)
	var all gen.APIServerChange
	for _, c := range changes {
		all.Flags = append(all.Flags, c.Flags...)
		all.Volumes = append(all.Volumes, c.Volumes...)
	}
	static := readControlPlane(t, staticPodFiles...)
	apiServer := readControlPlane(t, "kube-apiserver.yaml")
	applied := applyToStaticPod(t, apiServer, all)
	for _, want := range []string{"--enable-admission-plugins=NodeRestriction,ImagePolicyWebhook", "--encryption-provider-config=/etc/kubernetes/encryption/config.yaml", "mountPath: /etc/kubernetes/imagepolicy"} {
		if !strings.Contains(applied, want) {
			t.Fatalf("the applied static Pod lacks %q:\n%s", want, applied)
		}
	}
	res := checkText(t, strings.Replace(static, apiServer, applied, 1), "failOn: info\n")
	if len(res.Findings) != 0 || len(res.Errors) != 0 {
		t.Errorf("static Pods: findings:\n%s errors %v", findingsText(res.Findings), res.Errors)
	}

	kubeadm := applyToKubeadm(t, readControlPlane(t, "kubeadm-config.yaml"), all)
	if !strings.Contains(kubeadm, "value: NodeRestriction,ImagePolicyWebhook") {
		t.Fatalf("the merged kubeadm configuration lacks the plugin:\n%s", kubeadm)
	}
	res = checkText(t, kubeadm, "failOn: info\n")
	if len(res.Findings) != 0 || len(res.Errors) != 0 {
		t.Errorf("kubeadm: findings:\n%s errors %v", findingsText(res.Findings), res.Errors)
	}

	// The check can fail: the same change without the audit flags is caught.
	noAudit := applyToStaticPod(t, apiServer, changes[0])
	noAudit = strings.Join(slices.DeleteFunc(strings.SplitAfter(noAudit, "\n"), func(l string) bool { return strings.Contains(l, "--audit-policy-file") }), "")
	res = checkText(t, strings.Replace(static, apiServer, noAudit, 1), "failOn: info\n")
	if len(res.Findings) != 1 || res.Findings[0].RuleID != "apiserver-audit-policy-file" {
		t.Errorf("without --audit-policy-file: findings:\n%s", findingsText(res.Findings))
	}
}

// generatedDefects break the generated configuration files one way each.
var generatedDefects = []defect{
	{rule: "encryption-not-encrypting", edits: []edit{{"providers:\n  - secretbox:", "providers:\n  - identity: {}\n  - secretbox:"}},
		msg: "resources [secrets]: identity is the first provider, so every write is stored in plaintext (identity belongs last, to read old data)",
		at:  "  - identity: {}\n  - secretbox"},
	{rule: "encryption-not-encrypting", edits: []edit{{"  resources:\n  - secrets\n", "  resources:\n  - configmaps\n"}},
		msg: "no entry lists secrets (or *.*, *.): Secrets are stored in plaintext", at: "resources:\n- providers"},
	{rule: "encryption-provider-weak", edits: []edit{{"  - secretbox:", "  - aescbc:"}},
		msg: "resources [secrets]: aescbc encrypts every write and is rated weak (CBC padding oracle)", at: "  - aescbc:"},
	{rule: "encryption-provider-weak", edits: []edit{{"  - secretbox:", "  - kms: {name: vault, endpoint: unix:///kms.sock}\n  - secretbox:"}},
		msg: `resources [secrets]: kms provider "vault" is KMS v1 (apiVersion ""; it defaults to v1): deprecated, and off by default since Kubernetes 1.29`, at: "  - kms:"},
	{rule: "image-policy-fail-open", edits: []edit{{"defaultAllow: false", "defaultAllow: true"}},
		msg: "ImagePolicyWebhook has defaultAllow: true: when the backend is down, slow or failing, every pod is admitted unchecked", at: "defaultAllow: true"},
	{rule: "audit-policy-logs-secrets", edits: []edit{{"resources: [secrets, configmaps, serviceaccounts/token]", "resources: [configmaps, serviceaccounts/token]"}},
		msg: "rule 8 records secrets at Request: their contents are copied into the audit log", at: "- level: Request\n"},
	{rule: "audit-policy-logs-secrets", edits: []edit{{"# Secrets, ConfigMaps and tokens", "- level: RequestResponse\n  users: [alice]\n# Secrets"}},
		msg: "rule 5 records secrets, serviceaccounts/token, tokenreviews at RequestResponse: their contents are copied into the audit log", at: "- level: RequestResponse\n  users: [alice]"},
}

func TestGeneratedConfigDefects(t *testing.T) {
	files, _ := generated(t)
	var docs []string
	for _, f := range files {
		docs = append(docs, string(f.Data))
	}
	testDefects(t, strings.Join(docs, "---\n"), generatedDefects)
}

// A configuration file the API server would refuse to decode is an input error, not a
// silent pass of the rules that read it.
func TestMalformedConfigIsAnError(t *testing.T) {
	res := checkText(t, "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: secrets\n", "")
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Error(), "EncryptionConfiguration: not a valid EncryptionConfiguration: ") {
		t.Errorf("errors %v", res.Errors)
	}
}

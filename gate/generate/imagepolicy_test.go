package generate

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apiserver/pkg/admission"
	apiserverinstall "k8s.io/apiserver/pkg/apis/apiserver/install"
	"k8s.io/apiserver/pkg/util/webhook"

	"github.com/kubegate/kubegate/internal/testpki"
)

func testCA(t *testing.T) []byte { return testpki.NewCA(t).CertPEM }

func writeClientCert(t *testing.T, certFile, keyFile string) {
	t.Helper()
	cert, key := testpki.NewCA(t).Issue(t, "kube-apiserver")
	os.WriteFile(certFile, cert, 0o600)
	os.WriteFile(keyFile, key, 0o600)
}

func writeFiles(t *testing.T, files []File) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The plugin's own configuration shape (plugin/pkg/admission/imagepolicy/config.go):
// numbers, scaled by the plugin to seconds and milliseconds.
type pluginConfig struct {
	ImagePolicy struct {
		KubeConfigFile string `json:"kubeConfigFile"`
		AllowTTL       int    `json:"allowTTL"`
		DenyTTL        int    `json:"denyTTL"`
		RetryBackoff   int    `json:"retryBackoff"`
		DefaultAllow   *bool  `json:"defaultAllow"`
	} `json:"imagePolicy"`
}

// TestImagePolicyReadByTheAPIServer reads the files the way kube-apiserver does: the
// admission configuration with apiserver's ReadAdmissionConfiguration, the plugin's part
// as the plugin decodes it, the kubeconfig with the webhook client's LoadKubeconfig.
func TestImagePolicyReadByTheAPIServer(t *testing.T) {
	ca := testCA(t)
	// The webhook client reads the client certificate when it loads the kubeconfig.
	pki := t.TempDir()
	clientCert, clientKey := filepath.Join(pki, "client.crt"), filepath.Join(pki, "client.key")
	writeClientCert(t, clientCert, clientKey)
	opts := ImagePolicy{WebhookURL: "https://10.96.0.50/imagereview", CA: ca, ClientCert: clientCert, ClientKey: clientKey}
	cfg, err := GenerateImagePolicy(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, cfg.Files)
	scheme := runtime.NewScheme()
	apiserverinstall.Install(scheme)
	provider, err := admission.ReadAdmissionConfiguration([]string{"ImagePolicyWebhook"}, filepath.Join(dir, AdmissionConfigFile), scheme)
	if err != nil {
		t.Fatal(err)
	}
	r, err := provider.ConfigFor("ImagePolicyWebhook")
	if err != nil || r == nil {
		t.Fatalf("no ImagePolicyWebhook configuration: %v", err)
	}
	var pc pluginConfig
	if err := utilyaml.NewYAMLOrJSONDecoder(r, 4096).Decode(&pc); err != nil {
		t.Fatal(err)
	}
	ip := pc.ImagePolicy
	if ip.KubeConfigFile != "/etc/kubernetes/imagepolicy/kubeconfig.yaml" || ip.AllowTTL != 60 || ip.DenyTTL != 30 || ip.RetryBackoff != 500 || ip.DefaultAllow == nil || *ip.DefaultAllow {
		t.Errorf("plugin configuration = %+v (defaultAllow %v), want fail-closed with the default TTLs", ip, ip.DefaultAllow)
	}

	rc, err := webhook.LoadKubeconfig(filepath.Join(dir, KubeconfigFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != opts.WebhookURL || string(rc.TLSClientConfig.CAData) != string(ca) ||
		rc.TLSClientConfig.CertFile != opts.ClientCert || rc.TLSClientConfig.KeyFile != opts.ClientKey {
		t.Errorf("kubeconfig: host %q certFile %q keyFile %q CA %d bytes", rc.Host, rc.TLSClientConfig.CertFile, rc.TLSClientConfig.KeyFile, len(rc.TLSClientConfig.CAData))
	}

	want := []string{"--enable-admission-plugins=NodeRestriction,ImagePolicyWebhook", "--admission-control-config-file=/etc/kubernetes/imagepolicy/admission-config.yaml"}
	if got := cfg.Change.Args(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("flags = %v, want %v", got, want)
	}
	again, _ := GenerateImagePolicy(opts)
	for i := range cfg.Files {
		if string(again.Files[i].Data) != string(cfg.Files[i].Data) {
			t.Errorf("%s differs between two runs", cfg.Files[i].Name)
		}
	}
	if again.Change.Instructions() != cfg.Change.Instructions() {
		t.Error("instructions differ between two runs")
	}
}

func TestImagePolicyInstructions(t *testing.T) {
	cfg, err := GenerateImagePolicy(ImagePolicy{WebhookURL: "https://gate.internal:8443/imagereview", CA: testCA(t)})
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Change.Instructions()
	for _, s := range []string{
		"    - --admission-control-config-file=/etc/kubernetes/imagepolicy/admission-config.yaml\n",
		"    - mountPath: /etc/kubernetes/imagepolicy\n      name: kubegate-imagepolicy\n      readOnly: true\n",
		"  - hostPath:\n      path: /etc/kubernetes/imagepolicy\n      type: DirectoryOrCreate\n    name: kubegate-imagepolicy\n",
		"apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n  - name: enable-admission-plugins\n    value: NodeRestriction,ImagePolicyWebhook\n",
		"  extraVolumes:\n  - hostPath: /etc/kubernetes/imagepolicy\n    mountPath: /etc/kubernetes/imagepolicy\n    name: kubegate-imagepolicy\n    pathType: DirectoryOrCreate\n    readOnly: true\n",
		"# note: No --client-cert: the API server does not authenticate to the webhook",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("instructions lack %q:\n%s", s, got)
		}
	}
}

func TestImagePolicyRejects(t *testing.T) {
	ca := testCA(t)
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})
	for _, c := range []struct {
		opts ImagePolicy
		want string
	}{
		{ImagePolicy{CA: ca}, "--webhook-url is required: the https URL of kubegate webhook serve's /imagereview, as the API server reaches it"},
		{ImagePolicy{WebhookURL: "http://gate/imagereview", CA: ca}, `--webhook-url "http://gate/imagereview": the API server reaches image policy webhooks over https only`},
		{ImagePolicy{WebhookURL: "gate:8443", CA: ca}, `--webhook-url "gate:8443" is not an absolute URL`},
		{ImagePolicy{WebhookURL: "https://gate"}, "--ca-file is required: the CA certificate (PEM) that signed the webhook's serving certificate"},
		{ImagePolicy{WebhookURL: "https://gate", CA: []byte("hello")}, "--ca-file holds no PEM certificate"},
		{ImagePolicy{WebhookURL: "https://gate", CA: key}, "--ca-file holds a EC PRIVATE KEY, want only CERTIFICATE blocks"},
		{ImagePolicy{WebhookURL: "https://gate", CA: ca, ClientCert: "/a.crt"}, "--client-cert and --client-key go together"},
		{ImagePolicy{WebhookURL: "https://gate", CA: ca, Dir: "etc/ip"}, `"etc/ip": paths on the control-plane nodes must be absolute`},
		{ImagePolicy{WebhookURL: "https://gate", CA: ca, AllowTTL: 3600}, "allowTTL 3600: want seconds from 1 to 1800, or -1 for no caching"},
		{ImagePolicy{WebhookURL: "https://gate", CA: ca, DenyTTL: -2}, "denyTTL -2: want seconds from 1 to 1800, or -1 for no caching"},
		{ImagePolicy{WebhookURL: "https://gate", CA: ca, RetryBackoff: 400000}, "retryBackoff 400000: want milliseconds from 1 to 300000"},
	} {
		_, err := GenerateImagePolicy(c.opts)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %q", c.opts.WebhookURL, err, c.want)
		}
	}
	if _, err := GenerateImagePolicy(ImagePolicy{WebhookURL: "https://gate", CA: ca, AllowTTL: -1}); err != nil {
		t.Errorf("allowTTL -1 (no caching) is valid: %v", err)
	}
}

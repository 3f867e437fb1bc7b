package generate

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"path"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// ImagePolicy configures the ImagePolicyWebhook admission plugin.
type ImagePolicy struct {
	WebhookURL string // https://…/imagereview, as the API server reaches it
	CA         []byte // PEM: the CA that signed the webhook's serving certificate
	// ClientCert and ClientKey are paths on the control-plane nodes of the certificate
	// kube-apiserver presents to the webhook; both or neither.
	ClientCert, ClientKey string
	// Dir is where the files go on the control-plane nodes (DefaultImagePolicyDir).
	Dir string
	// AllowTTL and DenyTTL are how long the API server caches a decision, in seconds
	// (-1: no caching); RetryBackoff is its first retry delay in milliseconds.
	AllowTTL, DenyTTL, RetryBackoff int
}

const (
	DefaultImagePolicyDir = "/etc/kubernetes/imagepolicy"
	// A revoked signature stays admitted for up to AllowTTL; a fixed image stays denied for
	// up to DenyTTL (a ReplicaSet retries with backoff, so short is better).
	DefaultAllowTTL     = 60
	DefaultDenyTTL      = 30
	DefaultRetryBackoff = 500

	AdmissionConfigFile = "admission-config.yaml"
	KubeconfigFile      = "kubeconfig.yaml"
)

// File is one generated file.
type File struct {
	Name string // base name
	Data []byte
}

// ImagePolicyConfig is what `kubegate generate image-policy` writes.
type ImagePolicyConfig struct {
	Files  []File // the admission configuration and the kubeconfig it points to
	Dir    string // where they go on the control-plane nodes
	Change APIServerChange
}

// admissionConfiguration is apiserver.config.k8s.io/v1 AdmissionConfiguration, written by
// hand: the library type has no omitempty on plugins[].path.
type admissionConfiguration struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Plugins    []admissionPlugin `json:"plugins"`
}

type admissionPlugin struct {
	Name          string `json:"name"`
	Configuration any    `json:"configuration"`
}

// imagePolicyWebhook is the plugin's configuration: TTLs are plain numbers, seconds and
// milliseconds (kubernetes plugin/pkg/admission/imagepolicy/config.go).
type imagePolicyWebhook struct {
	KubeConfigFile string `json:"kubeConfigFile"`
	AllowTTL       int    `json:"allowTTL"`
	DenyTTL        int    `json:"denyTTL"`
	RetryBackoff   int    `json:"retryBackoff"`
	DefaultAllow   bool   `json:"defaultAllow"`
}

// The API server refuses to start outside these (config.go).
const (
	minTTL, maxTTL  = 1, 30 * 60
	maxRetryBackoff = 5 * 60 * 1000
)

func (o *ImagePolicy) validate() error {
	u, err := url.Parse(o.WebhookURL)
	switch {
	case o.WebhookURL == "":
		return errors.New("--webhook-url is required: the https URL of kubegate webhook serve's /imagereview, as the API server reaches it")
	case err != nil || u.Host == "":
		return fmt.Errorf("--webhook-url %q is not an absolute URL", o.WebhookURL)
	case u.Scheme != "https":
		return fmt.Errorf("--webhook-url %q: the API server reaches image policy webhooks over https only", o.WebhookURL)
	}
	if err := validateCA(o.CA); err != nil {
		return err
	}
	if (o.ClientCert == "") != (o.ClientKey == "") {
		return errors.New("--client-cert and --client-key go together")
	}
	for _, p := range []string{o.ClientCert, o.ClientKey, o.Dir} {
		if p != "" && !path.IsAbs(p) {
			return fmt.Errorf("%q: paths on the control-plane nodes must be absolute", p)
		}
	}
	for _, t := range []struct {
		name string
		v    int
	}{{"allowTTL", o.AllowTTL}, {"denyTTL", o.DenyTTL}} {
		if t.v != -1 && (t.v < minTTL || t.v > maxTTL) {
			return fmt.Errorf("%s %d: want seconds from %d to %d, or -1 for no caching", t.name, t.v, minTTL, maxTTL)
		}
	}
	if o.RetryBackoff < 1 || o.RetryBackoff > maxRetryBackoff {
		return fmt.Errorf("retryBackoff %d: want milliseconds from 1 to %d", o.RetryBackoff, maxRetryBackoff)
	}
	return nil
}

// validateCA accepts only certificates: client-go's certutil.ParseCertsPEM skips other
// blocks, and a private key passed by mistake would be embedded in the kubeconfig.
func validateCA(data []byte) error {
	if len(data) == 0 {
		return errors.New("--ca-file is required: the CA certificate (PEM) that signed the webhook's serving certificate")
	}
	n := 0
	for rest := data; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("--ca-file holds a %s, want only CERTIFICATE blocks", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("--ca-file: %v", err)
		}
	}
	if n == 0 {
		return errors.New("--ca-file holds no PEM certificate")
	}
	return nil
}

// GenerateImagePolicy writes the admission configuration (fail closed: defaultAllow false)
// and the kubeconfig, and says how to enable the plugin. Zero TTLs take the defaults.
func GenerateImagePolicy(o ImagePolicy) (*ImagePolicyConfig, error) {
	if o.Dir == "" {
		o.Dir = DefaultImagePolicyDir
	}
	if o.AllowTTL == 0 {
		o.AllowTTL = DefaultAllowTTL
	}
	if o.DenyTTL == 0 {
		o.DenyTTL = DefaultDenyTTL
	}
	if o.RetryBackoff == 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	admission := admissionConfiguration{
		APIVersion: "apiserver.config.k8s.io/v1", Kind: "AdmissionConfiguration",
		Plugins: []admissionPlugin{{Name: "ImagePolicyWebhook", Configuration: map[string]any{"imagePolicy": imagePolicyWebhook{
			KubeConfigFile: path.Join(o.Dir, KubeconfigFile),
			AllowTTL:       o.AllowTTL, DenyTTL: o.DenyTTL, RetryBackoff: o.RetryBackoff,
			DefaultAllow: false,
		}}}},
	}
	adm, err := yaml.Marshal(admission)
	if err != nil {
		return nil, err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubegate-webhook"] = &clientcmdapi.Cluster{Server: o.WebhookURL, CertificateAuthorityData: o.CA}
	user := &clientcmdapi.AuthInfo{ClientCertificate: o.ClientCert, ClientKey: o.ClientKey}
	kc.AuthInfos["kube-apiserver"] = user
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "kubegate-webhook", AuthInfo: "kube-apiserver"}
	kc.CurrentContext = "default"
	kubeconfig, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	header := "# Generated by kubegate generate image-policy. Copy to " + o.Dir + "/ on every control-plane node.\n"
	cfg := &ImagePolicyConfig{
		Dir: o.Dir,
		Files: []File{
			{Name: AdmissionConfigFile, Data: append([]byte(header), adm...)},
			{Name: KubeconfigFile, Data: append([]byte(header), kubeconfig...)},
		},
		Change: APIServerChange{
			Flags: []Flag{
				{"enable-admission-plugins", "NodeRestriction,ImagePolicyWebhook"},
				{"admission-control-config-file", path.Join(o.Dir, AdmissionConfigFile)},
			},
			Volumes: []Volume{{Name: "kubegate-imagepolicy", HostPath: o.Dir, ReadOnly: true, Directory: true}},
			Notes: []string{
				"--enable-admission-plugins replaces the list: keep the plugins you already enable and add ImagePolicyWebhook.",
				"--admission-control-config-file is one file for every plugin: if you already have one, add this plugins entry to it.",
				"Only Pod create/update (and ephemeral containers) are reviewed: a denied Deployment shows as FailedCreate events on its ReplicaSet, not as a kubectl apply error.",
				"Pod annotations matching *.image-policy.k8s.io/* reach the webhook; anyone who creates pods sets them, so kubegate grants nothing by them.",
			},
		},
	}
	if o.ClientCert == "" {
		cfg.Change.Notes = append(cfg.Change.Notes, "No --client-cert: the API server does not authenticate to the webhook; anyone who reaches the webhook can ask it about images (it decides nothing on its own). Prefer serving it with --client-ca and a client certificate here.")
	}
	return cfg, nil
}

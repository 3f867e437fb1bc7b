package generate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	"k8s.io/apiserver/pkg/storage/value"
)

var secretsGR = schema.GroupResource{Resource: "secrets"}

// load reads a configuration with the API server's own loader (decode, validate, build
// the transformers).
func load(t *testing.T, data []byte) (map[schema.GroupResource]value.Transformer, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg, err := encryptionconfig.LoadEncryptionConfig(ctx, file, false, "kubegate-test")
	if err != nil {
		return nil, err
	}
	return cfg.Transformers, nil
}

func mustLoad(t *testing.T, data []byte) map[schema.GroupResource]value.Transformer {
	t.Helper()
	tr, err := load(t, data)
	if err != nil {
		t.Fatalf("the API server's loader rejects the file: %v\n%s", err, data)
	}
	return tr
}

var dataCtx = value.DefaultContext("/registry/secrets/shop/db")

func encrypt(t *testing.T, tr map[schema.GroupResource]value.Transformer, plain string) []byte {
	t.Helper()
	out, err := tr[secretsGR].TransformToStorage(context.Background(), []byte(plain), dataCtx)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decrypt(tr map[schema.GroupResource]value.Transformer, stored []byte) (string, error) {
	out, _, err := tr[secretsGR].TransformFromStorage(context.Background(), stored, dataCtx)
	return string(out), err
}

// keyOf is the provider and key name a stored value was written with.
func keyOf(stored []byte) string {
	m := regexp.MustCompile(`^k8s:enc:(\w+):v1:(\w+):`).FindSubmatch(stored)
	if m == nil {
		return "plaintext"
	}
	return string(m[1]) + "/" + string(m[2])
}

func TestEncryptionLoadsAndRoundTrips(t *testing.T) {
	for _, provider := range []string{"", "secretbox", "aesgcm", "aescbc"} {
		data, change, err := GenerateEncryption(Encryption{Provider: provider, Resources: []string{"secrets", "configmaps"}})
		if err != nil {
			t.Fatal(err)
		}
		tr := mustLoad(t, data)
		want := provider
		if want == "" {
			want = "secretbox"
		}
		stored := encrypt(t, tr, "s3cret")
		if bytes.Contains(stored, []byte("s3cret")) || keyOf(stored) != want+"/key1" {
			t.Errorf("%s: stored %q, want it encrypted with %s/key1", want, stored, want)
		}
		if got, err := decrypt(tr, stored); err != nil || got != "s3cret" {
			t.Errorf("%s: round trip = %q, %v", want, got, err)
		}
		// identity last: what was written before encryption was turned on still reads.
		if got, err := decrypt(tr, []byte("written in plaintext")); err != nil || got != "written in plaintext" {
			t.Errorf("%s: plaintext read = %q, %v", want, got, err)
		}
		if tr[schema.GroupResource{Resource: "configmaps"}] == nil {
			t.Errorf("%s: configmaps not configured", want)
		}
		if strings.Join(change.Args(), " ") != "--encryption-provider-config=/etc/kubernetes/encryption/config.yaml" {
			t.Errorf("flags = %v", change.Args())
		}
	}
}

func TestEncryptionIsDeterministicApartFromKeys(t *testing.T) {
	a, _, _ := GenerateEncryption(Encryption{})
	b, _, _ := GenerateEncryption(Encryption{})
	secret := regexp.MustCompile(`secret: \S+`)
	if bytes.Equal(a, b) {
		t.Error("two runs wrote the same key")
	}
	if string(secret.ReplaceAll(a, nil)) != string(secret.ReplaceAll(b, nil)) {
		t.Errorf("two runs differ beyond the key:\n%s\n%s", a, b)
	}
	want := encryptionHeader + `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- providers:
  - secretbox:
      keys:
      - name: key1
        secret: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
  - identity: {}
  resources:
  - secrets
`
	got, _, _ := GenerateEncryption(Encryption{Rand: bytes.NewReader(bytes.Repeat([]byte{1}, 64))})
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestEncryptionResourcesAgreeWithTheAPIServer: every resources list the generator accepts
// loads, and every one it rejects is rejected by the API server too.
func TestEncryptionResourcesAgreeWithTheAPIServer(t *testing.T) {
	fixed := bytes.NewReader(bytes.Repeat([]byte{7}, 64))
	accepted, _, _ := GenerateEncryption(Encryption{Rand: fixed})
	for _, res := range [][]string{
		{"secrets"}, {"secrets", "configmaps"}, {"*.*"}, {"*.apps"}, {"*."}, {"widgets.example.com", "secrets"},
		{"events"}, {"deployments.apps", "secrets"},
		{"*"}, {"Secrets"}, {"secrets.*"}, {"events.events.k8s.io"}, {"ingresses.extensions"}, {"serviceipallocations"},
		{"secrets", "secrets"}, {"*.*", "secrets"}, {"*.apps", "deployments.apps"}, {"*.", "secrets"},
	} {
		_, _, ours := GenerateEncryption(Encryption{Resources: res})
		list := `"` + strings.Join(res, `", "`) + `"`
		_, theirs := load(t, bytes.Replace(accepted, []byte("  resources:\n  - secrets\n"), []byte("  resources: ["+list+"]\n"), 1))
		if (ours == nil) != (theirs == nil) {
			t.Errorf("%v: generator says %v, the API server says %v", res, ours, theirs)
		}
	}
}

func TestEncryptionKMSv2(t *testing.T) {
	data, _, err := GenerateEncryption(Encryption{Provider: "kms", KMS: KMS{Name: "vault", Endpoint: "unix:///var/run/kmsplugin/socket.sock"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"  - kms:\n      apiVersion: v2\n      endpoint: unix:///var/run/kmsplugin/socket.sock\n      name: vault\n      timeout: 3s\n", "  - identity: {}\n"} {
		if !strings.Contains(string(data), s) {
			t.Errorf("lacks %q:\n%s", s, data)
		}
	}
	// The loader connects to the plugin lazily: the file validates and builds transformers
	// without one listening.
	mustLoad(t, data)
	for _, c := range []struct {
		kms  KMS
		want string
	}{
		{KMS{Endpoint: "unix:///s"}, `--kms-name "": a KMS v2 provider needs a unique name without ':'`},
		{KMS{Name: "a:b", Endpoint: "unix:///s"}, `--kms-name "a:b": a KMS v2 provider needs a unique name without ':'`},
		{KMS{Name: "v", Endpoint: "tcp://10.0.0.1:8080"}, `--kms-endpoint "tcp://10.0.0.1:8080": KMS plugins listen on a unix socket: unix:///path/to/socket`},
		{KMS{Name: "v", Endpoint: "unix:///s", Timeout: -time.Second}, "--kms-timeout -1s is negative"},
	} {
		if _, _, err := GenerateEncryption(Encryption{Provider: "kms", KMS: c.kms}); err == nil || err.Error() != c.want {
			t.Errorf("%+v: %v, want %q", c.kms, err, c.want)
		}
	}
	if _, _, err := GenerateEncryption(Encryption{Provider: "rot13"}); err == nil || err.Error() != `provider "rot13": want one of secretbox, aesgcm, aescbc, kms` {
		t.Errorf("unknown provider: %v", err)
	}
}

func rotate(t *testing.T, data []byte, stage, provider string) []byte {
	t.Helper()
	out, next, err := Rotate(data, stage, provider, nil)
	if err != nil {
		t.Fatalf("rotate %s: %v", stage, err)
	}
	if !strings.Contains(next, "Restart every kube-apiserver") {
		t.Errorf("rotate %s does not say to restart the API servers:\n%s", stage, next)
	}
	return out
}

// TestRotationKeepsCiphertextReadable walks the documented rotation: after each stage
// every value written before it still reads, and the stage changes which key writes.
func TestRotationKeepsCiphertextReadable(t *testing.T) {
	for _, c := range []struct{ from, to string }{{"secretbox", ""}, {"aescbc", "secretbox"}} {
		t.Run(c.from+"->"+c.to, func(t *testing.T) {
			cfg0, _, err := GenerateEncryption(Encryption{Provider: c.from})
			if err != nil {
				t.Fatal(err)
			}
			newProvider := c.to
			if newProvider == "" {
				newProvider = c.from
			}
			stored := map[string][]byte{"plaintext": []byte("before encryption"), "v0": encrypt(t, mustLoad(t, cfg0), "v0")}
			readAll := func(stage string, tr map[schema.GroupResource]value.Transformer) {
				t.Helper()
				for name, s := range stored {
					want := name
					if name == "plaintext" {
						want = "before encryption"
					}
					if got, err := decrypt(tr, s); err != nil || got != want {
						t.Errorf("after %s: %s (%s) reads %q, %v", stage, name, keyOf(s), got, err)
					}
				}
			}

			cfg1 := rotate(t, cfg0, "add", c.to)
			tr := mustLoad(t, cfg1)
			readAll("add", tr)
			stored["v1"] = encrypt(t, tr, "v1")
			if got := keyOf(stored["v1"]); got != c.from+"/key1" {
				t.Errorf("after add, writes use %s, want the old %s/key1", got, c.from)
			}

			cfg2 := rotate(t, cfg1, "promote", "")
			tr = mustLoad(t, cfg2)
			readAll("promote", tr)
			stored["v2"] = encrypt(t, tr, "v2")
			if got := keyOf(stored["v2"]); got != newProvider+"/key2" {
				t.Errorf("after promote, writes use %s, want %s/key2", got, newProvider)
			}
			// The rewrite (kubectl replace) between promote and prune.
			for name := range stored {
				stored[name] = encrypt(t, tr, map[string]string{"plaintext": "before encryption"}[name]+strings.TrimPrefix(name, "plaintext"))
			}

			cfg3 := rotate(t, cfg2, "prune", "")
			tr = mustLoad(t, cfg3)
			readAll("prune", tr)
			if n := strings.Count(string(cfg3), "- name: key"); n != 1 || !strings.Contains(string(cfg3), "- identity: {}") {
				t.Errorf("after prune: %d keys, want 1 and identity last:\n%s", n, cfg3)
			}
			if _, err := decrypt(tr, encrypt(t, mustLoad(t, cfg0), "old")); err == nil {
				t.Error("after prune the old key still reads: it was not removed")
			}
		})
	}
}

func TestRotationStagesInOrder(t *testing.T) {
	cfg0, _, _ := GenerateEncryption(Encryption{})
	cfg1 := rotate(t, cfg0, "add", "")
	kmsCfg, _, _ := GenerateEncryption(Encryption{Provider: "kms", KMS: KMS{Name: "v", Endpoint: "unix:///s"}})
	for _, c := range []struct {
		data     []byte
		stage    string
		provider string
		want     string
	}{
		{cfg1, "add", "", "resources secrets: secretbox already has 2 keys: a rotation is in progress (run promote, then prune)"},
		{cfg0, "promote", "", "nothing to promote: no entry has a second key or provider; run rotate add first"},
		{cfg0, "prune", "", "nothing to prune: every entry's first provider has one key and no other provider keeps keys"},
		{cfg0, "add", "rot13", `resources secrets: provider "rot13": want one of secretbox, aesgcm, aescbc, kms`},
		{kmsCfg, "add", "", "no resources entry has a first provider with keys in the file (secretbox, aesgcm, aescbc): nothing to rotate"},
		{cfg0, "swap", "", `stage "swap": want add, promote or prune`},
		{[]byte("apiVersion: v1\nkind: ConfigMap\n"), "add", "", `kind "ConfigMap" apiVersion "v1": want an apiserver.config.k8s.io/v1 EncryptionConfiguration`},
		{[]byte("kind: EncryptionConfiguration\nresources: [{resource: [secrets]}]\n"), "add", "", "not an EncryptionConfiguration: error unmarshaling JSON: while decoding JSON: json: unknown field \"resource\""},
	} {
		if _, _, err := Rotate(c.data, c.stage, c.provider, nil); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.stage, err, c.want)
		}
	}
}

package rules

// The API server's own configuration files, when they are among the inputs (or generated
// by kubegate generate): encryption at rest (practice 002-2), the ImagePolicyWebhook
// admission configuration (000-5) and the audit policy (002-6).

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
)

const encryptDocs = "https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/"

var (
	encryptionPlaintext = &Rule{
		ID: "encryption-not-encrypting", Title: "Encryption configuration stores Secrets in plaintext", Severity: High,
		Practices: []string{"002-2"}, Refs: []string{encryptDocs, "CIS 1.2.27"},
		Fix: "Put an encrypting provider (secretbox, aesgcm, kms v2) first and identity last, in an entry that lists secrets (kubegate generate encryption).",
		Doc: "In an EncryptionConfiguration the first provider of an entry encrypts every write; the others only " +
			"read. identity first therefore writes in plaintext, whatever follows it, and a file whose entries " +
			"do not list secrets (or *.*, *.) leaves Secrets unencrypted in etcd.",
	}
	encryptionWeak = &Rule{
		ID: "encryption-provider-weak", Title: "Weak or deprecated encryption provider", Severity: Medium,
		Practices: []string{"002-2"}, Refs: []string{encryptDocs, "https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/"},
		Fix: "Move to secretbox or KMS v2 (kubegate generate encryption rotate add --provider secretbox, then promote and prune).",
		Doc: "aescbc as the encrypting (first) provider is rated weak by the Kubernetes documentation (CBC " +
			"padding oracle). A kms provider without apiVersion: v2 is KMS v1: deprecated since 1.28 and off by " +
			"default since 1.29 (apiVersion defaults to v1 when omitted).",
	}
	imagePolicyFailOpen = &Rule{
		ID: "image-policy-fail-open", Title: "ImagePolicyWebhook admits pods when its backend fails", Severity: High,
		Practices: []string{"000-5"}, Refs: []string{"https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#imagepolicywebhook"},
		Fix: "Set defaultAllow: false, and run the backend with 2+ replicas (kubegate generate image-policy, deploy/webhook).",
		Doc: "With defaultAllow: true the API server admits every pod whose review fails (backend down, slow, " +
			"or answering an error), so getting an unverified image in takes no more than making the webhook " +
			"unreachable.",
	}
	auditSecretBodies = &Rule{
		ID: "audit-policy-logs-secrets", Title: "Audit policy copies Secrets into the audit log", Severity: High,
		Practices: []string{"002-2", "002-6"}, Refs: []string{"https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/"},
		Fix: "Add a rule recording secrets (and configmaps, serviceaccounts/token, tokenreviews) at Metadata before any Request or RequestResponse rule that matches them (kubegate generate audit-policy).",
		Doc: "Audit policy rules are matched in order and the first match sets the level. When the first rule " +
			"that can match requests for Secrets, ServiceAccount tokens or TokenReviews records at Request or " +
			"RequestResponse, their contents are written to the audit log, which is read by more people and " +
			"systems than Secrets are.",
	}
)

func checkEncryptionPlaintext(s *model.Set) []Finding {
	var out []Finding
	for _, c := range s.EncryptionConfigs {
		secrets := false
		for i, rc := range c.V.Resources {
			secrets = secrets || slices.ContainsFunc(rc.Resources, func(r string) bool { return r == "secrets" || r == "*." || r == "*.*" })
			if len(rc.Providers) > 0 && rc.Providers[0].Identity != nil {
				out = append(out, encryptionPlaintext.At(c.Object, fmt.Sprintf("resources[%d].providers[0]", i), "",
					fmt.Sprintf("resources [%s]: identity is the first provider, so every write is stored in plaintext (identity belongs last, to read old data)", strings.Join(rc.Resources, ", "))))
			}
		}
		if !secrets {
			out = append(out, encryptionPlaintext.At(c.Object, "resources", "", "no entry lists secrets (or *.*, *.): Secrets are stored in plaintext"))
		}
	}
	return out
}

func checkEncryptionWeak(s *model.Set) []Finding {
	var out []Finding
	for _, c := range s.EncryptionConfigs {
		for i, rc := range c.V.Resources {
			res := strings.Join(rc.Resources, ", ")
			for j, p := range rc.Providers {
				field := fmt.Sprintf("resources[%d].providers[%d]", i, j)
				switch {
				case j == 0 && p.AESCBC != nil:
					out = append(out, encryptionWeak.At(c.Object, field, "",
						fmt.Sprintf("resources [%s]: aescbc encrypts every write and is rated weak (CBC padding oracle)", res)))
				case p.KMS != nil && p.KMS.APIVersion != "v2":
					out = append(out, encryptionWeak.At(c.Object, field, "",
						fmt.Sprintf("resources [%s]: kms provider %q is KMS v1 (apiVersion %q; it defaults to v1): deprecated, and off by default since Kubernetes 1.29", res, p.KMS.Name, p.KMS.APIVersion)))
				}
			}
		}
	}
	return out
}

func checkImagePolicyFailOpen(s *model.Set) []Finding {
	var out []Finding
	for _, o := range s.Objects {
		if o.Kind != "AdmissionConfiguration" || !strings.HasPrefix(o.APIVersion, "apiserver.") {
			continue
		}
		plugins, _ := o.Raw()["plugins"].([]any)
		for i, p := range plugins {
			m, _ := p.(map[string]any)
			if m["name"] != "ImagePolicyWebhook" {
				continue
			}
			if allow, _ := manifest.Lookup(m, "configuration", "imagePolicy", "defaultAllow").(bool); allow {
				out = append(out, imagePolicyFailOpen.At(o, fmt.Sprintf("plugins[%d].configuration.imagePolicy.defaultAllow", i), "",
					"ImagePolicyWebhook has defaultAllow: true: when the backend is down, slow or failing, every pod is admitted unchecked"))
			}
		}
	}
	return out
}

// sensitive are the resources whose request or response bodies hold secrets.
var sensitive = []struct{ group, resource string }{
	{"", "secrets"}, {"", "serviceaccounts/token"}, {"authentication.k8s.io", "tokenreviews"},
}

func checkAuditSecretBodies(s *model.Set) []Finding {
	var out []Finding
	for _, c := range s.AuditPolicies {
		leaks := map[int][]string{} // rule index → the resources it records in full
		for _, res := range sensitive {
			if i := auditLeak(c.V, res.group, res.resource); i >= 0 {
				leaks[i] = append(leaks[i], res.resource)
			}
		}
		for _, i := range slices.Sorted(maps.Keys(leaks)) {
			out = append(out, auditSecretBodies.At(c.Object, fmt.Sprintf("rules[%d].level", i), "",
				fmt.Sprintf("rule %d records %s at %s: their contents are copied into the audit log", i, strings.Join(leaks[i], ", "), c.V.Rules[i].Level)))
		}
	}
	return out
}

// auditLeak is the index of the first rule that can match requests for the resource and
// records bodies, or -1. Rules are matched in order: a rule at None or Metadata that
// matches every such request (no user, group, verb, namespace or name restriction) hides
// the rules after it.
func auditLeak(p *auditv1.Policy, group, resource string) int {
	for i, r := range p.Rules {
		if len(r.NonResourceURLs) > 0 && len(r.Resources) == 0 {
			continue // non-resource requests only
		}
		matches, byName := len(r.Resources) == 0, false
		for _, gr := range r.Resources {
			if gr.Group != group {
				continue
			}
			if len(gr.Resources) == 0 || slices.ContainsFunc(gr.Resources, func(x string) bool {
				return x == resource || x == "*" || x == "*/*" || (strings.Contains(resource, "/") && x == strings.SplitN(resource, "/", 2)[0]+"/*")
			}) {
				matches, byName = true, len(gr.ResourceNames) > 0
				break
			}
		}
		if !matches {
			continue
		}
		if r.Level == auditv1.LevelRequest || r.Level == auditv1.LevelRequestResponse {
			return i
		}
		if len(r.Users) == 0 && len(r.UserGroups) == 0 && len(r.Verbs) == 0 && len(r.Namespaces) == 0 && !byName {
			return -1
		}
	}
	return -1
}

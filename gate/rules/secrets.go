package rules

// Secrets (practice 002-2): secret values never sit in the repository in the clear, pods
// get short-lived tokens rather than long-lived ones, and secrets reach containers as
// files rather than environment variables (which leak into logs, crash dumps and child
// processes). No finding ever repeats a secret's value.

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/policy"
)

const secretsDocs = "https://kubernetes.io/docs/concepts/security/secrets-good-practices/"

var (
	secretLiteralData = &Rule{
		ID: "secret-literal-data", Title: "Secret with literal values in the manifest", Severity: High,
		Practices: []string{"002-2"},
		Refs:      []string{"CIS 5.4.1", secretsDocs},
		Fix:       "Keep the values out of the repository: use Sealed Secrets, External Secrets or SOPS-encrypted files, or let the cluster create the Secret.",
		Doc: "A Secret with data or stringData in a committed manifest stores its values in the repository " +
			"(base64 is an encoding, not encryption): everyone with read access to the repository, its " +
			"forks and its CI logs has them. Keys with empty values are ignored, and so are values a Helm " +
			"chart generates at render time (randAlphaNum passwords, genCA certificates: the chart is rendered " +
			"twice and values that differ are generated); values from values files and --set are reported.",
	}
	hardcodedCredential = &Rule{
		ID: "secret-hardcoded-credential", Title: "Credential written into a container env var or a ConfigMap", Severity: High,
		Practices: []string{"002-2"},
		Refs:      []string{"CIS 5.4.1", secretsDocs},
		Fix:       "Move the value into a Secret managed outside the repository and mount it as a file.",
		Doc: "A container env value or a ConfigMap entry whose name says it is a secret (PASSWORD, " +
			"PASSPHRASE, SECRET, TOKEN, API_KEY, ACCESS_KEY, PRIVATE_KEY, CREDENTIALS, but not *_FILE, " +
			"*_PATH, *_NAME, … which name where a secret is) and whose value is a literal, or any " +
			"value shaped like a well-known credential: AWS access key IDs, PEM private keys, GitHub, " +
			"GitLab and Slack tokens, Google API keys, Stripe live keys, URLs with a password " +
			"(postgres://user:password@host; not $(VAR), ${VAR} or *** placeholders). The value is never printed.",
	}
	legacyTokenSecret = &Rule{
		ID: "secret-legacy-service-account-token", Title: "Long-lived ServiceAccount token Secret", Severity: Medium,
		Practices: []string{"002-1", "002-2"},
		Refs:      []string{"https://kubernetes.io/docs/concepts/security/service-accounts/#get-a-token"},
		Fix:       "Delete the Secret; let pods use projected tokens, and get tokens for other clients with the TokenRequest API (kubectl create token).",
		Doc: "A Secret of type kubernetes.io/service-account-token holds a token that never expires and " +
			"is not bound to a pod; anyone who reads it is that ServiceAccount until the Secret is deleted.",
	}
	tokenExpiration = &Rule{
		ID: "projected-token-expiration", Title: "Projected ServiceAccount token lives too long", Severity: Medium,
		Practices: []string{"002-2"},
		Refs:      []string{"https://kubernetes.io/docs/concepts/storage/projected-volumes/#serviceaccounttoken"},
		Fix:       "Lower expirationSeconds (the kubelet rotates the token before it expires).",
		Doc: "A serviceAccountToken projection with expirationSeconds above the policy's " +
			"rules.settings.maxTokenExpirationSeconds (default 86400, one day) keeps a stolen token " +
			"valid for longer than the workload needs.",
	}
	secretEnv = &Rule{
		ID: "secret-env-var", Title: "Secret passed as an environment variable", Severity: Low,
		Practices: []string{"002-2"},
		Refs:      []string{"CIS 5.4.1", secretsDocs},
		Fix:       "Mount the Secret as a volume and read the file instead of env valueFrom.secretKeyRef / envFrom.secretRef.",
		Doc: "Environment variables are inherited by child processes, printed by crash handlers and " +
			"debug endpoints, and visible in the container runtime's inspect output; a mounted file " +
			"is not, and it is updated when the Secret rotates.",
	}
)

func isCore(o *manifest.Object, kind string) bool {
	return o.Kind == kind && manifest.Group(o.APIVersion) == ""
}

func checkSecretLiteralData(s *model.Set) []Finding {
	var out []Finding
	for _, o := range s.Objects {
		if !isCore(o, "Secret") {
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			m, _ := o.Raw()[field].(map[string]any)
			var keys []string
			for k, v := range m {
				// Values the chart generates at render time are in no file of the repository.
				if v != nil && v != "" && !o.Generated[manifest.Field(field, k)] {
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				continue
			}
			slices.Sort(keys)
			out = append(out, secretLiteralData.At(o, field, "",
				fmt.Sprintf("Secret %q has literal values in %s (keys: %s) committed with the manifest", o.Name, field, strings.Join(keys, ", "))))
		}
	}
	return out
}

// secretWords in a name say its value is a secret; notSecretSuffixes say the value is
// where a secret is, or something about it. Plain substring tests: names are many and
// short, and a regexp costs ten times more here.
var (
	secretWords       = []string{"PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "APIKEY", "API_KEY", "ACCESSKEY", "ACCESS_KEY", "PRIVATEKEY", "PRIVATE_KEY", "AUTHKEY", "AUTH_KEY", "CREDENTIAL"}
	notSecretSuffixes = []string{"_FILE", "_PATH", "_DIR", "_NAME", "_REF", "_CMD", "_COMMAND", "_TTL", "_TIMEOUT", "_LENGTH", "_ENABLE", "_ENABLED", "_EXPIRY", "_EXPIRATION", "_LIFETIME", "_HEADER", "_URL", "_URI", "_ID", "_SECONDS", "_MODE", "_FIELD", "_TYPE", "_ENDPOINT", "_ISSUER", "_AUDIENCE"}
)

var (
	// credentialShape matches values shaped like well-known credentials, each with its name.
	credentialShape = sync.OnceValue(func() []namedPattern {
		return []namedPattern{
			{"an AWS access key ID", []string{"AKIA", "ASIA"}, regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`), nil, nil},
			{"a private key", []string{"PRIVATE KEY"}, regexp.MustCompile(`-----BEGIN ([A-Z]+ )?PRIVATE KEY( BLOCK)?-----`), nil, nil},
			{"a GitHub token", []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}, regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b`), nil, nil},
			{"a GitLab token", []string{"glpat-"}, regexp.MustCompile(`\bglpat-[0-9A-Za-z_\-]{20,}`), nil, nil},
			{"a Slack token", []string{"xox"}, regexp.MustCompile(`\bxox[abposr]-[0-9A-Za-z-]{10,}`), nil, nil},
			{"a Google API key", []string{"AIza"}, regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}\b`), nil, nil},
			{"a Stripe live key", []string{"k_live_"}, regexp.MustCompile(`\b[rs]k_live_[0-9A-Za-z]{24,}\b`), nil, nil},
			// scheme://user:password@host — a connection string with its password.
			{name: "a URL with a password", literals: []string{"@"}, pre: userinfoURL,
				re:     regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]+:([^\s/@]+)@[^\s/@]`),
				accept: func(m []string) bool { return !placeholderPassword(m[1]) }},
		}
	})
)

// placeholderPassword is a URL password that is not one: a variable, a template, a mask.
func placeholderPassword(pw string) bool {
	return strings.HasPrefix(pw, "$") || strings.Contains(pw, "{{") || strings.Trim(pw, "*xX") == "" ||
		strings.HasPrefix(pw, "<") || strings.HasPrefix(pw, "%") || strings.EqualFold(pw, "password")
}

type namedPattern struct {
	name     string
	literals []string // every match contains one of these: a cheap test before the regexp
	re       *regexp.Regexp
	accept   func(match []string) bool // nil: every match
	pre      func(string) bool         // nil, or a cheap test the value must pass first
}

// userinfoURL says whether s has "scheme://user:password@": the cheap test before the URL
// pattern, which large ConfigMaps full of plain URLs (dashboards) would otherwise run.
func userinfoURL(s string) bool {
	for i := strings.Index(s, "://"); i >= 0; {
		rest := s[i+3:]
		end := strings.IndexAny(rest, "/ \t\n\"'")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.IndexByte(rest[:end], '@'); at > 0 && strings.IndexByte(rest[:at], ':') > 0 {
			return true
		}
		next := strings.Index(rest, "://")
		if next < 0 {
			return false
		}
		i += 3 + next
	}
	return false
}

// looksSecret says why a literal value named name looks like a secret, or "".
func looksSecret(name, value string) string {
	if value == "" {
		return ""
	}
	for _, p := range credentialShape() {
		if !slices.ContainsFunc(p.literals, func(l string) bool { return strings.Contains(value, l) }) ||
			p.pre != nil && !p.pre(value) {
			continue
		}
		if m := p.re.FindStringSubmatch(value); m != nil && (p.accept == nil || p.accept(m)) {
			return "it looks like " + p.name
		}
	}
	n := strings.Map(func(r rune) rune {
		if r == '-' || r == '.' {
			return '_'
		}
		return unicode.ToUpper(r)
	}, name)
	if slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(n, w) }) &&
		!slices.ContainsFunc(notSecretSuffixes, func(s string) bool { return strings.HasSuffix(n, s) }) && !plainSetting(value) {
		return "its name says it is a secret"
	}
	return ""
}

// plainSetting is a value that cannot be a credential: a boolean, a number, a path, or a
// reference to another variable.
func plainSetting(v string) bool {
	switch strings.ToLower(v) {
	case "true", "false", "yes", "no", "on", "off", "none", "null", "enabled", "disabled":
		return true
	}
	if strings.HasPrefix(v, "/") || strings.HasPrefix(v, "$(") || strings.HasPrefix(v, "${") {
		return true
	}
	return strings.Trim(v, "0123456789.smhd") == ""
}

func checkHardcodedCredentials(s *model.Set) []Finding {
	var out []Finding
	for _, p := range s.AllPods() {
		for _, c := range p.Containers {
			for i, e := range c.Env {
				if why := looksSecret(e.Name, e.Value); why != "" {
					out = append(out, hardcodedCredential.At(p.Object, fmt.Sprintf("%s.env[%d].value", c.Path, i), c.Name,
						fmt.Sprintf("container %q sets env %s to a literal value, and %s", c.Name, e.Name, why)))
				}
			}
		}
	}
	for _, o := range s.Objects {
		if !isCore(o, "ConfigMap") {
			continue
		}
		data, _ := o.Raw()["data"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(data)) {
			v, _ := data[k].(string)
			if why := looksSecret(k, v); why != "" {
				out = append(out, hardcodedCredential.At(o, manifest.Field("data", k), "",
					fmt.Sprintf("ConfigMap %q key %q holds a literal value, and %s", o.Name, k, why)))
			}
		}
	}
	return out
}

func checkLegacyTokenSecrets(s *model.Set) []Finding {
	var out []Finding
	for _, o := range s.Objects {
		if isCore(o, "Secret") && o.Raw()["type"] == "kubernetes.io/service-account-token" {
			sa := o.Annotations()["kubernetes.io/service-account.name"]
			out = append(out, legacyTokenSecret.At(o, "type", "",
				fmt.Sprintf("Secret %q is a non-expiring token of ServiceAccount %q (type kubernetes.io/service-account-token)", o.Name, sa)))
		}
	}
	return out
}

func checkTokenExpiration(s *model.Set) []Finding {
	limit := s.Policy.Rules.Settings.MaxTokenExpirationSeconds
	if limit <= 0 {
		limit = policy.DefaultMaxTokenExpiration
	}
	var out []Finding
	for _, p := range s.Pods {
		for i, v := range p.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for j, src := range v.Projected.Sources {
				if t := src.ServiceAccountToken; t != nil && t.ExpirationSeconds != nil && *t.ExpirationSeconds > limit {
					field := fmt.Sprintf("%s.volumes[%d].projected.sources[%d].serviceAccountToken.expirationSeconds", p.Template.Path, i, j)
					out = append(out, tokenExpiration.At(p.Object, field, "",
						fmt.Sprintf("volume %q projects a ServiceAccount token valid for %ds, more than the allowed %ds", v.Name, *t.ExpirationSeconds, limit)))
				}
			}
		}
	}
	return out
}

func checkSecretEnv(s *model.Set) []Finding {
	var out []Finding
	for _, p := range s.Pods {
		for _, c := range p.Containers {
			for i, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					ref := e.ValueFrom.SecretKeyRef
					out = append(out, secretEnv.At(p.Object, fmt.Sprintf("%s.env[%d].valueFrom", c.Path, i), c.Name,
						fmt.Sprintf("container %q reads key %q of Secret %q into env %s", c.Name, ref.Key, ref.Name, e.Name)))
				}
			}
			for i, e := range c.EnvFrom {
				if e.SecretRef != nil {
					out = append(out, secretEnv.At(p.Object, fmt.Sprintf("%s.envFrom[%d].secretRef", c.Path, i), c.Name,
						fmt.Sprintf("container %q reads every key of Secret %q into its environment", c.Name, e.SecretRef.Name)))
				}
			}
		}
	}
	return out
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	admv1 "k8s.io/api/admissionregistration/v1"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/admissionpolicy"
	gen "github.com/kubegate/kubegate/gate/generate"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/policy"
)

func newGenerateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate the cluster-side configs: ImagePolicyWebhook, encryption at rest, audit policy, admission policies",
		Long: "Write the kube-apiserver configuration files the hardening guides call for, each with the\n" +
			"flags, mounts and kubeadm patch that enable it, and the ValidatingAdmissionPolicies that\n" +
			"enforce kubegate's rules in the cluster. Generated files pass kubegate's own rules.",
	}
	cmd.AddCommand(newGenerateImagePolicyCmd(), newGenerateEncryptionCmd(), newGenerateAuditPolicyCmd(), newGenerateAdmissionPoliciesCmd())
	return cmd
}

func newGenerateImagePolicyCmd() *cobra.Command {
	var (
		o      gen.ImagePolicy
		caFile string
		out    string
	)
	cmd := &cobra.Command{
		Use:   "image-policy --webhook-url URL --ca-file FILE",
		Short: "The ImagePolicyWebhook admission configuration and kubeconfig, pointing at kubegate webhook serve",
		Long: "Write the API server's AdmissionConfiguration for the ImagePolicyWebhook plugin (fail closed:\n" +
			"defaultAllow false) and the kubeconfig it points to (the webhook's URL and CA, embedded, and\n" +
			"the API server's client certificate when given), then print the kube-apiserver flags, mounts\n" +
			"and kubeadm patch that enable it. Without --out the files are printed.",
		Example: "  kubegate generate image-policy --webhook-url https://10.96.200.10/imagereview --ca-file ca.crt \\\n" +
			"    --client-cert /etc/kubernetes/pki/imagepolicy-client.crt --client-key /etc/kubernetes/pki/imagepolicy-client.key --out imagepolicy/",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if caFile != "" {
				ca, err := os.ReadFile(caFile)
				if err != nil {
					return err
				}
				o.CA = ca
			}
			cfg, err := gen.GenerateImagePolicy(o)
			if err != nil {
				return err
			}
			if err := selfCheck(cfg.Files...); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out == "" {
				for _, f := range cfg.Files {
					fmt.Fprintf(w, "# --- %s ---\n%s", f.Name, f.Data)
				}
				fmt.Fprintf(w, "# --- kube-apiserver ---\n%s", cfg.Change.Instructions())
				return nil
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			for _, f := range cfg.Files {
				if err := replaceFile(filepath.Join(out, f.Name), f.Data); err != nil {
					return err
				}
			}
			fmt.Fprintf(w, "# wrote %s/{%s,%s}: copy them to %s/ on every control-plane node\n%s",
				out, gen.AdmissionConfigFile, gen.KubeconfigFile, cfg.Dir, cfg.Change.Instructions())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.WebhookURL, "webhook-url", "", "https URL of the webhook's /imagereview, as the API server reaches it")
	f.StringVar(&caFile, "ca-file", "", "PEM CA certificate that signed the webhook's serving certificate (embedded in the kubeconfig)")
	f.StringVar(&o.ClientCert, "client-cert", "", "path on the control-plane nodes of the client certificate kube-apiserver presents to the webhook")
	f.StringVar(&o.ClientKey, "client-key", "", "path on the control-plane nodes of that certificate's key")
	f.StringVar(&o.Dir, "dir", gen.DefaultImagePolicyDir, "directory of the files on the control-plane nodes")
	f.IntVar(&o.AllowTTL, "allow-ttl", gen.DefaultAllowTTL, "seconds the API server caches an allow (-1: never)")
	f.IntVar(&o.DenyTTL, "deny-ttl", gen.DefaultDenyTTL, "seconds the API server caches a deny (-1: never)")
	f.IntVar(&o.RetryBackoff, "retry-backoff", gen.DefaultRetryBackoff, "milliseconds before the API server retries a failed review")
	f.StringVar(&out, "out", "", "directory to write the files into (default: print them)")
	return cmd
}

func newGenerateEncryptionCmd() *cobra.Command {
	var (
		o     gen.Encryption
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "encryption",
		Short: "An EncryptionConfiguration for Secrets at rest, with a fresh key; rotate an existing one",
		Long: "Write an EncryptionConfiguration whose first provider encrypts every write with a fresh\n" +
			"32-byte key from crypto/rand, and identity last so data written before stays readable. The\n" +
			"file holds the key: it is written with mode 0600 and printed only with --out -.\n\n" +
			"Providers: secretbox (default; rated strong), aesgcm (rotate every 200,000 writes), aescbc\n" +
			"(rated weak), kms (v2, with --kms-name and --kms-endpoint: the key stays in the KMS).",
		Example: "  kubegate generate encryption --out encryption-config.yaml\n" +
			"  kubegate generate encryption --resources secrets,configmaps --out encryption-config.yaml\n" +
			"  kubegate generate encryption --provider kms --kms-name vault --kms-endpoint unix:///var/run/kmsplugin/socket.sock --out -\n" +
			"  kubegate generate encryption rotate add encryption-config.yaml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out != "-" && !force {
				if _, err := os.Stat(out); err == nil {
					return fmt.Errorf("%s exists: use rotate to change its keys, or --force to replace it (its keys are lost)", out)
				}
			}
			data, change, err := gen.GenerateEncryption(o)
			if err != nil {
				return err
			}
			return emit(cmd, gen.File{Name: "encryption configuration", Data: data}, change, out,
				"(mode 0600): copy it to "+gen.DefaultEncryptionFile+" on every control-plane node, and back it up outside the cluster")
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Provider, "provider", "secretbox", "encrypting provider: "+strings.Join(gen.Providers, ", "))
	f.StringSliceVar(&o.Resources, "resources", []string{"secrets"}, "resources to encrypt (resource or resource.group; *.* for everything)")
	f.StringVar(&o.KMS.Name, "kms-name", "", "KMS v2 plugin name (unique, no ':')")
	f.StringVar(&o.KMS.Endpoint, "kms-endpoint", "", "KMS v2 plugin socket: unix:///path")
	f.DurationVar(&o.KMS.Timeout, "kms-timeout", 3*time.Second, "KMS v2 call timeout")
	f.StringVar(&out, "out", "encryption-config.yaml", "file to write (- prints the key to stdout)")
	f.BoolVar(&force, "force", false, "replace an existing file (its keys are lost: use rotate to change keys)")
	cmd.AddCommand(newRotateCmd())
	return cmd
}

func newRotateCmd() *cobra.Command {
	var provider string
	cmd := &cobra.Command{
		Use:   "rotate add|promote|prune FILE",
		Short: "Rotate the keys of an EncryptionConfiguration in the documented, HA-safe stages",
		Long: "Run one stage of a key rotation on FILE, in place (mode 0600):\n" +
			"  add      a fresh key second: every API server learns to read it before any writes with it\n" +
			"           (with --provider, a new provider second: how to leave aescbc for secretbox)\n" +
			"  promote  the new key first: new writes use it; then rewrite every Secret\n" +
			"  prune    only the first key is kept\n" +
			"Each stage prints what to do before the next one.",
		Example: "  kubegate generate encryption rotate add encryption-config.yaml\n" +
			"  kubegate generate encryption rotate add --provider secretbox encryption-config.yaml",
		Args:      cobra.ExactArgs(2),
		ValidArgs: gen.RotationStages,
		RunE: func(cmd *cobra.Command, args []string) error {
			stage, file := args[0], args[1]
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			out, next, err := gen.Rotate(data, stage, provider, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if err := selfCheck(gen.File{Name: file, Data: out}); err != nil {
				return err
			}
			if err := replaceFile(file, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s done.\n%s", file, stage, strings.ReplaceAll(next, "FILE", file))
			return nil
		},
	}
	cmd.Flags().StringVar(&provider, "provider", "", "add: the provider of the new key, when it changes (secretbox, aesgcm, aescbc)")
	return cmd
}

func newGenerateAuditPolicyCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "audit-policy",
		Short: "An audit Policy: who touched Secrets and tokens (never their contents), RBAC and admission changes in full",
		Long: "Print (or write with --out) an audit.k8s.io/v1 Policy that records reads and changes of\n" +
			"Secrets, ConfigMaps and tokens at Metadata, RBAC and admission configuration changes at\n" +
			"RequestResponse, other changes at Request and other reads at Metadata, and skips noisy\n" +
			"read-only system traffic; then the kube-apiserver flags (log path, 30 days, 10 files, 100 MB).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, change := gen.GenerateAuditPolicy()
			if out == "" {
				out = "-"
			}
			return emit(cmd, gen.File{Name: "audit policy", Data: data}, change, out,
				"to be copied to "+gen.DefaultAuditDir+"/"+gen.AuditPolicyFile+" on every control-plane node")
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: print)")
	return cmd
}

// emit checks a generated file, then prints it (out "-", with the API server change on
// stderr) or writes it to out (mode 0600) and prints where it goes and the change.
func emit(cmd *cobra.Command, f gen.File, change gen.APIServerChange, out, where string) error {
	if err := selfCheck(f); err != nil {
		return err
	}
	if out == "-" {
		cmd.OutOrStdout().Write(f.Data)
		fmt.Fprint(cmd.ErrOrStderr(), change.Instructions())
		return nil
	}
	if err := replaceFile(out, f.Data); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "# wrote %s %s\n%s", out, where, change.Instructions())
	return nil
}

// selfCheck holds generated files to the gate's own rules: a finding is a kubegate bug.
func selfCheck(files ...gen.File) error {
	var objs []*manifest.Object
	for _, f := range files {
		for _, d := range manifest.Decode(f.Data, manifest.Source{File: f.Name}) {
			if d.Err != nil {
				return fmt.Errorf("internal error: generated %s does not decode: %v", f.Name, d.Err)
			}
			objs = append(objs, d.Objects...)
		}
	}
	res := gate.Check(objs, gate.Options{Policy: policy.Default()})
	if len(res.Errors) > 0 {
		return fmt.Errorf("internal error: %v (please report it)", res.Errors[0])
	}
	if len(res.Findings) > 0 {
		f := res.Findings[0]
		return fmt.Errorf("internal error: generated %s fails kubegate's rule %s: %s (please report it)", f.Source.File, f.RuleID, f.Message)
	}
	return nil
}

// replaceFile writes data to path atomically (a temporary file renamed over it), mode 0600:
// a crash never leaves a half-written key file.
func replaceFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newGenerateAdmissionPoliciesCmd() *cobra.Command {
	var (
		in     inputFlags
		action string
		out    string
	)
	cmd := &cobra.Command{
		Use:   "admission-policies",
		Short: "ValidatingAdmissionPolicies that enforce kubegate's per-object rules in the cluster",
		Long: "Print (or write with --out) a ValidatingAdmissionPolicy and its binding for each rule of\n" +
			"kubegate that judges one object by itself and that the policy file enables: the cluster then\n" +
			"refuses what CI fails (at CREATE and UPDATE). The profile and the token limit come from the\n" +
			"policy file. Left out: the set-level rules (NetworkPolicy coverage, RBAC joins, Services and\n" +
			"their pods, token mounts), the image rules (the registry; the ImagePolicyWebhook does those),\n" +
			"the repository-only ones (literal Secret data, hard-coded credentials) and the Pod Security\n" +
			"Standards, which the cluster's own Pod Security Admission enforces from the namespace labels.\n" +
			"kubegate.dev/exempt annotations exempt nothing in the cluster. Roll out with --action Warn,\n" +
			"then Deny. `kubegate check --admission-policies FILE` evaluates the file as the API server would.",
		Example: "  kubegate generate admission-policies --action Warn --out kubegate-policies.yaml\n" +
			"  kubectl apply -f kubegate-policies.yaml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var a admv1.ValidationAction
			switch strings.ToLower(action) {
			case "deny":
				a = admv1.Deny
			case "warn":
				a = admv1.Warn
			case "audit":
				a = admv1.Audit
			default:
				return fmt.Errorf("--action must be Deny, Warn or Audit, got %q", action)
			}
			p, err := in.loadPolicy()
			if err != nil {
				return err
			}
			data, err := admissionpolicy.Generate(p, a)
			if err != nil {
				return err
			}
			f := gen.File{Name: "admission policies", Data: data}
			if err := selfCheck(f); err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err := cmd.OutOrStdout().Write(data)
				return err
			}
			if err := replaceFile(out, data); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# wrote %s: kubectl apply -f %s\n", out, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&in.config, "config", "", "policy file: its profile, token limit and disabled rules (default: kubegate.yaml in the working directory, if any)")
	cmd.Flags().StringVar(&action, "action", "Deny", "the bindings' validationActions: Deny, Warn or Audit")
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: print)")
	return cmd
}

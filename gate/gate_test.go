package gate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/apiversions"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/render"
)

// corpus generates n objects: a third workloads with varied security contexts, a third
// Services, a third ConfigMaps — the mix of a real rendered application set — spread over
// 20 namespaces; with cluster, also the objects the set-level rules join (ServiceAccounts,
// NetworkPolicies, Roles and RoleBindings) over 200 namespaces.
func corpus(n int) []byte { return generate(n, 3, 20) }

func generate(n, kinds, namespaces int) []byte {
	var b strings.Builder
	for i := range n {
		b.WriteString("---\n")
		ns := i / kinds % namespaces // each block of kinds objects shares a namespace
		switch i % kinds {
		case 0:
			priv := i%7 == 0
			fmt.Fprintf(&b, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%d
  namespace: ns-%d
  labels: {app: app-%d, tier: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: app-%d}}
  template:
    metadata:
      labels: {app: app-%d}
    spec:
      securityContext:
        runAsNonRoot: %t
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: app
          image: ghcr.io/acme/app-%d:1.%d
          ports: [{containerPort: 8080}]
          env:
            - {name: LOG_LEVEL, value: info}
          resources: {limits: {cpu: 500m, memory: 256Mi}}
          securityContext:
            privileged: %t
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: %t
            capabilities: {drop: [ALL]}
        - name: sidecar
          image: ghcr.io/acme/proxy:2.0
          volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes:
        - {name: tmp, emptyDir: {}}
`, i, ns, i, i, i, i%5 != 0, i, i%10, priv, i%2 == 0)
		case 1:
			fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata:\n  name: app-%d\n  namespace: ns-%d\nspec:\n  selector: {app: app-%d}\n  ports:\n    - {port: 80, targetPort: 8080}\n", i, ns, i)
		case 2:
			fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-%d\n  namespace: ns-%d\ndata:\n  config.yaml: |\n    server:\n      port: 8080\n      workers: %d\n", i, ns, i%8)
		case 3:
			fmt.Fprintf(&b, "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app-%d\n  namespace: ns-%d\nautomountServiceAccountToken: false\n", i, ns)
		case 4:
			fmt.Fprintf(&b, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np-%d\n  namespace: ns-%d\nspec:\n  podSelector: {matchLabels: {app: app-%d}}\n  ingress:\n    - from: [{podSelector: {matchLabels: {tier: web}}}]\n", i, ns, i)
		case 5:
			fmt.Fprintf(&b, "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r-%d\n  namespace: ns-%d\nrules:\n  - {apiGroups: [\"\"], resources: [configmaps], verbs: [get]}\n", i, ns)
		default:
			fmt.Fprintf(&b, "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: r-%d\n  namespace: ns-%d\nroleRef: {kind: Role, name: r-%d}\nsubjects: [{kind: ServiceAccount, name: app-%d}]\n", i, ns, i-1, i-3)
		}
	}
	return []byte(b.String())
}

// BenchmarkCheck measures the gate from bytes to verdict: decode the objects with
// positions, decode their pod templates and the objects set-level rules join, run every
// rule and the policy. The sizes show that the set-level rules (NetworkPolicy coverage per
// namespace, RBAC bindings to roles) stay linear: objects/s must not fall with size.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{2_500, 10_000} {
		b.Run(fmt.Sprintf("objects=%d/namespaces=200", n), func(b *testing.B) {
			data := generate(n, 7, 200)
			p := policy.Default()
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			var objects int
			for b.Loop() {
				var objs []*manifest.Object
				for _, d := range manifest.Decode(data, manifest.Source{File: "bench.yaml"}) {
					objs = append(objs, d.Objects...)
				}
				res := Check(objs, Options{Policy: p})
				objects = res.Objects
			}
			b.ReportMetric(float64(objects)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}

func TestCheckCorpusVerdict(t *testing.T) {
	var objs []*manifest.Object
	for _, d := range manifest.Decode(corpus(300), manifest.Source{File: "c.yaml"}) {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		objs = append(objs, d.Objects...)
	}
	res := Check(objs, Options{})
	counts := map[string]int{}
	for _, f := range res.Findings {
		counts[f.RuleID]++
	}
	// 100 workloads: every 7th privileged, every 5th may run as root, odd ones writable,
	// and the sidecar never sets readOnlyRootFilesystem.
	want := map[string]int{"pss-privileged": 15, "pss-run-as-non-root": 20, "read-only-root-filesystem": 150}
	for id, n := range want {
		if counts[id] != n {
			t.Errorf("%s: %d findings, want %d", id, counts[id], n)
		}
	}
	if res.Objects != 300 || res.Verdict() != Fail || res.ExitCode() != 1 {
		t.Errorf("objects %d verdict %s", res.Objects, res.Verdict())
	}
	// Findings are sorted by file and line.
	for i := 1; i < len(res.Findings); i++ {
		if res.Findings[i].Source.Line < res.Findings[i-1].Source.Line {
			t.Fatalf("findings out of order at %d", i)
		}
	}
	// Raising failOn above every finding turns the verdict into a pass.
	p := policy.Default()
	p.FailOn = finding.Critical
	p.Rules.Disable = []string{"pss-privileged"}
	if res := Check(objs, Options{Policy: p}); res.Verdict() != Pass {
		t.Errorf("verdict %s with failOn critical and pss-privileged off", res.Verdict())
	}
}

// TestFingerprints: the same object twice in one input gets distinct fingerprints, and
// fingerprints depend neither on lines nor on the name of a plain file (a rename); they
// do on the Kustomize root or chart. The previous fingerprint is the one with the file.
func TestFingerprints(t *testing.T) {
	f := finding.Finding{RuleID: "r", Object: manifest.Ref{Kind: "Pod", Name: "p"}, Source: manifest.Source{File: "a.yaml", Line: 3}}
	g := f
	g.Source.Line = 40
	fs := []finding.Finding{f, g}
	setFingerprints(fs)
	if fs[0].Fingerprint == fs[1].Fingerprint || len(fs[0].Fingerprint) != 32 {
		t.Errorf("duplicates share %q", fs[0].Fingerprint)
	}
	moved := []finding.Finding{f}
	moved[0].Source.Line = 99
	setFingerprints(moved)
	if moved[0].Fingerprint != fs[0].Fingerprint {
		t.Error("the line changed the fingerprint")
	}
	other := []finding.Finding{f}
	other[0].Source.Via = "kustomize:deploy/dev"
	setFingerprints(other)
	if other[0].Fingerprint == fs[0].Fingerprint {
		t.Error("another input, the same fingerprint")
	}
	renamed := []finding.Finding{f}
	renamed[0].Source.File = "deploy/renamed.yaml"
	setFingerprints(renamed)
	if renamed[0].Fingerprint != fs[0].Fingerprint {
		t.Error("renaming the file changed the fingerprint")
	}
	if renamed[0].PreviousFingerprint == fs[0].PreviousFingerprint || fs[0].PreviousFingerprint != finding.Fingerprint(f.FileKey()) {
		t.Errorf("previous fingerprints %q, %q: want the file in them", renamed[0].PreviousFingerprint, fs[0].PreviousFingerprint)
	}
}

// TestImagesNotCheckedFailWhateverFailOn: a finding that says an image could not be
// checked fails the gate at any failOn and any severity; no baseline accepts it. A
// finding a check made (a vulnerability) still follows failOn.
func TestImagesNotCheckedFailWhateverFailOn(t *testing.T) {
	failOnCritical := policy.Default()
	failOnCritical.FailOn = finding.Critical
	f := func(rule string, sev finding.Severity) finding.Finding {
		return finding.Finding{RuleID: rule, Severity: sev, Fingerprint: rule,
			Object: manifest.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}}
	}
	for _, tc := range []struct {
		finding finding.Finding
		want    Verdict
	}{
		{f("image-unresolved", finding.High), Fail},
		{f("image-digest-gone", finding.High), Fail},
		{f("image-unverified", finding.Low), Fail},
		{f("image-not-scanned", finding.Info), Fail},
		{f("image-vulnerability-db-stale", finding.High), Fail},
		{f("image-vulnerable", finding.High), Pass},
		{f("image-runs-as-root", finding.High), Pass},
	} {
		r := judge(nil, model.NewSet(nil, model.Options{}), []finding.Finding{tc.finding}, Options{Policy: failOnCritical})
		if got := r.Verdict(); got != tc.want {
			t.Errorf("%s (%s) under failOn critical: %s, want %s", tc.finding.RuleID, tc.finding.Severity, got, tc.want)
		}
	}
	all := judge(nil, model.NewSet(nil, model.Options{}), []finding.Finding{f("image-unverified", finding.High), f("image-vulnerable", finding.High)},
		Options{Policy: failOnCritical}).Findings
	b := policy.NewBaseline(all)
	if len(b.Findings) != 1 || b.Findings[0].Rule != "image-vulnerable" {
		t.Errorf("baseline recorded %+v; an unchecked image must never be recorded", b.Findings)
	}
	// A baseline edited by hand to accept it does not.
	b.Findings = append(b.Findings, policy.BaselineEntry{Fingerprint: "image-unverified", Rule: "image-unverified"})
	if fresh, accepted, _ := b.Split(all); len(fresh) != 1 || fresh[0].RuleID != "image-unverified" || len(accepted) != 1 {
		t.Errorf("baseline split: fresh %v, accepted %v", fresh, accepted)
	}
}

// TestDefaultKubeVersion: charts render for the Kubernetes version the rules judge by
// default.
func TestDefaultKubeVersion(t *testing.T) {
	if want := fmt.Sprintf("1.%d", apiversions.NewestKnownMinor); render.DefaultKubeVersion != want {
		t.Errorf("render.DefaultKubeVersion = %s, the rules' newest is %s: update it", render.DefaultKubeVersion, want)
	}
}

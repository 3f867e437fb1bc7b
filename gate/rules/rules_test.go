package rules

import (
	"fmt"
	"strings"
	"testing"

	kgpolicy "github.com/kubegate/kubegate/gate/policy"
	"k8s.io/pod-security-admission/policy"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
)

func set(t *testing.T, yaml string, opts model.Options) *model.Set {
	t.Helper()
	var objs []*manifest.Object
	for _, d := range manifest.Decode([]byte(yaml), manifest.Source{File: "w.yaml"}) {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		objs = append(objs, d.Objects...)
	}
	return model.NewSet(objs, opts)
}

// entryOf is the catalogue's entry for a rule.
func entryOf(id string) (entry, bool) {
	for _, e := range built().entries {
		if e.rule.ID == id {
			return e, true
		}
	}
	return entry{}, false
}

func run(t *testing.T, id string, s *model.Set) []Finding {
	t.Helper()
	e, ok := entryOf(id)
	if !ok || e.check == nil {
		t.Fatalf("no check for rule %s", id)
	}
	return e.check(s)
}

const hardened = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  template:
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: web
          image: web:1
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
`

// The pod-security rules accept the hardened workload; the whole hardened application,
// with every rule, is tested in package gate (hardened_test.go).
func TestHardenedWorkloadPassesPodSecurityRules(t *testing.T) {
	s := set(t, hardened, model.Options{})
	podRules := func(id string) bool { return strings.HasPrefix(id, "pss-") || id == "read-only-root-filesystem" }
	if f := Run(s, podRules); len(f) != 0 {
		t.Errorf("findings on a hardened workload: %+v", f)
	}
}

func TestReadOnlyRootFilesystem(t *testing.T) {
	cases := []struct {
		name, from, to, msg string
		line                int
	}{
		{"unset", "            readOnlyRootFilesystem: true\n", "", `container "web" does not set securityContext.readOnlyRootFilesystem=true`, 13},
		{"false", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", `container "web" sets securityContext.readOnlyRootFilesystem=false`, 15},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := set(t, strings.Replace(hardened, c.from, c.to, 1), model.Options{})
			got := run(t, "read-only-root-filesystem", s)
			if len(got) != 1 {
				t.Fatalf("findings %+v", got)
			}
			f := got[0]
			if f.Message != c.msg || f.Source.Line != c.line || f.Container != "web" || f.Severity != Medium ||
				f.Field != "spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem" {
				t.Errorf("got %+v", f)
			}
		})
	}
	// Init containers are checked too.
	withInit := strings.Replace(hardened, "      containers:\n", "      initContainers:\n        - {name: init, image: busybox}\n      containers:\n", 1)
	if got := run(t, "read-only-root-filesystem", set(t, withInit, model.Options{})); len(got) != 1 || got[0].Container != "init" {
		t.Errorf("init container: %+v", got)
	}
}

// TestPSSFactKeepsItsSeverity: a DaemonSet shaped like istio-cni's (hostPath, added
// SYS_ADMIN and NET_ADMIN, the legacy AppArmor annotation) gets the same high findings at
// the baseline and the restricted profile; restricted only adds its own.
func TestPSSFactKeepsItsSeverity(t *testing.T) {
	ds := `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: cni-node, namespace: kube-system}
spec:
  template:
    metadata:
      annotations:
        container.apparmor.security.beta.kubernetes.io/install-cni: unconfined
    spec:
      containers:
        - name: install-cni
          image: cni:1
          securityContext:
            capabilities: {add: [SYS_ADMIN, NET_ADMIN]}
      volumes:
        - name: cni-bin
          hostPath: {path: /opt/cni/bin}
`
	pssOnly := func(id string) bool { return strings.HasPrefix(id, "pss-") }
	summary := func(p string) map[string]string {
		out := map[string]string{}
		for _, f := range Run(set(t, ds, profile(p)), pssOnly) {
			out[f.RuleID] = fmt.Sprintf("%s line %d: %s", f.Severity, f.Source.Line, f.Message)
		}
		return out
	}
	base, restricted := summary("baseline"), summary("restricted")
	for id, want := range map[string]string{
		"pss-host-path-volumes":     `high line 16: hostPath volumes (volume "cni-bin")`,
		"pss-capabilities-baseline": `high line 14: non-default capabilities (container "install-cni" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add)`,
		"pss-app-armor-profile":     `medium line 8: forbidden AppArmor profile (annotation container.apparmor.security.beta.kubernetes.io/install-cni sets AppArmor profile "unconfined")`,
	} {
		if base[id] != want || restricted[id] != want {
			t.Errorf("%s:\nbaseline   %q\nrestricted %q\nwant       %q", id, base[id], restricted[id], want)
		}
	}
	if got := restricted["pss-capabilities-restricted"]; !strings.HasSuffix(got, `(container "install-cni" must set securityContext.capabilities.drop=["ALL"])`) {
		t.Errorf("restricted capabilities: %q (the added capabilities are the baseline rule's)", got)
	}
	if got, ok := restricted["pss-restricted-volumes"]; ok {
		t.Errorf("hostPath reported twice: %q", got)
	}
	// A volume only the restricted level forbids is still the restricted rule's.
	withNFS := strings.Replace(ds, "          hostPath: {path: /opt/cni/bin}\n", "          hostPath: {path: /opt/cni/bin}\n        - name: share\n          nfs: {server: nfs, path: /}\n", 1)
	got := Run(set(t, withNFS, profile("restricted")), func(id string) bool { return id == "pss-restricted-volumes" })
	if len(got) != 1 || got[0].Message != `restricted volume types (volume "share" uses restricted volume type "nfs")` {
		t.Errorf("nfs volume: %+v", got)
	}
}

func TestPSSMessagesAndLines(t *testing.T) {
	cases := []struct {
		rule, from, to, msg, field string
		line                       int
	}{
		{"pss-privileged", "allowPrivilegeEscalation: false", "privileged: true", `privileged (container "web" must not set securityContext.privileged=true)`,
			"spec.template.spec.containers[0].securityContext.privileged", 14},
		{"pss-host-namespaces", "      securityContext:\n        runAsNonRoot", "      hostIPC: true\n      securityContext:\n        runAsNonRoot", "host namespaces (hostIPC=true)",
			"spec.template.spec.hostIPC", 7},
		{"pss-run-as-non-root", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)",
			"spec.template.spec.securityContext.runAsNonRoot", 8},
		// Adding NET_ADMIN is a baseline fact, reported by the baseline rule at either
		// profile; the restricted rule says only what is left.
		{"pss-capabilities-restricted", "drop: [ALL]", "add: [NET_ADMIN]", `unrestricted capabilities (container "web" must set securityContext.capabilities.drop=["ALL"])`,
			"spec.template.spec.containers[0].securityContext.capabilities", 16},
		{"pss-capabilities-baseline", "drop: [ALL]", "drop: [ALL], add: [NET_ADMIN]", `non-default capabilities (container "web" must not include "NET_ADMIN" in securityContext.capabilities.add)`,
			"spec.template.spec.containers[0].securityContext.capabilities.add", 16},
		{"pss-host-path-volumes", "      containers:\n", "      volumes:\n        - name: data\n          emptyDir: {}\n        - name: host\n          hostPath: {path: /var/run}\n      containers:\n", `hostPath volumes (volume "host")`,
			"spec.template.spec.volumes[1]", 13},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			opts := model.Options{}
			got := run(t, c.rule, set(t, strings.Replace(hardened, c.from, c.to, 1), opts))
			if len(got) != 1 {
				t.Fatalf("findings %+v", got)
			}
			if got[0].Message != c.msg || got[0].Field != c.field || got[0].Source.Line != c.line {
				t.Errorf("got %q %s line %d\nwant %q %s line %d", got[0].Message, got[0].Field, got[0].Source.Line, c.msg, c.field, c.line)
			}
			if pass := run(t, c.rule, set(t, hardened, opts)); len(pass) != 0 {
				t.Errorf("hardened workload reported: %+v", pass)
			}
		})
	}
}

func TestPSSProfileAndVersion(t *testing.T) {
	noSeccomp := strings.Replace(hardened, "        seccompProfile: {type: RuntimeDefault}\n", "", 1)
	if got := run(t, "pss-seccomp-profile-restricted", set(t, noSeccomp, profile("baseline"))); len(got) != 0 {
		t.Errorf("restricted control ran at baseline: %+v", got)
	}
	if got := run(t, "pss-seccomp-profile-restricted", set(t, noSeccomp, profile("restricted"))); len(got) != 1 {
		t.Errorf("restricted control did not run at restricted: %+v", got)
	}
	// hostProbesAndHostLifecycle exists from policy version 1.34 on.
	probe := strings.Replace(hardened, "          image: web:1\n", "          image: web:1\n          livenessProbe: {httpGet: {host: 10.0.0.1, port: 80}}\n", 1)
	if got := run(t, "pss-host-probes-and-host-lifecycle", set(t, probe, kubeMinor(33))); len(got) != 0 {
		t.Errorf("1.33: %+v", got)
	}
	if got := run(t, "pss-host-probes-and-host-lifecycle", set(t, probe, kubeMinor(34))); len(got) != 1 {
		t.Errorf("1.34: %+v", got)
	}
}

func TestEveryWorkloadKindIsChecked(t *testing.T) {
	pod := "{containers: [{name: c, image: i, securityContext: {privileged: true}}]}"
	tmpl := "{spec: " + pod + "}"
	docs := []string{
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: " + pod,
		"apiVersion: v1\nkind: PodTemplate\nmetadata: {name: a}\ntemplate: " + tmpl,
		"apiVersion: v1\nkind: ReplicationController\nmetadata: {name: a}\nspec: {template: " + tmpl + "}",
		"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: a}\nspec: {jobTemplate: {spec: {template: " + tmpl + "}}}",
	}
	for _, k := range []string{"apps/v1 Deployment", "apps/v1 StatefulSet", "apps/v1 DaemonSet", "apps/v1 ReplicaSet", "batch/v1 Job"} {
		av, kind, _ := strings.Cut(k, " ")
		docs = append(docs, "apiVersion: "+av+"\nkind: "+kind+"\nmetadata: {name: a}\nspec: {template: "+tmpl+"}")
	}
	docs = append(docs, "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: crd}\nspec: {template: "+tmpl+"}")
	got := run(t, "pss-privileged", set(t, strings.Join(docs, "\n---\n"), model.Options{}))
	kinds := map[string]bool{}
	for _, f := range got {
		kinds[f.Object.APIVersion+" "+f.Object.Kind] = true
	}
	if len(got) != 9 || kinds["example.com/v1 Deployment"] {
		t.Errorf("%d findings over kinds %v; want the 9 built-in workload kinds and not the CRD", len(got), kinds)
	}
}

func TestInvalidPodSpecIsAnError(t *testing.T) {
	s := set(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      ports: [{containerPort: eighty}]\n", model.Options{})
	if len(s.Pods) != 0 || len(s.Errors) != 1 || !strings.Contains(s.Errors[0].Error(), "w.yaml:7: Pod p: pod template is not a valid PodSpec: spec.containers[0].ports: expected numeric (int or float), got string (json: cannot unmarshal") || !strings.Contains(s.Errors[0].Error(), "containerPort of type int32") {
		t.Errorf("pods %d errors %v", len(s.Pods), s.Errors)
	}
}

func TestCatalogue(t *testing.T) {
	if _, err := finding.NewCatalogue(func() (l []*Rule) {
		for _, e := range catalogue() {
			l = append(l, e.rule)
		}
		return l
	}()); err != nil {
		t.Fatal(err)
	}
	for _, e := range built().entries {
		r := e.rule
		if r.ID != strings.ToLower(r.ID) || strings.ContainsAny(r.ID, " _") || r.Title == "" || r.Fix == "" || r.Doc == "" {
			t.Errorf("rule %q lacks metadata: %+v", r.ID, r)
		}
		if e.check != nil && (len(r.Practices) == 0 || len(e.scope) == 0) {
			t.Errorf("rule %s enforces no seed practice or reads no kind: %v %v", r.ID, r.Practices, e.scope)
		}
		if e.check == nil && e.scope != nil {
			t.Errorf("rule %s has a scope but no check", r.ID)
		}
	}
	// Every stage's rules are in the catalogue without importing the stage: a policy that
	// names them is valid wherever the catalogue is.
	for _, id := range []string{"image-unresolved", "image-not-scanned", "image-vulnerable", "node-file-permissions", "exemption-unused"} {
		if _, ok := Lookup(id); !ok {
			t.Errorf("%s is not in the catalogue", id)
		}
	}
	if kebab("hostProbesAndHostLifecycle") != "host-probes-and-host-lifecycle" || kebab("capabilities_baseline") != "capabilities-baseline" {
		t.Error("kebab")
	}
}

// TestWindowsPods: Linux-only settings are not asked of Windows pods (spec.os.name: windows
// or HostProcess), as the Pod Security Standards' own OS rules say.
func TestWindowsPods(t *testing.T) {
	win := strings.Replace(hardened, "            readOnlyRootFilesystem: true\n", "", 1)
	linux := run(t, "read-only-root-filesystem", set(t, win, model.Options{}))
	if len(linux) != 1 {
		t.Fatalf("linux pod without readOnlyRootFilesystem: %+v", linux)
	}
	for _, e := range []struct{ from, to string }{
		{"      containers:\n", "      os: {name: windows}\n      containers:\n"},
		{"      securityContext:\n", "      hostNetwork: true\n      securityContext:\n        windowsOptions: {hostProcess: true}\n"},
	} {
		doc := strings.Replace(win, e.from, e.to, 1)
		if got := run(t, "read-only-root-filesystem", set(t, doc, model.Options{})); len(got) != 0 {
			t.Errorf("%q: %+v", e.to, got)
		}
	}
	// The Pod Security Standards skip Linux-only controls for spec.os.name: windows too.
	bare := "apiVersion: v1\nkind: Pod\nmetadata: {name: w, namespace: shop}\nspec:\n  os: {name: windows}\n  securityContext: {runAsNonRoot: true}\n  containers:\n  - name: c\n    image: c:1\n    securityContext: {allowPrivilegeEscalation: false}\n"
	for _, f := range Run(set(t, bare, model.Options{}), func(id string) bool { return strings.HasPrefix(id, "pss-") }) {
		t.Errorf("windows pod: %s %s", f.RuleID, f.Message)
	}
}

// TestEphemeralStorageLimitSetting: off by default; on, container-resources asks for it.
func TestEphemeralStorageLimitSetting(t *testing.T) {
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n  containers:\n  - name: c\n    image: c:1\n    resources:\n      requests: {cpu: 10m, memory: 64Mi}\n      limits: {memory: 64Mi}\n"
	if got := run(t, "container-resources", set(t, pod, model.Options{})); len(got) != 0 {
		t.Errorf("default: %+v", got)
	}
	on := settings(kgpolicy.Settings{RequireEphemeralStorageLimit: true})
	got := run(t, "container-resources", set(t, pod, on))
	if len(got) != 1 || got[0].Message != `container "c" sets no resources.limits.ephemeral-storage` {
		t.Errorf("with the setting: %+v", got)
	}
	limited := strings.Replace(pod, "limits: {memory: 64Mi}", "limits: {memory: 64Mi, ephemeral-storage: 1Gi}", 1)
	if got := run(t, "container-resources", set(t, limited, on)); len(got) != 0 {
		t.Errorf("limited: %+v", got)
	}
}

// TestPSSRuleIDs: every control of the pod-security-admission library has its metadata and
// a literal rule ID, "pss-" + the control in kebab case; a control a newer library adds
// fails here, not silently with generic metadata.
func TestPSSRuleIDs(t *testing.T) {
	for _, c := range policy.DefaultChecks() {
		meta, ok := pssControls[c.ID]
		if !ok {
			t.Errorf("control %s has no metadata in pssControls", c.ID)
			continue
		}
		if want := "pss-" + kebab(string(c.ID)); meta.id != want {
			t.Errorf("control %s: rule ID %q, want %q", c.ID, meta.id, want)
		}
	}
}

package render

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubegate/kubegate/gate/manifest"
)

func find(t *testing.T, r *Result, kind, name string) *manifest.Object {
	t.Helper()
	for _, o := range r.Objects {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %s among %d objects (errors %v)", kind, name, len(r.Objects), r.Errors)
	return nil
}

func errorsText(r *Result) string {
	var b strings.Builder
	for _, e := range r.Errors {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}

func TestKustomizeOverlayPointsIntoBase(t *testing.T) {
	overlay := "../../testdata/demo/kustomize/overlays/prod"
	r := Render([]string{overlay}, Options{})
	if len(r.Errors) > 0 {
		t.Fatal(errorsText(r))
	}
	d := find(t, r, "Deployment", "prod-web")
	if d.Namespace != "shop-prod" {
		t.Errorf("namespace %q, want the overlay's shop-prod", d.Namespace)
	}
	base := "../../testdata/demo/kustomize/base/deployment.yaml"
	want := manifest.Source{File: base, Line: 19, Via: "kustomize:" + overlay}
	if got := d.SourceOf("spec.template.spec.hostPID"); got != want {
		t.Errorf("hostPID at %+v, want %+v", got, want)
	}
	if d.Source.Line != 3 {
		t.Errorf("object line %d, want 3 (apiVersion of the base document)", d.Source.Line)
	}
	if got := manifest.Lookup(d.Raw(), "spec", "replicas"); got != int64(4) {
		t.Errorf("replicas %v, want the overlay's patch (4)", got)
	}
	if _, ok := d.Annotations()["config.kubernetes.io/origin"]; ok {
		t.Error("origin annotation left on the object")
	}
	// The user's kustomization is not modified to switch origin tracking on.
	data, _ := os.ReadFile(filepath.Join(overlay, "kustomization.yaml"))
	if strings.Contains(string(data), "buildMetadata") {
		t.Error("kustomization.yaml was modified")
	}
}

func TestDirectoryRendersBaseOnlyThroughOverlay(t *testing.T) {
	r := Render([]string{"../../testdata/demo/kustomize"}, Options{})
	if len(r.Errors) > 0 {
		t.Fatal(errorsText(r))
	}
	for _, o := range r.Objects {
		if o.Name == "web" {
			t.Errorf("base rendered on its own: %s", o.Ref())
		}
	}
	find(t, r, "Deployment", "prod-web")
	if !strings.Contains(strings.Join(r.Notes, "\n"), "base: Kustomize base rendered through the roots that use it") {
		t.Errorf("notes %v", r.Notes)
	}
}

func TestKustomizeRefusesFilesOutsideRoot(t *testing.T) {
	r := Render([]string{"testdata/outside/root"}, Options{})
	if len(r.Objects) != 0 || !strings.Contains(errorsText(r), "is not in or below") {
		t.Errorf("objects %d, errors:\n%s", len(r.Objects), errorsText(r))
	}
}

// TestKustomizeRefusesRemoteReferences: krusty would clone git bases and fetch any http
// file path (bypassing root-only restrictions); the gate never goes to the network.
func TestKustomizeRefusesRemoteReferences(t *testing.T) {
	cases := map[string]string{
		"testdata/remote":       `testdata/remote/kustomization.yaml:2: remote reference "github.com/example/repo//deploy?ref=v1.0.0" refused: kubegate renders only what is in the repository (no network)`,
		"testdata/remote-patch": `testdata/remote-patch/kustomization.yaml:4: remote reference "https://example.com/patches/replicas.yaml" refused`,
	}
	for dir, want := range cases {
		r := Render([]string{dir}, Options{})
		if !strings.Contains(errorsText(r), want) || len(r.Objects) != 0 {
			t.Errorf("%s: errors:\n%s\nwant %s", dir, errorsText(r), want)
		}
	}
}

func TestHelmChart(t *testing.T) {
	dir := t.TempDir()
	values := filepath.Join(dir, "prod.yaml")
	os.WriteFile(values, []byte("replicas: 3\n"), 0o644)
	r := Render([]string{"testdata/plainchart"}, Options{
		ValuesFiles: []string{values}, SetValues: []string{"hostNetwork=true"},
		ReleaseName: "rel", Namespace: "team", KubeVersion: "1.37",
	})
	if len(r.Errors) > 0 {
		t.Fatal(errorsText(r))
	}
	d := find(t, r, "Deployment", "rel-plain")
	if d.Namespace != "team" || manifest.Lookup(d.Raw(), "spec", "replicas") != int64(3) ||
		manifest.Lookup(d.Raw(), "spec", "template", "spec", "hostNetwork") != true {
		t.Errorf("values not applied: %v", d.Raw())
	}
	tmpl := "testdata/plainchart/templates/deploy.yaml"
	for field, want := range map[string]string{
		"spec.template.spec.hostNetwork":         tmpl + ":10 values --set (hostNetwork)",
		"spec.replicas":                          tmpl + ":7 values " + values + ":1 (replicas)",
		"spec.template.spec.containers[0].image": tmpl + ":13",
	} {
		got := d.SourceOf(field)
		s := got.String()
		if got.Values != nil {
			s += " values " + got.Values.String()
		}
		if s != want || got.Via != "helm:testdata/plainchart" {
			t.Errorf("%s at %s (%+v), want %s", field, s, got, want)
		}
	}
	if d.Source.Line != 2 {
		t.Errorf("object line %d, want 2 (kind:)", d.Source.Line)
	}
}

func TestHelmMissingDependency(t *testing.T) {
	r := Render([]string{"testdata/missing-dep"}, Options{})
	want := `testdata/missing-dep/Chart.yaml: dependencies "redis" are declared in Chart.yaml but missing from charts/: run ` + "`helm dependency build testdata/missing-dep`"
	if !strings.Contains(errorsText(r), want) || len(r.Objects) != 0 {
		t.Errorf("errors:\n%s\nwant %s", errorsText(r), want)
	}
}

func TestHelmValuesFileMissing(t *testing.T) {
	r := Render([]string{"testdata/plainchart"}, Options{ValuesFiles: []string{"testdata/nope.yaml"}})
	if !strings.Contains(errorsText(r), "values file testdata/nope.yaml") {
		t.Errorf("errors:\n%s", errorsText(r))
	}
}

func TestEmptyInputIsAnError(t *testing.T) {
	f := filepath.Join(t.TempDir(), "empty.yaml")
	os.WriteFile(f, []byte("# nothing here\n---\n"), 0o644)
	r := Render([]string{f}, Options{})
	if !strings.Contains(errorsText(r), f+": no Kubernetes objects found") {
		t.Errorf("errors:\n%s", errorsText(r))
	}
}

// TestHelmTemplateThatLoops runs last: the engine cannot be interrupted, so the looping
// template keeps one core busy until the test binary exits.
func TestHelmTemplateThatLoops(t *testing.T) {
	start := time.Now()
	r := Render([]string{"testdata/loop"}, Options{HelmTimeout: time.Second})
	if !strings.Contains(errorsText(r), "templates did not finish rendering within 1s (a template that loops?)") {
		t.Errorf("errors:\n%s", errorsText(r))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestKubeletFlagsFiles(t *testing.T) {
	dir := t.TempDir()
	dropIn := filepath.Join(dir, "etc/systemd/system/kubelet.service.d/10-kubeadm.conf")
	env := filepath.Join(dir, "var/lib/kubelet/kubeadm-flags.env")
	extra := filepath.Join(dir, "etc/default/kubelet")
	for f, text := range map[string]string{
		dropIn: "[Service]\n# comment\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\n" +
			"Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n" +
			"ExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS --read-only-port=10255\n",
		env:   "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n",
		extra: "KUBELET_EXTRA_ARGS=--anonymous-auth=true\n",
	} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := Render([]string{dir}, Options{})
	if len(res.Errors) > 0 || len(res.Objects) != 3 {
		t.Fatalf("objects %d errors %v", len(res.Objects), res.Errors)
	}
	want := map[string][]string{
		"10-kubeadm.conf":   {"--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf", "--kubeconfig=/etc/kubernetes/kubelet.conf", "--config=/var/lib/kubelet/config.yaml", "--read-only-port=10255"},
		"kubeadm-flags.env": {"--container-runtime-endpoint=unix:///run/containerd/containerd.sock", "--pod-infra-container-image=registry.k8s.io/pause:3.10"},
		"kubelet":           {"--anonymous-auth=true"},
	}
	for _, o := range res.Objects {
		if o.Kind != manifest.KubeletFlagsKind {
			t.Fatalf("kind %s", o.Kind)
		}
		var got []string
		for _, a := range o.Raw()["args"].([]any) {
			got = append(got, a.(string))
		}
		if !slices.Equal(got, want[o.Name]) {
			t.Errorf("%s: args %q, want %q", o.Name, got, want[o.Name])
		}
	}
	o := res.Objects[slices.IndexFunc(res.Objects, func(o *manifest.Object) bool { return o.Name == "10-kubeadm.conf" })]
	if line := o.SourceOf("args[3]").Line; line != 7 {
		t.Errorf("--read-only-port at line %d, want 7", line)
	}
}

// TestKustomizeVersion: KustomizeVersion is the kustomize release built on the kustomize
// API module go.mod pins (they are released in step: api v0.N.P is kustomize v5.(N-13).P).
func TestKustomizeVersion(t *testing.T) {
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var n, p int
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "sigs.k8s.io/kustomize/api" {
			if _, err := fmt.Sscanf(f[1], "v0.%d.%d", &n, &p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want := fmt.Sprintf("v5.%d.%d", n-13, p); KustomizeVersion != want {
		t.Errorf("KustomizeVersion = %s; go.mod's kustomize/api v0.%d.%d is kustomize %s", KustomizeVersion, n, p, want)
	}
}

// TestHelmDocuments: a template's output is split and finished as `helm template` prints
// it: at every "---" line ("---# comment" included), with a final line break a block
// scalar ending the document keeps.
func TestHelmDocuments(t *testing.T) {
	out := "\n\na: 1\n---# Permission\nb: |\n  x\n--- \n\n  \nc: |+\n  y\n"
	docs := helmDocuments(out)
	want := []renderedDoc{{"a: 1\n\n", 3}, {"# Permission\nb: |\n  x\n\n", 4}, {"c: |+\n  y\n\n", 10}}
	if !slices.Equal(docs, want) {
		t.Errorf("docs %+v, want %+v", docs, want)
	}
	r := Render([]string{"testdata/blockend"}, Options{})
	if len(r.Errors) > 0 {
		t.Fatal(errorsText(r))
	}
	cm := find(t, r, "ConfigMap", "release-name-end")
	if got := manifest.Lookup(cm.Raw(), "data", "script"); got != "echo done\n" {
		t.Errorf("block scalar ending the template = %q, want helm's %q", got, "echo done\n")
	}
}

// TestInputErrorPositions: errors point where the user fixes them — a Helm template error at
// the template's line, a malformed document of a stream at the line of the error, wrong-case
// identity keys at the key — and kubegate's own files are not objects.
func TestInputErrorPositions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("chart/Chart.yaml", "apiVersion: v2\nname: broken\nversion: 0.1.0\n")
	write("chart/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name | nosuchfunc }}\n")
	write("exec/Chart.yaml", "apiVersion: v2\nname: exec\nversion: 0.1.0\n")
	write("exec/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .Values.x.y.z }}\n")
	stream := write("stream.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  k: [unclosed\n")
	caseKey := write("case.yaml", "apiVersion: apps/v1\nKind: Deployment\nmetadata:\n  name: d\n")
	for path, want := range map[string]string{
		filepath.Join(dir, "chart"): filepath.Join(dir, "chart/templates/cm.yaml") + `:4: helm: parse error at (broken/templates/cm.yaml:4): function "nosuchfunc" not defined`,
		stream:                      stream + ":11: invalid YAML:", // the line of the error, not the document's (6)
		caseKey:                     caseKey + `:2: key "Kind" must be written "kind"`,
		filepath.Join(dir, "exec"):  filepath.Join(dir, "exec/templates/cm.yaml") + ":6: helm: exec/templates/cm.yaml:6:15",
	} {
		r := Render([]string{path}, Options{})
		if got := errorsText(r); !strings.HasPrefix(got, want) {
			t.Errorf("%s: errors %q, want %q…", path, got, want)
		}
	}
	own := write("manifests/kubegate.yaml", "apiVersion: kubegate.dev/v1alpha1\nkind: Policy\nfailOn: high\n")
	write("manifests/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
	r := Render([]string{filepath.Join(dir, "manifests")}, Options{})
	if len(r.Errors) > 0 || len(r.Objects) != 1 || r.Objects[0].Name != "c" || !slices.Contains(r.Notes, own+": kubegate's own Policy file, not checked as an object") {
		t.Errorf("objects %d, errors %v, notes %q", len(r.Objects), r.Errors, r.Notes)
	}
}

// TestGeneratedValues: values a chart makes up at render time (randAlphaNum, genCA) are
// marked generated; values from the chart, values files and --set are not.
func TestGeneratedValues(t *testing.T) {
	for set, want := range map[string][]string{
		"":                      {`data.password`, `data["tls.crt"]`},
		"auth.password=hunter2": {`data["tls.crt"]`},
	} {
		opts := Options{}
		if set != "" {
			opts.SetValues = []string{set}
		}
		r := Render([]string{"testdata/gensecret"}, opts)
		if len(r.Errors) > 0 {
			t.Fatal(errorsText(r))
		}
		s := find(t, r, "Secret", "release-name-db")
		var got []string
		for f := range s.Generated {
			got = append(got, f)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("--set %q: generated %q, want %q", set, got, want)
		}
	}
}

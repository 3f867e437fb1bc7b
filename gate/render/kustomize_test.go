package render

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestKustomizePatchPositions: a field an overlay's patch sets points at the patch, the
// others at the base; origin annotations and the managed-by label are there because the
// kustomization asks for them.
func TestKustomizePatchPositions(t *testing.T) {
	root := filepath.Join(upstream, "kustomize/build-metadata")
	r := Render([]string{root}, Options{})
	if len(r.Errors) > 0 {
		t.Fatal(errorsText(r))
	}
	d := find(t, r, "Deployment", "prod-api")
	for field, want := range map[string]string{
		"spec.template.spec.containers[0].securityContext.privileged": root + "/privileged.yaml:11",
		"spec.template.spec.containers[0].securityContext":            root + "/privileged.yaml:10",
		"spec.template.spec.containers[0].image":                      root + "/base/deployment.yaml:16",
		"spec.selector":                                               root + "/base/deployment.yaml:6",
	} {
		if got := d.SourceOf(field); got.String() != want || got.Via != "kustomize:"+root {
			t.Errorf("%s at %s (via %s), want %s", field, got, got.Via, want)
		}
	}
	if d.Annotations()["config.kubernetes.io/origin"] == "" || d.Raw()["metadata"].(map[string]any)["labels"].(map[string]any)["app.kubernetes.io/managed-by"] != "kustomize-"+KustomizeVersion {
		t.Errorf("buildMetadata not honoured: %v", d.Raw()["metadata"])
	}
}

// TestKustomizeJSONPatchPosition: a JSON 6902 operation points at its own line.
func TestKustomizeJSONPatchPosition(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base/kustomization.yaml", "resources: [pod.yaml]\n")
	write("base/pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: a:1\n")
	write("kustomization.yaml", "resources: [base]\npatches:\n- target: {kind: Pod, name: p}\n  patch: |\n    - op: add\n      path: /spec/hostNetwork\n      value: true\n")
	r := Render([]string{dir}, Options{})
	if len(r.Errors) > 0 {
		t.Fatal(errorsText(r))
	}
	p := find(t, r, "Pod", "p")
	if got, want := p.SourceOf("spec.hostNetwork").String(), filepath.Join(dir, "kustomization.yaml")+":5"; got != want {
		t.Errorf("hostNetwork at %s, want %s", got, want)
	}
	if got, want := p.SourceOf("spec.containers[0].image").String(), filepath.Join(dir, "base/pod.yaml")+":8"; got != want {
		t.Errorf("image at %s, want %s", got, want)
	}
}

// TestKustomizeMissingFile: a missing local file is "no such file" at its entry, for
// resources, patches and generator files alike — never a refused remote reference.
func TestKustomizeMissingFile(t *testing.T) {
	for _, k := range []string{
		"resources:\n- deployment.yaml\n- service.yaml\n",
		"resources: [deployment.yaml]\npatches:\n- path: service.yaml\n",
		"resources: [deployment.yaml]\nconfigMapGenerator:\n- name: c\n  files:\n  - conf=service.yaml\n",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "deployment.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c0\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644)
		r := Render([]string{dir}, Options{})
		line := 1 + strings.Count(k[:strings.Index(k, "service.yaml")], "\n")
		want := filepath.Join(dir, "kustomization.yaml") + ":" + strconv.Itoa(line) + `: "service.yaml": no such file or directory`
		if got := errorsText(r); !strings.Contains(got, want) || strings.Contains(got, "remote") {
			t.Errorf("%q: errors %s, want %s", k, got, want)
		}
	}
}

// TestKustomizeDeprecationNotedOnce: a base with a deprecated field used by two overlays
// gets one note, and krusty prints nothing of its own.
func TestKustomizeDeprecationNotedOnce(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"base/kustomization.yaml":  "commonLabels: {app: x}\nresources: [cm.yaml]\n",
		"base/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
		"prod/kustomization.yaml":  "namePrefix: prod-\nresources: [../base]\n",
		"stage/kustomization.yaml": "namePrefix: stage-\nresources: [../base]\n",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
	}
	r := Render([]string{dir}, Options{})
	if len(r.Errors) > 0 || len(r.Objects) != 2 {
		t.Fatalf("%d objects, errors %s", len(r.Objects), errorsText(r))
	}
	n := 0
	for _, note := range r.Notes {
		if strings.Contains(note, "base/kustomization.yaml: Warning: 'commonLabels' is deprecated") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d notes on the base's commonLabels, want 1: %q", n, r.Notes)
	}
}

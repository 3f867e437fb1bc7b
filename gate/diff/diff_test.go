package diff

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

func f(rule, file, name string) finding.Finding {
	return finding.Finding{RuleID: rule, Object: manifest.Ref{Kind: "Deployment", Namespace: "shop", Name: name},
		Source: manifest.Source{File: file, Line: 3}}
}

func TestFindings(t *testing.T) {
	base := []finding.Finding{
		f("a", "prod/app.yaml", "web"), f("a", "staging/app.yaml", "web"), // one object in two files
		f("b", "old-name.yaml", "api"), // renamed in the change
		f("c", "x.yaml", "gone"),       // fixed
	}
	head := []finding.Finding{
		f("a", "staging/app.yaml", "web"), f("a", "prod/app.yaml", "web"),
		f("b", "new-name.yaml", "api"),
		f("a", "dev/app.yaml", "web"), // the same object in a third file: new, although its Key is taken
		f("d", "x.yaml", "fresh"),
	}
	head[1].Source.Line = 90 // lines move
	fixed := Findings(head, base)
	var got []string
	for _, h := range head {
		got = append(got, fmt.Sprintf("%s %s %s", h.RuleID, h.Source.File, h.Status))
	}
	want := []string{"a staging/app.yaml unchanged", "a prod/app.yaml unchanged", "b new-name.yaml unchanged", "a dev/app.yaml new", "d x.yaml new"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("statuses\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(fixed) != 1 || fixed[0].RuleID != "c" {
		t.Errorf("fixed %v", fixed)
	}
	// A finding the change made more severe is new; one it made less severe is not.
	low, high := f("a", "p.yaml", "web"), f("a", "p.yaml", "web")
	low.Severity, high.Severity = finding.Low, finding.High
	head = []finding.Finding{high}
	if Findings(head, []finding.Finding{low}); head[0].Status != finding.New {
		t.Errorf("low in the base, high in the head: %s, want new", head[0].Status)
	}
	head = []finding.Finding{low}
	if Findings(head, []finding.Finding{high}); head[0].Status != finding.Unchanged {
		t.Errorf("high in the base, low in the head: %s, want unchanged", head[0].Status)
	}
	// Twice the same finding in the head, once in the base: one of them is new.
	head = []finding.Finding{f("a", "p.yaml", "web"), f("a", "p.yaml", "web")}
	if Findings(head, base[:1]); head[0].Status != finding.Unchanged || head[1].Status != finding.New {
		t.Errorf("duplicates: %s, %s", head[0].Status, head[1].Status)
	}
}

func object(t *testing.T, file, yaml string) *manifest.Object {
	t.Helper()
	docs := manifest.Decode([]byte(yaml), manifest.Source{File: file})
	if len(docs) != 1 || len(docs[0].Objects) != 1 {
		t.Fatalf("decoding %s: %+v", file, docs)
	}
	return docs[0].Objects[0]
}

func TestCompare(t *testing.T) {
	cm := func(file, name, data string) *manifest.Object {
		return object(t, file, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "+name+", namespace: shop}\ndata: {"+data+"}\n")
	}
	secret := func(pw string) *manifest.Object {
		return object(t, "secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\ndata: {password: "+pw+"}\ntype: Opaque\n")
	}
	deploy := func(version, replicas string) *manifest.Object {
		return object(t, "deploy.yaml", "apiVersion: apps/"+version+"\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {replicas: "+replicas+"}\n")
	}
	generated := secret("c2VjcmV0LWE=")
	generatedTwin := secret("c2VjcmV0LWI=")
	generatedTwin.Generated = map[string]bool{"data.password": true} // a chart's randAlphaNum
	base := []*manifest.Object{cm("a.yaml", "same", "k: v"), cm("b.yaml", "removed", "k: v"), secret("b2xk"), deploy("v1beta2", "2"), generated}
	head := []*manifest.Object{cm("renamed.yaml", "same", "k: v"), cm("c.yaml", "added", "k: v"), secret("bmV3"), deploy("v1", "3"), generatedTwin}
	d := Compare(head, base)
	d.Sort()
	names := func(l []Object) (s []string) {
		for _, o := range l {
			s = append(s, o.Object.String())
		}
		return s
	}
	if fmt.Sprint(names(d.Added)) != "[ConfigMap shop/added]" || fmt.Sprint(names(d.Removed)) != "[ConfigMap shop/removed]" {
		t.Errorf("added %v, removed %v", names(d.Added), names(d.Removed))
	}
	var changed []string
	for _, o := range d.Changed {
		for _, fl := range o.Fields {
			changed = append(changed, fmt.Sprintf("%s %s: %s -> %s", o.Object, fl.Path, fl.Old, fl.New))
		}
	}
	want := []string{
		"Deployment shop/web apiVersion: apps/v1beta2 -> apps/v1", // the same object, another version
		"Deployment shop/web spec.replicas: 2 -> 3",
		"Secret shop/db data.password: (hidden) -> (hidden)", // a Secret's values are never shown
	}
	if strings.Join(changed, "\n") != strings.Join(want, "\n") {
		t.Errorf("changed\n%s\nwant\n%s", strings.Join(changed, "\n"), strings.Join(want, "\n"))
	}
}

func TestCompareCapsFields(t *testing.T) {
	var a, b strings.Builder
	for i := range MaxFields + 7 {
		fmt.Fprintf(&a, "  k%03d: old\n", i)
		fmt.Fprintf(&b, "  k%03d: new\n", i)
	}
	cm := func(data string) *manifest.Object {
		return object(t, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n"+data)
	}
	d := Compare([]*manifest.Object{cm(b.String())}, []*manifest.Object{cm(a.String())})
	if len(d.Changed) != 1 || len(d.Changed[0].Fields) != MaxFields || d.Changed[0].MoreFields != 7 {
		t.Fatalf("%d fields, %d more", len(d.Changed[0].Fields), d.Changed[0].MoreFields)
	}
	long := strings.Repeat("x", 500)
	d = Compare([]*manifest.Object{cm("  k: " + long + "\n")}, []*manifest.Object{cm("  k: y\n")})
	if got := d.Changed[0].Fields[0].New; len([]rune(got)) != maxValue || !strings.HasSuffix(got, "…") {
		t.Errorf("a long value is %d runes: %q", len([]rune(got)), got)
	}
}

package images_test

import (
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/images"
)

func TestCollectEveryContainerOnce(t *testing.T) {
	yaml := `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop}
spec:
  securityContext: {runAsUser: 1000}
  initContainers:
  - name: init
    image: busybox:1.36
  containers:
  - name: app
    image: ghcr.io/acme/web:1
  - name: root
    image: ghcr.io/acme/web:1
    securityContext: {runAsUser: 0}
  ephemeralContainers:
  - name: debug
    image: busybox:1.36
`
	var objs []*manifest.Object
	for _, d := range manifest.Decode([]byte(yaml), manifest.Source{File: "p.yaml"}) {
		objs = append(objs, d.Objects...)
	}
	images := images.Collect(model.NewSet(objs, model.Options{}))
	var got []string
	for _, im := range images {
		var uses []string
		for _, u := range im.Uses {
			uses = append(uses, u.Container+"@"+u.Object.SourceOf(u.Field).String()+map[bool]string{true: " nonroot", false: " root"}[u.NonRootUser])
		}
		got = append(got, im.Ref+" ("+im.Repo+"): "+strings.Join(uses, ", "))
	}
	want := []string{
		"busybox:1.36 (docker.io/library/busybox): init@p.yaml:8 nonroot, debug@p.yaml:17 nonroot",
		"ghcr.io/acme/web:1 (ghcr.io/acme/web): app@p.yaml:11 nonroot, root@p.yaml:13 root",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

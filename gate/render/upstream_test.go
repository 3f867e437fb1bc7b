package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/gate/manifest"
)

// upstream is the vendored corpus: charts and Kustomize roots nobody here wrote, with the
// output of the real helm and kustomize CLIs (testdata/upstream/README.md says how to make
// it again).
const upstream = "../../testdata/upstream"

// upstreamInputs maps each golden file to the input it was rendered from.
var upstreamInputs = map[string]string{
	"helm-cert-manager.yaml":                        "charts/cert-manager",
	"helm-ingress-nginx.yaml":                       "charts/ingress-nginx",
	"helm-prometheus-node-exporter.yaml":            "charts/prometheus-node-exporter",
	"helm-promtail.yaml":                            "charts/promtail",
	"helm-fluent-bit.yaml":                          "charts/fluent-bit",
	"helm-redis.yaml":                               "charts/redis",
	"kustomize-helloWorld.yaml":                     "kustomize/helloWorld",
	"kustomize-ldap-overlays-production.yaml":       "kustomize/ldap/overlays/production",
	"kustomize-ldap-overlays-staging.yaml":          "kustomize/ldap/overlays/staging",
	"kustomize-springboot-overlays-production.yaml": "kustomize/springboot/overlays/production",
	"kustomize-wordpress.yaml":                      "kustomize/wordpress",
	"kustomize-multibases.yaml":                     "kustomize/multibases",
	"kustomize-build-metadata.yaml":                 "kustomize/build-metadata",
}

// goldenObjects decodes a golden stream with yaml.v3 alone (not the gate's decoder) into
// objects keyed by kind/namespace/name.
func goldenObjects(t *testing.T, file string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if m == nil {
			continue
		}
		out[objectKey(m)] = normalize(m)
	}
	return out
}

func objectKey(m map[string]any) string {
	meta, _ := m["metadata"].(map[string]any)
	return fmt.Sprintf("%v %v/%v", m["kind"], meta["namespace"], meta["name"])
}

// normalize makes yaml.v3's ints and the gate's int64s compare equal.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case int:
		return int64(x)
	case uint64:
		return int64(x)
	}
	return v
}

// TestRendersLikeHelmAndKustomize: every object the CLIs render, with the same content,
// and no other.
func TestRendersLikeHelmAndKustomize(t *testing.T) {
	goldens, _ := filepath.Glob(filepath.Join(upstream, "golden", "*.yaml"))
	for _, g := range goldens {
		if _, ok := upstreamInputs[filepath.Base(g)]; !ok {
			t.Errorf("golden %s has no input in upstreamInputs: it would never be compared", g)
		}
	}
	if len(goldens) != len(upstreamInputs) {
		t.Errorf("%d goldens, %d inputs", len(goldens), len(upstreamInputs))
	}
	for golden, input := range upstreamInputs {
		t.Run(input, func(t *testing.T) {
			want := goldenObjects(t, filepath.Join(upstream, "golden", golden))
			r := Render([]string{filepath.Join(upstream, input)}, Options{})
			if len(r.Errors) > 0 {
				t.Fatalf("errors:\n%s", errorsText(r))
			}
			got := map[string]any{}
			generated := map[string]map[string]bool{}
			for _, o := range r.Objects {
				got[objectKey(o.Raw())] = normalize(o.Raw())
				generated[objectKey(o.Raw())] = o.Generated
			}
			for k, w := range want {
				g, ok := got[k]
				switch {
				case !ok:
					t.Errorf("lost %s", k)
				case !reflect.DeepEqual(g, w):
					// Values the chart generates at random differ from the CLI's run; the
					// gate must have marked them generated (by rendering twice).
					for path := range manifest.Differences(g.(map[string]any), w.(map[string]any)) {
						if !generated[k][path] {
							t.Errorf("%s differs at %s, not marked generated:\n%s", k, path, firstDifference("", g, w))
						}
					}
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("extra %s", k)
				}
			}
			if len(want) == 0 {
				t.Error("golden holds no objects")
			}
		})
	}
}

// firstDifference names the first path where got and want differ.
func firstDifference(path string, got, want any) string {
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if gok && wok {
		keys := make([]string, 0, len(gm)+len(wm))
		for k := range gm {
			keys = append(keys, k)
		}
		for k := range wm {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			if !reflect.DeepEqual(gm[k], wm[k]) {
				return firstDifference(path+"."+k, gm[k], wm[k])
			}
		}
	}
	gl, gok := got.([]any)
	wl, wok := want.([]any)
	if gok && wok && len(gl) == len(wl) {
		for i := range gl {
			if !reflect.DeepEqual(gl[i], wl[i]) {
				return firstDifference(fmt.Sprintf("%s[%d]", path, i), gl[i], wl[i])
			}
		}
	}
	return fmt.Sprintf("%s: got %#v, helm/kustomize %#v", strings.TrimPrefix(path, "."), got, want)
}

package render

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"

	"github.com/kubegate/kubegate/gate/manifest"
)

// renderHelm renders a chart directory in-process, client-only, the way `helm template`
// does: values files and --set merged over the chart's values, vendored dependencies
// from charts/, Capabilities at the target Kubernetes version. It uses Helm's loader and
// engine directly rather than action.Install, which would link Helm's cluster client,
// release storage and registry stack for nothing. Objects point at their template file.
func (r *Result) renderHelm(dir string, opts Options) {
	fail := func(format string, args ...any) { r.errorf(dir, 0, "helm: "+format, args...) }
	loaded, err := loader.Load(dir)
	if err != nil {
		fail("cannot load chart: %v", err)
		return
	}
	ch, ok := loaded.(*chartv2.Chart)
	if !ok {
		fail("unsupported chart API version (want apiVersion v1 or v2 in Chart.yaml)")
		return
	}
	if missing := missingDependencies(ch); len(missing) > 0 {
		r.errorf(filepath.Join(dir, "Chart.yaml"), 0,
			"dependencies %s are declared in Chart.yaml but missing from charts/: run `helm dependency build %s` and commit charts/ (kubegate never downloads charts)",
			strings.Join(missing, ", "), dir)
		return
	}
	vals, err := userValues(opts)
	if err != nil {
		fail("%v", err)
		return
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		fail("%v", err)
		return
	}
	caps := common.DefaultCapabilities.Copy()
	if opts.KubeVersion != "" {
		kv, err := common.ParseKubeVersion("v" + strings.TrimPrefix(opts.KubeVersion, "v"))
		if err != nil {
			fail("bad Kubernetes version %q: %v", opts.KubeVersion, err)
			return
		}
		caps.KubeVersion = *kv
	}
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		fail("chart requires kubeVersion %s, which excludes the target Kubernetes %s", ch.Metadata.KubeVersion, caps.KubeVersion.Version)
		return
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "default"
	}
	// render runs the templates over values made afresh from the chart and the user's
	// values: templates may change .Values as they render (bitnami's charts store the
	// password they generate there), so a second render must not start from the first's.
	render := func() (map[string]string, error) {
		top, err := commonutil.ToRenderValues(ch, vals, common.ReleaseOptions{
			Name: opts.ReleaseName, Namespace: ns, Revision: 1, IsInstall: true,
		}, caps)
		if err != nil {
			return nil, err
		}
		return renderWithTimeout(ch, top, opts)
	}
	rendered, err := render()
	if err != nil {
		if file, line, ok := templateErrorAt(dir, err.Error()); ok {
			r.errorf(file, line, "helm: %v", err)
			return
		}
		fail("%v", err)
		return
	}
	via := "helm:" + dir
	values := newValuesFiles(dir, opts)
	sources := templateSources(ch)
	first := len(r.Objects)
	for _, name := range sortedKeys(rendered) {
		out := rendered[name]
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(out) == "" {
			continue
		}
		// name is "<chart>/templates/x.yaml" or "<chart>/charts/sub/templates/x.yaml".
		_, rel, _ := strings.Cut(name, "/")
		file := filepath.Join(dir, rel)
		tmpl := newTemplate(file, sources[name])
		region := 0
		for _, doc := range helmDocuments(out) {
			lines := newRenderedLines(doc.text)
			region = tmpl.regionFor(lines, region)
			pos := &docPositions{t: tmpl, region: tmpl.regions[region], doc: lines, values: values}
			for _, d := range manifest.Decode([]byte(doc.text), manifest.Source{File: file, Via: via}) {
				if d.Err != nil {
					line := d.Err.Line
					d.Err.Msg = fmt.Sprintf("rendered output, line %d: %s", doc.line+line-1, d.Err.Msg)
					d.Err.Line = pos.templateLine(line)
					if d.Err.Line == 0 {
						d.Err.Line = pos.objectLine(0)
					}
					r.Errors = append(r.Errors, d.Err)
					continue
				}
				if d.NotKubernetes {
					r.errorf(file, pos.objectLine(0), "rendered document at line %d is not a Kubernetes object (no apiVersion and kind)", doc.line+d.Line-1)
					continue
				}
				for _, o := range d.Objects {
					line := pos.objectLine(o.DecodedLine("kind"))
					o.Source = manifest.Source{File: file, Line: line, Via: via}
					o.Relocate(pos.relocate(line))
					r.Objects = append(r.Objects, o)
				}
			}
		}
	}
	markGenerated(r.Objects[first:], render)
}

// templateSources maps each template's name in the engine's output
// ("chart/templates/x.yaml", "chart/charts/sub/templates/y.yaml") to the text the loader
// read: the text that rendered, without reading the files again.
func templateSources(ch *chartv2.Chart) map[string][]byte {
	out := map[string][]byte{}
	var walk func(c *chartv2.Chart)
	walk = func(c *chartv2.Chart) {
		for _, t := range c.Templates {
			out[path.Join(c.ChartFullPath(), t.Name)] = t.Data
		}
		for _, d := range c.Dependencies() {
			walk(d)
		}
	}
	walk(ch)
	return out
}

// markGenerated renders the chart a second time when it yields Secrets with values, and
// marks every field whose value differs between the two renders as generated at render
// time (randAlphaNum passwords, genCA certificates): nothing is committed there.
func markGenerated(objs []*manifest.Object, render func() (map[string]string, error)) {
	if !slices.ContainsFunc(objs, hasSecretValues) {
		return
	}
	again, err := render()
	if err != nil {
		return // the first render succeeded: nothing generated is known, everything is reported
	}
	twins := map[string]*manifest.Object{}
	for _, out := range again {
		for _, doc := range helmDocuments(out) {
			for _, d := range manifest.Decode([]byte(doc.text), manifest.Source{}) {
				for _, o := range d.Objects {
					twins[o.Ref().String()] = o
				}
			}
		}
	}
	for _, o := range objs {
		if twin, ok := twins[o.Ref().String()]; ok {
			o.Generated = manifest.Differences(o.Raw(), twin.Raw())
		}
	}
}

func hasSecretValues(o *manifest.Object) bool {
	return o.Kind == "Secret" && (o.Raw()["data"] != nil || o.Raw()["stringData"] != nil)
}

// templateErrorPos finds the template position in a Go template error:
// "parse error at (chart/templates/x.yaml:4): …", "template: chart/templates/x.yaml:12:3:
// executing …", or Helm's own "chart/templates/x.yaml:12:3\n  executing …".
var templateErrorPos = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?:\(|template: |^)[^/\s():]+/((?:charts/[^/]+/)?templates/[^:()\s]+):(\d+)`)
})

// templateErrorAt returns the file and line a template error names, under the chart dir.
func templateErrorAt(dir, msg string) (string, int, bool) {
	m := templateErrorPos().FindStringSubmatch(msg)
	if m == nil {
		return "", 0, false
	}
	line, _ := strconv.Atoi(m[2])
	return filepath.Join(dir, m[1]), line, true
}

// renderWithTimeout runs the template engine, which cannot be interrupted, with a deadline:
// a looping template makes the gate fail with a clear error instead of hanging CI.
func renderWithTimeout(ch *chartv2.Chart, vals common.Values, opts Options) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opts.HelmTimeout)
	defer cancel()
	type result struct {
		out map[string]string
		err error
	}
	done := make(chan result, 1)
	go func() {
		var e engine.Engine
		out, err := e.RenderWithContext(ctx, ch, vals)
		done <- result{out, err}
	}()
	select {
	case res := <-done:
		return res.out, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("templates did not finish rendering within %s (a template that loops?)", opts.HelmTimeout)
	}
}

// missingDependencies lists the dependencies Chart.yaml declares that charts/ lacks.
func missingDependencies(ch *chartv2.Chart) []string {
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		if !have[d.Name] {
			missing = append(missing, fmt.Sprintf("%q", d.Name))
		}
	}
	return missing
}

// userValues merges values files (later files win) and --set values, like Helm's -f/--set.
func userValues(opts Options) (map[string]any, error) {
	base := map[string]any{}
	for _, f := range opts.ValuesFiles {
		v, err := common.ReadValuesFile(f)
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", f, err)
		}
		base = mergeMaps(base, v)
	}
	for _, s := range opts.SetValues {
		if err := strvals.ParseInto(s, base); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	return base, nil
}

func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bv, ok := v.(map[string]any); ok {
			if av, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(av, bv)
				continue
			}
		}
		out[k] = v
	}
	return out
}

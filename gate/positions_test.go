package gate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/render"
)

// TestHelmFindingPositions measures where findings on the vendored upstream charts point:
// a finding is well placed when its line is inside its object's own part of the template
// (between "---" lines) and writes one of the keys of its field path or starts one of its
// list items (the field or a written parent), or is the object's kind line when the
// finding names no field. It never points into another object's part.
func TestHelmFindingPositions(t *testing.T) {
	charts, _ := filepath.Glob("../testdata/upstream/charts/*")
	if len(charts) < 3 {
		t.Fatalf("vendored charts missing: %v", charts)
	}
	type input struct{ chart, values string }
	var inputs []input
	for _, chart := range charts {
		inputs = append(inputs, input{chart, ""})
		// The charts' own CI values files render other shapes of the same templates.
		variants, _ := filepath.Glob(filepath.Join(chart, "ci", "*.yaml"))
		for _, v := range variants {
			inputs = append(inputs, input{chart, v})
		}
	}
	total, good := 0, 0
	for _, in := range inputs {
		ro := render.Options{}
		if in.values != "" {
			ro.ValuesFiles = []string{in.values}
		}
		r := Run(context.Background(), Options{Paths: []string{in.chart}, Render: ro, Offline: true})
		if len(r.Errors) > 0 {
			t.Fatalf("%s %s: %v", in.chart, in.values, r.Errors)
		}
		objLines := map[string]int{}
		for _, c := range r.Checked {
			objLines[c.Object.String()+"\x00"+c.Source.File] = c.Source.Line
		}
		for _, f := range r.Findings {
			if !strings.Contains(f.Source.File, "/templates/") {
				continue
			}
			total++
			objLine, ok := objLines[f.Object.String()+"\x00"+f.Source.File]
			placed := ok && placedWell(t, f, objLine)
			if placed {
				good++
			} else if testing.Verbose() {
				t.Logf("misplaced: %s %s %s field %q", f.Source, f.RuleID, f.Object, f.Field)
			}
		}
	}
	share := float64(good) / float64(max(total, 1))
	t.Logf("%d of %d findings in templates well placed (%.0f%%)", good, total, 100*share)
	if total < 100 || share < 0.85 {
		t.Errorf("%d of %d findings well placed (%.0f%%), want at least 85%% of at least 100", good, total, 100*share)
	}
}

var templateCache = map[string][]string{}

func placedWell(t *testing.T, f finding.Finding, objLine int) bool {
	lines, ok := templateCache[f.Source.File]
	if !ok {
		data, err := os.ReadFile(f.Source.File)
		if err != nil {
			t.Fatal(err)
		}
		lines = strings.Split(string(data), "\n")
		templateCache[f.Source.File] = lines
	}
	region := func(line int) int {
		n := 0
		for i := 0; i < line-1 && i < len(lines); i++ {
			if strings.HasPrefix(lines[i], "---") {
				n++
			}
		}
		return n
	}
	if f.Source.Line < 1 || f.Source.Line > len(lines) || region(f.Source.Line) != region(objLine) {
		return false
	}
	text := strings.TrimSpace(lines[f.Source.Line-1])
	if f.Field == "" {
		return f.Source.Line == objLine
	}
	if strings.HasPrefix(text, "- ") && strings.Contains(f.Field, "[") {
		return true // a list item of the path: the container, the rule, the volume
	}
	for _, k := range strings.FieldsFunc(f.Field, func(r rune) bool { return r == '.' || r == '[' || r == ']' || r == '"' }) {
		if strings.HasPrefix(text, k+":") {
			return true
		}
	}
	return false
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/finding"
)

// The first hour: conventions users bring from trivy, kubectl and kube-linter.

const demoApp = "../../testdata/demo/kustomize/overlays/prod"

// TestExitCodeZeroReportsWithoutFailing: --exit-code 0 is trivy's report-only mode: the
// findings are reported and the run exits 0; an input error still exits 2.
func TestExitCodeZeroReportsWithoutFailing(t *testing.T) {
	code, out, _ := kubegate(t, "", "check", "--offline", "--no-color", "--exit-code", "0", demoApp)
	if code != 0 || !strings.Contains(out, "pss-privileged") || !strings.Contains(out, "report only (--exit-code 0): the gate fails, and kubegate exits 0") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if code, _, _ := kubegate(t, "", "check", "--offline", "--exit-code", "7", demoApp); code != 7 {
		t.Errorf("--exit-code 7: exit %d", code)
	}
	if code, _, errOut := kubegate(t, "", "check", "--offline", "--exit-code", "0", "does-not-exist.yaml"); code != 2 {
		t.Errorf("input error under --exit-code 0: exit %d %s", code, errOut)
	}
	if code, _, errOut := kubegate(t, "", "check", "--offline", "--exit-code", "2", demoApp); code != 2 || !strings.Contains(errOut, "--exit-code must be 0, 1 or 3 to 125") {
		t.Errorf("--exit-code 2: exit %d %s", code, errOut)
	}
}

// TestSeverityFilter: --severity keeps only the named severities in the report and the
// verdict, and says how many it left out.
func TestSeverityFilter(t *testing.T) {
	code, out, _ := kubegate(t, "", "check", "--offline", "--format", "json", "--severity", "critical", demoApp)
	r := jsonReport(t, out)
	for _, f := range r.Findings {
		if f.Severity != finding.Critical {
			t.Errorf("%s %s shown under --severity critical", f.Rule, f.Severity)
		}
	}
	if len(r.Findings) == 0 || code != 1 {
		t.Errorf("exit %d, %d findings", code, len(r.Findings))
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "--severity critical: ") {
		t.Errorf("notes %v", r.Notes)
	}
	// Only low findings named: the high ones do not fail this run.
	if code, _, _ := kubegate(t, "", "check", "--offline", "--severity", "info", demoApp); code != 0 {
		t.Errorf("--severity info: exit %d", code)
	}
	if code, _, errOut := kubegate(t, "", "check", "--offline", "--severity", "severe", demoApp); code != 2 || !strings.Contains(errOut, `--severity: unknown severity "severe"`) {
		t.Errorf("exit %d %s", code, errOut)
	}
}

// TestSkipDirsAndFiles: --skip-dirs and --skip-files (and the policy's skipDirs/skipFiles)
// leave paths out of a directory walk, with a note.
func TestSkipDirsAndFiles(t *testing.T) {
	dir := t.TempDir()
	pod := func(name string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: a}\nspec:\n  containers: [{name: c, image: nginx:1.27}]\n"
	}
	write(t, dir, "app/pod.yaml", pod("app"))
	write(t, dir, "app/testdata/broken.yaml", pod("fixture"))
	write(t, dir, "app/pod.test.yaml", pod("test"))
	names := func(args ...string) (string, []string) {
		t.Helper()
		_, out, _ := kubegate(t, "", append([]string{"check", "--offline", "--format", "json"}, append(args, filepath.Join(dir, "app"))...)...)
		r := jsonReport(t, out)
		seen := map[string]bool{}
		for _, f := range r.Findings {
			seen[f.Object.Name] = true
		}
		var out2 []string
		for _, n := range []string{"app", "fixture", "test"} {
			if seen[n] {
				out2 = append(out2, n)
			}
		}
		return strings.Join(r.Notes, "\n"), out2
	}
	if _, got := names(); strings.Join(got, ",") != "app,fixture,test" {
		t.Fatalf("without skips: %v", got)
	}
	notes, got := names("--skip-dirs", "testdata", "--skip-files", "*.test.yaml")
	if strings.Join(got, ",") != "app" || !strings.Contains(notes, "2 paths left out by --skip-dirs/--skip-files") {
		t.Errorf("skipped: %v\n%s", got, notes)
	}
	policy := filepath.Join(dir, "kubegate.yaml")
	write(t, dir, "kubegate.yaml", "apiVersion: kubegate.dev/v1alpha1\nkind: Policy\nskipDirs: [\"**/testdata\"]\n")
	if _, got := names("--config", policy); strings.Join(got, ",") != "app,test" {
		t.Errorf("policy skipDirs: %v", got)
	}
	if code, _, errOut := kubegate(t, "", "check", "--offline", "--skip-dirs", "[x", dir); code != 2 || !strings.Contains(errOut, `bad glob "[x"`) {
		t.Errorf("bad glob: exit %d %s", code, errOut)
	}
}

// TestRulesJSONAndSuggestions: `rules --format json` lists the catalogue; a near-miss rule
// ID gets a suggestion.
func TestRulesJSONAndSuggestions(t *testing.T) {
	code, out, _ := kubegate(t, "", "rules", "--format", "json")
	var rs []jsonRule
	if err := json.Unmarshal([]byte(out), &rs); err != nil || code != 0 || len(rs) < 100 {
		t.Fatalf("exit %d, %d rules, %v", code, len(rs), err)
	}
	byID := map[string]jsonRule{}
	for _, r := range rs {
		byID[r.ID] = r
	}
	if r := byID["image-not-scanned"]; !r.FailsClosed || r.Severity != "high" || !strings.HasSuffix(r.HelpURI, "#image-not-scanned") {
		t.Errorf("image-not-scanned: %+v", r)
	}
	code, out, _ = kubegate(t, "", "rules", "--format", "json", "pss-privileged")
	var one jsonRule
	if err := json.Unmarshal([]byte(out), &one); err != nil || one.ID != "pss-privileged" || one.Fix == "" {
		t.Errorf("exit %d %v %+v", code, err, one)
	}
	code, _, errOut := kubegate(t, "", "rules", "pss-privilege")
	if code != 2 || !strings.Contains(errOut, `unknown rule "pss-privilege" (did you mean pss-privileged?)`) {
		t.Errorf("exit %d %s", code, errOut)
	}
}

// TestDeprecatedFlagNames: -o and --cache-dir keep working, with a warning naming the new
// flag.
func TestDeprecatedFlagNames(t *testing.T) {
	code, out, errOut := kubegate(t, "", "check", "--offline", "-o", "json", demoApp)
	if code != 1 || !strings.HasPrefix(out, "{") || !strings.Contains(errOut, "warning: -o is deprecated: use --format (in trivy -o names the output file") {
		t.Errorf("-o: exit %d\n%s\n%s", code, out[:min(len(out), 80)], errOut)
	}
	if _, _, errOut := kubegate(t, "", "rules", "-o", "json"); !strings.Contains(errOut, "-o is deprecated") {
		t.Errorf("rules -o: %s", errOut)
	}
	cache := t.TempDir()
	_, _, errOut = kubegate(t, "", "check", "--offline", "--cache-dir", cache, demoApp)
	if !strings.Contains(errOut, "warning: --cache-dir is deprecated: use --verdict-cache-dir (in trivy --cache-dir is Trivy's cache") {
		t.Errorf("--cache-dir: %s", errOut)
	}
	if _, _, errOut := kubegate(t, "", "check", "--offline", "--format", "json", demoApp); strings.Contains(errOut, "deprecated") {
		t.Errorf("a warning without an old flag: %s", errOut)
	}
}

// TestArgumentMistakes: what used to pass silently is an error that says what to do.
func TestArgumentMistakes(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "deploy.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n")
	deploy := filepath.Join(dir, "deploy.yaml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "-f", deploy}, "-f/--values is a Helm values file; name the manifests, Kustomize roots or charts to check as arguments: kubegate check CHART -f " + deploy},
		{[]string{"check", "--offline", "-f", deploy, demoApp}, "-f " + deploy + ": Helm values, but no Helm chart (a directory with Chart.yaml) is among the arguments"},
		{[]string{"check", "--offline", "--set", "a=b", deploy}, "--set: Helm values, but no Helm chart"},
		{[]string{"check", "--offline", "-", "-"}, "standard input (-) can be read only once"},
		{[]string{"check", "--offline", "--kube-version", "1.99", deploy}, `--kube-version: Kubernetes "1.99" is newer than this kubegate knows (1.0 to 1.37): upgrade kubegate, or target 1.37`},
		{[]string{"check"}, "name the manifests, directories, Kustomize roots or Helm charts to check"},
		{[]string{"render", "-f", deploy, deploy}, "Helm values, but no Helm chart"},
	} {
		code, _, errOut := kubegate(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d\n%s\nwant %q", tc.args, code, errOut, tc.want)
		}
	}
	// A chart below a directory argument takes -f.
	if code, _, errOut := kubegate(t, "", "check", "--offline", "-f", "../../testdata/demo/chart/values.yaml", "../../testdata/demo"); code == 2 {
		t.Errorf("a chart inside the directory: exit 2 %s", errOut)
	}
}

// TestRenderIndentsLikeKubectl: two spaces, list items at their key's indent.
func TestRenderIndentsLikeKubectl(t *testing.T) {
	_, out, _ := kubegate(t, "", "render", demoApp)
	if !strings.Contains(out, "\n  template:\n    metadata:\n") || !strings.Contains(out, "\n      containers:\n      - ") {
		t.Errorf("render output:\n%s", out)
	}
}

// TestPolicyErrorsAllAtOnce: the CLI prints every problem of the policy file, each at its
// line.
func TestPolicyErrorsAllAtOnce(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "kubegate.yaml", "apiVersion: kubegate.dev/v1alpha1\nkind: Policy\nfailon: high\nrules:\n  disable: [pss-privilege]\n")
	code, _, errOut := kubegate(t, "", "check", "--offline", "--config", filepath.Join(dir, "kubegate.yaml"), demoApp)
	want := filepath.Join(dir, "kubegate.yaml") + `:3: unknown key "failon" (in the policy) (did you mean failOn?)` + "\n" +
		filepath.Join(dir, "kubegate.yaml") + `:5: unknown rule "pss-privilege" (did you mean pss-privileged?) (see ` + "`kubegate rules`)"
	if code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d\n%s\nwant\n%s", code, errOut, want)
	}
	_ = os.Remove(filepath.Join(dir, "kubegate.yaml"))
}

// TestPathsAsWrittenAreCleaned: "./testdata/demo/chart/" and "testdata/demo/chart" give the
// same report, with no "//" or "./" in a path.
func TestPathsAsWrittenAreCleaned(t *testing.T) {
	noGitHub(t)
	chdir(t, "../..")
	_, clean, _ := kubegate(t, "", "check", "--offline", "--no-color", "testdata/demo/chart")
	_, messy, _ := kubegate(t, "", "check", "--offline", "--no-color", "./testdata/demo/chart/")
	if messy != clean || strings.Contains(messy, "//") || strings.Contains(messy, "./testdata") {
		t.Errorf("./testdata/demo/chart/:\n%s\ntestdata/demo/chart:\n%s", messy, clean)
	}
	// Standard input is <stdin> in findings and in errors alike.
	_, out, _ := kubegate(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers: [{name: c, image: nginx:1.27}]\n---\nkind: [\n", "check", "--offline", "--no-color", "-")
	if !strings.Contains(out, "<stdin>:8  ERROR") || !strings.Contains(textRows(out), "<stdin>:4  MEDIUM") {
		t.Errorf("stdin:\n%s", out)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/report"
)

// TestMain lets the test binary stand in for the kubegate binary where a test must run it
// as a program (the GitHub Action, the GitLab job, the git hooks): see cliOnPath.
func TestMain(m *testing.M) {
	if os.Getenv("KUBEGATE_TEST_AS_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// cliOnPath puts a `kubegate` program (this test binary, acting as the CLI) first on PATH
// and returns its directory.
func cliOnPath(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write(t, dir, "kubegate", "#!/bin/sh\nexec "+shellQuote(self)+" \"$@\"\n")
	os.Chmod(filepath.Join(dir, "kubegate"), 0o755)
	t.Setenv("KUBEGATE_TEST_AS_CLI", "1")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

// kubegate runs the CLI in-process, the way a user runs the binary.
func kubegate(t testing.TB, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// textRows reads the findings of a text report back as "file:line  SEVERITY  rule  object:
// message" lines (the text report names each file once, above its rows), one per line;
// against a base, "  [new]" or "  [unchanged]" follows.
func textRows(out string) string {
	var rows []string
	file := ""
	row := regexp.MustCompile(`^  +(\d+|-)  (CRITICAL|HIGH|MEDIUM|LOW|INFO)\s+(?:(new|unchanged)\s+)?(\S+)\s{2,}(.*)$`)
	for _, l := range strings.Split(out, "\n") {
		if m := row.FindStringSubmatch(l); m != nil && file != "" {
			loc := file + ":" + m[1]
			if m[1] == "-" {
				loc = file
			}
			r := fmt.Sprintf("%s  %-8s  %s  %s", loc, m[2], m[4], m[5])
			if m[3] != "" { // against a base (--diff-base)
				r += "  [" + m[3] + "]"
			}
			rows = append(rows, r)
			continue
		}
		if l != "" && !strings.HasPrefix(l, " ") {
			file, _, _ = strings.Cut(l, "  (via ")
		}
	}
	return strings.Join(rows, "\n")
}

func jsonReport(t *testing.T, out string) report.JSONReport {
	t.Helper()
	var r report.JSONReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not the JSON report: %v\n%s", err, out)
	}
	return r
}

// moduleDir finds a dependency's source in the module cache.
func moduleDir(t *testing.T, module string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	return strings.TrimSpace(string(out))
}

// overriddenAt says which baseline control a restricted control replaces at the restricted
// level. The API server then reports the restricted one; kubegate reports the fact with the
// baseline rule and its severity at either profile, so a fail fixture of either control is
// reported by one of the pair.
var overriddenAt = map[string]string{
	"capabilities-baseline":   "capabilities-restricted",
	"seccompprofile-baseline": "seccompprofile-restricted",
	"procmount":               "procmount-restricted",
	"hostpathvolumes":         "restrictedvolumes",
}

var fixtureControl = regexp.MustCompile(`^([a-z_]+?)\d+\.yaml$`)

// TestPSSParity runs the gate on every fixture of the API server's own Pod Security tests:
// each fail fixture must be reported by the rule of its control, each pass fixture must
// not be reported by any pss-* rule.
func TestPSSParity(t *testing.T) {
	root := filepath.Join(moduleDir(t, "k8s.io/pod-security-admission"), "test", "testdata")
	for _, level := range []string{"baseline", "restricted"} {
		for _, verdict := range []string{"pass", "fail"} {
			files, _ := filepath.Glob(filepath.Join(root, level, "v1.37", verdict, "*.yaml"))
			if len(files) < 10 {
				t.Fatalf("%s/%s: only %d fixtures found", level, verdict, len(files))
			}
			for _, f := range files {
				code, out, errOut := kubegate(t, "", "check", "--offline", "--profile", level, "--format", "json", f)
				rep := jsonReport(t, out)
				if len(rep.Errors) > 0 || code == 2 {
					t.Errorf("%s: input errors %v %s", f, rep.Errors, errOut)
					continue
				}
				fired := map[string]bool{}
				for _, fd := range rep.Findings {
					if strings.HasPrefix(fd.Rule, "pss-") {
						// compare without dashes inside words: fixture names are lowercase IDs
						fired[strings.ReplaceAll(strings.TrimPrefix(fd.Rule, "pss-"), "-", "")] = true
					}
				}
				name := filepath.Base(f)
				if verdict == "pass" {
					if len(fired) > 0 {
						t.Errorf("%s %s: pass fixture reported %v", level, name, fired)
					}
					continue
				}
				m := fixtureControl.FindStringSubmatch(name)
				if m == nil {
					t.Errorf("unexpected fixture name %s", name)
					continue
				}
				want := strings.ReplaceAll(m[1], "_", "-")
				pair := []string{want}
				for base, restricted := range overriddenAt {
					if level == "restricted" && (want == base || want == restricted) {
						pair = []string{base, restricted}
					}
				}
				if !slices.ContainsFunc(pair, func(id string) bool { return fired[strings.ReplaceAll(id, "-", "")] }) {
					t.Errorf("%s %s: fail fixture not reported by pss-%s (got %v)", level, name, want, fired)
				}
				if code != 1 {
					t.Errorf("%s %s: exit %d, want 1", level, name, code)
				}
			}
		}
	}
}

func write(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const privilegedPod = `apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: apps
spec:
  containers:
    - name: app
      image: app:1
      securityContext:
        privileged: true
`

func TestPrivilegedReportedAtItsLine(t *testing.T) {
	f := write(t, t.TempDir(), "pod.yaml", privilegedPod)
	code, out, _ := kubegate(t, "", "check", "--offline", "--format", "json", f)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	rep := jsonReport(t, out)
	var got *report.JSONFinding
	for i, fd := range rep.Findings {
		if fd.Rule == "pss-privileged" {
			got = &rep.Findings[i]
		}
	}
	if got == nil {
		t.Fatalf("no pss-privileged finding: %+v", rep.Findings)
	}
	if got.Source.File != f || got.Source.Line != 11 {
		t.Errorf("source = %s:%d, want %s:11 (the line of privileged: true)", got.Source.File, got.Source.Line, f)
	}
	if got.Field != "spec.containers[0].securityContext.privileged" || got.Container != "app" {
		t.Errorf("field %q container %q", got.Field, got.Container)
	}
	wantMsg := `privileged (container "app" must not set securityContext.privileged=true)`
	if got.Message != wantMsg || got.Severity.String() != "critical" {
		t.Errorf("message %q severity %s, want %q critical", got.Message, got.Severity, wantMsg)
	}
	if strings.Join(got.Practices, ",") != "000-2,002-4" || got.Fix == "" || len(got.Refs) == 0 {
		t.Errorf("rule metadata missing: %+v", got)
	}
	if rep.Summary.Verdict != "fail" || rep.Summary.Objects != 1 || rep.Summary.BySeverity["critical"] != 1 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

func TestDemo(t *testing.T) {
	code, out, _ := kubegate(t, "", "check", "--offline", "--no-color",
		"../../testdata/demo/kustomize/overlays/prod", "../../testdata/demo/chart", "-n", "monitoring")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the demo app fails on purpose)\n%s", code, out)
	}
	for _, want := range []string{
		// Kustomize: hostPID written in the base, object named and placed by the overlay.
		"../../testdata/demo/kustomize/base/deployment.yaml:19  HIGH      pss-host-namespaces  Deployment shop-prod/prod-web: host namespaces (hostPID=true)",
		"../../testdata/demo/kustomize/base/deployment.yaml:26  CRITICAL  pss-privileged  Deployment shop-prod/prod-web:",
		"(via kustomize:../../testdata/demo/kustomize/overlays/prod)",
		// Helm: hostNetwork from a template, at the template file.
		"../../testdata/demo/chart/templates/daemonset.yaml:15  HIGH      pss-host-namespaces  DaemonSet monitoring/release-name-metrics-agent: host namespaces (hostNetwork=true)",
		"note: images: 2 not checked (--offline): ghcr.io/acme/metrics-agent:2.1.0, ghcr.io/acme/web:1.4.2",
		"— FAIL (failOn: medium)",
	} {
		if !strings.Contains(out, want) && !strings.Contains(textRows(out), want) {
			t.Errorf("report lacks %q\n%s", want, out)
		}
	}
}

// A new user's hardened application passes with no noise at all.
func TestHardenedAppPasses(t *testing.T) {
	code, out, _ := kubegate(t, "", "check", "--offline", "--no-color", "--fail-on", "info", "../../testdata/hardened")
	if code != 0 || !strings.Contains(out, "12 objects, 0 findings") || !strings.Contains(out, "PASS") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	clean := write(t, dir, "clean.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: apps}
data: {a: b}
`)
	bad := write(t, dir, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n")
	notK8s := write(t, dir, "values.yaml", "replicas: 3\n")
	pod := write(t, dir, "pod.yaml", privilegedPod)
	policyBad := write(t, dir, "kubegate.yaml", "apiVersion: kubegate.dev/v1alpha1\nkind: Policy\nfailOn: high\nfialOn: low\n")

	cases := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"pass", []string{"check", "--offline", clean}, 0, "PASS"},
		{"fail", []string{"check", "--offline", pod}, 1, "FAIL"},
		{"below failOn is advice", []string{"check", "--offline", "--fail-on", "critical", "--profile", "baseline", write(t, dir, "ro.yaml", strings.Replace(privilegedPod, "privileged: true", "privileged: false", 1))}, 0, "read-only-root-filesystem"},
		{"malformed YAML names file:line", []string{"check", "--offline", bad}, 2, bad + ":4  ERROR  invalid YAML"},
		{"no Kubernetes objects", []string{"check", "--offline", notK8s}, 2, "not a Kubernetes object"},
		{"missing file", []string{"check", "--offline", filepath.Join(dir, "nope.yaml")}, 2, "no such file"},
		{"unknown policy key names its line", []string{"check", "--offline", "--config", policyBad, clean}, 2, policyBad + `:4: unknown key "fialOn"`},
		{"bad flag", []string{"check", "--profile", "loose", clean}, 2, "--profile must be baseline or restricted"},
		{"no path", []string{"check"}, 2, "name the manifests, directories, Kustomize roots or Helm charts to check"},
		{"looping chart", []string{"check", "--offline", "--helm-timeout", "500ms", "../../gate/render/testdata/loop"}, 2, "templates did not finish rendering within 500ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := kubegate(t, "", c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s%s", code, c.code, out, errOut)
			}
			if !strings.Contains(out+errOut, c.contains) {
				t.Errorf("output lacks %q:\n%s%s", c.contains, out, errOut)
			}
		})
	}
}

func TestOneBadDocumentDoesNotHideTheOthers(t *testing.T) {
	dir := t.TempDir()
	stream := privilegedPod + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n---\n" +
		strings.Replace(privilegedPod, "name: p", "name: q", 1)
	f := write(t, dir, "stream.yaml", stream)
	write(t, dir, "sub/broken.yaml", "kind: [\n")
	write(t, dir, "sub/good.yaml", strings.Replace(privilegedPod, "name: p", "name: r", 1))
	write(t, dir, "sub/chart-values.yaml", "image: {tag: x}\n")

	code, out, _ := kubegate(t, "", "check", "--offline", "--format", "json", dir)
	rep := jsonReport(t, out)
	if code != 2 || rep.Summary.Verdict != "error" {
		t.Errorf("exit %d verdict %s, want 2 error", code, rep.Summary.Verdict)
	}
	names := map[string]bool{}
	for _, fd := range rep.Findings {
		if fd.Rule == "pss-privileged" {
			names[fd.Object.Name] = true
		}
	}
	if !names["p"] || !names["q"] || !names["r"] {
		t.Errorf("privileged pods reported: %v, want p, q and r", names)
	}
	var msgs []string
	for _, e := range rep.Errors {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		f + `:17: duplicate key "name" (first set at line 16)`,
		filepath.Join(dir, "sub/broken.yaml") + ":2: invalid YAML: did not find expected node content",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "chart-values.yaml: skipped, not Kubernetes YAML") {
		t.Errorf("notes %v", rep.Notes)
	}
}

func TestStdin(t *testing.T) {
	code, out, _ := kubegate(t, privilegedPod, "check", "--offline", "--no-color", "-")
	if code != 1 || !strings.Contains(textRows(out), "<stdin>:11  CRITICAL  pss-privileged") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestRulesCommand(t *testing.T) {
	code, out, _ := kubegate(t, "", "rules")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"pss-privileged  ", "critical", "000-2,002-4", "read-only-root-filesystem", "exemption-expired",
		"api-removed", "network-policy-default-deny", "rbac-cluster-admin", "secret-hardcoded-credential", "trusted-node-pool", "image-not-pinned", "container-resources"} {
		if !strings.Contains(out, want) {
			t.Errorf("rules list lacks %q", want)
		}
	}
	for _, want := range []string{"apiserver-anonymous-auth  ", "1.2.1  ", "etcd-trusted-ca-distinct", "kubelet-protect-kernel-defaults",
		"4.2.6  ", "node-file-permissions", "1.1.1,1.1.3,… (14)", "kubernetes-version-unsupported"} {
		if !strings.Contains(out, want) {
			t.Errorf("rules list lacks %q", want)
		}
	}
	code, out, _ = kubegate(t, "", "rules", "apiserver-insecure-port")
	if code != 0 || !strings.Contains(out, "CIS 1.2.18 (benchmark 1.20, dropped since)") || !strings.Contains(out, "removed in Kubernetes 1.24") {
		t.Errorf("rules apiserver-insecure-port: exit %d\n%s", code, out)
	}
	code, out, _ = kubegate(t, "", "rules", "pss-host-namespaces")
	if code != 0 || !strings.Contains(out, "Severity:  high") || !strings.Contains(out, "Fix: Do not set hostNetwork") {
		t.Errorf("rules ID: exit %d\n%s", code, out)
	}
	code, out, _ = kubegate(t, "", "rules", "rbac-cluster-secrets-read")
	if code != 0 || !strings.Contains(out, "002-1") || !strings.Contains(out, "CIS 5.1.2") || !strings.Contains(out, "bound only by RoleBindings") {
		t.Errorf("rules rbac-cluster-secrets-read: exit %d\n%s", code, out)
	}
	code, _, errOut := kubegate(t, "", "rules", "no-such-rule")
	if code != 2 || !strings.Contains(errOut, `unknown rule "no-such-rule"`) {
		t.Errorf("unknown rule: exit %d %s", code, errOut)
	}
}

func TestRenderCommand(t *testing.T) {
	code, out, _ := kubegate(t, "", "render", "../../testdata/demo/kustomize/overlays/prod")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"# Source: ../../testdata/demo/kustomize/base/deployment.yaml:3 (via kustomize:../../testdata/demo/kustomize/overlays/prod)",
		"name: prod-web", "namespace: shop-prod", "replicas: 4",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render output lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "config.kubernetes.io/origin") {
		t.Error("origin annotation leaked into the rendered objects")
	}
}

// TestVersion: `kubegate version` and `kubegate --version` (as trivy, helm and kubectl
// users type it) print the same line.
func TestVersion(t *testing.T) {
	code, out, _ := kubegate(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "kubegate ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("exit %d %q", code, out)
	}
	code, flag, _ := kubegate(t, "", "--version")
	if code != 0 || flag != out {
		t.Errorf("--version: exit %d %q, want %q", code, flag, out)
	}
}

func TestNodeCommand(t *testing.T) {
	code, out, _ := kubegate(t, "", "node", "--root", "../../testdata/node-insecure", "--no-color")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{
		// A checkout's files are 0644 or 0664, depending on the umask: too open either way.
		"testdata/node-insecure/etc/kubernetes/manifests/kube-apiserver.yaml  HIGH      node-file-permissions  File /etc/kubernetes/manifests/kube-apiserver.yaml: mode 06",
		"want 0600 or stricter (CIS 1.1.1)",
		"node-file-ownership  File /var/lib/etcd: owned by",
		// the flag checks on what the node runs: the manifests, the kubelet config and drop-ins
		"etc/kubernetes/manifests/kube-apiserver.yaml:51  LOW       apiserver-profiling",
		"etc/systemd/system/kubelet.service.d/20-extra.conf:3  MEDIUM    kubelet-rotate-certificates",
		"note: node: 34 files checked for mode and owner under ../../testdata/node-insecure",
	} {
		if !strings.Contains(out, want) && !strings.Contains(textRows(out), want) {
			t.Errorf("node report lacks %q\n%s", want, out)
		}
	}
	code, _, errOut := kubegate(t, "", "node", "--root", "../../testdata/demo")
	if code != 2 {
		t.Errorf("a root with no node files: exit %d, want 2 (%s)", code, errOut)
	}
}

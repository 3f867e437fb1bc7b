package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/diff"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/report"
	"github.com/kubegate/kubegate/internal/schematest"
)

// The change's base is a commit of a repository built here: a chart, a Kustomize overlay
// and plain manifests, each with findings the base already has.
const (
	diffChart = "apiVersion: v2\nname: app\nversion: 1.0.0\n"
	// The template reads hostNetwork from values: a values change moves a finding into a
	// file the change does not touch.
	diffTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app
  namespace: shop
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      hostNetwork: {{ .Values.hostNetwork }}
      containers:
        - name: app
          image: registry.example/app:1.0
`
	diffOverlayBase = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: registry.example/api:1.0
          securityContext:
            privileged: true
`
	diffPolicy = "apiVersion: kubegate.dev/v1alpha1\nkind: Policy\nfailOn: high\n"
)

// diffRepo is a git repository with the base committed; it runs the rest of the test in it.
func diffRepo(t *testing.T) (repo string, git func(args ...string) string) {
	t.Helper()
	noGitHub(t)
	for k, v := range map[string]string{"GIT_CONFIG_GLOBAL": os.DevNull, "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"} {
		t.Setenv(k, v)
	}
	repo = t.TempDir()
	git = func(args ...string) string {
		t.Helper()
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = shellQuote(a)
		}
		code, out := sh(t, repo, nil, "sh", "git "+strings.Join(quoted, " "))
		if code != 0 {
			t.Fatalf("git %s: %s", strings.Join(args, " "), out)
		}
		return strings.TrimSpace(out)
	}
	git("init", "-q", "-b", "main")
	write(t, repo, "kubegate.yaml", diffPolicy)
	write(t, repo, "charts/app/Chart.yaml", diffChart)
	write(t, repo, "charts/app/values.yaml", "hostNetwork: false\n")
	write(t, repo, "charts/app/templates/deployment.yaml", diffTemplate)
	write(t, repo, "deploy/base/deployment.yaml", diffOverlayBase)
	write(t, repo, "deploy/base/kustomization.yaml", "resources: [deployment.yaml]\n")
	write(t, repo, "deploy/prod/kustomization.yaml", "resources: [../base]\n")
	write(t, repo, "plain/pod.yaml", privilegedPod)
	commitAll(git, "base")
	chdir(t, repo)
	return repo, git
}

// commitAll commits everything in the repository and returns the commit.
func commitAll(git func(args ...string) string, msg string) string {
	git("add", "-A")
	git("commit", "-qm", msg)
	return git("rev-parse", "HEAD")
}

func diffCheck(t *testing.T, args ...string) (int, report.JSONReport, string) {
	t.Helper()
	all := append([]string{"check", "--offline", "--diff-base", "main", "--format", "json"}, args...)
	all = append(all, "charts/app", "deploy/prod", "plain")
	code, out, errOut := kubegate(t, "", all...)
	if code == 2 {
		t.Fatalf("exit 2: %s%s", out, errOut)
	}
	return code, jsonReport(t, out), errOut
}

func statuses(r report.JSONReport) (news []string, unchanged int) {
	for _, f := range r.Findings {
		switch f.Status {
		case finding.New:
			news = append(news, f.Source.File+":"+f.Rule)
		case finding.Unchanged:
			unchanged++
		}
	}
	return news, unchanged
}

func TestDiffBase(t *testing.T) {
	repo, git := diffRepo(t)

	t.Run("nothing changed", func(t *testing.T) {
		code, r, _ := diffCheck(t)
		news, unchanged := statuses(r)
		if code != 0 || len(news) != 0 || unchanged == 0 || len(r.Fixed) != 0 || r.Diff == nil ||
			len(r.Diff.Added)+len(r.Diff.Removed)+len(r.Diff.Changed) != 0 {
			t.Fatalf("exit %d, new %v, unchanged %d, fixed %d, diff %+v", code, news, unchanged, len(r.Fixed), r.Diff)
		}
		if !strings.HasPrefix(r.Diff.Base, "main (") {
			t.Errorf("base named %q", r.Diff.Base)
		}
	})

	t.Run("a values change fails in a template it did not touch", func(t *testing.T) {
		write(t, repo, "charts/app/values.yaml", "hostNetwork: true\n")
		defer git("checkout", "-q", "--", ".")
		code, r, _ := diffCheck(t)
		news, _ := statuses(r)
		if code != 1 || len(news) != 1 || news[0] != "charts/app/templates/deployment.yaml:pss-host-namespaces" {
			t.Fatalf("exit %d, new findings %v", code, news)
		}
		if len(r.Diff.Changed) != 1 || r.Diff.Changed[0].Object.Name != "release-name-app" ||
			len(r.Diff.Changed[0].Fields) != 1 || r.Diff.Changed[0].Fields[0] != (diff.Field{Path: "spec.template.spec.hostNetwork", Old: "false", New: "true"}) {
			t.Errorf("rendered change: %+v", r.Diff.Changed)
		}
		// The same run in text and SARIF: the new finding marked, the rendered change shown.
		_, out, _ := kubegate(t, "", "check", "--offline", "--diff-base", "main", "charts/app", "deploy/prod", "plain")
		if !strings.Contains(textRows(out), "charts/app/templates/deployment.yaml:13  HIGH      pss-host-namespaces  Deployment shop/release-name-app: ") ||
			!strings.Contains(textRows(out), "[new]") || !strings.Contains(out, "~ Deployment shop/release-name-app") ||
			!strings.Contains(out, "spec.template.spec.hostNetwork: false → true") || !strings.Contains(out, ": 1 new, 0 fixed — FAIL") {
			t.Errorf("text report:\n%s", out)
		}
		_, sarif, _ := kubegate(t, "", "check", "--offline", "--diff-base", "main", "--format", "sarif", "charts/app", "deploy/prod", "plain")
		schematest.Validate(t, "sarif-schema-2.1.0.json", []byte(sarif), false)
		if strings.Count(sarif, `"baselineState": "new"`) != 1 || !strings.Contains(sarif, `"baselineState": "unchanged"`) {
			t.Errorf("SARIF baselineState: %d new", strings.Count(sarif, `"baselineState": "new"`))
		}
	})

	t.Run("a fix and nothing new passes and says what it fixed", func(t *testing.T) {
		write(t, repo, "deploy/base/deployment.yaml", strings.Replace(diffOverlayBase, "privileged: true", "privileged: false", 1))
		defer git("checkout", "-q", "--", ".")
		code, r, _ := diffCheck(t)
		news, _ := statuses(r)
		if code != 0 || len(news) != 0 || len(r.Fixed) != 1 || r.Fixed[0].Rule != "pss-privileged" || r.Fixed[0].Object.Name != "api" {
			t.Fatalf("exit %d, new %v, fixed %+v", code, news, r.Fixed)
		}
		_, out, _ := kubegate(t, "", "check", "--offline", "--diff-base", "main", "charts/app", "deploy/prod", "plain")
		if !strings.Contains(out, ": 0 new, 1 fixed — PASS") {
			t.Errorf("text summary:\n%s", out)
		}
	})

	t.Run("a renamed file is not new", func(t *testing.T) {
		git("mv", "plain/pod.yaml", "plain/web-pod.yaml")
		defer git("reset", "-q", "--hard")
		code, r, _ := diffCheck(t)
		news, unchanged := statuses(r)
		if code != 0 || len(news) != 0 || len(r.Fixed) != 0 || unchanged == 0 {
			t.Fatalf("exit %d, new %v, fixed %d", code, news, len(r.Fixed))
		}
		for _, f := range r.Findings {
			if f.Object.Name == "p" && f.Source.File != "plain/web-pod.yaml" {
				t.Errorf("finding at %s, want the renamed file", f.Source.File)
			}
		}
		if len(r.Diff.Added)+len(r.Diff.Removed)+len(r.Diff.Changed) != 0 {
			t.Errorf("a rename changed the rendered objects: %+v", r.Diff)
		}
	})

	t.Run("a base that does not render is a note; the change is still checked", func(t *testing.T) {
		write(t, repo, "charts/app/templates/deployment.yaml", "{{ .Values.broken.key }}\n"+diffTemplate)
		git("commit", "-qam", "broken")
		defer git("reset", "-q", "--hard", "HEAD~1")
		write(t, repo, "charts/app/templates/deployment.yaml", diffTemplate)
		code, r, _ := diffCheck(t, "--diff-base", "HEAD")
		news, _ := statuses(r)
		if len(news) == 0 || code != 0 && code != 1 {
			t.Fatalf("exit %d, new %v", code, news)
		}
		note := strings.Join(r.Notes, "\n")
		if !strings.Contains(note, "diff base HEAD (") || !strings.Contains(note, "input errors") || !strings.Contains(note, "charts/app") {
			t.Errorf("notes: %s", note)
		}
		for _, f := range r.Findings {
			if strings.HasPrefix(f.Source.File, "charts/app/") && f.Status != finding.New {
				t.Errorf("%s %s: %s; the base did not render the chart, so it is new", f.Source.File, f.Rule, f.Status)
			}
		}
	})

	t.Run("an absolute path and a working directory below the top", func(t *testing.T) {
		write(t, repo, "charts/app/values.yaml", "hostNetwork: true\n")
		defer git("checkout", "-q", "--", ".")
		chdir(t, filepath.Join(repo, "charts"))
		code, out, errOut := kubegate(t, "", "check", "--offline", "--diff-base", "main", "--format", "json",
			"app", filepath.Join(repo, "plain"), filepath.Join(repo, "deploy/prod"))
		r := jsonReport(t, out)
		news, _ := statuses(r)
		if code != 1 || len(news) != 1 || news[0] != "app/templates/deployment.yaml:pss-host-namespaces" || len(r.Fixed) != 0 {
			t.Fatalf("exit %d, new %v, fixed %v %s\nnotes %v", code, news, r.Fixed, errOut, r.Notes)
		}
		if len(r.Diff.Changed) != 1 || len(r.Diff.Added)+len(r.Diff.Removed) != 0 {
			t.Errorf("rendered change: %+v", r.Diff)
		}
	})

	t.Run("absolute paths through a symbolic link, and one outside the work tree", func(t *testing.T) {
		write(t, repo, "charts/app/values.yaml", "hostNetwork: true\n")
		defer git("checkout", "-q", "--", ".")
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(repo, link); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := kubegate(t, "", "check", "--offline", "--diff-base", "main", "--format", "json",
			filepath.Join(link, "charts/app"), filepath.Join(link, "plain"), filepath.Join(link, "deploy/prod"))
		r := jsonReport(t, out)
		news, unchanged := statuses(r)
		if code != 1 || len(news) != 1 || !strings.HasSuffix(news[0], "charts/app/templates/deployment.yaml:pss-host-namespaces") || unchanged == 0 || len(r.Fixed) != 0 {
			t.Fatalf("exit %d, new %v, fixed %d %s", code, news, len(r.Fixed), errOut)
		}
		outside := t.TempDir()
		write(t, outside, "pod.yaml", privilegedPod)
		code, _, errOut = kubegate(t, "", "check", "--offline", "--diff-base", "main", "plain", outside)
		if code != 2 || !strings.Contains(errOut, "is outside the git work tree") {
			t.Errorf("a path outside the work tree: exit %d %s", code, errOut)
		}
		code, _, errOut = kubegate(t, "", "check", "--offline", "--diff-base", "main", "../"+filepath.Base(outside))
		if code != 2 || !strings.Contains(errOut, "is outside the git work tree") {
			t.Errorf("a relative path outside the work tree: exit %d %s", code, errOut)
		}
		// A values file outside the work tree (a CI secret), named relative to the working
		// directory: both runs read that file, so what it sets is no change.
		write(t, outside, "secret-values.yaml", "hostNetwork: true\n")
		git("checkout", "-q", "--", ".")
		wd, _ := os.Getwd()
		rel, err := filepath.Rel(wd, filepath.Join(outside, "secret-values.yaml"))
		if err != nil || !strings.HasPrefix(rel, "..") {
			t.Fatalf("relative path %q from %s: %v", rel, wd, err)
		}
		code, out, errOut = kubegate(t, "", "check", "--offline", "--diff-base", "main", "--format", "json", "-f", rel, "charts/app")
		r = jsonReport(t, out)
		if news, unchanged := statuses(r); len(news) != 0 || unchanged == 0 {
			t.Errorf("a relative values file outside the work tree: exit %d, new %v, %d unchanged %s\nnotes %v", code, news, unchanged, errOut, r.Notes)
		}
	})

	t.Run("mistakes", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"check", "--offline", "--diff-base", "no-such-ref", "plain"}, `--diff-base: "no-such-ref" is not a commit of this repository`},
			{[]string{"check", "--offline", "--diff-base", "main", "-"}, "standard input (-) has no base"},
			{[]string{"check", "--offline", "--diff-base", "main", "--write-baseline", "b.yaml", "plain"}, "does not combine with --diff-base"},
		} {
			code, _, errOut := kubegate(t, "", tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("%v: exit %d %s", tc.args, code, errOut)
			}
		}
	})
}

package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/internal/schematest"
)

// calmPod has findings, none critical.
var calmPod = strings.Replace(privilegedPod, "privileged: true", "privileged: false", 1)

// sh runs a shell script in dir with env added, as a CI runner does; it returns the exit
// code and the combined output.
func sh(t *testing.T, dir string, env []string, shell, script string) (int, string) {
	t.Helper()
	cmd := exec.Command(shell, "-e", "-c", script)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// actionStep is a step of a composite action.
type actionStep struct {
	ID, Run, Shell string
	Env            map[string]string
}

// codeQualityIssue is an entry of a GitLab Code Quality report, as GitLab reads it.
type codeQualityIssue struct {
	CheckName   string `json:"check_name"`
	Description string
	Fingerprint string
	Severity    string
	Location    struct {
		Path  string
		Lines struct{ Begin int }
	}
}

// TestGitHubAction runs action.yml's gate step the way the runner runs a composite
// action's step: its env with ${{ inputs.* }} evaluated (defaults for unset inputs),
// GITHUB_* files, bash, in the workspace.
func TestGitHubAction(t *testing.T) {
	noGitHub(t)
	doc := []byte(readFile(t, "../../action.yml"))
	schematest.Validate(t, "github-action.json", doc, true)
	var action struct {
		Inputs  map[string]struct{ Default string }
		Outputs map[string]struct{ Value string }
		Runs    struct {
			Using string
			Steps []actionStep
		}
	}
	if err := yaml.Unmarshal(doc, &action); err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for name := range action.Inputs {
		inputs = append(inputs, name)
	}
	slices.Sort(inputs)
	if want := []string{"args", "cache", "config", "diff-base", "fail-on", "kube-version", "offline", "paths", "profile", "sarif-file", "version"}; !slices.Equal(inputs, want) {
		t.Errorf("inputs %v, want %v", inputs, want)
	}
	i := slices.IndexFunc(action.Runs.Steps, func(s actionStep) bool { return s.ID == "gate" })
	if action.Runs.Using != "composite" || i < 0 {
		t.Fatalf("no gate step in %+v", action.Runs)
	}
	step := action.Runs.Steps[i]
	expr := regexp.MustCompile(`^\$\{\{ inputs\.([a-z-]+) \}\}$`)
	for _, name := range inputs { // every input of the check reaches the step under the runner's name
		if name == "version" || name == "cache" { // the install and cache steps' inputs
			continue
		}
		if m := expr.FindStringSubmatch(step.Env[actionEnv(name)]); m == nil || m[1] != name {
			t.Errorf("input %s is not passed as %s", name, actionEnv(name))
		}
	}
	for name, o := range action.Outputs {
		if o.Value != "${{ steps.gate.outputs."+name+" }}" {
			t.Errorf("output %s = %q", name, o.Value)
		}
	}

	if bin := step.Env["KUBEGATE_BIN"]; bin != "${{ steps.download.outputs.bin || steps.build.outputs.bin }}" {
		t.Errorf("the gate runs %q, not the downloaded or built kubegate", bin)
	}
	bin := filepath.Join(cliOnPath(t), "kubegate") // as after the download or build step
	runStep := func(with map[string]string) (code int, out, outputs, summary, workspace string) {
		ws := t.TempDir()
		write(t, ws, "deploy/pod.yaml", with["manifest"])
		env := []string{"GITHUB_ACTIONS=true", "GITHUB_WORKSPACE=" + ws, "KUBEGATE_BIN=" + bin,
			"KUBEGATE_ACTION_CACHE_DIR=" + with["cache-dir"], "KUBEGATE_ACTION_CACHE_HIT=" + with["cache-hit"],
			"GITHUB_OUTPUT=" + write(t, ws, ".runner/output", ""), "GITHUB_STEP_SUMMARY=" + write(t, ws, ".runner/summary", "")}
		for k, v := range step.Env {
			if !strings.HasPrefix(k, "INPUT_") {
				continue
			}
			name := expr.FindStringSubmatch(v)[1]
			val, ok := with[name]
			if !ok {
				val = action.Inputs[name].Default
			}
			env = append(env, k+"="+val)
		}
		code, out = sh(t, ws, env, "bash", step.Run)
		return code, out, readFile(t, filepath.Join(ws, ".runner/output")), readFile(t, filepath.Join(ws, ".runner/summary")), ws
	}

	code, out, outputs, summary, ws := runStep(map[string]string{"manifest": privilegedPod, "paths": "deploy", "offline": "true"})
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "::error file=deploy/pod.yaml,line=11,title=kubegate pss-privileged (critical)::") {
		t.Errorf("no annotation:\n%s", out)
	}
	if !strings.HasPrefix(outputs, "verdict=fail\nfindings=") || !strings.HasSuffix(outputs, "\nexit-code=1\nsarif-file=kubegate.sarif\n") {
		t.Errorf("outputs:\n%s", outputs)
	}
	if !strings.Contains(summary, "## ❌ kubegate: FAIL") || !strings.Contains(summary, "| `deploy/pod.yaml:11` | critical | [pss-privileged]") {
		t.Errorf("summary:\n%s", summary)
	}
	schematest.Validate(t, "sarif-schema-2.1.0.json", []byte(readFile(t, filepath.Join(ws, "kubegate.sarif"))), false)

	code, out, outputs, _, _ = runStep(map[string]string{"manifest": calmPod, "paths": "deploy", "offline": "true", "fail-on": "critical", "sarif-file": ""})
	if code != 0 || !strings.HasPrefix(outputs, "verdict=pass\n") || !strings.HasSuffix(outputs, "sarif-file=\n") {
		t.Errorf("passing run: exit %d, outputs %q\n%s", code, outputs, out)
	}

	// Inputs never reach a shell.
	code, out, _, _, ws = runStep(map[string]string{"manifest": calmPod, "paths": "deploy $(touch pwned)", "offline": "true"})
	if _, err := os.Stat(filepath.Join(ws, "pwned")); err == nil || code != 2 || !strings.Contains(out, "$(touch") {
		t.Errorf("paths input was run by a shell, or not reported: exit %d\n%s", code, out)
	}
	code, out, _, _, _ = runStep(map[string]string{"manifest": calmPod, "offline": "yes"})
	if code != 2 || !strings.Contains(out, `input offline must be true or false, got "yes"`) {
		t.Errorf("bad offline input: exit %d\n%s", code, out)
	}

	// On a pull request the step compares with its base: the base's finding does not fail
	// the step and is not annotated; the one the pull request adds does.
	repo, git := diffRepo(t)
	write(t, repo, "k8s/old.yaml", privilegedPod)
	base := commitAll(git, "base")
	write(t, repo, "k8s/new.yaml", strings.Replace(privilegedPod, "name: p\n", "name: p2\n", 1))
	commitAll(git, "pull request")
	env := []string{"GITHUB_ACTIONS=true", "GITHUB_WORKSPACE=" + repo, "KUBEGATE_BIN=" + bin, "KUBEGATE_PR_BASE=" + base,
		"GITHUB_OUTPUT=" + write(t, t.TempDir(), "output", ""), "GITHUB_STEP_SUMMARY=" + write(t, t.TempDir(), "summary", ""),
		"INPUT_PATHS=k8s", "INPUT_OFFLINE=true", "INPUT_FAIL_ON=critical", "INPUT_SARIF_FILE=", "INPUT_DIFF_BASE="}
	code, out = sh(t, repo, env, "bash", step.Run)
	if code != 1 || !strings.Contains(out, "::error file=k8s/new.yaml,line=11,title=kubegate pss-privileged (critical)::") ||
		strings.Contains(out, "file=k8s/old.yaml") || !strings.Contains(out, "against "+base[:12]+": ") {
		t.Errorf("pull request: exit %d\n%s", code, out)
	}
}

// gitlabJob is a kubegate job of a GitLab CI file, as far as the tests read it.
type gitlabJob struct {
	Stage string
	Image struct {
		Name       string
		Entrypoint []string
	}
	Variables map[string]string
	Cache     struct {
		Key   string
		Paths []string
		When  string
	}
	Script    []string
	Artifacts struct {
		When    string
		Reports struct{ Codequality, Junit string }
	}
}

// gitlabSchema is GitLab's CI schema, which make test fetches (scripts/gitlab-ci-schema.sh).
func gitlabSchema(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KUBEGATE_TEST_GITLAB_SCHEMA"); p != "" {
		return p
	}
	if p, _ := filepath.Abs("../../.cache/schemas/gitlab-ci-4.65.1.json"); fileExists(p) {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no GitLab CI schema: make test fetches it (KUBEGATE_TEST_GITLAB_SCHEMA)")
	}
	t.Skip("no GitLab CI schema: run make test, which fetches it")
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// runGitLabJob runs the job's script as the runner does: the file's and the job's variables
// (the project's overrides on top) in the environment, the script lines in one sh -e, in
// the project directory, with the project's manifests; then it checks the reports the job
// declares. It returns the project directory.
func runGitLabJob(t *testing.T, global map[string]string, job gitlabJob, project map[string]string) string {
	t.Helper()
	if job.Image.Entrypoint == nil || !slices.Equal(job.Image.Entrypoint, []string{""}) || job.Artifacts.When != "always" {
		t.Errorf("job %+v", job)
	}
	cliOnPath(t)
	dir := t.TempDir()
	write(t, dir, "deploy/pod.yaml", privilegedPod)
	write(t, dir, "deploy/pod2.yaml", strings.Replace(calmPod, "name: p\n", "name: p2\n", 1))
	vars := map[string]string{}
	for _, m := range []map[string]string{global, job.Variables, project} {
		for k, v := range m {
			vars[k] = v
		}
	}
	env := []string{"CI_PROJECT_DIR=" + dir, "GITLAB_CI=true"}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	code, out := sh(t, dir, env, "sh", strings.Join(job.Script, "\n"))
	if code != 1 || !strings.Contains(textRows(out), "deploy/pod.yaml:11  CRITICAL  pss-privileged") {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	var issues []codeQualityIssue
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, job.Artifacts.Reports.Codequality))), &issues); err != nil {
		t.Fatal(err)
	}
	if len(issues) == 0 || issues[0].Location.Path != "deploy/pod.yaml" || issues[0].Fingerprint == "" {
		t.Errorf("code quality %+v", issues)
	}
	i := slices.IndexFunc(issues, func(i codeQualityIssue) bool { return i.CheckName == "pss-privileged" })
	if i < 0 || issues[i].Location.Lines.Begin != 11 || issues[i].Severity != "blocker" {
		t.Errorf("no pss-privileged blocker at line 11: %+v", issues)
	}
	var junit struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(readFile(t, filepath.Join(dir, job.Artifacts.Reports.Junit))), &junit); err != nil {
		t.Fatal(err)
	}
	if junit.Failures != 1 || junit.Tests < 2 {
		t.Errorf("junit: %d tests, %d failures", junit.Tests, junit.Failures)
	}
	if len(job.Cache.Paths) != 1 || job.Cache.Paths[0] != vars["KUBEGATE_CACHE"]+"/" || job.Cache.When != "always" {
		t.Errorf("cache %+v does not keep KUBEGATE_CACHE (%s) after every job", job.Cache, vars["KUBEGATE_CACHE"])
	}
	return dir
}

// TestGitLabTemplate: the include template is valid GitLab CI and its job runs.
func TestGitLabTemplate(t *testing.T) {
	noGitHub(t)
	doc := []byte(readFile(t, "../../ci/gitlab/kubegate.gitlab-ci.yml"))
	schematest.Validate(t, gitlabSchema(t), doc, true)
	var tmpl struct {
		Variables map[string]string
		Job       gitlabJob `yaml:"kubegate"`
	}
	if err := yaml.Unmarshal(doc, &tmpl); err != nil {
		t.Fatal(err)
	}
	if tmpl.Job.Image.Name != "$KUBEGATE_IMAGE" || !strings.HasSuffix(tmpl.Variables["KUBEGATE_IMAGE"], ":debug") {
		t.Errorf("image %q (KUBEGATE_IMAGE %q): the job needs the image with a shell", tmpl.Job.Image.Name, tmpl.Variables["KUBEGATE_IMAGE"])
	}
	runGitLabJob(t, tmpl.Variables, tmpl.Job, map[string]string{"KUBEGATE_PATHS": "deploy", "KUBEGATE_ARGS": "--offline --fail-on critical"})
}

// gitlabInput is GitLab's input interpolation, $[[ inputs.name ]].
var gitlabInput = regexp.MustCompile(`\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]`)

// TestGitLabComponent: the CI/CD Catalog component is valid GitLab CI (its spec header and,
// with inputs interpolated as GitLab does, its jobs), every input is declared and used,
// and the job runs with the inputs a project gives; an input never runs as a command.
func TestGitLabComponent(t *testing.T) {
	noGitHub(t)
	schema := gitlabSchema(t)
	text := readFile(t, "../../templates/kubegate/template.yml")
	header, body, ok := strings.Cut(text, "\n---\n")
	if !ok {
		t.Fatal("no spec header document")
	}
	schematest.Validate(t, schema, []byte(header), true)
	var spec struct {
		Spec struct {
			Inputs map[string]struct{ Default string }
		}
	}
	if err := yaml.Unmarshal([]byte(header), &spec); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, m := range gitlabInput.FindAllStringSubmatch(body, -1) {
		if _, ok := spec.Spec.Inputs[m[1]]; !ok {
			t.Errorf("input %s is used but not declared", m[1])
		}
		used[m[1]] = true
	}
	for name := range spec.Spec.Inputs {
		if !used[name] {
			t.Errorf("input %s is declared but not used", name)
		}
	}
	if img := spec.Spec.Inputs["image"].Default; !strings.HasPrefix(img, "ghcr.io/kubegate/kubegate:") || !strings.HasSuffix(img, "debug") {
		t.Errorf("default image %q: the job needs the image with a shell", img)
	}

	// GitLab interpolates the loaded YAML's keys and values, so an input is a value, never YAML.
	interpolate := func(with map[string]string) map[string]gitlabJob {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(body), &root); err != nil {
			t.Fatal(err)
		}
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			if n.Kind == yaml.ScalarNode {
				n.Value = gitlabInput.ReplaceAllStringFunc(n.Value, func(m string) string {
					name := gitlabInput.FindStringSubmatch(m)[1]
					if v, ok := with[name]; ok {
						return v
					}
					return spec.Spec.Inputs[name].Default
				})
				if n.Value == "" {
					n.Style = yaml.DoubleQuotedStyle // "", not null
				}
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(&root)
		out, err := yaml.Marshal(&root)
		if err != nil {
			t.Fatal(err)
		}
		schematest.Validate(t, schema, out, true)
		var jobs map[string]gitlabJob
		if err := yaml.Unmarshal(out, &jobs); err != nil {
			t.Fatal(err)
		}
		return jobs
	}
	jobs := interpolate(map[string]string{"paths": "deploy", "args": "--offline --fail-on critical", "job-name": "gate", "stage": "verify"})
	job, ok := jobs["gate"]
	if !ok || len(jobs) != 1 || job.Stage != "verify" || job.Image.Name != spec.Spec.Inputs["image"].Default {
		t.Fatalf("jobs %+v", jobs)
	}
	runGitLabJob(t, nil, job, nil)

	job = interpolate(map[string]string{"paths": "deploy $(touch pwned) `touch pwned2`", "args": "--offline"})["kubegate"]
	cliOnPath(t)
	dir := t.TempDir()
	write(t, dir, "deploy/pod.yaml", calmPod)
	var env []string
	for k, v := range job.Variables {
		env = append(env, k+"="+v)
	}
	code, out := sh(t, dir, env, "sh", strings.Join(job.Script, "\n"))
	if fileExists(filepath.Join(dir, "pwned")) || fileExists(filepath.Join(dir, "pwned2")) || code != 2 {
		t.Errorf("the paths input ran as a command, or was not reported: exit %d\n%s", code, out)
	}

	// A merge request pipeline fails only on what the merge request adds.
	job = interpolate(map[string]string{"paths": "k8s", "args": "--offline --fail-on critical"})["kubegate"]
	repo, git := diffRepo(t)
	write(t, repo, "k8s/pod.yaml", privilegedPod)
	base := commitAll(git, "a privileged pod, before the gate")
	write(t, repo, "k8s/calm.yaml", strings.Replace(calmPod, "name: p\n", "name: calm\n", 1))
	commitAll(git, "the merge request: a calm pod")
	env = []string{"CI_PROJECT_DIR=" + repo, "CI_MERGE_REQUEST_DIFF_BASE_SHA=" + base}
	for k, v := range job.Variables {
		env = append(env, k+"="+v)
	}
	if code, out := sh(t, repo, env, "sh", strings.Join(job.Script, "\n")); code != 0 || !strings.Contains(out, "against "+base[:12]+": ") ||
		!strings.Contains(textRows(out), "k8s/pod.yaml:11  CRITICAL  pss-privileged  Pod apps/p: privileged (container \"app\" must not set securityContext.privileged=true)  [unchanged]") {
		t.Errorf("merge request adding nothing critical: exit %d\n%s", code, out)
	}
	write(t, repo, "k8s/calm.yaml", strings.Replace(privilegedPod, "name: p\n", "name: p3\n", 1))
	git("commit", "-qam", "the merge request adds a privileged pod")
	code, out = sh(t, repo, env, "sh", strings.Join(job.Script, "\n"))
	if code != 1 || !strings.Contains(textRows(out), "k8s/calm.yaml:11  CRITICAL  pss-privileged  Pod apps/p3: privileged (container \"app\" must not set securityContext.privileged=true)  [new]") {
		t.Errorf("merge request adding a finding: exit %d\n%s", code, out)
	}
	// Without git in the image every finding counts, and the log says why.
	noGit := t.TempDir()
	for _, tool := range []string{"sh", "kubegate", "cat", "echo"} {
		if p, err := exec.LookPath(tool); err == nil {
			os.Symlink(p, filepath.Join(noGit, tool))
		}
	}
	code, out = sh(t, repo, append(env, "PATH="+noGit), "sh", strings.Join(job.Script, "\n"))
	if code != 1 || !strings.Contains(out, "kubegate: no git in this image, so every finding counts") || strings.Contains(out, "[unchanged]") {
		t.Errorf("no git: exit %d\n%s", code, out)
	}
}

// TestPreCommitHook runs the hook as pre-commit runs a `system` hook: entry split like a
// shell, args after it, no file names (pass_filenames: false), in the repository root.
func TestPreCommitHook(t *testing.T) {
	noGitHub(t)
	doc := []byte(readFile(t, "../../.pre-commit-hooks.yaml"))
	schematest.Validate(t, "pre-commit-hooks.json", doc, true)
	var hooks []struct {
		ID, Entry, Language, Files string
		Args                       []string
		PassFilenames              *bool `yaml:"pass_filenames"`
	}
	if err := yaml.Unmarshal(doc, &hooks); err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 || hooks[0].ID != "kubegate" || hooks[0].PassFilenames == nil || *hooks[0].PassFilenames {
		t.Fatalf("hooks %+v", hooks)
	}
	h := hooks[0]
	files := regexp.MustCompile(h.Files)
	for name, want := range map[string]bool{"deploy/pod.yaml": true, "charts/app/templates/_helpers.tpl": true,
		"charts/app/Chart.lock": true, "values.yml": true, "main.go": false, "README.md": false} {
		if files.MatchString(name) != want {
			t.Errorf("files pattern on %s: %v", name, !want)
		}
	}
	cliOnPath(t)
	repo := t.TempDir()
	command := strings.Join(append([]string{h.Entry}, h.Args...), " ")
	write(t, repo, "deploy/pod.yaml", privilegedPod)
	if code, out := sh(t, repo, nil, "sh", command); code != 1 || !strings.Contains(textRows(out), "deploy/pod.yaml:11  CRITICAL  pss-privileged") {
		t.Errorf("%s: exit %d\n%s", command, code, out)
	}
	write(t, repo, "deploy/pod.yaml", calmPod)
	if code, out := sh(t, repo, nil, "sh", command+" --fail-on critical"); code != 0 {
		t.Errorf("%s: exit %d\n%s", command, code, out)
	}
}

// TestPrePushHook installs the hook in a repository and pushes to a bare one: a clean
// commit goes through, a violating commit is blocked (whatever the working tree holds), a
// push that changes no manifest is not checked again, and a foreign hook is kept unless
// --force.
func TestPrePushHook(t *testing.T) {
	noGitHub(t)
	cliOnPath(t)
	for k, v := range map[string]string{"GIT_CONFIG_GLOBAL": os.DevNull, "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"} {
		t.Setenv(k, v)
	}
	remote, repo := t.TempDir(), t.TempDir()
	git := func(args ...string) (int, string) {
		t.Helper()
		return sh(t, repo, nil, "sh", "git "+strings.Join(args, " "))
	}
	if code, out := sh(t, remote, nil, "sh", "git init -q --bare"); code != 0 {
		t.Fatal(out)
	}
	for _, c := range []string{"init -q -b main", "remote add origin " + remote} {
		if code, out := git(c); code != 0 {
			t.Fatal(out)
		}
	}
	chdir(t, repo)
	write(t, repo, "deploy/pod.yaml", calmPod)
	write(t, repo, "kubegate.yaml", "apiVersion: kubegate.dev/v1alpha1\nkind: Policy\nfailOn: critical\n")
	git("add -A")
	git("commit -qm clean")

	write(t, repo, ".git/hooks/pre-push", "#!/bin/sh\necho mine\n")
	if code, _, errOut := kubegate(t, "", "hook", "install"); code != 2 || !strings.Contains(errOut, "pre-push exists and was not written by kubegate: use --force") {
		t.Fatalf("foreign hook: exit %d %q", code, errOut)
	}
	if code, out, errOut := kubegate(t, "", "hook", "install", "--force", "--", "--offline", "deploy"); code != 0 || !strings.Contains(out, "installed ") {
		t.Fatalf("install: exit %d %s%s", code, out, errOut)
	}
	if code, _, errOut := kubegate(t, "", "hook", "install", "--", "--offline", "deploy"); code != 0 {
		t.Fatalf("reinstalling over our own hook: exit %d %s", code, errOut)
	}

	// A violation only in the working tree does not block the clean commit.
	write(t, repo, "deploy/pod.yaml", privilegedPod)
	if code, out := git("push -q origin main"); code != 0 || !strings.Contains(out, "kubegate: checking refs/heads/main") {
		t.Fatalf("clean push: exit %d\n%s", code, out)
	}
	git("commit -qam privileged")
	code, out := git("push -q origin main")
	if code == 0 || !strings.Contains(textRows(out), "deploy/pod.yaml:11  CRITICAL  pss-privileged") || !strings.Contains(out, "kubegate: push blocked") {
		t.Fatalf("violating push: exit %d\n%s", code, out)
	}
	if _, remoteHead := sh(t, remote, nil, "sh", "git log --format=%s -1 main"); strings.TrimSpace(remoteHead) != "clean" {
		t.Errorf("the remote got the blocked commit: %s", remoteHead)
	}
	write(t, repo, "deploy/pod.yaml", calmPod)
	git("commit -qam fixed")
	write(t, repo, "README.md", "docs\n")
	git("add README.md")
	git("commit -qm docs")
	if code, out := git("push -q origin main"); code != 0 {
		t.Fatalf("fixed push: exit %d\n%s", code, out)
	}
	write(t, repo, "NOTES.md", "more docs\n")
	git("add NOTES.md")
	git("commit -qm notes")
	if code, out := git("push -q origin main"); code != 0 || !strings.Contains(out, "no manifest, chart or policy changed, not checked again") {
		t.Errorf("docs-only push: exit %d\n%s", code, out)
	}
	if hook := readFile(t, filepath.Join(repo, ".git/hooks/pre-push")); !bytes.Contains([]byte(hook), []byte("\nexec kubegate hook pre-push '--offline' 'deploy'\n")) {
		t.Errorf("hook script:\n%s", hook)
	}
	// The push is judged against what the remote has: a finding already there (pushed
	// past the hook) does not block a later push that adds none; one that adds one does.
	write(t, repo, "deploy/legacy.yaml", strings.Replace(privilegedPod, "name: p\n", "name: legacy\n", 1))
	git("add -A")
	git("commit -qm legacy")
	if code, out := git("push -q --no-verify origin main"); code != 0 {
		t.Fatalf("push --no-verify: exit %d\n%s", code, out)
	}
	write(t, repo, "deploy/calm.yaml", strings.Replace(calmPod, "name: p\n", "name: calm\n", 1))
	git("add -A")
	git("commit -qm calm")
	if code, out := git("push -q origin main"); code != 0 || !strings.Contains(out, "against refs/heads/main") ||
		!strings.Contains(textRows(out), "deploy/legacy.yaml:11  CRITICAL  pss-privileged  Pod apps/legacy: privileged (container \"app\" must not set securityContext.privileged=true)  [unchanged]") {
		t.Errorf("a push adding nothing critical over a remote with a finding: exit %d\n%s", code, out)
	}

	// The hook's arguments are check's, tried when it is installed: a typo is refused, not
	// installed to block every push.
	code, _, errOut := kubegate(t, "", "hook", "install", "--", "--fial-on", "high")
	if code != 2 || !strings.Contains(errOut, "unknown flag: --fial-on") {
		t.Errorf("--fial-on: exit %d %s", code, errOut)
	}
	code, _, errOut = kubegate(t, "", "hook", "install", "--", "--fail-on", "severe", "deploy")
	if code != 2 || !strings.Contains(errOut, "the hook would run `kubegate check --fail-on severe deploy`, which stops before checking anything") ||
		!strings.Contains(errOut, `--fail-on: unknown severity "severe"`) {
		t.Errorf("--fail-on severe: exit %d %s", code, errOut)
	}
	// Flags and no path: the whole commit is checked.
	if code, _, errOut := kubegate(t, "", "hook", "install", "--", "--offline", "--fail-on", "high"); code != 0 {
		t.Fatalf("flags only: exit %d %s", code, errOut)
	}
	if hook := readFile(t, filepath.Join(repo, ".git/hooks/pre-push")); !strings.Contains(hook, "exec kubegate hook pre-push '--offline' '--fail-on' 'high' '.'\n") {
		t.Errorf("flags only: hook script:\n%s", hook)
	}
	// Without kubegate on PATH the hook blocks the push and says why.
	code, out = sh(t, repo, []string{"PATH=/usr/bin:/bin"}, "sh", ".git/hooks/pre-push origin "+remote)
	if code == 0 || !strings.Contains(out, "kubegate: not found on PATH, so the push is not checked and is blocked") {
		t.Errorf("no kubegate on PATH: exit %d %s", code, out)
	}
}

// dockerfile parses a Dockerfile with BuildKit's own parser: the global ARG defaults and
// each stage's instructions as words.
func dockerfile(t *testing.T, path string) (args map[string]string, stages []map[string][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	args = map[string]string{}
	for _, n := range res.AST.Children {
		var words []string
		for w := n.Next; w != nil; w = w.Next {
			words = append(words, w.Value)
		}
		line := strings.Join(words, " ")
		switch name := strings.ToUpper(n.Value); {
		case name == "FROM":
			stages = append(stages, map[string][]string{"FROM": {line}})
		case name == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(line, "=")
			args[k] = v
		case len(stages) > 0:
			stages[len(stages)-1][name] = append(stages[len(stages)-1][name], line)
		}
	}
	return args, stages
}

// distrolessRuntime holds a runtime stage to what the image must be: distroless static as
// the base, the binary at /usr/local/bin/kubegate copied from copyFrom, one non-root USER,
// kubegate as the entrypoint.
func distrolessRuntime(t *testing.T, name string, args map[string]string, stage map[string][]string, copyFrom string) {
	t.Helper()
	if stage["FROM"][0] != "${BASE}" || args["BASE"] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("%s: runtime FROM %v, BASE %q, want distroless static nonroot", name, stage["FROM"], args["BASE"])
	}
	if user := stage["USER"]; len(user) != 1 || user[0] != "65532:65532" {
		t.Errorf("%s: runtime user %v, want one non-root USER (distroless nonroot)", name, user)
	}
	if ep := stage["ENTRYPOINT"]; len(ep) != 1 || ep[0] != "/usr/local/bin/kubegate" {
		t.Errorf("%s: ENTRYPOINT %v", name, ep)
	}
	if cp := stage["COPY"]; len(cp) != 1 || cp[0] != copyFrom+" /usr/local/bin/kubegate" {
		t.Errorf("%s: runtime COPY %v", name, cp)
	}
	if len(stage["RUN"]) != 0 {
		t.Errorf("%s: RUN in the runtime stage %v (distroless has no shell)", name, stage["RUN"])
	}
}

// TestDockerfile: no container engine here, so the Dockerfiles are parsed with BuildKit's
// own parser and held to what the image must be: the source build by `make build` (the
// static build the tests run on), from a Go at least go.mod's; the release image from the
// binary GoReleaser built (the same build, scripts/release-check.sh); both distroless, run
// as a non-root user, kubegate as the entrypoint; and the build context keeps what the
// build reads.
func TestDockerfile(t *testing.T) {
	args, stages := dockerfile(t, "../../Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	if from := stages[0]["FROM"]; !strings.HasPrefix(from[0], "golang:${GO_VERSION}") {
		t.Errorf("build stage FROM %v", from)
	}
	if runs := strings.Join(stages[0]["RUN"], "\n"); !strings.Contains(runs, "make build VERSION=${VERSION}") ||
		!strings.Contains(runs, "CGO_ENABLED=0") {
		t.Errorf("the image is not built by make build, checked static:\n%s", runs)
	}
	mod := readFile(t, "../../go.mod")
	want := regexp.MustCompile(`(?m)^go (\d+\.\d+\.\d+)$`).FindStringSubmatch(mod)
	if want == nil || semverLess(args["GO_VERSION"], want[1]) {
		t.Errorf("GO_VERSION %q older than go.mod's go %v", args["GO_VERSION"], want)
	}
	distrolessRuntime(t, "Dockerfile", args, stages[1], "/src/bin/kubegate") // COPY --from=build

	args, stages = dockerfile(t, "../../build/release.Dockerfile")
	if len(stages) != 1 {
		t.Fatalf("release.Dockerfile: %d stages, want one (the binary is built already)", len(stages))
	}
	distrolessRuntime(t, "release.Dockerfile", args, stages[0], "${TARGETPLATFORM}/kubegate")

	makefile := readFile(t, "../../Makefile")
	for _, line := range []string{"export GOEXPERIMENT := jsonv2\n", "export CGO_ENABLED := 0\n", "export GOFLAGS := -trimpath\n", "\t$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kubegate\n"} {
		if !strings.Contains(makefile, line) {
			t.Errorf("Makefile lacks %q", line)
		}
	}
	// One flag set for every go command: a flag given to one command only (build but not
	// test) is a second build cache, and a cold machine compiles everything twice.
	for i, line := range strings.Split(makefile, "\n") {
		if strings.Contains(line, "$(GO) ") && (strings.Contains(line, "-trimpath") || strings.Contains(line, "-tags") || strings.Contains(line, "-race") || strings.Contains(line, "-buildvcs")) {
			t.Errorf("Makefile:%d: %q sets a build flag for one command; set it in GOFLAGS", i+1, strings.TrimSpace(line))
		}
	}
	for _, line := range strings.Split(readFile(t, "../../.dockerignore"), "\n") {
		for _, needed := range []string{"go.mod", "go.sum", "Makefile", "cmd", "gate", "images", "internal"} {
			if strings.TrimSpace(line) == needed || strings.TrimSpace(line) == needed+"/" {
				t.Errorf(".dockerignore leaves out %s, which the build reads", needed)
			}
		}
	}
}

// semverLess compares dotted versions numerically.
func semverLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

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

func readFile(t *testing.T, path string) string {
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
	if want := []string{"args", "config", "fail-on", "kube-version", "offline", "paths", "profile", "sarif-file"}; !slices.Equal(inputs, want) {
		t.Errorf("inputs %v, want %v", inputs, want)
	}
	i := slices.IndexFunc(action.Runs.Steps, func(s actionStep) bool { return s.ID == "gate" })
	if action.Runs.Using != "composite" || i < 0 {
		t.Fatalf("no gate step in %+v", action.Runs)
	}
	step := action.Runs.Steps[i]
	expr := regexp.MustCompile(`^\$\{\{ inputs\.([a-z-]+) \}\}$`)
	for _, name := range inputs { // every input reaches the step under the runner's name
		if m := expr.FindStringSubmatch(step.Env[actionEnv(name)]); m == nil || m[1] != name {
			t.Errorf("input %s is not passed as %s", name, actionEnv(name))
		}
	}
	for name, o := range action.Outputs {
		if o.Value != "${{ steps.gate.outputs."+name+" }}" {
			t.Errorf("output %s = %q", name, o.Value)
		}
	}

	actionPath := t.TempDir() // holds bin/kubegate, as after the action's build step
	os.Mkdir(filepath.Join(actionPath, "bin"), 0o755)
	os.Symlink(filepath.Join(cliOnPath(t), "kubegate"), filepath.Join(actionPath, "bin", "kubegate"))
	runStep := func(with map[string]string) (code int, out, outputs, summary, workspace string) {
		ws := t.TempDir()
		write(t, ws, "deploy/pod.yaml", with["manifest"])
		env := []string{"GITHUB_ACTIONS=true", "GITHUB_ACTION_PATH=" + actionPath, "GITHUB_WORKSPACE=" + ws,
			"GITHUB_OUTPUT=" + write(t, ws, ".runner/output", ""), "GITHUB_STEP_SUMMARY=" + write(t, ws, ".runner/summary", "")}
		for k, v := range step.Env {
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
}

// TestGitLabTemplate runs the template's job script as the runner does: its variables (the
// project's overrides on top) in the environment, the script lines in one sh -e, in the
// project directory; then reads the artifacts it declares.
func TestGitLabTemplate(t *testing.T) {
	noGitHub(t)
	doc := []byte(readFile(t, "../../ci/gitlab/kubegate.gitlab-ci.yml"))
	var tmpl struct {
		Variables map[string]string
		Job       struct {
			Image struct {
				Name       string
				Entrypoint []string
			}
			Variables map[string]string
			Script    []string
			Artifacts struct {
				When    string
				Reports struct{ Codequality, Junit string }
			}
		} `yaml:"kubegate"`
	}
	if err := yaml.Unmarshal(doc, &tmpl); err != nil {
		t.Fatal(err)
	}
	job := tmpl.Job
	if job.Image.Name != "$KUBEGATE_IMAGE" || !slices.Equal(job.Image.Entrypoint, []string{""}) || job.Artifacts.When != "always" {
		t.Errorf("job %+v", job)
	}
	cliOnPath(t)
	project := t.TempDir()
	write(t, project, "deploy/pod.yaml", privilegedPod)
	write(t, project, "deploy/pod2.yaml", strings.Replace(calmPod, "name: p\n", "name: p2\n", 1))
	var env []string
	vars := map[string]string{}
	for _, m := range []map[string]string{tmpl.Variables, job.Variables, {"KUBEGATE_PATHS": "deploy", "KUBEGATE_ARGS": "--offline --fail-on critical"}} {
		for k, v := range m {
			vars[k] = v
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	env = append(env, "CI_PROJECT_DIR="+project, "GITLAB_CI=true")
	code, out := sh(t, project, env, "sh", strings.Join(job.Script, "\n"))
	if code != 1 || !strings.Contains(textRows(out), "deploy/pod.yaml:11  CRITICAL  pss-privileged") {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	var issues []codeQualityIssue
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(project, job.Artifacts.Reports.Codequality))), &issues); err != nil {
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
	if err := xml.Unmarshal([]byte(readFile(t, filepath.Join(project, job.Artifacts.Reports.Junit))), &junit); err != nil {
		t.Fatal(err)
	}
	if junit.Failures != 1 || junit.Tests < 2 {
		t.Errorf("junit: %d tests, %d failures", junit.Tests, junit.Failures)
	}
	if _, err := os.Stat(filepath.Join(project, ".kubegate-cache")); err != nil && !strings.Contains(out, "--offline") {
		t.Errorf("cache dir: %v", err)
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

// TestDockerfile: no container engine here, so the Dockerfile is parsed with BuildKit's
// own parser and held to what the image must be: built by `make build` (the static build
// the tests run on), from a Go at least go.mod's, run as a non-root user, kubegate as the
// entrypoint; and the build context keeps what the build reads.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]*parser.Node
	goVersion := ""
	for _, n := range res.AST.Children {
		switch strings.ToUpper(n.Value) {
		case "FROM":
			stages = append(stages, nil)
		case "ARG":
			if v, ok := strings.CutPrefix(n.Next.Value, "GO_VERSION="); ok {
				goVersion = v
			}
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], n)
		}
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	instr := func(stage []*parser.Node, name string) []string {
		var out []string
		for _, n := range stage {
			if strings.EqualFold(n.Value, name) {
				var words []string
				for w := n.Next; w != nil; w = w.Next {
					words = append(words, w.Value)
				}
				out = append(out, strings.Join(words, " "))
			}
		}
		return out
	}
	if from := instr(stages[0], "FROM"); !strings.HasPrefix(from[0], "golang:${GO_VERSION}") {
		t.Errorf("build stage FROM %v", from)
	}
	if runs := strings.Join(instr(stages[0], "RUN"), "\n"); !strings.Contains(runs, "make build VERSION=${VERSION}") ||
		!strings.Contains(runs, "CGO_ENABLED=0") {
		t.Errorf("the image is not built by make build, checked static:\n%s", runs)
	}
	mod := readFile(t, "../../go.mod")
	want := regexp.MustCompile(`(?m)^go (\d+\.\d+\.\d+)$`).FindStringSubmatch(mod)
	if want == nil || semverLess(goVersion, want[1]) {
		t.Errorf("GO_VERSION %q older than go.mod's go %v", goVersion, want)
	}
	runtime := stages[1]
	user := instr(runtime, "USER")
	if len(user) != 1 || strings.HasPrefix(user[0], "0") || strings.HasPrefix(user[0], "root") {
		t.Errorf("runtime user %v, want one non-root USER", user)
	}
	if ep := instr(runtime, "ENTRYPOINT"); len(ep) != 1 || ep[0] != "kubegate" {
		t.Errorf("ENTRYPOINT %v", ep)
	}
	if cp := instr(runtime, "COPY"); len(cp) != 1 || cp[0] != "/src/bin/kubegate /usr/local/bin/kubegate" {
		t.Errorf("runtime COPY %v", cp)
	}
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

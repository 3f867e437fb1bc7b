package prepush

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const z = "0000000000000000000000000000000000000000"
	in := "refs/heads/main 1111111111111111111111111111111111111111 refs/heads/main 2222222222222222222222222222222222222222\n" +
		"refs/heads/gone " + z + " refs/heads/gone 3333333333333333333333333333333333333333\n" + // deletion
		"refs/tags/v1 1111111111111111111111111111111111111111 refs/tags/v1 " + z + "\n" + // same commit again
		"\n"
	got, err := Parse(strings.NewReader(in))
	if err != nil || len(got) != 1 || got[0].LocalRef != "refs/heads/main" || got[0].RemoteSHA[0] != '2' {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := Parse(strings.NewReader("what is this\n")); err == nil || !strings.Contains(err.Error(), `unexpected line from git: "what is this"`) {
		t.Errorf("err %v", err)
	}
}

func TestManifestFile(t *testing.T) {
	for name, want := range map[string]bool{
		"deploy/a.yaml": true, "b.YML": true, "x.json": true, "chart/templates/_h.tpl": true, "chart/Chart.lock": true,
		"base/Kustomization": true, "overlay/app.env": true, "README.md": false, "main.go": false, "Makefile": false,
	} {
		if manifestFile(name) != want {
			t.Errorf("%s: %v", name, !want)
		}
	}
}

// Fetch brings a commit a shallow clone lacks (the base of a pull request) and nothing else.
func TestFetchIntoAShallowClone(t *testing.T) {
	for k, v := range map[string]string{"GIT_CONFIG_GLOBAL": os.DevNull, "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	origin, clone := t.TempDir(), filepath.Join(t.TempDir(), "clone")
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(origin, "init", "-q", "-b", "main")
	run(origin, "config", "uploadpack.allowReachableSHA1InWant", "true")
	os.WriteFile(filepath.Join(origin, "a"), []byte("1"), 0o644)
	run(origin, "add", "a")
	run(origin, "commit", "-qm", "base")
	base := run(origin, "rev-parse", "HEAD")
	os.WriteFile(filepath.Join(origin, "a"), []byte("2"), 0o644)
	run(origin, "commit", "-qam", "change")
	run(origin, "clone", "-q", "--depth=1", "file://"+origin, clone)
	t.Chdir(clone)
	if _, err := Commit(ctx, base); err == nil {
		t.Fatal("the shallow clone has the base already: the test proves nothing")
	}
	if err := Fetch(ctx, "origin", base); err != nil {
		t.Fatal(err)
	}
	if got, err := Commit(ctx, base); err != nil || got != base {
		t.Fatalf("after Fetch: %q %v", got, err)
	}
	if err := Fetch(ctx, "origin", strings.Repeat("0", 39)+"1"); err == nil || !strings.Contains(err.Error(), "could not be fetched (clone with fetch-depth: 0)") {
		t.Errorf("an unknown commit: %v", err)
	}
}

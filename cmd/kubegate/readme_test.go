package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// readme is the user's manual, read from the repository root.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// consoleBlock returns the output the README shows under "$ command" in a console block.
func consoleBlock(t *testing.T, doc, command string) string {
	t.Helper()
	start := strings.Index(doc, "```console\n$ "+command+"\n")
	if start < 0 {
		t.Fatalf("README has no console block for %q", command)
	}
	body := doc[start+len("```console\n$ "+command+"\n"):]
	return body[:strings.Index(body, "```\n")]
}

// TestReadmeOutputsAreReal: the README's example runs give, byte for byte, what the
// commands print today, run as written from the repository root.
func TestReadmeOutputsAreReal(t *testing.T) {
	noGitHub(t)
	doc := readme(t)
	chdir(t, "../..")
	for _, tc := range []struct {
		command string
		code    int
	}{
		{"kubegate check --offline testdata/demo/kustomize/overlays/prod", 1},
	} {
		code, out, _ := kubegate(t, "", strings.Fields(tc.command)[1:]...)
		if want := consoleBlock(t, doc, tc.command); code != tc.code || out != want {
			t.Errorf("%s: exit %d (want %d); README shows:\n%s\nthe command prints:\n%s", tc.command, code, tc.code, want, out)
		}
	}
	// What the README promises of the hardened application, as it words it.
	if !strings.Contains(doc, "`kubegate check --offline testdata/hardened` reports nothing") {
		t.Fatal("README no longer says what testdata/hardened does")
	}
	code, out, _ := kubegate(t, "", "check", "--offline", "testdata/hardened")
	if code != 0 || !strings.Contains(out, ", 0 findings (") {
		t.Errorf("kubegate check --offline testdata/hardened: exit %d\n%s", code, out)
	}
	// The images example has today's columns.
	if !strings.Contains(doc, "\nIMAGE                                     DIGEST               SIGNED BY                       VULNS C/H/M/L  USER    PROBLEMS") {
		t.Error("README's images example lacks the table header")
	}
}

// TestReadmeInstall: the install section's command builds this module with the experiment
// the Makefile sets, and --version works.
func TestReadmeInstall(t *testing.T) {
	doc := readme(t)
	mod := regexp.MustCompile(`(?m)^module (\S+)$`).FindStringSubmatch(readFile(t, "../../go.mod"))
	want := "GOEXPERIMENT=jsonv2 go install " + mod[1] + "/cmd/kubegate@latest"
	if !strings.Contains(doc, "## Install") || !strings.Contains(doc, want) || !strings.Contains(readFile(t, "../../Makefile"), "export GOEXPERIMENT := jsonv2\n") {
		t.Errorf("README install section lacks %q (or the Makefile's experiment changed)", want)
	}
	if !strings.Contains(doc, "kubegate --version") {
		t.Error("README install section does not show --version")
	}
}

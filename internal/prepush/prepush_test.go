package prepush

import (
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

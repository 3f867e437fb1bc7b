package suggest

import "testing"

func TestClosest(t *testing.T) {
	keys := []string{"apiVersion", "kind", "kubernetesVersion", "failOn", "profile", "rules", "images", "exemptions"}
	for word, want := range map[string]string{
		"failon": "failOn", "fialOn": "failOn", "fail-on": "failOn", "exemption": "exemptions", "imgaes": "images",
		"profiel": "profile", "kubeVersion": "", "zzz": "", "severity": "", "x": "",
	} {
		if got := Closest(word, keys); got != want {
			t.Errorf("Closest(%q) = %q, want %q", word, got, want)
		}
	}
	ids := []string{"pss-privileged", "pss-host-namespaces", "read-only-root-filesystem", "image-not-pinned"}
	for word, want := range map[string]string{"pss-privilege": "pss-privileged", "pss-privilegd": "pss-privileged", "read-only-root": "read-only-root-filesystem", "pss": ""} {
		if got := Closest(word, ids); got != want {
			t.Errorf("Closest(%q) = %q, want %q", word, got, want)
		}
	}
	if Hint("failon", keys) != " (did you mean failOn?)" || Hint("nothing-like-it", keys) != "" {
		t.Error("Hint")
	}
}

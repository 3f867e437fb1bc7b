package model

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestParseArgsLikePflag(t *testing.T) {
	argv := []string{"kube-apiserver", "--profiling=false", "--audit-log-maxage", "30", "--anonymous-auth", "false",
		"--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins", "AlwaysPullImages",
		"--profiling=true", "-v=2"}
	fields := make([]string, len(argv))
	for i := range fields {
		fields[i] = string(rune('a' + i))
	}
	a := parseArgs(argv, fields)
	for _, c := range []struct{ flag, value, field string }{
		{"profiling", "true", "j"},                                            // the last occurrence wins
		{"audit-log-maxage", "30", "c"},                                       // "--k v" for a non-bool flag, at the flag's element
		{"anonymous-auth", "true", "e"},                                       // a bare bool flag is true; "false" is a stray argument
		{"enable-admission-plugins", "NodeRestriction,AlwaysPullImages", "h"}, // list flags add up
		{"v", "2", "k"},                                                       // one dash works too
	} {
		v, f, ok := a.get(c.flag)
		if !ok || v != c.value || f != c.field {
			t.Errorf("%s = %q at %q (%t), want %q at %q", c.flag, v, f, ok, c.value, c.field)
		}
	}
	if _, _, ok := a.get("false"); ok {
		t.Error("a positional argument was read as a flag")
	}
}

func TestShellCommandArgv(t *testing.T) {
	c := PodContainer{Path: "spec.containers[0]", Container: &corev1.Container{}}
	c.Command = []string{"/bin/sh", "-c", "exec kube-apiserver --profiling='false' \\\n  --authorization-mode=Node,RBAC"}
	argv, fields := containerArgv(c)
	if len(argv) != 3 || argv[0] != "kube-apiserver" || argv[1] != "--profiling=false" || fields[2] != "spec.containers[0].command[2]" {
		t.Errorf("argv %q fields %q", argv, fields)
	}
}

func TestConfigValueZeroMeansDefault(t *testing.T) {
	cfg := map[string]any{"streamingConnectionIdleTimeout": "0s", "a": map[string]any{"b": "4h0m0s"},
		"featureGates": map[string]any{"B": false, "A": true}, "list": []any{"x", "y"}}
	if _, ok := configValue(cfg, "streamingConnectionIdleTimeout"); ok {
		t.Error("0s in a KubeletConfiguration must count as not written")
	}
	for field, want := range map[string]string{"a.b": "4h0m0s", "featureGates": "A=true,B=false", "list": "x,y"} {
		if v, ok := configValue(cfg, field); !ok || v != want {
			t.Errorf("%s = %q, want %q", field, v, want)
		}
	}
	for s, zero := range map[string]bool{"0": true, "0s": true, "0h0m0s": true, "5m": false, "10s": false, "": false} {
		if IsZeroDuration(s) != zero {
			t.Errorf("IsZeroDuration(%q) = %t", s, !zero)
		}
	}
}

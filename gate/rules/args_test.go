package rules

import (
	"net"
	"testing"
	"time"

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
		if isZeroDuration(s) != zero {
			t.Errorf("isZeroDuration(%q) = %t", s, !zero)
		}
	}
}

func TestSupportedVersions(t *testing.T) {
	for v, want := range map[string]int{"v1.30.2": 30, "1.35": 35, "stable-1.33": 33, "v1.36.2-eks-1": 36} {
		if got, ok := KubeMinor(v); !ok || got != want {
			t.Errorf("KubeMinor(%q) = %d, %t", v, got, ok)
		}
	}
	if _, ok := KubeMinor("3.6.5-0"); ok {
		t.Error("an etcd version read as a Kubernetes version")
	}
	for day, want := range map[string]int{"2026-10-27": 34, "2026-10-28": 35, "2026-11-22": 35, "2030-01-01": 38} {
		now, _ := time.Parse(time.DateOnly, day)
		if got := oldestSupported(now); got != want {
			t.Errorf("oldest supported on %s = 1.%d, want 1.%d", day, got, want)
		}
	}
}

func TestIsPublicIP(t *testing.T) {
	for ip, public := range map[string]bool{"10.0.0.10": false, "192.168.1.1": false, "127.0.0.1": false,
		"0.0.0.0": false, "169.254.169.254": false, "100.64.1.1": false, "100.127.255.255": false,
		"100.128.0.1": true, "34.120.1.2": true, "::1": false, "fd00::1": false, "2001:4860:4860::8888": true} {
		if got := isPublicIP(net.ParseIP(ip)); got != public {
			t.Errorf("isPublicIP(%s) = %t", ip, got)
		}
	}
}

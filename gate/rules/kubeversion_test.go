package rules

import (
	"net"
	"testing"
	"time"
)

func TestSupportedVersions(t *testing.T) {
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

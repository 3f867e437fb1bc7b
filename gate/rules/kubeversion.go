package rules

// Practice 000-1 (run a supported Kubernetes version), for the control plane written in the
// repository: the image tags of kubeadm's static Pods and kubeadm's kubernetesVersion.

import (
	"fmt"
	"time"

	"github.com/kubegate/kubegate/gate/apiversions"
	"github.com/kubegate/kubegate/gate/model"
)

// endOfLife is when each minor stops getting patches (kubernetes.io/releases, as of
// 2026-11). A minor newer than the table is taken as supported; extend the table with each
// release.
var endOfLife = []struct {
	minor int
	eol   string
}{
	{30, "2025-06-28"}, {31, "2025-10-28"}, {32, "2026-02-28"}, {33, "2026-06-28"},
	{34, "2026-10-27"}, {35, "2027-02-28"}, {36, "2027-06-28"}, {37, "2027-10-28"},
}

var unsupportedVersion = &Rule{
	ID: "kubernetes-version-unsupported", Title: "Kubernetes version past its end of life", Severity: High,
	Practices: []string{"000-1"},
	Refs:      []string{"https://kubernetes.io/releases/", "https://kubernetes.io/releases/version-skew-policy/"},
	Fix:       "Upgrade the control plane to a supported minor (one minor at a time, as kubeadm upgrade does).",
	Doc: "The image tag of each recognised control-plane static Pod (kube-apiserver, " +
		"kube-controller-manager, kube-scheduler) and kubeadm's kubernetesVersion must name a minor " +
		"that still gets security patches on the day of the check. The gate carries a dated table of " +
		"end-of-life dates; a minor older than the table is unsupported, one newer is taken as " +
		"supported. The message names the oldest minor still supported.",
}

func checkSupportedVersion(s *model.Set) []Finding {
	now := s.Now
	if now.IsZero() {
		now = time.Now()
	}
	oldest := oldestSupported(now)
	var out []Finding
	for _, c := range s.Components() {
		minor, ok := apiversions.ParseMinor(c.Version)
		if !ok || minor >= oldest {
			continue
		}
		who := c.Name
		if c.Container == "" {
			who = "the control plane" // kubeadm's kubernetesVersion
		}
		out = append(out, unsupportedVersion.At(c.Object, c.VersionField, c.Container,
			fmt.Sprintf("%s runs Kubernetes %s: 1.%d reached end of life; the oldest supported minor on %s is 1.%d",
				who, c.Version, minor, now.Format(time.DateOnly), oldest)))
	}
	return out
}

// oldestSupported is the oldest minor whose end of life is after now.
func oldestSupported(now time.Time) int {
	for _, e := range endOfLife {
		eol, _ := time.Parse(time.DateOnly, e.eol)
		if now.Before(eol.AddDate(0, 0, 1)) {
			return e.minor
		}
	}
	return endOfLife[len(endOfLife)-1].minor + 1
}

package rules

// Pod Security Standards: every control of Kubernetes' own pod-security-admission library
// (the checks the API server runs) is a rule of its own, "pss-" + the control in kebab case.
// At the restricted profile, baseline controls that a restricted control overrides are
// skipped, as the API server does.

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

var pssLink = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"

// pssMeta is what the library does not say about a control: our severity, the fix, and
// where in the pod spec the control looks (for pointing at a line).
type pssMeta struct {
	title     string
	severity  Severity
	fix       string
	podField  string // pod-level field path (relative to the pod spec), if any
	container string // container-level field path (relative to the container), if any
}

var pssControls = map[policy.CheckID]pssMeta{
	"privileged":                 {"Privileged containers", Critical, "Remove securityContext.privileged: true (or set it to false).", "", "securityContext.privileged"},
	"hostNamespaces":             {"Host namespaces", High, "Do not set hostNetwork, hostPID or hostIPC to true.", "hostNetwork", ""},
	"hostPathVolumes":            {"HostPath volumes", High, "Replace hostPath volumes with configMap, secret, emptyDir or persistentVolumeClaim volumes.", "volumes", ""},
	"capabilities_baseline":      {"Added capabilities beyond the baseline set", High, "Add only the default capabilities (or none) in securityContext.capabilities.add.", "", "securityContext.capabilities.add"},
	"hostPorts":                  {"Host ports", Medium, "Remove hostPort from container ports; expose the pod through a Service.", "", "ports"},
	"hostProbesAndHostLifecycle": {"Probe and lifecycle handlers with a host", Medium, "Remove the host field from probe and lifecycle handlers.", "", "livenessProbe"},
	"appArmorProfile":            {"AppArmor profile overrides", Medium, "Use the RuntimeDefault or a Localhost AppArmor profile, never Unconfined.", "securityContext.appArmorProfile", "securityContext.appArmorProfile"},
	"seLinuxOptions":             {"SELinux options", Medium, "Do not set a custom SELinux user or role, and use only the container_t, container_init_t, container_kvm_t or container_engine_t types.", "securityContext.seLinuxOptions", "securityContext.seLinuxOptions"},
	"procMount":                  {"Unmasked /proc mount", Medium, "Remove securityContext.procMount or set it to Default.", "", "securityContext.procMount"},
	"procMount_restricted":       {"Unmasked /proc mount (restricted)", Medium, "Remove securityContext.procMount or set it to Default.", "", "securityContext.procMount"},
	"sysctls":                    {"Unsafe sysctls", Medium, "Set only the safe sysctls in securityContext.sysctls.", "securityContext.sysctls", ""},
	"windowsHostProcess":         {"Windows HostProcess containers", High, "Remove securityContext.windowsOptions.hostProcess: true.", "securityContext.windowsOptions.hostProcess", "securityContext.windowsOptions.hostProcess"},
	"seccompProfile_baseline":    {"Seccomp profile set to Unconfined", Medium, "Set securityContext.seccompProfile.type to RuntimeDefault or Localhost.", "securityContext.seccompProfile", "securityContext.seccompProfile"},
	"seccompProfile_restricted":  {"Seccomp profile not set", Medium, "Set securityContext.seccompProfile.type: RuntimeDefault on the pod (or Localhost).", "securityContext.seccompProfile", "securityContext.seccompProfile"},
	"restrictedVolumes":          {"Volume types outside the restricted set", Medium, "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes.", "volumes", ""},
	"allowPrivilegeEscalation":   {"Privilege escalation allowed", Medium, "Set securityContext.allowPrivilegeEscalation: false on every container.", "", "securityContext.allowPrivilegeEscalation"},
	"runAsNonRoot":               {"Containers may run as root", Medium, "Set securityContext.runAsNonRoot: true on the pod (or on every container).", "securityContext.runAsNonRoot", "securityContext.runAsNonRoot"},
	"runAsUser":                  {"Containers run as UID 0", High, "Set securityContext.runAsUser to a non-zero UID, or leave it unset with runAsNonRoot: true.", "securityContext.runAsUser", "securityContext.runAsUser"},
	"capabilities_restricted":    {"Capabilities not dropped", Medium, "Set securityContext.capabilities.drop: [\"ALL\"] on every container and add back only NET_BIND_SERVICE if needed.", "", "securityContext.capabilities"},
}

func init() {
	for _, c := range policy.DefaultChecks() {
		meta, ok := pssControls[c.ID]
		if !ok {
			// A control added by a newer library: still enforced, with generic metadata.
			meta = pssMeta{title: string(c.ID), severity: Medium, fix: "See the Pod Security Standards for the allowed values."}
		}
		check := c
		practices := []string{"000-2", "002-4"}
		if c.ID == "runAsNonRoot" || c.ID == "runAsUser" {
			practices = append(practices, "002-5") // least-privilege user inside the container
		}
		r := &Rule{
			ID:        "pss-" + kebab(string(c.ID)),
			Title:     meta.title,
			Severity:  meta.severity,
			Practices: practices,
			Refs:      []string{fmt.Sprintf("PSS %s: %s", c.Level, c.ID), pssLink},
			Fix:       meta.fix,
			Doc: fmt.Sprintf("Pod Security Standards control %q of the %s level, evaluated with "+
				"k8s.io/pod-security-admission (the API server's own check) on every pod template. "+
				"Enforced when the profile is %s%s. Not evaluated on recognised control-plane static Pods "+
				"(kube-apiserver, kube-controller-manager, kube-scheduler and etcd in kube-system), which "+
				"need host networking and host paths; the control-plane rules check those.", c.ID, c.Level, c.Level, restrictedToo(c.Level)),
		}
		r.Check = func(s *Set) []Finding { return checkPSS(r, check, meta, s) }
		Register(r)
	}
}

func restrictedToo(l api.Level) string {
	if l == api.LevelBaseline {
		return " or restricted"
	}
	return ""
}

func checkPSS(r *Rule, c policy.Check, meta pssMeta, s *Set) []Finding {
	if c.Level == api.LevelRestricted && s.Profile != Restricted {
		return nil
	}
	v := pssVersion(s.KubeMinor)
	vc, ok := versionedCheck(c, v)
	if !ok || (s.Profile == Restricted && overridden(v)[c.ID]) {
		return nil
	}
	var out []Finding
	for _, p := range s.Pods {
		res := vc.CheckPod(p.Meta, p.Spec)
		if res.Allowed {
			continue
		}
		msg := res.ForbiddenReason
		if res.ForbiddenDetail != "" {
			msg += " (" + res.ForbiddenDetail + ")"
		}
		field, container := locatePSS(p, meta, res.ForbiddenDetail)
		out = append(out, r.At(p.Object, field, container, msg))
	}
	return out
}

func pssVersion(minor int) api.Version {
	if minor <= 0 {
		return api.LatestVersion()
	}
	return api.MajorMinorVersion(1, minor)
}

// versionedCheck picks the revision of a control that applies to version v.
func versionedCheck(c policy.Check, v api.Version) (policy.VersionedCheck, bool) {
	var found policy.VersionedCheck
	ok := false
	for _, vc := range c.Versions {
		if vc.MinimumVersion.Older(v) || vc.MinimumVersion == v || v.Latest() {
			found, ok = vc, true
		}
	}
	return found, ok
}

var overrides sync.Map // api.Version → map[policy.CheckID]bool

// overridden returns the baseline controls that restricted controls replace at version v.
func overridden(v api.Version) map[policy.CheckID]bool {
	if m, ok := overrides.Load(v); ok {
		return m.(map[policy.CheckID]bool)
	}
	m := map[policy.CheckID]bool{}
	for _, c := range policy.DefaultChecks() {
		if c.Level != api.LevelRestricted {
			continue
		}
		if vc, ok := versionedCheck(c, v); ok {
			for _, id := range vc.OverrideCheckIDs {
				m[id] = true
			}
		}
	}
	overrides.Store(v, m)
	return m
}

// quotedName is compiled on first use: start-up time is budgeted (DESIGN.md).
var quotedName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`"([^"]+)"`) })

// locatePSS finds the field a control objects to. The library's detail names the
// containers at fault ("container \"app\" must …"), or the pod ("pod must …").
func locatePSS(p *Pod, meta pssMeta, detail string) (field, container string) {
	base := p.Template.Path
	spec := p.Template.Spec
	if meta.podField == "hostNetwork" { // host namespaces: the first one set
		for _, f := range []string{"hostNetwork", "hostPID", "hostIPC"} {
			if b, _ := spec[f].(bool); b {
				return base + "." + f, ""
			}
		}
	}
	if meta.podField == "volumes" {
		if m := quotedName().FindStringSubmatch(detail); m != nil {
			vols, _ := spec["volumes"].([]any)
			for i, v := range vols {
				if vm, ok := v.(map[string]any); ok && vm["name"] == m[1] {
					return fmt.Sprintf("%s.volumes[%d]", base, i), ""
				}
			}
		}
		return base + ".volumes", ""
	}
	podLevel := strings.HasPrefix(detail, "pod ") || meta.container == ""
	if !podLevel {
		if m := quotedName().FindStringSubmatch(detail); m != nil {
			for _, c := range p.Containers {
				if c.Name == m[1] {
					return c.Path + "." + meta.container, c.Name
				}
			}
		}
	}
	if meta.podField != "" {
		return base + "." + meta.podField, ""
	}
	return base, ""
}

// kebab turns a control ID into a rule ID part: "hostNamespaces" → "host-namespaces",
// "capabilities_baseline" → "capabilities-baseline".
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_':
			b.WriteByte('-')
		case unicode.IsUpper(r):
			if i > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

package rules

// Pod Security Standards: every control of Kubernetes' own pod-security-admission library
// (the checks the API server runs) is a rule of its own, "pss-" + the control in kebab case.
// A fact keeps its rule and severity whatever the profile: at the restricted profile, a
// baseline control that a restricted control overrides (the API server then runs only the
// restricted one) still reports what it finds — a hostPath volume is pss-host-path-volumes,
// high — and the restricted control reports only what is left once the baseline facts are
// taken out (the restricted level adds findings, it never softens one).

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
)

var pssLink = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"

// pssMeta is what the library does not say about a control: our severity, the fix, and
// where in the pod spec the control looks (for pointing at a line).
type pssMeta struct {
	id        string // the rule ID, "pss-" + the control in kebab case (TestPSSRuleIDs)
	title     string
	severity  Severity
	fix       string
	podField  string // pod-level field path (relative to the pod spec), if any
	container string // container-level field path (relative to the container), if any
}

var pssControls = map[policy.CheckID]pssMeta{
	"privileged":                 {"pss-privileged", "Privileged containers", Critical, "Remove securityContext.privileged: true (or set it to false).", "", "securityContext.privileged"},
	"hostNamespaces":             {"pss-host-namespaces", "Host namespaces", High, "Do not set hostNetwork, hostPID or hostIPC to true.", "hostNetwork", ""},
	"hostPathVolumes":            {"pss-host-path-volumes", "HostPath volumes", High, "Replace hostPath volumes with configMap, secret, emptyDir or persistentVolumeClaim volumes.", "volumes", ""},
	"capabilities_baseline":      {"pss-capabilities-baseline", "Added capabilities beyond the baseline set", High, "Add only the default capabilities (or none) in securityContext.capabilities.add.", "", "securityContext.capabilities.add"},
	"hostPorts":                  {"pss-host-ports", "Host ports", Medium, "Remove hostPort from container ports; expose the pod through a Service.", "", "ports"},
	"hostProbesAndHostLifecycle": {"pss-host-probes-and-host-lifecycle", "Probe and lifecycle handlers with a host", Medium, "Remove the host field from probe and lifecycle handlers.", "", "livenessProbe"},
	"appArmorProfile":            {"pss-app-armor-profile", "AppArmor profile overrides", Medium, "Use the RuntimeDefault or a Localhost AppArmor profile, never Unconfined.", "securityContext.appArmorProfile", "securityContext.appArmorProfile"},
	"seLinuxOptions":             {"pss-se-linux-options", "SELinux options", Medium, "Do not set a custom SELinux user or role, and use only the container_t, container_init_t, container_kvm_t or container_engine_t types.", "securityContext.seLinuxOptions", "securityContext.seLinuxOptions"},
	"procMount":                  {"pss-proc-mount", "Unmasked /proc mount", Medium, "Remove securityContext.procMount or set it to Default.", "", "securityContext.procMount"},
	"procMount_restricted":       {"pss-proc-mount-restricted", "Unmasked /proc mount (restricted)", Medium, "Remove securityContext.procMount or set it to Default.", "", "securityContext.procMount"},
	"sysctls":                    {"pss-sysctls", "Unsafe sysctls", Medium, "Set only the safe sysctls in securityContext.sysctls.", "securityContext.sysctls", ""},
	"windowsHostProcess":         {"pss-windows-host-process", "Windows HostProcess containers", High, "Remove securityContext.windowsOptions.hostProcess: true.", "securityContext.windowsOptions.hostProcess", "securityContext.windowsOptions.hostProcess"},
	"seccompProfile_baseline":    {"pss-seccomp-profile-baseline", "Seccomp profile set to Unconfined", Medium, "Set securityContext.seccompProfile.type to RuntimeDefault or Localhost.", "securityContext.seccompProfile", "securityContext.seccompProfile"},
	"seccompProfile_restricted":  {"pss-seccomp-profile-restricted", "Seccomp profile not set", Medium, "Set securityContext.seccompProfile.type: RuntimeDefault on the pod (or Localhost).", "securityContext.seccompProfile", "securityContext.seccompProfile"},
	"restrictedVolumes":          {"pss-restricted-volumes", "Volume types outside the restricted set", Medium, "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes.", "volumes", ""},
	"allowPrivilegeEscalation":   {"pss-allow-privilege-escalation", "Privilege escalation allowed", Medium, "Set securityContext.allowPrivilegeEscalation: false on every container.", "", "securityContext.allowPrivilegeEscalation"},
	"runAsNonRoot":               {"pss-run-as-non-root", "Containers may run as root", Medium, "Set securityContext.runAsNonRoot: true on the pod (or on every container); when the image's USER is root (0, or none set), also set a non-zero runAsUser, or the kubelet refuses to start the container.", "securityContext.runAsNonRoot", "securityContext.runAsNonRoot"},
	"runAsUser":                  {"pss-run-as-user", "Containers run as UID 0", High, "Set securityContext.runAsUser to a non-zero UID, or leave it unset with runAsNonRoot: true.", "securityContext.runAsUser", "securityContext.runAsUser"},
	"capabilities_restricted":    {"pss-capabilities-restricted", "Capabilities not dropped", Medium, "Set securityContext.capabilities.drop: [\"ALL\"] on every container and add back only NET_BIND_SERVICE if needed.", "", "securityContext.capabilities"},
}

// pssEntries are the rules of the Pod Security controls, one per control of the library.
func pssEntries() []entry {
	var out []entry
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
		id := meta.id
		if id == "" {
			id = "pss-" + kebab(string(c.ID))
		}
		r := &Rule{
			ID:        id,
			Title:     meta.title,
			Severity:  meta.severity,
			Practices: practices,
			Refs:      []string{fmt.Sprintf("PSS %s: %s", c.Level, c.ID), pssLink},
			Fix:       meta.fix,
			Doc: fmt.Sprintf("Pod Security Standards control %q of the %s level, evaluated with "+
				"k8s.io/pod-security-admission (the API server's own check) on every pod template. "+
				"Enforced when the profile is %s%s; a fact keeps this rule and its severity at either profile. Not evaluated on recognised control-plane static Pods "+
				"(kube-apiserver, kube-controller-manager, kube-scheduler and etcd in kube-system), which "+
				"need host networking and host paths; the control-plane rules check those.", c.ID, c.Level, c.Level, restrictedToo(c.Level)),
		}
		out = append(out, entry{r, workloads, func(s *model.Set) []Finding { return checkPSS(r, check, meta, s) }})
	}
	return out
}

func restrictedToo(l api.Level) string {
	if l == api.LevelBaseline {
		return " or restricted"
	}
	return ""
}

func checkPSS(r *Rule, c policy.Check, meta pssMeta, s *model.Set) []Finding {
	if c.Level == api.LevelRestricted && api.Level(s.Policy.Profile) != api.LevelRestricted {
		return nil
	}
	v := pssVersion(s.KubeMinor)
	vc, ok := versionedCheck(c, v)
	if !ok {
		return nil
	}
	var out []Finding
	for _, p := range s.Pods {
		spec, skip := p.Spec, false
		// The baseline facts a restricted control shares are reported by the baseline rule.
		for _, id := range vc.OverrideCheckIDs {
			base, ok := baselineCheck(id, v)
			if !ok || base.CheckPod(p.Meta, spec).Allowed {
				continue
			}
			without, ok := baselineFactsRemoved[id]
			if !ok {
				skip = true // the same fact: its fix fixes both
				break
			}
			spec = without(spec)
		}
		if skip {
			continue
		}
		res := vc.CheckPod(p.Meta, spec)
		if res.Allowed {
			continue
		}
		field, container := locatePSS(p, meta, res.ForbiddenDetail)
		msg := res.ForbiddenReason
		if detail := res.ForbiddenDetail; detail != "" {
			if f, m, ok := appArmorAnnotation(p, detail); ok {
				field, container, detail = f, "", m
			}
			msg += " (" + detail + ")"
		}
		out = append(out, r.At(p.Object, field, container, msg))
	}
	return out
}

// baselineCheck is the revision of baseline control id at version v.
func baselineCheck(id policy.CheckID, v api.Version) (policy.VersionedCheck, bool) {
	c, ok := checksByID()[id]
	if !ok {
		return policy.VersionedCheck{}, false
	}
	return versionedCheck(c, v)
}

// checksByID indexes the library's controls once: baselineCheck runs per pod.
var checksByID = sync.OnceValue(func() map[policy.CheckID]policy.Check {
	m := map[policy.CheckID]policy.Check{}
	for _, c := range policy.DefaultChecks() {
		m[c.ID] = c
	}
	return m
})

// baselineFactsRemoved takes out of a pod spec what a baseline control objects to, so that
// the restricted control overriding it is judged on the rest. Baseline controls absent here
// share their one fact with the restricted control (seccomp Unconfined, an unmasked /proc):
// the restricted control is then not reported at all.
var baselineFactsRemoved = map[policy.CheckID]func(*corev1.PodSpec) *corev1.PodSpec{
	"hostPathVolumes": func(spec *corev1.PodSpec) *corev1.PodSpec {
		out := spec.DeepCopy()
		out.Volumes = slices.DeleteFunc(out.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil })
		return out
	},
	"capabilities_baseline": func(spec *corev1.PodSpec) *corev1.PodSpec {
		out := spec.DeepCopy()
		keep := func(sc *corev1.SecurityContext) {
			if sc != nil && sc.Capabilities != nil {
				sc.Capabilities.Add = slices.DeleteFunc(sc.Capabilities.Add, func(c corev1.Capability) bool { return !baselineCapabilities[string(c)] })
			}
		}
		for i := range out.InitContainers {
			keep(out.InitContainers[i].SecurityContext)
		}
		for i := range out.Containers {
			keep(out.Containers[i].SecurityContext)
		}
		for i := range out.EphemeralContainers {
			keep(out.EphemeralContainers[i].SecurityContext)
		}
		return out
	},
}

// baselineCapabilities are the capabilities the baseline level lets a container add (the
// container runtime's defaults).
var baselineCapabilities = map[string]bool{
	"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true, "FSETID": true, "KILL": true,
	"MKNOD": true, "NET_BIND_SERVICE": true, "SETFCAP": true, "SETGID": true, "SETPCAP": true, "SETUID": true, "SYS_CHROOT": true,
}

// appArmorAnnotation rewrites the library's detail for the legacy AppArmor annotation, which
// quotes "key=value" inside quotes, into the key, the value, and the annotation's field.
func appArmorAnnotation(p *model.Pod, detail string) (field, msg string, ok bool) {
	const prefix = "container.apparmor.security.beta.kubernetes.io/"
	i := strings.Index(detail, prefix)
	if !strings.HasPrefix(detail, "annotation") || i < 0 {
		return "", "", false
	}
	key, value, _ := strings.Cut(detail[i:], "=")
	value = strings.Trim(value, `"`)
	return manifest.Field(p.Template.MetaPath()+".annotations", key), fmt.Sprintf("annotation %s sets AppArmor profile %q", key, value), true
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

// quotedName is compiled on first use: start-up time is budgeted (DESIGN.md).
var quotedName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`"([^"]+)"`) })

// locatePSS finds the field a control objects to. The library's detail names the
// containers at fault ("container \"app\" must …"), or the pod ("pod must …").
func locatePSS(p *model.Pod, meta pssMeta, detail string) (field, container string) {
	base := p.Template.Path
	spec := p.Spec
	if meta.podField == "hostNetwork" { // host namespaces: the first one set
		for i, set := range []bool{spec.HostNetwork, spec.HostPID, spec.HostIPC} {
			if set {
				return base + "." + []string{"hostNetwork", "hostPID", "hostIPC"}[i], ""
			}
		}
	}
	if meta.podField == "volumes" {
		if m := quotedName().FindStringSubmatch(detail); m != nil {
			for i, v := range spec.Volumes {
				if v.Name == m[1] {
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

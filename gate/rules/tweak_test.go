package rules

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
)

// hardenedDeployment passes every workload rule: the object the tweaks below break one
// setting of, as pod-security-admission's own tests do.
func hardenedDeployment() *appsv1.Deployment {
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				AutomountServiceAccountToken: ptr.To(false),
				SecurityContext: &corev1.PodSecurityContext{
					RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](10001),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
				Containers: []corev1.Container{{
					Name: "web", Image: "ghcr.io/acme/web:1.4.2@sha256:" + strings.Repeat("a", 64),
					Resources: corev1.ResourceRequirements{Requests: limits, Limits: limits},
					SecurityContext: &corev1.SecurityContext{
						AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
						Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					},
				}},
			},
		}},
	}
}

// checkTyped runs one rule's check on the deployment.
func checkTyped(t *testing.T, id string, d *appsv1.Deployment) []string {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	o, err := manifest.NewObject(raw, manifest.Source{File: "web.yaml", Line: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range run(t, id, model.NewSet([]*manifest.Object{o}, model.Options{})) {
		out = append(out, f.Field+": "+f.Message)
	}
	return out
}

// TestWorkloadRulesOnTypedTweaks: each tweak breaks one setting of the hardened
// deployment; exactly its rule reports it, with this message, and the hardened deployment
// passes every rule named here.
func TestWorkloadRulesOnTypedTweaks(t *testing.T) {
	spec := func(d *appsv1.Deployment) *corev1.PodSpec { return &d.Spec.Template.Spec }
	ctr := func(d *appsv1.Deployment) *corev1.Container { return &d.Spec.Template.Spec.Containers[0] }
	for _, tc := range []struct {
		rule  string
		tweak func(*appsv1.Deployment)
		want  string
	}{
		{"pss-privileged", func(d *appsv1.Deployment) { ctr(d).SecurityContext.Privileged = ptr.To(true) }, "spec.template.spec.containers[0].securityContext.privileged: privileged (container \"web\" must not set securityContext.privileged=true)"},
		{"pss-host-namespaces", func(d *appsv1.Deployment) { spec(d).HostPID = true }, "spec.template.spec.hostPID: host namespaces (hostPID=true)"},
		{"pss-host-ports", func(d *appsv1.Deployment) {
			ctr(d).Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
		}, "spec.template.spec.containers[0].ports: hostPort (container \"web\" uses hostPort 8080)"},
		{"pss-capabilities-baseline", func(d *appsv1.Deployment) {
			ctr(d).SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
		}, "spec.template.spec.containers[0].securityContext.capabilities.add: non-default capabilities (container \"web\" must not include \"SYS_ADMIN\" in securityContext.capabilities.add)"},
		{"pss-allow-privilege-escalation", func(d *appsv1.Deployment) { ctr(d).SecurityContext.AllowPrivilegeEscalation = nil }, "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation: allowPrivilegeEscalation != false (container \"web\" must set securityContext.allowPrivilegeEscalation=false)"},
		{"pss-run-as-non-root", func(d *appsv1.Deployment) { spec(d).SecurityContext.RunAsNonRoot = nil }, "spec.template.spec.securityContext.runAsNonRoot: runAsNonRoot != true (pod or container \"web\" must set securityContext.runAsNonRoot=true)"},
		{"pss-run-as-user", func(d *appsv1.Deployment) { ctr(d).SecurityContext.RunAsUser = ptr.To[int64](0) }, "spec.template.spec.containers[0].securityContext.runAsUser: runAsUser=0 (container \"web\" must not set runAsUser=0)"},
		{"pss-seccomp-profile-restricted", func(d *appsv1.Deployment) { spec(d).SecurityContext.SeccompProfile = nil }, "spec.template.spec.securityContext.seccompProfile: seccompProfile (pod or container \"web\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"},
		{"pss-host-path-volumes", func(d *appsv1.Deployment) {
			spec(d).Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, "spec.template.spec.volumes[0]: hostPath volumes (volume \"root\")"},
		{"read-only-root-filesystem", func(d *appsv1.Deployment) { ctr(d).SecurityContext.ReadOnlyRootFilesystem = nil }, "spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem: container \"web\" does not set securityContext.readOnlyRootFilesystem=true"},
		{"container-resources", func(d *appsv1.Deployment) { ctr(d).Resources.Limits = nil }, "spec.template.spec.containers[0].resources: container \"web\" sets no resources.limits.memory"},
		{"image-not-pinned", func(d *appsv1.Deployment) { ctr(d).Image = "ghcr.io/acme/web:latest" }, "spec.template.spec.containers[0].image: container \"web\": image \"ghcr.io/acme/web:latest\" uses the mutable :latest tag"},
		{"image-pull-policy", func(d *appsv1.Deployment) { ctr(d).Image = "ghcr.io/acme/web:1.4.2" }, "spec.template.spec.containers[0].image: container \"web\" runs tagged image \"ghcr.io/acme/web:1.4.2\" with imagePullPolicy IfNotPresent (the default for a tagged image): a node may run a stale cached copy"},
		{"service-account-token-automount", func(d *appsv1.Deployment) { spec(d).AutomountServiceAccountToken = nil }, "spec.template.spec.automountServiceAccountToken: pod mounts an API token of ServiceAccount \"default\" (the pod does not set automountServiceAccountToken: false, and the ServiceAccount is not defined in the checked files)"},
		{"secret-env-var", func(d *appsv1.Deployment) {
			ctr(d).Env = []corev1.EnvVar{{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}}
		}, "spec.template.spec.containers[0].env[0].valueFrom: container \"web\" reads key \"password\" of Secret \"db\" into env DB_PASSWORD"},
		{"secret-hardcoded-credential", func(d *appsv1.Deployment) {
			ctr(d).Env = []corev1.EnvVar{{Name: "API_TOKEN", Value: "ghp_" + strings.Repeat("x1", 18)}}
		}, "spec.template.spec.containers[0].env[0].value: container \"web\" sets env API_TOKEN to a literal value, and it looks like a GitHub token"},
		{"workload-default-namespace", func(d *appsv1.Deployment) { d.Namespace = "default" }, "metadata.namespace: is deployed to the \"default\" namespace"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if got := checkTyped(t, tc.rule, hardenedDeployment()); len(got) != 0 {
				t.Fatalf("the hardened deployment fails %s: %v", tc.rule, got)
			}
			d := hardenedDeployment()
			tc.tweak(d)
			got := checkTyped(t, tc.rule, d)
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("got %q\nwant [%q]", got, tc.want)
			}
		})
	}
}

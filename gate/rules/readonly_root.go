package rules

// read-only-root-filesystem: every container's root filesystem is mounted read-only
// (securityContext.readOnlyRootFilesystem: true), so a compromised process cannot modify
// its binaries or drop tools into the image. Practice 000-2 of the seeds; not part of the
// Pod Security Standards. Writable paths belong on emptyDir volumes.

import (
	"fmt"

	"github.com/kubegate/kubegate/gate/model"
)

var readOnlyRoot = &Rule{
	ID:        "read-only-root-filesystem",
	Title:     "Container root filesystem is writable",
	Severity:  Medium,
	Practices: []string{"000-2", "002-4"},
	Refs: []string{
		"https://kubernetes.io/docs/tasks/configure-pod-container/security-context/",
		"NSA/CISA Kubernetes Hardening Guide: immutable container file systems",
	},
	Fix: "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the container must write.",
	Doc: "Every init, regular and ephemeral container of every pod template must set " +
		"securityContext.readOnlyRootFilesystem: true. A writable root filesystem lets an attacker " +
		"replace binaries and persist tools inside the container. Windows pods (spec.os.name: windows, " +
		"HostProcess) are not judged: Windows does not support the setting.",
}

func checkReadOnlyRoot(s *model.Set) []Finding {
	var out []Finding
	for _, p := range s.Pods {
		if p.Windows() {
			continue // Windows containers have no read-only root filesystem
		}
		for _, c := range p.Containers {
			sc := c.SecurityContext
			if sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
				continue
			}
			msg := fmt.Sprintf("container %q does not set securityContext.readOnlyRootFilesystem=true", c.Name)
			if sc != nil && sc.ReadOnlyRootFilesystem != nil {
				msg = fmt.Sprintf("container %q sets securityContext.readOnlyRootFilesystem=false", c.Name)
			}
			out = append(out, readOnlyRoot.At(p.Object, c.Path+".securityContext.readOnlyRootFilesystem", c.Name, msg))
		}
	}
	return out
}

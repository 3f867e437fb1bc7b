package generate

import (
	_ "embed"
	"strconv"
)

// auditPolicy is written, not generated from types, so that its rules keep their comments.
//
//go:embed audit-policy.yaml
var auditPolicy []byte

// DefaultAuditDir and DefaultAuditLogDir are where the API server reads the policy and
// writes the log.
const (
	DefaultAuditDir    = "/etc/kubernetes/audit"
	DefaultAuditLogDir = "/var/log/kubernetes/audit"
	AuditPolicyFile    = "policy.yaml"
)

// Audit log retention the CIS benchmark asks for (1.2.17–1.2.19).
const (
	auditMaxAge    = 30  // days
	auditMaxBackup = 10  // files
	auditMaxSize   = 100 // MB
)

// GenerateAuditPolicy returns the audit Policy and the flags that make the API server use
// it and keep its log.
func GenerateAuditPolicy() ([]byte, APIServerChange) {
	return auditPolicy, APIServerChange{
		Flags: []Flag{
			{"audit-policy-file", DefaultAuditDir + "/" + AuditPolicyFile},
			{"audit-log-path", DefaultAuditLogDir + "/audit.log"},
			{"audit-log-maxage", strconv.Itoa(auditMaxAge)},
			{"audit-log-maxbackup", strconv.Itoa(auditMaxBackup)},
			{"audit-log-maxsize", strconv.Itoa(auditMaxSize)},
		},
		Volumes: []Volume{
			{Name: "kubegate-audit-policy", HostPath: DefaultAuditDir, ReadOnly: true, Directory: true},
			{Name: "kubegate-audit-log", HostPath: DefaultAuditLogDir, Directory: true},
		},
		Notes: []string{"Ship " + DefaultAuditLogDir + " off the node (the log is the record of who did what; an attacker on the node can edit it)."},
	}
}

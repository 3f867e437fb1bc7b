package rules

// Control-plane and kubelet flag checks (practices 000-6 … 000-10, 002-2, 002-3, 002-6): the
// CIS Kubernetes Benchmark 1.12 automated checks, plus the ones the seed asks for that CIS
// dropped or never had. One table row is one rule; a row says which flag (and for the
// kubelet which KubeletConfiguration field) it reads, the test, the component's value when
// nothing is written, and the CIS id. Stricter than kube-bench where it is lenient: an
// absent --bind-address, readOnlyPort or rotateCertificates is judged by the component's
// real default, not passed.

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
)

// test is how a flagCheck judges a value.
type test int

const (
	present   test = iota // set (every flag of the row)
	absent                // not set at all
	isTrue                // a Go bool that is true
	isFalse               // a Go bool that is false
	equals                // exactly want
	oneOf                 // one of the comma list want
	includes              // the comma list value holds want
	excludes              // the comma list value does not hold want
	atLeast               // an integer ≥ want
	subsetOf              // every element of the comma list value is in the comma list want
	gateOn                // the feature gate want is not turned off in the k=v list value
	notPublic             // not a public IP address
	allHTTPS              // every URL of the comma list value is https
	nonZero               // a duration other than zero
)

// flagCheck is one row of the table.
type flagCheck struct {
	id        string
	cis       string // CIS Kubernetes Benchmark 1.12 id
	benchmark string // the older benchmark of a check 1.12 dropped ("1.24")
	component string
	flags     []string // flag names without dashes; present: every one must be set
	fields    []string // kubelet: the KubeletConfiguration field of each flag ("" = flag only)
	test      test
	want      string
	def       string // the component's value when nothing is written ("" = unset)
	cfgDef    string // kubelet reading a config file: the KubeletConfiguration default
	// removed: the flag is gone from this minor on (the component will not start with it);
	// before that the test applies.
	removed int
	// unless: the row does not apply when this flag is set to true (kubelet serving
	// certificates from the CSR API instead of files) or present at all (skipWhenSet).
	unless, unlessField string
	skipWhenSet         string
	severity            Severity
	practices           []string
	title, fix, doc     string
}

// The cipher suites CIS 1.12 allows (1.2.29 for the API server, 4.2.12 for the kubelet).
const (
	apiServerCiphers = "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256," +
		"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384," +
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256," +
		"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384," +
		"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
	kubeletCiphers = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256," +
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384," +
		"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
)

var (
	apiServerPractice = []string{"000-6"}
	encryptionTLS     = []string{"000-6", "002-2"}
	auditPractice     = []string{"000-6", "002-6"}
	privateEndpoint   = []string{"000-6", "002-3"}
)

var flagChecks = []flagCheck{
	// kube-apiserver (000-6)
	{id: "apiserver-anonymous-auth", cis: "1.2.1", component: model.APIServer, flags: []string{"anonymous-auth"}, test: isFalse, def: "true",
		severity: Medium, practices: apiServerPractice, title: "API server accepts anonymous requests",
		fix: "Set --anonymous-auth=false (use tcpSocket probes, or allow anonymous access only to /livez, /readyz and /healthz with --authentication-config)."},
	{id: "apiserver-token-auth-file", cis: "1.2.2", component: model.APIServer, flags: []string{"token-auth-file"}, test: absent,
		severity: High, practices: apiServerPractice, title: "API server uses a static token file",
		fix: "Remove --token-auth-file; use client certificates, OIDC or webhook token authentication."},
	{id: "apiserver-kubelet-client-cert", cis: "1.2.4", component: model.APIServer, flags: []string{"kubelet-client-certificate", "kubelet-client-key"}, test: present,
		severity: High, practices: encryptionTLS, title: "API server has no client certificate for kubelets",
		fix: "Set --kubelet-client-certificate and --kubelet-client-key."},
	{id: "apiserver-kubelet-certificate-authority", cis: "1.2.5", component: model.APIServer, flags: []string{"kubelet-certificate-authority"}, test: present,
		severity: Medium, practices: encryptionTLS, title: "API server does not verify kubelet serving certificates",
		fix: "Set --kubelet-certificate-authority to the CA that signs kubelet serving certificates (kubelets with serverTLSBootstrap: true)."},
	{id: "apiserver-authorization-always-allow", cis: "1.2.6", component: model.APIServer, flags: []string{"authorization-mode"}, test: excludes, want: "AlwaysAllow", def: "AlwaysAllow",
		skipWhenSet: "authorization-config", severity: Critical, practices: apiServerPractice, title: "API server authorizes every request",
		fix: "Set --authorization-mode=Node,RBAC (never AlwaysAllow)."},
	{id: "apiserver-authorization-node", cis: "1.2.7", component: model.APIServer, flags: []string{"authorization-mode"}, test: includes, want: "Node", def: "AlwaysAllow",
		skipWhenSet: "authorization-config", severity: High, practices: apiServerPractice, title: "API server without the Node authorizer",
		fix: "Add Node to --authorization-mode (--authorization-mode=Node,RBAC)."},
	{id: "apiserver-authorization-rbac", cis: "1.2.8", component: model.APIServer, flags: []string{"authorization-mode"}, test: includes, want: "RBAC", def: "AlwaysAllow",
		skipWhenSet: "authorization-config", severity: High, practices: apiServerPractice, title: "API server without RBAC authorization",
		fix: "Add RBAC to --authorization-mode (--authorization-mode=Node,RBAC)."},
	{id: "apiserver-admission-always-admit", cis: "1.2.10", component: model.APIServer, flags: []string{"enable-admission-plugins"}, test: excludes, want: "AlwaysAdmit",
		severity: Critical, practices: apiServerPractice, title: "API server admits every request (AlwaysAdmit)",
		fix: "Remove AlwaysAdmit from --enable-admission-plugins."},
	{id: "apiserver-admission-service-account", cis: "1.2.12", component: model.APIServer, flags: []string{"disable-admission-plugins"}, test: excludes, want: "ServiceAccount",
		severity: Medium, practices: apiServerPractice, title: "ServiceAccount admission plugin disabled",
		fix: "Remove ServiceAccount from --disable-admission-plugins."},
	{id: "apiserver-admission-namespace-lifecycle", cis: "1.2.13", component: model.APIServer, flags: []string{"disable-admission-plugins"}, test: excludes, want: "NamespaceLifecycle",
		severity: Medium, practices: apiServerPractice, title: "NamespaceLifecycle admission plugin disabled",
		fix: "Remove NamespaceLifecycle from --disable-admission-plugins."},
	{id: "apiserver-admission-node-restriction", cis: "1.2.14", component: model.APIServer, flags: []string{"enable-admission-plugins"}, test: includes, want: "NodeRestriction",
		severity: High, practices: apiServerPractice, title: "NodeRestriction admission plugin not enabled",
		fix: "Add NodeRestriction to --enable-admission-plugins."},
	{id: "apiserver-profiling", cis: "1.2.15", component: model.APIServer, flags: []string{"profiling"}, test: isFalse, def: "true",
		severity: Low, practices: apiServerPractice, title: "API server profiling enabled",
		fix: "Set --profiling=false."},
	{id: "apiserver-audit-log-path", cis: "1.2.16", component: model.APIServer, flags: []string{"audit-log-path"}, test: present,
		severity: Medium, practices: auditPractice, title: "API server audit log not written",
		fix: "Set --audit-log-path (e.g. /var/log/kubernetes/audit/audit.log) and mount it from the host."},
	{id: "apiserver-audit-log-maxage", cis: "1.2.17", component: model.APIServer, flags: []string{"audit-log-maxage"}, test: atLeast, want: "30", def: "0",
		severity: Low, practices: auditPractice, title: "API server audit logs kept less than 30 days",
		fix: "Set --audit-log-maxage=30 or more."},
	{id: "apiserver-audit-log-maxbackup", cis: "1.2.18", component: model.APIServer, flags: []string{"audit-log-maxbackup"}, test: atLeast, want: "10", def: "0",
		severity: Low, practices: auditPractice, title: "API server keeps fewer than 10 audit log files",
		fix: "Set --audit-log-maxbackup=10 or more."},
	{id: "apiserver-audit-log-maxsize", cis: "1.2.19", component: model.APIServer, flags: []string{"audit-log-maxsize"}, test: atLeast, want: "100", def: "0",
		severity: Low, practices: auditPractice, title: "API server audit log rotated below 100 MB",
		fix: "Set --audit-log-maxsize=100 or more."},
	{id: "apiserver-audit-policy-file", cis: "3.2.1", component: model.APIServer, flags: []string{"audit-policy-file"}, test: present,
		severity: Medium, practices: auditPractice, title: "API server has no audit policy",
		fix: "Set --audit-policy-file to an audit Policy that records at least request metadata."},
	{id: "apiserver-service-account-lookup", cis: "1.2.21", component: model.APIServer, flags: []string{"service-account-lookup"}, test: isTrue, def: "true",
		severity: Medium, practices: apiServerPractice, title: "API server accepts tokens of deleted ServiceAccounts",
		fix: "Remove --service-account-lookup=false (or set it to true)."},
	{id: "apiserver-service-account-key-file", cis: "1.2.22", component: model.APIServer, flags: []string{"service-account-key-file"}, test: present,
		severity: Medium, practices: apiServerPractice, title: "API server has no ServiceAccount verification key",
		fix: "Set --service-account-key-file to the public key of the ServiceAccount signing key pair."},
	{id: "apiserver-service-account-signing-key", component: model.APIServer, flags: []string{"service-account-signing-key-file"}, test: present,
		severity: Medium, practices: apiServerPractice, title: "API server has no ServiceAccount signing key",
		fix: "Set --service-account-signing-key-file to the private key that signs ServiceAccount tokens."},
	{id: "apiserver-service-account-extend-token-expiration", cis: "1.2.30", component: model.APIServer, flags: []string{"service-account-extend-token-expiration"}, test: isFalse, def: "true",
		severity: Medium, practices: encryptionTLS, title: "API server extends ServiceAccount token lifetimes",
		fix: "Set --service-account-extend-token-expiration=false so projected tokens expire when they say."},
	{id: "apiserver-etcd-client-cert", cis: "1.2.23", component: model.APIServer, flags: []string{"etcd-certfile", "etcd-keyfile"}, test: present,
		severity: High, practices: encryptionTLS, title: "API server has no client certificate for etcd",
		fix: "Set --etcd-certfile and --etcd-keyfile."},
	{id: "apiserver-etcd-ca", cis: "1.2.26", component: model.APIServer, flags: []string{"etcd-cafile"}, test: present,
		severity: High, practices: encryptionTLS, title: "API server does not verify etcd's certificate",
		fix: "Set --etcd-cafile to etcd's CA certificate."},
	{id: "apiserver-etcd-https", component: model.APIServer, flags: []string{"etcd-servers"}, test: allHTTPS,
		severity: High, practices: encryptionTLS, title: "API server reaches etcd without TLS",
		fix: "Use https:// URLs in --etcd-servers."},
	{id: "apiserver-tls-cert", cis: "1.2.24", component: model.APIServer, flags: []string{"tls-cert-file", "tls-private-key-file"}, test: present,
		severity: High, practices: encryptionTLS, title: "API server serves a self-signed certificate",
		fix: "Set --tls-cert-file and --tls-private-key-file."},
	{id: "apiserver-client-ca", cis: "1.2.25", component: model.APIServer, flags: []string{"client-ca-file"}, test: present,
		severity: High, practices: encryptionTLS, title: "API server does not authenticate client certificates",
		fix: "Set --client-ca-file."},
	{id: "apiserver-encryption-provider-config", cis: "1.2.27", component: model.APIServer, flags: []string{"encryption-provider-config"}, test: present,
		severity: High, practices: encryptionTLS, title: "Secrets not encrypted at rest",
		fix: "Set --encryption-provider-config to an EncryptionConfiguration whose first provider is kms, aescbc, aesgcm or secretbox (kubegate generate encryption)."},
	{id: "apiserver-tls-cipher-suites", cis: "1.2.29", component: model.APIServer, flags: []string{"tls-cipher-suites"}, test: subsetOf, want: apiServerCiphers,
		severity: Low, practices: encryptionTLS, title: "API server TLS cipher suites not restricted to strong ones",
		fix: "Set --tls-cipher-suites to AEAD suites only, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384."},
	{id: "apiserver-tls-min-version", component: model.APIServer, flags: []string{"tls-min-version"}, test: oneOf, want: "VersionTLS12,VersionTLS13", def: "VersionTLS12",
		severity: Medium, practices: encryptionTLS, title: "API server accepts TLS older than 1.2",
		fix: "Set --tls-min-version=VersionTLS12 or VersionTLS13 (or remove it)."},
	{id: "apiserver-insecure-port", cis: "1.2.18", benchmark: "1.20", component: model.APIServer, flags: []string{"insecure-port"}, test: equals, want: "0", def: "0", removed: 24,
		severity: Critical, practices: apiServerPractice, title: "API server serves plain HTTP without authentication",
		fix: "Remove --insecure-port (Kubernetes 1.24 removed it; before that only 0 was safe)."},
	{id: "apiserver-insecure-bind-address", cis: "1.2.17", benchmark: "1.20", component: model.APIServer, flags: []string{"insecure-bind-address"}, test: absent, removed: 24,
		severity: High, practices: apiServerPractice, title: "API server insecure bind address set",
		fix: "Remove --insecure-bind-address."},
	{id: "apiserver-public-bind-address", component: model.APIServer, flags: []string{"bind-address"}, test: notPublic,
		severity: High, practices: privateEndpoint, title: "API server bound to a public address",
		fix: "Bind the API server to a private address and expose it through a private load balancer or VPN."},
	{id: "apiserver-public-advertise-address", component: model.APIServer, flags: []string{"advertise-address"}, test: notPublic,
		severity: High, practices: privateEndpoint, title: "API server advertised on a public address",
		fix: "Advertise a private address (--advertise-address) and keep the endpoint off the internet."},

	// kube-controller-manager (000-8)
	{id: "controller-manager-terminated-pod-gc-threshold", cis: "1.3.1", component: model.ControllerManager, flags: []string{"terminated-pod-gc-threshold"}, test: present,
		severity: Low, practices: []string{"000-8"}, title: "Terminated pod garbage collection threshold not set",
		fix: "Set --terminated-pod-gc-threshold (e.g. 10) so terminated pods do not pile up."},
	{id: "controller-manager-profiling", cis: "1.3.2", component: model.ControllerManager, flags: []string{"profiling"}, test: isFalse, def: "true",
		severity: Low, practices: []string{"000-8"}, title: "Controller manager profiling enabled",
		fix: "Set --profiling=false."},
	{id: "controller-manager-service-account-credentials", cis: "1.3.3", component: model.ControllerManager, flags: []string{"use-service-account-credentials"}, test: isTrue, def: "false",
		severity: Medium, practices: []string{"000-8"}, title: "Controllers share the controller manager's credentials",
		fix: "Set --use-service-account-credentials=true."},
	{id: "controller-manager-service-account-private-key", cis: "1.3.4", component: model.ControllerManager, flags: []string{"service-account-private-key-file"}, test: present,
		severity: Medium, practices: []string{"000-8"}, title: "Controller manager has no ServiceAccount signing key",
		fix: "Set --service-account-private-key-file."},
	{id: "controller-manager-root-ca", cis: "1.3.5", component: model.ControllerManager, flags: []string{"root-ca-file"}, test: present,
		severity: Medium, practices: []string{"000-8"}, title: "Pods do not get the cluster CA to verify the API server",
		fix: "Set --root-ca-file to the cluster CA certificate."},
	{id: "controller-manager-rotate-kubelet-server-certificate", cis: "1.3.6", component: model.ControllerManager, flags: []string{"feature-gates"}, test: gateOn, want: "RotateKubeletServerCertificate",
		severity: Medium, practices: []string{"000-8"}, title: "Kubelet serving certificate rotation turned off",
		fix: "Remove RotateKubeletServerCertificate=false from --feature-gates."},
	{id: "controller-manager-bind-address", cis: "1.3.7", component: model.ControllerManager, flags: []string{"bind-address"}, test: equals, want: "127.0.0.1", def: "0.0.0.0",
		severity: Medium, practices: []string{"000-8"}, title: "Controller manager listens beyond localhost",
		fix: "Set --bind-address=127.0.0.1."},

	// kube-scheduler (000-7)
	{id: "scheduler-profiling", cis: "1.4.1", component: model.Scheduler, flags: []string{"profiling"}, test: isFalse, def: "true",
		severity: Low, practices: []string{"000-7"}, title: "Scheduler profiling enabled",
		fix: "Set --profiling=false."},
	{id: "scheduler-bind-address", cis: "1.4.2", component: model.Scheduler, flags: []string{"bind-address"}, test: equals, want: "127.0.0.1", def: "0.0.0.0",
		severity: Medium, practices: []string{"000-7"}, title: "Scheduler listens beyond localhost",
		fix: "Set --bind-address=127.0.0.1."},

	// etcd (000-9)
	{id: "etcd-tls-cert", cis: "2.1", component: model.Etcd, flags: []string{"cert-file", "key-file"}, test: present,
		severity: High, practices: []string{"000-9"}, title: "etcd serves clients without TLS",
		fix: "Set --cert-file and --key-file."},
	{id: "etcd-client-cert-auth", cis: "2.2", component: model.Etcd, flags: []string{"client-cert-auth"}, test: isTrue, def: "false",
		severity: High, practices: []string{"000-9"}, title: "etcd does not authenticate clients",
		fix: "Set --client-cert-auth=true."},
	{id: "etcd-auto-tls", cis: "2.3", component: model.Etcd, flags: []string{"auto-tls"}, test: isFalse, def: "false",
		severity: Medium, practices: []string{"000-9"}, title: "etcd uses self-signed client certificates",
		fix: "Remove --auto-tls (or set it to false)."},
	{id: "etcd-peer-tls-cert", cis: "2.4", component: model.Etcd, flags: []string{"peer-cert-file", "peer-key-file"}, test: present,
		severity: High, practices: []string{"000-9"}, title: "etcd peers talk without TLS",
		fix: "Set --peer-cert-file and --peer-key-file."},
	{id: "etcd-peer-client-cert-auth", cis: "2.5", component: model.Etcd, flags: []string{"peer-client-cert-auth"}, test: isTrue, def: "false",
		severity: High, practices: []string{"000-9"}, title: "etcd does not authenticate peers",
		fix: "Set --peer-client-cert-auth=true."},
	{id: "etcd-peer-auto-tls", cis: "2.6", component: model.Etcd, flags: []string{"peer-auto-tls"}, test: isFalse, def: "false",
		severity: Medium, practices: []string{"000-9"}, title: "etcd peers use self-signed certificates",
		fix: "Remove --peer-auto-tls (or set it to false)."},
	{id: "etcd-client-urls-https", component: model.Etcd, flags: []string{"listen-client-urls", "advertise-client-urls"}, test: allHTTPS,
		def: "http://localhost:2379", severity: High, practices: []string{"000-9"}, title: "etcd serves clients over plain HTTP",
		fix: "Use https:// URLs in --listen-client-urls and --advertise-client-urls."},

	// kubelet (000-10)
	{id: "kubelet-anonymous-auth", cis: "4.2.1", component: model.Kubelet, flags: []string{"anonymous-auth"}, fields: []string{"authentication.anonymous.enabled"},
		test: isFalse, def: "true", cfgDef: "false", severity: High, practices: []string{"000-10"}, title: "Kubelet accepts anonymous requests",
		fix: "Set authentication.anonymous.enabled: false (--anonymous-auth=false)."},
	{id: "kubelet-authorization-mode", cis: "4.2.2", component: model.Kubelet, flags: []string{"authorization-mode"}, fields: []string{"authorization.mode"},
		test: equals, want: "Webhook", def: "AlwaysAllow", cfgDef: "Webhook", severity: High, practices: []string{"000-10"}, title: "Kubelet authorizes every request",
		fix: "Set authorization.mode: Webhook (--authorization-mode=Webhook) with authentication.webhook.enabled: true."},
	{id: "kubelet-client-ca", cis: "4.2.3", component: model.Kubelet, flags: []string{"client-ca-file"}, fields: []string{"authentication.x509.clientCAFile"},
		test: present, severity: High, practices: []string{"000-10"}, title: "Kubelet does not authenticate client certificates",
		fix: "Set authentication.x509.clientCAFile (--client-ca-file) to the cluster CA."},
	{id: "kubelet-read-only-port", cis: "4.2.4", component: model.Kubelet, flags: []string{"read-only-port"}, fields: []string{"readOnlyPort"},
		test: equals, want: "0", def: "10255", cfgDef: "0", severity: Medium, practices: []string{"000-10"}, title: "Kubelet read-only port open",
		fix: "Set readOnlyPort: 0 (--read-only-port=0)."},
	{id: "kubelet-streaming-idle-timeout", cis: "4.2.5", component: model.Kubelet, flags: []string{"streaming-connection-idle-timeout"}, fields: []string{"streamingConnectionIdleTimeout"},
		test: nonZero, def: "4h0m0s", cfgDef: "4h0m0s", severity: Low, practices: []string{"000-10"}, title: "Kubelet streaming connections never time out",
		fix: "Set streamingConnectionIdleTimeout to a non-zero duration such as 5m (--streaming-connection-idle-timeout=5m)."},
	{id: "kubelet-iptables-util-chains", cis: "4.2.6", component: model.Kubelet, flags: []string{"make-iptables-util-chains"}, fields: []string{"makeIPTablesUtilChains"},
		test: isTrue, def: "true", cfgDef: "true", severity: Low, practices: []string{"000-10"}, title: "Kubelet does not manage its iptables chains",
		fix: "Set makeIPTablesUtilChains: true (--make-iptables-util-chains=true)."},
	{id: "kubelet-event-qps", cis: "4.2.8", component: model.Kubelet, flags: []string{"event-qps"}, fields: []string{"eventRecordQPS"},
		test: atLeast, want: "0", def: "50", cfgDef: "50", severity: Low, practices: []string{"000-10"}, title: "Kubelet event rate invalid",
		fix: "Set eventRecordQPS (--event-qps) to 0 (unlimited) or a positive rate that keeps the events you need."},
	{id: "kubelet-tls-cert", cis: "4.2.9", component: model.Kubelet, flags: []string{"tls-cert-file", "tls-private-key-file"}, fields: []string{"tlsCertFile", "tlsPrivateKeyFile"},
		test: present, unless: "rotate-server-certificates", unlessField: "serverTLSBootstrap", severity: Medium, practices: []string{"000-10"}, title: "Kubelet serves a self-signed certificate",
		fix: "Set serverTLSBootstrap: true (serving certificates from the cluster CA), or tlsCertFile and tlsPrivateKeyFile."},
	{id: "kubelet-rotate-certificates", cis: "4.2.10", component: model.Kubelet, flags: []string{"rotate-certificates"}, fields: []string{"rotateCertificates"},
		test: isTrue, def: "false", cfgDef: "false", severity: Medium, practices: []string{"000-10"}, title: "Kubelet client certificate not rotated",
		fix: "Set rotateCertificates: true (--rotate-certificates)."},
	{id: "kubelet-tls-cipher-suites", cis: "4.2.12", component: model.Kubelet, flags: []string{"tls-cipher-suites"}, fields: []string{"tlsCipherSuites"},
		test: subsetOf, want: kubeletCiphers, severity: Low, practices: []string{"000-10"}, title: "Kubelet TLS cipher suites not restricted to strong ones",
		fix: "Set tlsCipherSuites to AEAD suites only, e.g. [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]."},
	{id: "kubelet-protect-kernel-defaults", cis: "4.2.6", benchmark: "1.24", component: model.Kubelet, flags: []string{"protect-kernel-defaults"}, fields: []string{"protectKernelDefaults"},
		test: isTrue, def: "false", cfgDef: "false", severity: Medium, practices: []string{"000-10"}, title: "Kubelet may change kernel settings",
		fix: "Set protectKernelDefaults: true (--protect-kernel-defaults) after setting the node's sysctls as the kubelet expects."},
}

const cisLink = "https://www.cisecurity.org/benchmark/kubernetes"

var etcdDistinctCA = &Rule{
	ID: "etcd-trusted-ca-distinct", Title: "etcd trusts the cluster's client CA", Severity: High,
	Practices: []string{"000-9"}, Refs: []string{"CIS 2.7", cisLink},
	Fix: "Give etcd a CA of its own (kubeadm: /etc/kubernetes/pki/etcd/ca.crt) in --trusted-ca-file.",
	Doc: "etcd's --trusted-ca-file must be set, and must not be the file the API server's " +
		"--client-ca-file names: with one CA, every client certificate of the cluster (kubelets, " +
		"users) is also accepted by etcd, which holds every Secret. Compared when both are in " +
		"the checked set; paths are compared, not certificate contents.",
}

func checkEtcdCA(s *model.Set) []Finding {
	var clientCAs []model.Setting
	for _, c := range s.Components() {
		if c.Name == model.APIServer {
			if st, ok := c.Lookup("client-ca-file", ""); ok {
				clientCAs = append(clientCAs, st)
			}
		}
	}
	var out []Finding
	for _, c := range s.Components() {
		if c.Name != model.Etcd {
			continue
		}
		st, ok := c.Lookup("trusted-ca-file", "")
		if !ok {
			out = append(out, etcdDistinctCA.At(c.Object, c.Field, c.Container, "etcd: --trusted-ca-file not set"))
			continue
		}
		for _, ca := range clientCAs {
			if path.Clean(ca.Value) == path.Clean(st.Value) {
				f := etcdDistinctCA.At(c.Object, "", c.Container, fmt.Sprintf(
					"etcd: --trusted-ca-file=%s is also the API server's --client-ca-file (%s)", st.Value, ca.Source))
				f.Source = st.Source
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// flagEntries are the rules of the flagChecks table, one per row.
func flagEntries() []entry {
	var out []entry
	for i := range flagChecks {
		fc := &flagChecks[i]
		refs := []string{}
		switch {
		case fc.benchmark != "":
			refs = append(refs, "CIS "+fc.cis+" (benchmark "+fc.benchmark+", dropped since)")
		case fc.cis != "":
			refs = append(refs, "CIS "+fc.cis)
		}
		refs = append(refs, cisLink)
		r := &Rule{ID: fc.id, Title: fc.title, Severity: fc.severity, Practices: fc.practices,
			Refs: refs, Fix: fc.fix, Doc: fc.describe()}
		out = append(out, entry{r, controlPlane, func(s *model.Set) []Finding { return checkFlag(r, fc, s) }})
	}
	return out
}

// describe is the rule's documentation, written from the row.
func (fc *flagCheck) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Checks %s: %s", fc.component, fc.settingNames())
	switch fc.test {
	case present:
		b.WriteString(" must be set")
	case absent:
		b.WriteString(" must not be set")
	case isTrue:
		b.WriteString(" must be true")
	case isFalse:
		b.WriteString(" must be false")
	case equals:
		fmt.Fprintf(&b, " must be %s", fc.want)
	case oneOf:
		fmt.Fprintf(&b, " must be one of %s", fc.want)
	case includes:
		fmt.Fprintf(&b, " must include %s", fc.want)
	case excludes:
		fmt.Fprintf(&b, " must not include %s", fc.want)
	case atLeast:
		fmt.Fprintf(&b, " must be at least %s", fc.want)
	case subsetOf:
		fmt.Fprintf(&b, " must be set and list only %s", fc.want)
	case gateOn:
		fmt.Fprintf(&b, " must not turn %s off", fc.want)
	case notPublic:
		b.WriteString(" must not be a public IP address")
	case allHTTPS:
		b.WriteString(" must hold only https:// URLs")
	case nonZero:
		b.WriteString(" must not be zero")
	}
	b.WriteString(".")
	if fc.def != "" {
		fmt.Fprintf(&b, " When not written, the component's default applies: %s", fc.def)
		if fc.cfgDef != "" && fc.cfgDef != fc.def {
			fmt.Fprintf(&b, " (with a config file: %s)", fc.cfgDef)
		}
		b.WriteString(".")
	}
	if fc.removed > 0 {
		fmt.Fprintf(&b, " The flag was removed in Kubernetes 1.%d: from then on it is a finding wherever it is set (the component does not start).", fc.removed)
	}
	if fc.skipWhenSet != "" {
		fmt.Fprintf(&b, " Not judged when --%s is set (that file is not read).", fc.skipWhenSet)
	}
	b.WriteString(" Read where it is written: kube-system static Pods (command and args, parsed as the component parses them: last occurrence wins, list flags accumulate), kubeadm ClusterConfiguration/InitConfiguration/JoinConfiguration extraArgs over kubeadm's own flags")
	if fc.component == model.Kubelet {
		b.WriteString(", KubeletConfiguration files and kubelet flag files (flags override the file; a zero duration in the file means the default)")
	}
	b.WriteString(".")
	return b.String()
}

func (fc *flagCheck) settingNames() string {
	names := make([]string, len(fc.flags))
	for i, f := range fc.flags {
		names[i] = "--" + f
		if i < len(fc.fields) && fc.fields[i] != "" {
			names[i] = fc.fields[i] + " (" + names[i] + ")"
		}
	}
	return strings.Join(names, " and ")
}

func checkFlag(r *Rule, fc *flagCheck, s *model.Set) []Finding {
	var out []Finding
	for _, c := range s.Components() {
		if c.Name != fc.component {
			continue
		}
		if msg, src, bad := fc.judge(c, s.TargetMinor()); bad {
			f := r.At(c.Object, c.Field, c.Container, c.Name+": "+msg)
			if src.File != "" {
				f.Source = src
			}
			out = append(out, f)
		}
	}
	return out
}

// judge evaluates the row on one component: the message and where the value is written.
func (fc *flagCheck) judge(c *model.Component, minor int) (msg string, src manifest.Source, bad bool) {
	if fc.skipWhenSet != "" {
		if _, ok := c.Lookup(fc.skipWhenSet, ""); ok {
			return "", src, false
		}
	}
	if fc.unless != "" {
		if st, ok := c.Lookup(fc.unless, fc.unlessField); ok {
			if b, err := strconv.ParseBool(st.Value); err == nil && b {
				return "", src, false
			}
		}
	}
	if fc.test == present {
		var missing []string
		for i, f := range fc.flags {
			if st, ok := c.Lookup(f, fc.field(i)); !ok || st.Value == "" {
				missing = append(missing, fc.name(c, i))
			}
		}
		if len(missing) == 0 {
			return "", src, false
		}
		return strings.Join(missing, " and ") + " not set", src, true
	}
	for i, f := range fc.flags {
		st, written := c.Lookup(f, fc.field(i))
		if written && fc.removed > 0 && minor >= fc.removed {
			return fmt.Sprintf("%s is set: the flag was removed in Kubernetes 1.%d, the component will not start", fc.name(c, i), fc.removed), st.Source, true
		}
		value, shown := st.Value, st.Name+"="+st.Value
		switch {
		case !written && fc.test == absent:
			continue
		case !written:
			value = fc.def
			if c.ConfigFile && fc.cfgDef != "" {
				value = fc.cfgDef
			}
			shown = fc.name(c, i) + " not set"
			if value != "" {
				shown += " (default " + value + ")"
			}
		case st.From != "":
			shown += " (" + st.From + ")"
		}
		if why, ok := fc.holds(value, written); !ok {
			return shown + ": " + why, st.Source, true
		}
	}
	return "", src, false
}

func (fc *flagCheck) field(i int) string {
	if i < len(fc.fields) {
		return fc.fields[i]
	}
	return ""
}

// name is how a setting that is not written is shown: the config field for a kubelet that
// reads a config file, else the flag.
func (fc *flagCheck) name(c *model.Component, i int) string {
	if f := fc.field(i); f != "" && c.ConfigFile {
		return f
	}
	return "--" + fc.flags[i]
}

// holds says whether value passes the test, and if not why.
func (fc *flagCheck) holds(value string, written bool) (string, bool) {
	switch fc.test {
	case absent:
		return "must not be set", !written
	case isTrue, isFalse:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Sprintf("%q is not a boolean", value), false
		}
		want := fc.test == isTrue
		return fmt.Sprintf("want %t", want), b == want
	case equals:
		return "want " + fc.want, value == fc.want
	case oneOf:
		return "want one of " + fc.want, slices.Contains(model.SplitList(fc.want), value)
	case includes:
		return "does not include " + fc.want, slices.Contains(model.SplitList(value), fc.want)
	case excludes:
		return "includes " + fc.want, !slices.Contains(model.SplitList(value), fc.want)
	case atLeast:
		n, err := strconv.Atoi(strings.TrimSpace(value))
		min, _ := strconv.Atoi(fc.want)
		if err != nil {
			return fmt.Sprintf("%q is not a number", value), false
		}
		return "want at least " + fc.want, n >= min
	case subsetOf:
		if value == "" {
			return "the Go defaults include CBC and non-ECDHE suites; list strong suites explicitly", false
		}
		allowed := model.SplitList(fc.want)
		var weak []string
		for _, e := range model.SplitList(value) {
			if !slices.Contains(allowed, e) {
				weak = append(weak, e)
			}
		}
		return "weak suites " + strings.Join(weak, ", "), len(weak) == 0
	case gateOn:
		for _, kv := range model.SplitList(value) {
			k, v, _ := strings.Cut(kv, "=")
			if k == fc.want {
				if b, err := strconv.ParseBool(v); err == nil && !b {
					return fc.want + " is turned off", false
				}
			}
		}
		return "", true
	case notPublic:
		if ip := net.ParseIP(value); ip != nil && isPublicIP(ip) {
			return value + " is a public address", false
		}
		return "", true
	case allHTTPS:
		var plain []string
		for _, u := range model.SplitList(value) {
			if p, err := url.Parse(u); err != nil || p.Scheme != "https" {
				plain = append(plain, u)
			}
		}
		return "not https: " + strings.Join(plain, ", "), len(plain) == 0
	case nonZero:
		return "zero disables the timeout", !model.IsZeroDuration(value)
	}
	return "", true
}

// sharedAddressSpace is 100.64.0.0/10 (RFC 6598, carrier-grade NAT): not routed publicly.
var sharedAddressSpace = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

// isPublicIP: not private, loopback, link-local, unspecified or shared address space.
func isPublicIP(ip net.IP) bool {
	return !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() &&
		!sharedAddressSpace.Contains(ip)
}

var kubeconfigPublic = &Rule{
	ID: "kubeconfig-public-endpoint", Title: "Kubeconfig points at a public API endpoint", Severity: Medium,
	Practices: []string{"002-3"}, Refs: []string{"https://kubernetes.io/docs/concepts/security/api-server-bypass-risks/", cisLink},
	Fix: "Reach the API server through a private address (VPN, bastion, private endpoint), and keep the public endpoint closed.",
	Doc: "A kubeconfig (apiVersion v1, kind Config) whose cluster server is a public IP address " +
		"shows that the API server is reachable from the internet. Host names are not resolved " +
		"(the gate uses no DNS), so only IP literals are judged.",
}

func checkKubeconfigs(s *model.Set) []Finding {
	var out []Finding
	for _, o := range s.Objects {
		if o.APIVersion != "v1" || o.Kind != "Config" {
			continue
		}
		clusters, _ := o.Raw()["clusters"].([]any)
		for i, c := range clusters {
			m, _ := c.(map[string]any)
			server, _ := manifest.Lookup(m, "cluster", "server").(string)
			u, err := url.Parse(server)
			if err != nil {
				continue
			}
			if ip := net.ParseIP(u.Hostname()); ip != nil && isPublicIP(ip) {
				name, _ := m["name"].(string)
				out = append(out, kubeconfigPublic.At(o, fmt.Sprintf("clusters[%d].cluster.server", i), "",
					fmt.Sprintf("cluster %q is reached at %s, a public address", name, server)))
			}
		}
	}
	return out
}

package model

import (
	"strings"
)

// Args are the command-line flags of one component, read the way the component reads them
// (spf13/pflag, and Go's flag package for etcd): --k=v; --k v unless k is a bool flag; a
// bare bool flag is true; -k is --k. A scalar flag keeps its last occurrence, a list flag
// (listFlags) accumulates every occurrence, as pflag's StringSlice does. kube-bench reads
// the first occurrence and takes "--k v" for "--k=true": both wrong.
type Args map[string][]arg

// arg is one occurrence of a flag, with the field path of the argv element it came from.
type arg struct {
	value string
	field string
}

// boolFlags take no separate value: "--profiling false" is --profiling=true plus a stray
// "false". Only the bool flags of the components the gate checks matter here.
var boolFlags = map[string]bool{
	"anonymous-auth": true, "profiling": true, "service-account-lookup": true,
	"service-account-extend-token-expiration": true, "use-service-account-credentials": true,
	"client-cert-auth": true, "auto-tls": true, "peer-client-cert-auth": true, "peer-auto-tls": true,
	"allow-privileged": true, "enable-bootstrap-token-auth": true, "leader-elect": true,
	"make-iptables-util-chains": true, "rotate-certificates": true, "rotate-server-certificates": true,
	"protect-kernel-defaults": true, "authentication-token-webhook": true, "seccomp-default": true,
	"allocate-node-cidrs": true, "experimental-initial-corrupt-check": true, "fail-swap-on": true,
	"kubelet-https": true,
}

// listFlags are the StringSlice flags: repeated occurrences add up.
var listFlags = map[string]bool{
	"enable-admission-plugins": true, "disable-admission-plugins": true, "authorization-mode": true,
	"tls-cipher-suites": true, "feature-gates": true, "etcd-servers": true,
	"listen-client-urls": true, "advertise-client-urls": true, "listen-peer-urls": true,
}

// parseArgs reads argv elements; fields[i] is the field path of argv[i].
func parseArgs(argv, fields []string) Args {
	a := Args{}
	for i := 0; i < len(argv); i++ {
		s := argv[i]
		if !strings.HasPrefix(s, "-") || s == "-" || s == "--" {
			continue // the binary, a positional argument
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(s, "-"), "=")
		field := fields[i]
		if !hasValue {
			value = "true"
			if !boolFlags[name] && i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
				value = argv[i+1]
				i++
			}
		}
		a[name] = append(a[name], arg{value: value, field: field})
	}
	return a
}

// get returns the flag's effective value: the last occurrence, or every occurrence joined
// by commas for a list flag; field is where the (last) occurrence is written.
func (a Args) get(name string) (value, field string, ok bool) {
	occ := a[name]
	if len(occ) == 0 {
		return "", "", false
	}
	last := occ[len(occ)-1]
	if !listFlags[name] || len(occ) == 1 {
		return last.value, last.field, true
	}
	vals := make([]string, len(occ))
	for i, o := range occ {
		vals[i] = o.value
	}
	return strings.Join(vals, ","), last.field, true
}

// splitList splits a comma list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

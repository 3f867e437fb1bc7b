package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/images"
)

// JSONImage is one image in the JSON report (and `kubegate images --format json`).
type JSONImage struct {
	Image     string         `json:"image"`
	Digest    string         `json:"digest,omitempty"`
	Platforms []string       `json:"platforms,omitempty"`
	Users     []string       `json:"users,omitempty"`
	OS        string         `json:"os,omitempty"`
	SignedBy  []string       `json:"signedBy,omitempty"`
	Attested  []string       `json:"attested,omitempty"`
	Vulns     map[string]int `json:"vulnerabilities,omitempty"` // every one found, by severity
	Problems  []string       `json:"problems,omitempty"`        // the rules that failed
	// Unchecked say why the image could not be checked (not resolved, verified or scanned).
	Unchecked []string `json:"unchecked,omitempty"`
	Cached    bool     `json:"cached,omitempty"`
	UsedBy    []string `json:"usedBy"`
}

// NewJSONImages is the JSON view of the image verdicts.
func NewJSONImages(verdicts []*images.Verdict) []JSONImage {
	out := []JSONImage{}
	for _, v := range verdicts {
		ji := JSONImage{Image: v.Image.Ref, Digest: v.Digest, Users: v.Users, OS: v.OS, SignedBy: v.SignedBy,
			Attested: v.Attested, Vulns: v.Counts, Cached: v.Cached, UsedBy: []string{}}
		for _, p := range v.Platforms {
			ji.Platforms = append(ji.Platforms, p.String())
		}
		for _, p := range v.Problems {
			if !slices.ContainsFunc(v.Image.Uses, p.AppliesTo) { // a finding on no container
				continue
			}
			if !slices.Contains(ji.Problems, p.RuleID) {
				ji.Problems = append(ji.Problems, p.RuleID)
			}
			if p.Unchecked() {
				ji.Unchecked = append(ji.Unchecked, p.RuleID+": "+p.Message)
			}
		}
		for _, u := range v.Image.Uses {
			ji.UsedBy = append(ji.UsedBy, u.Workload())
		}
		out = append(out, ji)
	}
	return out
}

// Images writes the table of `kubegate images`: every image with its digest, who signed
// it, its vulnerability counts (critical/high/medium/low), its user and its workloads.
func Images(w io.Writer, r *gate.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDIGEST\tSIGNED BY\tVULNS C/H/M/L\tUSER\tPROBLEMS\tUSED BY")
	for _, ji := range NewJSONImages(r.Images) {
		digest := ji.Digest
		if len(digest) > 19 {
			digest = digest[:19] // sha256: + 12 hex, as docker shows it
		}
		vulns := "-"
		if ji.Vulns != nil {
			vulns = fmt.Sprintf("%d/%d/%d/%d", ji.Vulns["CRITICAL"], ji.Vulns["HIGH"], ji.Vulns["MEDIUM"], ji.Vulns["LOW"])
		}
		users := make([]string, len(ji.Users))
		for i, u := range ji.Users {
			users[i] = u
			if u == "" {
				users[i] = "(root)"
			}
		}
		signed := strings.Join(ji.SignedBy, ", ")
		if len(ji.Attested) > 0 {
			signed += " +" + strings.Join(ji.Attested, " +")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ji.Image, dash(digest), dash(signed),
			vulns, dash(strings.Join(unique(users), ",")), dash(strings.Join(ji.Problems, ",")), strings.Join(ji.UsedBy, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ji := range NewJSONImages(r.Images) {
		for _, why := range ji.Unchecked { // the table names the rule; this says why
			fmt.Fprintln(w, "not checked: "+why)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func unique(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

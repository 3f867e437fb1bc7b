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
	// Details say what each problem is: "rule: message", one per problem.
	Details []string `json:"details,omitempty"`
	// NotChecked says why the image was not looked at all ("--offline").
	NotChecked string `json:"notChecked,omitempty"`
	// Unchecked say why the image could not be checked (not resolved, verified or scanned).
	Unchecked []string `json:"unchecked,omitempty"`
	Cached    bool     `json:"cached,omitempty"`
	// Verdict names the verified verdict attestation that stood for the check, if one did.
	Verdict string   `json:"verdict,omitempty"`
	UsedBy  []string `json:"usedBy"`
}

// NewJSONImages is the JSON view of the image verdicts.
func NewJSONImages(verdicts []*images.Verdict) []JSONImage {
	out := []JSONImage{}
	for _, v := range verdicts {
		ji := JSONImage{Image: v.Image.Ref, Digest: v.Digest, Users: v.Users, OS: v.OS, SignedBy: v.SignedBy,
			Attested: v.Attested, Vulns: v.Counts, Cached: v.Cached, Verdict: v.Reused, UsedBy: []string{}}
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
			ji.Details = append(ji.Details, p.RuleID+": "+p.Message)
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

// NotCheckedImages lists the images of a run that checked none (--offline).
func NotCheckedImages(used []*images.Image, why string) []JSONImage {
	out := []JSONImage{}
	for _, im := range used {
		ji := JSONImage{Image: im.Ref, NotChecked: why, UsedBy: []string{}}
		for _, u := range im.Uses {
			ji.UsedBy = append(ji.UsedBy, u.Workload())
		}
		out = append(out, ji)
	}
	return out
}

// Images writes the table of `kubegate images`: every image with its digest, who signed
// it, its vulnerability counts (critical/high/medium/low), its user, its problems and its
// workloads; then what each problem is.
func Images(w io.Writer, r *gate.Result) error {
	list := NewJSONImages(r.Images)
	if len(r.Images) == 0 && len(r.NotChecked) > 0 {
		list = NotCheckedImages(r.NotChecked, "--offline")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDIGEST\tSIGNED BY\tVULNS C/H/M/L\tUSER\tPROBLEMS\tUSED BY")
	for _, ji := range list {
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
		problems := strings.Join(ji.Problems, ",")
		if ji.NotChecked != "" {
			problems = "not checked (" + ji.NotChecked + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ji.Image, dash(digest), dash(signed),
			vulns, dash(strings.Join(unique(users), ",")), dash(problems), strings.Join(ji.UsedBy, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The table names the rules; this says what each problem is. An image with many
	// vulnerabilities lists the first few: check's report has them all.
	const perRule = 3
	for _, ji := range list {
		shown := map[string]int{}
		for _, d := range ji.Details {
			rule, _, _ := strings.Cut(d, ":")
			if shown[rule]++; shown[rule] <= perRule {
				fmt.Fprintf(w, "%s: %s\n", ji.Image, d)
			}
		}
		for _, rule := range ji.Problems {
			if n := shown[rule] - perRule; n > 0 {
				fmt.Fprintf(w, "%s: %s: … and %d more (kubegate check lists them all)\n", ji.Image, rule, n)
			}
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

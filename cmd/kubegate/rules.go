package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kubegate/kubegate/gate/rules"
)

func newRulesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rules [ID]",
		Short: "List every rule, or explain one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				r, ok := rules.Get(args[0])
				if !ok {
					return fmt.Errorf("unknown rule %q (run `kubegate rules` for the list)", args[0])
				}
				fmt.Fprintf(out, "%s — %s\n\n", r.ID, r.Title)
				fmt.Fprintf(out, "Severity:  %s\n", r.Severity)
				fmt.Fprintf(out, "Practices: %s\n", orNone(r.Practices))
				fmt.Fprintf(out, "Refs:      %s\n\n", orNone(r.Refs))
				fmt.Fprintf(out, "%s\n\nFix: %s\n", r.Doc, r.Fix)
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSEVERITY\tPRACTICES\tCIS\tTITLE")
			for _, r := range rules.All() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Severity, strings.Join(r.Practices, ","), cisIDs(r.Refs), r.Title)
			}
			return tw.Flush()
		},
	}
}

// cisIDs lists the CIS Kubernetes Benchmark ids among refs, shortened past two.
func cisIDs(refs []string) string {
	var ids []string
	for _, r := range refs {
		if id, ok := strings.CutPrefix(r, "CIS "); ok {
			ids = append(ids, strings.Fields(id)[0])
		}
	}
	switch {
	case len(ids) == 0:
		return "-"
	case len(ids) > 2:
		return fmt.Sprintf("%s,%s,… (%d)", ids[0], ids[1], len(ids))
	}
	return strings.Join(ids, ",")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

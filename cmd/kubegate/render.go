package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/gate/render"
)

func newRenderCmd() *cobra.Command {
	var in inputFlags
	cmd := &cobra.Command{
		Use:   "render PATH...",
		Short: "Print the rendered objects as one multi-document YAML stream",
		Long: "Render files, directories, Kustomize roots and Helm charts exactly as `check` sees them\n" +
			"and print them, each preceded by a comment naming the file and line it came from.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := in.checkArgs(args); err != nil {
				return err
			}
			if _, err := in.loadPolicy(); err != nil {
				return err
			}
			in.render.Stdin = cmd.InOrStdin()
			res := render.Render(args, in.render)
			var b strings.Builder
			for _, o := range res.Objects {
				b.WriteString("---\n# Source: " + o.Source.String())
				if o.Source.Via != "" {
					b.WriteString(" (via " + o.Source.Via + ")")
				}
				b.WriteString("\n")
				// As kubectl and helm write YAML: two spaces, list items at their key's indent.
				enc := yaml.NewEncoder(&b)
				enc.SetIndent(2)
				enc.CompactSeqIndent()
				if err := enc.Encode(o.Raw()); err != nil {
					return fmt.Errorf("%s: %v", o.Source, err)
				}
				enc.Close()
			}
			fmt.Fprint(cmd.OutOrStdout(), b.String())
			for _, n := range res.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
			}
			for _, e := range res.Errors {
				fmt.Fprintln(cmd.ErrOrStderr(), "error:", e)
			}
			if len(res.Errors) > 0 {
				return exitError{2}
			}
			return nil
		},
	}
	in.register(cmd.Flags())
	return cmd
}

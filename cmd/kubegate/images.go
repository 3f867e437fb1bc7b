package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubegate/kubegate/gate/report"
)

func newImagesCmd() *cobra.Command {
	var (
		in     inputFlags
		images imageFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "images PATH...",
		Short: "List every image the inputs use: digest, signature, vulnerabilities, user, workloads",
		Long: "Render the inputs like check, resolve every image in its registry, verify its signature\n" +
			"under the policy's images.rules and scan it, then print one row per image. The\n" +
			"findings themselves are check's; images exits 0 unless an input cannot be read (2).\n" +
			"With --offline it lists the images the inputs use, marked not checked.",
		Example: "  kubegate images deploy/overlays/prod\n  kubegate images --format json charts/app",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format must be text or json, got %q", format)
			}
			p, err := in.loadPolicy()
			if err != nil {
				return err
			}
			in.render.Stdin = cmd.InOrStdin()
			res, err := runGate(cmd, args, in, p, &images, nil, "")
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				list := report.NewJSONImages(res.Images)
				if images.offline {
					list = report.NotCheckedImages(res.NotChecked, "--offline")
				}
				err = enc.Encode(list)
			} else {
				err = report.Images(out, res)
			}
			if err != nil {
				return err
			}
			for _, e := range res.Errors {
				fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
			}
			if len(res.Errors) > 0 {
				return exitError{2}
			}
			return nil
		},
	}
	in.register(cmd.Flags())
	images.register(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	deprecatedAlias(cmd.Flags(), "format", "", "o", "in trivy -o names the output file")
	return cmd
}

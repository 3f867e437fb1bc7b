package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// deprecatedNote marks a hidden flag that is an old name of another.
const deprecatedNote = "kubegate-deprecated"

// deprecatedAlias registers an old name (a long name, or a one-letter shorthand) of flag
// to: it sets the same value and, when used, says on stderr what to use instead and why.
// Old command lines keep working; new ones use names that do not collide with the tools
// users know.
func deprecatedAlias(fs *pflag.FlagSet, to, oldName, oldShorthand, why string) {
	target := fs.Lookup(to)
	name := oldName
	if name == "" {
		name = to + "-shorthand-" + oldShorthand // hidden; only the shorthand is meant to be typed
	}
	f := fs.VarPF(target.Value, name, oldShorthand, "deprecated: use --"+to)
	f.Hidden = true
	used := "--" + oldName
	if oldName == "" {
		used = "-" + oldShorthand
	}
	f.Annotations = map[string][]string{deprecatedNote: {fmt.Sprintf("%s is deprecated: use --%s (%s)", used, to, why)}}
}

// warnDeprecated prints the note of every deprecated alias the command line used.
func warnDeprecated(cmd *cobra.Command, _ []string) {
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if note := f.Annotations[deprecatedNote]; len(note) > 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), "kubegate: warning: "+strings.Join(note, ""))
		}
	})
}

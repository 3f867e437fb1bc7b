// Command kubegate is a deploy gate for Kubernetes: it renders manifests, Kustomize roots
// and Helm charts, checks every object against hardening rules, and fails the build on
// violations.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries an exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	// A gate run is short and its heap only grows: collecting half as often saves ~7% of
	// wall time on the 1,388-object corpus; collecting less often than that costs more in
	// page faults than it saves. Past a large live heap memory is worth more than time (a
	// CI runner has a few GiB): the heap then grows to 1.5× what is live, not 3× (20,685
	// objects: 311 MiB, against 356 with GOGC=100: `GOGC=100 REPEAT=15 scripts/perf.sh`).
	// The user's GOGC wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
		gcPercentAbove(largeHeap, 50)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// largeHeap is the live heap past which the collector runs more often: about 7,000
// objects' worth; the 1,388-object corpus needs a fifth of it.
const largeHeap = 64 << 20

// gcPercentAbove sets GOGC to percent after the first collection that finds more than
// limit bytes live. It looks after every collection, from a finalizer: no goroutine polls.
func gcPercentAbove(limit uint64, percent int) {
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var arm func()
	arm = func() {
		runtime.SetFinalizer(&gcTick{}, func(*gcTick) {
			if metrics.Read(live); live[0].Value.Kind() == metrics.KindUint64 && live[0].Value.Uint64() > limit {
				debug.SetGCPercent(percent)
				return
			}
			arm()
		})
	}
	arm()
}

// gcTick is garbage at once: its finalizer runs after the next collection. It holds a
// pointer so that it is not a tiny allocation, whose finalizer might never run.
type gcTick struct{ _ *int }

// run executes the command line and returns the exit code: 0 pass, 1 findings that fail
// the gate (at or above failOn, or an image not checked), 2 usage, policy or input error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "kubegate:", err)
		return 2
	}
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubegate",
		Short: "A deploy gate for Kubernetes manifests, Kustomize and Helm",
		Long: "kubegate renders Kubernetes manifests, Kustomize roots and Helm charts, checks every object\n" +
			"against hardening rules (Pod Security Standards and more), and fails the build on violations.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
		// Old flag names keep working, with a warning.
		PersistentPreRun: warnDeprecated,
	}
	root.SetVersionTemplate("kubegate {{.Version}}\n")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	root.AddCommand(newCheckCmd(), newDBCmd(), newGenerateCmd(), newGitHubActionCmd(), newHookCmd(), newImagesCmd(), newNodeCmd(), newRenderCmd(), newRulesCmd(), newVersionCmd(), newWebhookCmd())
	return root
}

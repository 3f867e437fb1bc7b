package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/registry"
	"github.com/kubegate/kubegate/images/trivy"
)

func newDBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Download the vulnerability DB, or mirror it into a registry of yours",
		Long: "The vulnerability DB is Trivy's, an OCI artifact that check downloads into the Trivy cache\n" +
			"(--trivy-cache-dir) at most once per update. For runners without internet access, mirror\n" +
			"it: `db pull` on a machine that reaches the public DB, `db push --to` into a registry the\n" +
			"runners reach (copy the cache's db/ directory across if no machine reaches both), then\n" +
			"`check --db-repository` on the runners.",
		Example: "  kubegate db pull\n" +
			"  kubegate db push --to registry.internal/security/trivy-db:2\n" +
			"  kubegate check --db-repository registry.internal/security/trivy-db:2 deploy/",
	}
	cmd.AddCommand(newDBPullCmd(), newDBPushCmd())
	return cmd
}

// dbRequestTimeout bounds one request for the vulnerability DB, its download included.
const dbRequestTimeout = 5 * time.Minute

// dbFlags are the flags both db commands take.
type dbFlags struct {
	cacheDir   string
	insecure   bool
	regTimeout time.Duration
}

func (f *dbFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.cacheDir, "trivy-cache-dir", trivy.DefaultCacheDir(), "Trivy's cache directory; the DB is its db/ directory (the one check reads)")
	fs.BoolVar(&f.insecure, "insecure", false, "reach the registry over plain HTTP (loopback registries always may)")
	fs.DurationVar(&f.regTimeout, "registry-timeout", dbRequestTimeout, "give up one registry request after this long (the DB is tens of MB)")
}

// refs parses the repositories as check does and gives the options to reach them.
func (f *dbFlags) refs(repos []string) ([]name.Reference, *registry.Resolver, error) {
	var opts []name.Option
	if f.insecure {
		opts = append(opts, name.Insecure)
	}
	var refs []name.Reference
	var insecure []string
	for _, r := range repos {
		ref, err := trivy.DBRef(r, opts...)
		if err != nil {
			return nil, nil, err
		}
		refs = append(refs, ref)
		if f.insecure {
			insecure = append(insecure, ref.Context().RegistryStr())
		}
	}
	return refs, registry.New(registry.Options{Insecure: insecure, Timeout: f.regTimeout}), nil
}

func describeDB(info images.DBInfo) string {
	return fmt.Sprintf("%s (updated %s)", info.Version, info.UpdatedAt.UTC().Format("2006-01-02 15:04 UTC"))
}

func newDBPullCmd() *cobra.Command {
	var (
		f     dbFlags
		repos []string
	)
	cmd := &cobra.Command{
		Use:   "pull",
		Short: "Download the vulnerability DB into the Trivy cache",
		Long: "Download the vulnerability DB from the first repository that serves it into the Trivy\n" +
			"cache, replacing the DB there only once the new one has been read back whole. check\n" +
			"then uses it (with --skip-db-update, as it is).",
		Example: "  kubegate db pull\n  kubegate db pull --db-repository registry.internal/security/trivy-db:2 --trivy-cache-dir .cache/trivy",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			refs, res, err := f.refs(repos)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Downloading the vulnerability DB from %s\n", strings.Join(repos, " or "))
			info, from, err := trivy.PullDB(cmd.Context(), refs, f.cacheDir, res.Remote(cmd.Context())...)
			if err != nil {
				return fmt.Errorf("downloading the vulnerability DB:\n%w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Vulnerability DB %s from %s in %s\n", describeDB(info), from, f.cacheDir)
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringArrayVar(&repos, "db-repository", trivy.DefaultDBRepositories, "OCI repository of the vulnerability DB, tried in order (repeatable; without a tag, the DB schema version's: 2)")
	return cmd
}

func newDBPushCmd() *cobra.Command {
	var (
		f  dbFlags
		to string
	)
	cmd := &cobra.Command{
		Use:   "push --to REGISTRY/REPOSITORY[:TAG]",
		Short: "Publish the DB in the Trivy cache to a registry, as Trivy publishes it",
		Long: "Push the vulnerability DB in the Trivy cache to a repository, in the artifact format Trivy\n" +
			"publishes, so that check --db-repository (and trivy --db-repository) download it from\n" +
			"there. Without a tag the tag is the DB schema version (2), which is what both read by\n" +
			"default. Credentials come from the Docker config, as for images.",
		Example: "  kubegate db pull && kubegate db push --to registry.internal/security/trivy-db",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return fmt.Errorf("db push needs --to REGISTRY/REPOSITORY[:TAG]")
			}
			refs, res, err := f.refs([]string{to})
			if err != nil {
				return err
			}
			info, digest, err := trivy.PushDB(cmd.Context(), f.cacheDir, refs[0], res.Remote(cmd.Context())...)
			if err != nil {
				return fmt.Errorf("pushing the vulnerability DB to %s: %w", refs[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Pushed vulnerability DB %s to %s@%s\n", describeDB(info), refs[0], digest)
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&to, "to", "", "the repository to push to (required)")
	return cmd
}

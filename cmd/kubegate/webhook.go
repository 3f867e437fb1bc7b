package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/webhook"
	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/trivy"
)

func newWebhookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve the image policy at admission (ImagePolicyWebhook backend)",
	}
	cmd.AddCommand(newWebhookServeCmd())
	return cmd
}

func newWebhookServeCmd() *cobra.Command {
	var (
		config, certFile, keyFile, clientCA, listen string
		timeout                                     time.Duration
		maxImages                                   int
		dbRefresh                                   time.Duration
		images                                      imageFlags
	)
	cmd := &cobra.Command{
		Use:   "serve --config kubegate.yaml --tls-cert FILE --tls-key FILE",
		Short: "Answer the API server's ImageReviews with the policy's images section",
		Long: "Serve ImageReview (imagepolicy.k8s.io/v1alpha1) at POST /imagereview over TLS (1.2+): every\n" +
			"image of a pod is checked as check does — pinned, allowed and secure registries, resolved,\n" +
			"signature-verified and scanned, with the same verdict cache — and the pod is denied, with\n" +
			"a reason naming the failed checks, when a finding reaches failOn or an image could not be\n" +
			"checked (fail closed). Health at /healthz, readiness (vulnerability DB open) at /readyz,\n" +
			"Prometheus metrics at /metrics. The serving certificate is reloaded when its files change.\n" +
			"Logs are JSON on stderr. Generate the API server's side with kubegate generate image-policy.",
		Example: "  kubegate webhook serve --config /etc/kubegate/kubegate.yaml --tls-cert /tls/tls.crt --tls-key /tls/tls.key \\\n" +
			"    --client-ca /tls/apiserver-ca.crt --trivy-cache-dir /var/cache/trivy",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if images.offline {
				return errors.New("webhook serve checks images in their registries: drop --offline")
			}
			if images.attestKey != "" || images.attestKeyless {
				return errors.New("webhook serve does not attest: verdicts are signed by check --attest-key or --attest-keyless (the webhook uses them through images.verdicts)")
			}
			if certFile == "" || keyFile == "" {
				return errors.New("--tls-cert and --tls-key are required: the API server reaches image policy webhooks over https only")
			}
			in := inputFlags{config: config}
			p, err := in.loadPolicy()
			if err != nil {
				return err
			}
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			srv, scanner, closeScanner, err := webhookServer(p, &images, timeout, log)
			if err != nil {
				return err
			}
			srv.Reviewer.MaxImages = maxImages
			defer closeScanner()
			if clientCA != "" {
				if srv.ClientCAs, err = webhook.LoadCAs(clientCA); err != nil {
					return fmt.Errorf("--client-ca: %w", err)
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Open the vulnerability DB now (it may download), not on the first review; then
			// keep it fresh, unless it is managed by hand.
			go func() {
				if srv.DB == nil { // webhookServer found no rule that gates on vulnerabilities
					log.Info("no images.rules entry gates on vulnerabilities: no vulnerability DB is needed")
					return
				}
				s, err := scanner.get()
				if err != nil {
					log.Error("vulnerability DB not available: every image is denied as not scanned", "error", err)
					return
				}
				log.Info("vulnerability DB open", "version", s.DB().Version, "updatedAt", s.DB().UpdatedAt)
				if local, ok := s.(*trivy.Scanner); ok && !images.skipDBUpdate { // a Trivy server updates its own
					refreshDB(ctx, local, dbRefresh, log, srv.Metrics)
				}
			}()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			err = srv.Serve(ctx, ln, webhook.Options{CertFile: certFile, KeyFile: keyFile})
			log.Info("stopped", "error", err)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "policy file (default: kubegate.yaml in the working directory, else the built-in policy)")
	f.StringVar(&certFile, "tls-cert", "", "serving certificate (PEM), reloaded when it changes")
	f.StringVar(&keyFile, "tls-key", "", "serving certificate's key (PEM)")
	f.StringVar(&clientCA, "client-ca", "", "CA of the API server's client certificate: reviews without one it signed are refused (401)")
	f.StringVar(&listen, "listen", ":8443", "address to listen on")
	f.DurationVar(&timeout, "timeout", webhook.DefaultTimeout, "answer every review within this (the API server waits 30s); an image not checked by then is denied")
	f.IntVar(&maxImages, "max-review-images", webhook.DefaultMaxImages, "deny, unchecked, a review naming more distinct images than this (a pod has a few)")
	f.DurationVar(&dbRefresh, "db-refresh", time.Hour, "look for a newer vulnerability DB this often (Trivy publishes one every 6 hours); off with --skip-db-update")
	images.register(f)
	return cmd
}

// refreshDB keeps a long-running webhook's vulnerability DB fresh. A new DB is swapped in
// while reviews go on (scans in flight finish on the old one, cached verdicts never wait);
// when refreshes
// keep failing, reviews go on with the DB open until it is older than the allowed age,
// then images are denied as scanned with a stale DB.
func refreshDB(ctx context.Context, s *trivy.Scanner, every time.Duration, log *slog.Logger, m *webhook.Metrics) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := s.Refresh(ctx)
		switch {
		case err != nil:
			m.DBRefreshFailures.Inc()
			log.Error("vulnerability DB refresh failed; reviews go on with the DB open until it is 7 days old", "error", err, "updatedAt", s.DB().UpdatedAt)
		case changed:
			log.Info("vulnerability DB refreshed", "version", s.DB().Version, "updatedAt", s.DB().UpdatedAt)
		}
	}
}

// webhookServer wires the webhook to the image stage check uses (same verdict cache).
func webhookServer(p *policy.Policy, imgs *imageFlags, timeout time.Duration, log *slog.Logger) (*webhook.Server, *lazyScanner, func(), error) {
	imgs.quiet = true
	checker, closeScanner, err := imgs.checker(p)
	if err != nil {
		return nil, nil, nil, err
	}
	scanner := checker.Scanner.(*lazyScanner)
	metrics := webhook.NewMetrics()
	srv := &webhook.Server{
		Reviewer: &webhook.Reviewer{Policy: p, Checker: checker, Timeout: timeout},
		Log:      log,
		Metrics:  metrics,
	}
	if images.Scans(&p.Images) { // else signature-only gating: ready without a DB
		metrics.WatchDB(scanner.info)
		srv.Ready, srv.DB = scanner.ready, scanner.info
		if p.Images.Verdicts != nil {
			// Trusted verdict attestations answer without a DB: ready now; an image
			// without one waits for the DB, or is denied as not scanned.
			srv.Ready = nil
		}
	}
	return srv, scanner, closeScanner, nil
}

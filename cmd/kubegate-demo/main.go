// Command kubegate-demo runs the gate on the bundled example app with the image stage on,
// with no internet: it serves the app's images from a registry on loopback (HTTPS, a
// self-signed certificate the gate trusts through SSL_CERT_FILE) — one signed with
// provenance and running as a non-root user, one unsigned, running as root, with a
// critical vulnerability — and a small vulnerability DB in a temporary Trivy cache.
//
//	kubegate-demo [--keep] [--reports DIR] KUBEGATE_BINARY DEMO_DIR
//
// It copies DEMO_DIR with ghcr.io/acme/ pointing at the loopback registry, runs
// `kubegate images` and `kubegate check` (writing every CI report format into --reports),
// and exits with check's exit code.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/images/cosign"
	"github.com/kubegate/kubegate/images/imagetest"
	"github.com/kubegate/kubegate/images/trivy"
)

func main() {
	keep := flag.Bool("keep", false, "keep the temporary directory (and print it)")
	reports := flag.String("reports", "", "write the SARIF, JUnit, GitLab Code Quality and Markdown reports of the check into this directory")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: kubegate-demo [--keep] [--reports DIR] KUBEGATE_BINARY DEMO_DIR")
		os.Exit(2)
	}
	code, err := run(flag.Arg(0), flag.Arg(1), *keep, *reports)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubegate-demo:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(bin, demo string, keep bool, reports string) (int, error) {
	tmp, err := os.MkdirTemp("", "kubegate-demo-")
	if err != nil {
		return 0, err
	}
	if keep {
		fmt.Println("demo files:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	reg := imagetest.NewTLSRegistry()
	defer reg.Close()
	host := reg.Host()

	if err := pushImages(reg, tmp); err != nil {
		return 0, fmt.Errorf("preparing the images: %w", err)
	}
	// A DB that marks the agent's musl vulnerable, built now (so it is not stale).
	err = trivy.WriteDB(filepath.Join(tmp, "trivy"), []trivy.Advisory{
		{Source: "alpine 3.19", Package: "musl", ID: "CVE-2026-21001", Fixed: "1.2.4_git20230717-r5", Severity: "CRITICAL", Title: "musl: out-of-bounds write in iconv (demo advisory)"},
		{Source: "debian 12", Package: "openssl", ID: "CVE-2026-21002", Fixed: "3.0.11-1~deb12u2", Severity: "HIGH", Title: "openssl: fixed in the web image's version (demo advisory)"},
	}, time.Now().UTC())
	if err != nil {
		return 0, err
	}
	// The app keeps its path in the repository, so that the reports name files a user can
	// open there: testdata/demo/chart/templates/… (the lines are the same; only the
	// registry host of the images changes).
	app := filepath.Join(tmp, "testdata", "demo")
	if err := copyTree(demo, app, func(b []byte) []byte {
		return []byte(strings.ReplaceAll(string(b), "ghcr.io/acme/", host+"/acme/"))
	}); err != nil {
		return 0, err
	}
	policy := fmt.Sprintf(`apiVersion: kubegate.dev/v1alpha1
kind: Policy
images:
  rules:
    - match: ["%[1]s/acme/**"]
      signature:
        keys: ["cosign.pub"]
        ignoreTlog: true   # the demo key signs without Rekor
      attestations: [{type: slsaprovenance}]
      vulnerabilities: {failOn: high, ignoreUnfixed: true}
  defaultRule: {vulnerabilities: {failOn: critical}}
`, host)
	if err := os.WriteFile(filepath.Join(tmp, "kubegate.yaml"), []byte(policy), 0o644); err != nil {
		return 0, err
	}
	// Run in tmp, so that the report's paths are the repository's: testdata/demo/….
	args := []string{
		"--config", "kubegate.yaml", "--namespace", "monitoring",
		"--skip-db-update", "--trivy-cache-dir", "trivy", "--verdict-cache-dir", "cache",
		"testdata/demo/kustomize/overlays/prod", "testdata/demo/chart",
	}
	env := append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(tmp, "registry-ca.pem"))
	fmt.Printf("$ kubegate images …   (images served by a registry on https://%s)\n", host)
	if _, err := kubegate(bin, tmp, env, append([]string{"images"}, args...)); err != nil {
		return 0, err
	}
	check := []string{"check"}
	if reports != "" {
		if reports, err = filepath.Abs(reports); err != nil {
			return 0, err
		}
		for _, o := range []struct{ format, ext string }{
			{"sarif", "sarif"}, {"junit", "junit.xml"}, {"gitlab", "codequality.json"}, {"markdown", "md"},
		} {
			check = append(check, "--output", fmt.Sprintf("%s=%s/kubegate.%s", o.format, reports, o.ext))
		}
	}
	fmt.Println("\n$ kubegate check …")
	code, err := kubegate(bin, tmp, env, append(check, args...))
	if err == nil && reports != "" {
		fmt.Printf("\nreports: %s/kubegate.{sarif,junit.xml,codequality.json,md}\n", reports)
	}
	return code, err
}

func kubegate(bin, dir string, env, args []string) (int, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

func pushImages(reg *imagetest.Registry, tmp string) error {
	if err := os.WriteFile(filepath.Join(tmp, "registry-ca.pem"), reg.CertificatePEM(), 0o644); err != nil {
		return err
	}
	signer, err := imagetest.NewSigner()
	if err != nil {
		return err
	}
	pub, err := signer.PublicKeyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "cosign.pub"), pub, 0o644); err != nil {
		return err
	}
	// The web app: Debian, user 10001, signed with provenance, its openssl already fixed.
	var web []v1.Image
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		img, err := imagetest.Debian("12.7", map[string]string{"openssl": "3.0.14-1~deb12u2", "libc6": "2.36-9+deb12u8"}, "10001", p)
		if err != nil {
			return err
		}
		web = append(web, img)
	}
	d, err := reg.PushIndex("acme/web:1.4.2", map[string]v1.Image{"linux/amd64": web[0], "linux/arm64": web[1]})
	if err != nil {
		return err
	}
	if err := signer.Attest(reg, d, cosign.SignPredicate, nil); err != nil {
		return err
	}
	provenance := map[string]any{"builder": map[string]any{"id": "https://github.com/acme/web/.github/workflows/release.yml"}}
	if err := signer.Attest(reg, d, "https://slsa.dev/provenance/v0.2", provenance); err != nil {
		return err
	}
	// The metrics agent: Alpine, runs as root, unsigned, a vulnerable musl.
	agent, err := imagetest.Alpine("3.19.1", map[string]string{"musl": "1.2.4_git20230717-r4", "busybox": "1.36.1-r15"}, "", "linux/amd64")
	if err != nil {
		return err
	}
	_, err = reg.Push("acme/metrics-agent:2.1.0", agent)
	return err
}

// copyTree copies dir to dst, passing every file through edit.
func copyTree(dir, dst string, edit func([]byte) []byte) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, edit(b), 0o644)
	})
}

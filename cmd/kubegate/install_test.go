package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// cosignCLI is the cosign CLI that make test installs (KUBEGATE_TEST_COSIGN): the action
// verifies releases with it, so its tests do too.
func cosignCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KUBEGATE_TEST_COSIGN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no cosign CLI: make test installs it (KUBEGATE_TEST_COSIGN)")
	}
	t.Skip("no cosign CLI: run make test, which installs it")
	return ""
}

// release is a kubegate release as the release workflow publishes it, served over HTTP:
// archives, checksums.txt and its cosign bundle, signed with a test key in place of the
// workflow's keyless identity.
type release struct {
	dir, url, key, cosign string
}

const releaseVersion = "v1.2.3"

func tgz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func newRelease(t *testing.T) *release {
	r := &release{dir: t.TempDir(), cosign: cosignCLI(t)}
	files := filepath.Join(r.dir, "download", releaseVersion)
	os.MkdirAll(files, 0o755)
	var sums strings.Builder
	for _, platform := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"} {
		name := "kubegate_" + strings.TrimPrefix(releaseVersion, "v") + "_" + platform + ".tar.gz"
		b := tgz(t, map[string]string{"README.md": "# kubegate\n", "kubegate": "#!/bin/sh\necho \"kubegate " + releaseVersion + " " + platform + "\"\n"})
		os.WriteFile(filepath.Join(files, name), b, 0o644)
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(b), name)
	}
	os.WriteFile(filepath.Join(files, "checksums.txt"), []byte(sums.String()), 0o644)
	r.key = r.keyPair(t, "release")
	r.sign(t, "release")
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(r.dir, "download"))))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// keyPair makes a cosign key pair in dir/name and returns the public key's path.
func (r *release) keyPair(t *testing.T, name string) string {
	dir := filepath.Join(r.dir, name)
	os.MkdirAll(dir, 0o755)
	cmd := exec.Command(r.cosign, "generate-key-pair")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cosign.pub")
}

// sign signs checksums.txt with the key pair in dir/name, as the release workflow does
// keyless: a Sigstore bundle beside it.
func (r *release) sign(t *testing.T, name string) {
	files := filepath.Join(r.dir, "download", releaseVersion)
	cmd := exec.Command(r.cosign, "sign-blob", "--key", filepath.Join(r.dir, name, "cosign.key"), "--bundle", filepath.Join(files, "checksums.txt.sigstore.json"),
		"--tlog-upload=false", "--use-signing-config=false", "--yes", filepath.Join(files, "checksums.txt"))
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign sign-blob: %v\n%s", err, out)
	}
}

func (r *release) path(name string) string {
	return filepath.Join(r.dir, "download", releaseVersion, name)
}

// install runs ci/github/install.sh as the action's steps run it: bash, the step's env,
// cosign on PATH (through a shim that records its arguments), GITHUB_OUTPUT.
func (r *release) install(t *testing.T, mode string, env ...string) (code int, out, outputs, cosignArgs string) {
	t.Helper()
	script, _ := filepath.Abs("../../ci/github/install.sh")
	work := t.TempDir()
	shim := write(t, work, "bin/cosign", "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \""+work+"/cosign.args\"\nexec \""+r.cosign+"\" \"$@\"\n")
	os.Chmod(shim, 0o755)
	output := write(t, work, "output", "")
	env = append([]string{"PATH=" + filepath.Dir(shim) + ":" + os.Getenv("PATH"), "GITHUB_OUTPUT=" + output, "RUNNER_TEMP=" + work,
		"RUNNER_OS=Linux", "RUNNER_ARCH=X64", "KUBEGATE_RELEASE_URL=" + r.url, "KUBEGATE_RELEASE_KEY=" + r.key, "KUBEGATE_VERSION=", "ACTION_REF="}, env...)
	code, out = sh(t, work, env, "bash", `"`+script+`" `+mode)
	args, _ := os.ReadFile(filepath.Join(work, "cosign.args"))
	return code, out, readFile(t, output), string(args)
}

func TestActionInstallResolve(t *testing.T) {
	r := &release{}
	for _, tc := range []struct {
		version, ref string
		code         int
		output, out  string
	}{
		{"", releaseVersion, 0, "version=v1.2.3\n", ""},
		{"", "v2.0.0-rc.1", 0, "version=v2.0.0-rc.1\n", ""},
		{"1.4.0", "main", 0, "version=v1.4.0\n", ""},
		{"v1.4.0", releaseVersion, 0, "version=v1.4.0\n", ""}, // the input wins over the ref
		{"", "main", 0, "version=\n", `the action's ref "main" is not a release tag and no version is set: building kubegate from source`},
		{"", "v1", 0, "version=\n", "building kubegate from source"},
		{"", "3f2a9c1e0b7d4f6a8c5e2b1d0f9a8e7c6b5a4d3c", 0, "version=\n", "building kubegate from source"},
		{"latest", "", 1, "", `::error title=kubegate install::version must be a release, e.g. v1.2.3; got "latest"`},
		{"v1.2.3;rm -rf /", "", 1, "", "version must be a release"},
	} {
		code, out, outputs, _ := r.install(t, "resolve", "KUBEGATE_VERSION="+tc.version, "ACTION_REF="+tc.ref)
		if code != tc.code || outputs != tc.output || !strings.Contains(out, tc.out) {
			t.Errorf("version %q ref %q: exit %d, outputs %q\n%s", tc.version, tc.ref, code, outputs, out)
		}
	}
}

// TestActionInstallVerifies runs the action's download-and-verify step against a release
// served on loopback: the genuine release installs; a tampered archive, a tampered
// checksums.txt, another signer, a missing platform or a keyless identity that is not the
// release workflow's never leave a kubegate to run.
func TestActionInstallVerifies(t *testing.T) {
	r := newRelease(t)
	ver := "KUBEGATE_VERSION=" + releaseVersion
	archive := "kubegate_1.2.3_linux_amd64.tar.gz"

	code, out, outputs, cosignArgs := r.install(t, "install", ver)
	bin, ok := strings.CutPrefix(strings.TrimSpace(outputs), "bin=")
	if code != 0 || !ok {
		t.Fatalf("genuine release: exit %d, outputs %q\n%s", code, outputs, out)
	}
	if got, err := exec.Command(bin).Output(); err != nil || string(got) != "kubegate v1.2.3 linux_amd64\n" {
		t.Errorf("installed kubegate: %q, %v", got, err)
	}
	if !strings.Contains(out, "kubegate v1.2.3 verified (signature of checksums.txt, sha256 of "+archive+")") ||
		!strings.HasPrefix(cosignArgs, "verify-blob --bundle ") || !strings.Contains(cosignArgs, " --key "+r.key+" ") {
		t.Errorf("output %q, cosign %q", out, cosignArgs)
	}
	code, _, outputs, _ = r.install(t, "install", ver, "RUNNER_OS=macOS", "RUNNER_ARCH=ARM64")
	if bin := strings.TrimPrefix(strings.TrimSpace(outputs), "bin="); code != 0 {
		t.Errorf("macOS arm64: exit %d", code)
	} else if got, _ := exec.Command(bin).Output(); string(got) != "kubegate v1.2.3 darwin_arm64\n" {
		t.Errorf("macOS arm64 installed %q", got)
	}

	refused := func(what, want string, env ...string) {
		t.Helper()
		code, out, outputs, _ := r.install(t, "install", append([]string{ver}, env...)...)
		if code == 0 || outputs != "" || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, outputs %q, want a refusal with %q\n%s", what, code, outputs, want, out)
		}
	}
	// Keyless (no key given): the bundle must carry the release workflow's certificate.
	code, out, _, cosignArgs = r.install(t, "install", ver, "KUBEGATE_RELEASE_KEY=")
	if code == 0 || !strings.Contains(out, "the signature of checksums.txt for v1.2.3 does not verify") ||
		!strings.Contains(cosignArgs, "--certificate-identity https://github.com/kubegate/kubegate/.github/workflows/release.yml@refs/tags/v1.2.3 --certificate-oidc-issuer https://token.actions.githubusercontent.com") {
		t.Errorf("keyless check of a key-signed bundle: exit %d, cosign %q\n%s", code, cosignArgs, out)
	}
	refused("Windows runner", `kubegate releases are built for Linux and macOS runners, not "Windows"`, "RUNNER_OS=Windows")
	refused("32-bit runner", `not "X86"`, "RUNNER_ARCH=X86")
	refused("missing version", "could not download "+r.url+"/v9.9.9/checksums.txt", "KUBEGATE_VERSION=v9.9.9")

	tamper := func(name string, edit func([]byte) []byte) func() {
		orig, _ := os.ReadFile(r.path(name))
		os.WriteFile(r.path(name), edit(slices.Clone(orig)), 0o644)
		return func() { os.WriteFile(r.path(name), orig, 0o644) }
	}
	genuine := fmt.Sprintf("%x", sha256.Sum256(readBytes(t, r.path(archive))))
	evil := tgz(t, map[string]string{"kubegate": "#!/bin/sh\necho pwned\n"})
	undo := tamper(archive, func([]byte) []byte { return evil })
	refused("tampered archive", archive+" does not match checksums.txt")
	// The attacker rewrites checksums.txt to match: its signature no longer holds.
	undoSums := tamper("checksums.txt", func(b []byte) []byte {
		return bytes.Replace(b, []byte(genuine), []byte(fmt.Sprintf("%x", sha256.Sum256(evil))), 1)
	})
	refused("tampered checksums.txt", "the signature of checksums.txt for v1.2.3 does not verify")
	undoSums()
	undo()
	// A release re-signed by someone else.
	r.keyPair(t, "attacker")
	r.sign(t, "attacker")
	refused("other signer", "does not verify")
	r.sign(t, "release")
	undo = tamper("checksums.txt", func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("linux_amd64"), []byte("linux_amd65")) })
	r.sign(t, "release") // signed, but the platform is not listed
	refused("platform not in checksums.txt", "checksums.txt of v1.2.3 lists no "+archive)
	undo()
}

func readBytes(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestActionSteps holds action.yml to the order the installer's trust needs: which release
// first, cosign installed before the download is verified, the download only for a release
// and the source build only without one; the cache keyed by the day.
func TestActionSteps(t *testing.T) {
	var action struct {
		Runs struct {
			Steps []struct {
				ID, If, Uses, Run string
				Env, With         map[string]string
			}
		}
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "../../action.yml")), &action); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, s := range action.Runs.Steps {
		what := s.ID
		if s.Uses != "" {
			what = s.Uses[:strings.Index(s.Uses, "@")]
		}
		order = append(order, what+" if "+s.If)
		switch what {
		case "release":
			if s.Run != `"$GITHUB_ACTION_PATH/ci/github/install.sh" resolve` || s.Env["KUBEGATE_VERSION"] != "${{ inputs.version }}" || s.Env["ACTION_REF"] != "${{ github.action_ref }}" {
				t.Errorf("release step %+v", s)
			}
		case "download":
			// No mirror, key or directory override reaches the action's download: each is
			// set empty in the step, over anything the job set before.
			want := map[string]string{"KUBEGATE_VERSION": "${{ steps.release.outputs.version }}", "KUBEGATE_RELEASE_URL": "", "KUBEGATE_RELEASE_KEY": "", "KUBEGATE_INSTALL_DIR": ""}
			if s.Run != `"$GITHUB_ACTION_PATH/ci/github/install.sh" install` || s.Env["KUBEGATE_VERSION"] != "${{ steps.release.outputs.version }}" || !maps.Equal(s.Env, want) {
				t.Errorf("download step %+v (no mirror or key override in the action itself)", s)
			}
		case "actions/cache":
			if s.With["key"] != "kubegate-${{ runner.os }}-${{ steps.day.outputs.day }}" || s.With["path"] != "${{ runner.temp }}/kubegate-cache" {
				t.Errorf("cache step %+v", s)
			}
		}
	}
	want := []string{"release if ", "sigstore/cosign-installer if steps.release.outputs.version != ''", "download if steps.release.outputs.version != ''",
		"actions/setup-go if steps.release.outputs.version == ''", "build if steps.release.outputs.version == ''",
		"day if inputs.cache == 'true'", "actions/cache if inputs.cache == 'true'", "gate if "}
	if !slices.Equal(order, want) {
		t.Errorf("steps:\n%s\nwant\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
}

// TestActionCacheArgs: the cache the action restores becomes check's cache directories;
// the DB is used as it is only on today's key and only when the cache holds one.
func TestActionCacheArgs(t *testing.T) {
	dir := t.TempDir()
	clearActionInputs(t)
	args := func(hit string) string {
		t.Setenv("KUBEGATE_ACTION_CACHE_DIR", dir)
		t.Setenv("KUBEGATE_ACTION_CACHE_HIT", hit)
		a, err := actionArgs()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(a, " ")
	}
	base := "--github-actions --trivy-cache-dir " + dir + "/trivy --verdict-cache-dir " + dir + "/verdicts"
	if got := args("true"); got != base+" ." {
		t.Errorf("today's key, no DB in it: %s", got)
	}
	write(t, dir, "trivy/db/metadata.json", "{}")
	if got := args("true"); got != base+" --skip-db-update ." {
		t.Errorf("today's key with a DB: %s", got)
	}
	if got := args("false"); got != base+" ." {
		t.Errorf("an older day's cache: %s", got)
	}
	t.Setenv("INPUT_ARGS", "--trivy-cache-dir /mine")
	if got := args("false"); got != base+" --trivy-cache-dir /mine ." {
		t.Errorf("the user's flag must come last (and win): %s", got)
	}
	t.Setenv("KUBEGATE_ACTION_CACHE_DIR", "")
	if a, _ := actionArgs(); slices.Contains(a, "--verdict-cache-dir") {
		t.Errorf("cache: false still set cache dirs: %v", a)
	}
}

func clearActionInputs(t *testing.T) {
	for _, v := range []string{"INPUT_PATHS", "INPUT_ARGS", "INPUT_OFFLINE", "INPUT_SARIF_FILE", "INPUT_CONFIG", "INPUT_PROFILE",
		"INPUT_FAIL_ON", "INPUT_KUBE_VERSION", "INPUT_DIFF_BASE", "KUBEGATE_PR_BASE", "KUBEGATE_ACTION_CACHE_DIR"} {
		t.Setenv(v, "")
	}
}

// The action compares with the pull request's base unless told another commit, or none.
func TestActionDiffBase(t *testing.T) {
	clearActionInputs(t)
	for _, tc := range []struct{ input, prBase, want string }{
		{"", "", "--github-actions ."},
		{"", "1a2b3c", "--github-actions --diff-base 1a2b3c ."},
		{"origin/main", "1a2b3c", "--github-actions --diff-base origin/main ."},
		{"none", "1a2b3c", "--github-actions ."},
	} {
		t.Setenv("INPUT_DIFF_BASE", tc.input)
		t.Setenv("KUBEGATE_PR_BASE", tc.prBase)
		if a, err := actionArgs(); err != nil || strings.Join(a, " ") != tc.want {
			t.Errorf("diff-base %q, PR base %q: %v %v; want %s", tc.input, tc.prBase, a, err, tc.want)
		}
	}
}

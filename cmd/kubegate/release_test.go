package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestReleaseConfig holds .goreleaser.yaml, the release workflow and the action's installer
// to one another, where a rename in one would break the others silently: the build is
// make build's (flag set, ldflags), the archive name is the one the installer asks for, the
// signature is a Sigstore bundle of checksums.txt made in the workflow whose identity the
// installer requires. (make release-check runs GoReleaser itself on the config.)
func TestReleaseConfig(t *testing.T) {
	var cfg struct {
		Version     int
		ProjectName string `yaml:"project_name"`
		Env         []string
		Builds      []struct {
			ID, Main, Binary string
			Ldflags          []string
			Goos, Goarch     []string
		}
		Archives []struct {
			Formats      []string
			NameTemplate string `yaml:"name_template"`
		}
		Checksum struct {
			NameTemplate string `yaml:"name_template"`
			Algorithm    string
		}
		Sboms []struct{ Artifacts string }
		Signs []struct {
			Cmd, Artifacts, Signature string
			Args                      []string
		}
		DockersV2 []struct {
			Dockerfile string
			Images     []string
			Platforms  []string
			BuildArgs  map[string]string `yaml:"build_args"`
		} `yaml:"dockers_v2"`
		DockerSigns []struct {
			Cmd, Artifacts string
			Args           []string
		} `yaml:"docker_signs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "../../.goreleaser.yaml")), &cfg); err != nil {
		t.Fatal(err)
	}
	makefile := readFile(t, "../../Makefile")
	var makeEnv []string
	for _, m := range regexp.MustCompile(`(?m)^export (\w+) := (\S+)$`).FindAllStringSubmatch(makefile, -1) {
		makeEnv = append(makeEnv, m[1]+"="+m[2])
	}
	if cfg.Version != 2 || cfg.ProjectName != "kubegate" || !slices.Equal(cfg.Env, makeEnv) || len(makeEnv) != 4 {
		t.Errorf("version %d, project %q, env %v; want v2, kubegate, the Makefile's %v", cfg.Version, cfg.ProjectName, cfg.Env, makeEnv)
	}
	if len(cfg.Builds) != 1 {
		t.Fatalf("%d builds", len(cfg.Builds))
	}
	b := cfg.Builds[0]
	ld := regexp.MustCompile(`(?m)^LDFLAGS := (.*)\$\(VERSION\)$`).FindStringSubmatch(makefile)
	if ld == nil || len(b.Ldflags) != 1 || !strings.HasPrefix(b.Ldflags[0], ld[1]+"{{") || b.Main != "./cmd/kubegate" || b.Binary != "kubegate" {
		t.Errorf("build %+v: not make build's (LDFLAGS %v)", b, ld)
	}
	if !slices.Equal(b.Goos, []string{"linux", "darwin"}) || !slices.Equal(b.Goarch, []string{"amd64", "arm64"}) {
		t.Errorf("platforms %v %v", b.Goos, b.Goarch)
	}

	install := readFile(t, "../../ci/github/install.sh")
	if len(cfg.Archives) != 1 || cfg.Archives[0].NameTemplate != "{{ .ProjectName }}_{{ .Version }}_{{ .Os }}_{{ .Arch }}" ||
		!slices.Equal(cfg.Archives[0].Formats, []string{"tar.gz"}) || !strings.Contains(install, "local archive=kubegate_${v#v}_${os}_${arch}.tar.gz\n") {
		t.Errorf("archives %+v: not the name ci/github/install.sh downloads", cfg.Archives)
	}
	if cfg.Checksum.NameTemplate != "checksums.txt" || cfg.Checksum.Algorithm != "sha256" || len(cfg.Sboms) != 1 || cfg.Sboms[0].Artifacts != "archive" {
		t.Errorf("checksum %+v, sboms %+v", cfg.Checksum, cfg.Sboms)
	}
	if len(cfg.Signs) != 1 || cfg.Signs[0].Cmd != "cosign" || cfg.Signs[0].Artifacts != "checksum" || cfg.Signs[0].Signature != "${artifact}.sigstore.json" ||
		!slices.Equal(cfg.Signs[0].Args, []string{"sign-blob", "--bundle=${signature}", "--yes", "${artifact}"}) ||
		!strings.Contains(install, "for f in checksums.txt checksums.txt.sigstore.json \"$archive\"; do") {
		t.Errorf("signs %+v: not the bundle of checksums.txt the installer verifies", cfg.Signs)
	}
	if len(cfg.DockersV2) != 2 || cfg.DockersV2[0].Dockerfile != "build/release.Dockerfile" || cfg.DockersV2[1].BuildArgs["BASE"] != "gcr.io/distroless/static-debian12:debug-nonroot" {
		t.Errorf("images %+v", cfg.DockersV2)
	}
	for _, d := range cfg.DockersV2 {
		if !slices.Equal(d.Images, []string{"ghcr.io/kubegate/kubegate"}) || !slices.Equal(d.Platforms, []string{"linux/amd64", "linux/arm64"}) {
			t.Errorf("image %+v", d)
		}
	}
	if len(cfg.DockerSigns) != 1 || cfg.DockerSigns[0].Artifacts != "manifests" || !slices.Contains(cfg.DockerSigns[0].Args, "${artifact}@${digest}") {
		t.Errorf("docker_signs %+v: every image, by digest", cfg.DockerSigns)
	}

	// The identity the installer requires is the workflow that signs.
	var wf struct {
		On struct {
			Push struct{ Tags []string }
		}
		Jobs map[string]struct {
			Permissions map[string]string
			Uses        string
			Steps       []struct {
				Uses, Run string
				With      map[string]string
			}
		}
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "../../.github/workflows/release.yml")), &wf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(install, `--certificate-identity "https://github.com/$repo/.github/workflows/release.yml@refs/tags/$v"`) || !strings.Contains(install, "repo=kubegate/kubegate\n") {
		t.Error("install.sh does not require the release workflow's identity")
	}
	job := wf.Jobs["goreleaser"]
	if job.Permissions["id-token"] != "write" || len(wf.On.Push.Tags) != 1 || !strings.HasPrefix(wf.On.Push.Tags[0], "v") {
		t.Errorf("release workflow: permissions %v, tags %v", job.Permissions, wf.On.Push.Tags)
	}
	var steps []string
	for _, s := range job.Steps {
		if s.Uses != "" {
			steps = append(steps, s.Uses[:strings.Index(s.Uses, "@")])
		}
		if strings.HasPrefix(s.Uses, "goreleaser/goreleaser-action@") && (s.With["version"] != "v2.15.1" || s.With["args"] != "release --clean") {
			t.Errorf("goreleaser step %+v: the version make release-check checks with", s)
		}
	}
	for _, need := range []string{"sigstore/cosign-installer", "anchore/sbom-action/download-syft", "docker/setup-buildx-action", "goreleaser/goreleaser-action"} {
		if !slices.Contains(steps, need) {
			t.Errorf("release workflow lacks %s: %v", need, steps)
		}
	}
	for _, p := range []string{"provenance-archives", "provenance-image"} {
		if !strings.HasPrefix(wf.Jobs[p].Uses, "slsa-framework/slsa-github-generator/.github/workflows/") || wf.Jobs[p].Permissions["id-token"] != "write" {
			t.Errorf("%s: %+v", p, wf.Jobs[p])
		}
	}
	if !strings.Contains(readFile(t, "../../scripts/release-check.sh"), "GORELEASER_VERSION=v2.15.1\n") {
		t.Error("release-check checks with another GoReleaser than the release uses")
	}
}

# kubegate — every go command (build, vet, test, the demo) runs with one flag set, so that
# they share one build cache: the experiment, cgo setting and -trimpath are part of every
# compiled package's cache key, and a command with another set recompiles all ~2,900
# packages. GOEXPERIMENT=jsonv2: Trivy, linked by the image stage, needs it at build time.
# CGO_ENABLED=0: a static binary (the Dockerfile runs `make build`, so the binary tested here
# is the one in the image). -trimpath: no build machine paths in the binary.
export GOEXPERIMENT := jsonv2
export CGO_ENABLED := 0
export GOTOOLCHAIN := local
export GOFLAGS := -trimpath

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/kubegate
PKGS    := ./...

.PHONY: all build test bench perf bench-webhook bench-verdicts bench-admission lint demo fuzz crosscheck release-check clean

# Tools the tests run, installed through the Go module proxy into .cache/bin once. The
# cosign CLI is the one the GitHub Action verifies releases with; its version is go.mod's
# cosign library.
TOOLS  := $(CURDIR)/.cache/bin
COSIGN := $(TOOLS)/cosign-v3.1.3
$(COSIGN):
	GOBIN=$(TOOLS)/tmp-cosign $(GO) install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3
	mv $(TOOLS)/tmp-cosign/cosign $@ && rmdir $(TOOLS)/tmp-cosign

all: build

## build: bin/kubegate, static (the Dockerfile's build line).
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kubegate

# GitLab's CI schema, for the GitLab template and component tests (npm and Node.js, once).
# Without them the fetch is skipped with a warning and those tests skip, except in CI
# (CI set), where they fail.
GITLAB_SCHEMA := $(CURDIR)/.cache/schemas/gitlab-ci-4.65.1.json
$(GITLAB_SCHEMA):
	@if command -v npm >/dev/null && command -v node >/dev/null; then ./scripts/gitlab-ci-schema.sh $@; \
	else echo "make test: no npm/node, so no GitLab CI schema: the GitLab template tests skip"; fi

## test: unit and end-to-end tests (no network but loopback).
test: $(COSIGN) $(GITLAB_SCHEMA)
	$(GO) vet $(PKGS)
	KUBEGATE_TEST_COSIGN=$(COSIGN) KUBEGATE_TEST_GITLAB_SCHEMA=$(GITLAB_SCHEMA) $(GO) test -count=1 $(PKGS)

## bench: the gate's benchmarks (objects/s over generated sets of 2,500 and 10,000 objects,
## the real-chart corpus, and the image stage cold vs cached and 1 vs 8 slow images).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./gate/... ./cmd/...

## perf: whole-process time and peak memory against kube-score (installed through the Go
## module proxy), interleaved, medians and ratios: make perf [ROUNDS=15] [INPUT="files"]
## (default input: the vendored upstream goldens; the README's figures come from here).
ROUNDS ?= 15
perf:
	./scripts/perf.sh $(ROUNDS) $(INPUT)

## bench-webhook: the webhook's latency for a cached image, this tree against BASE (a
## commit), medians of interleaved runs: make bench-webhook BASE=main~5
bench-webhook:
	./scripts/bench-webhook.sh $(BASE)

## bench-verdicts: what verdict attestations save (a second runner's check, the webhook's
## review of an unseen image), medians of interleaved rounds: make bench-verdicts ROUNDS=7
bench-verdicts:
	./scripts/bench-verdicts.sh $(ROUNDS)

## bench-admission: what ten ValidatingAdmissionPolicies cost a check (--admission-policies),
## medians of interleaved rounds: make bench-admission [ROUNDS=15] [INPUT="files"]
bench-admission:
	./scripts/bench-admission.sh $(ROUNDS) $(INPUT)

## lint: formatting and vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## demo: run the gate, image stage included, on the bundled example app, with no internet:
## cmd/kubegate-demo serves the app's images from a registry on loopback and brings a
## small vulnerability DB. The app fails the gate on purpose; the target succeeds when the
## gate reports that failure (exit 1). The CI reports of the run are left in bin/demo-reports.
demo: build
	@$(GO) build -o bin/kubegate-demo ./cmd/kubegate-demo
	@rm -rf bin/demo-reports; ./bin/kubegate-demo --reports bin/demo-reports $(BIN) testdata/demo; \
	rc=$$?; if [ $$rc -eq 1 ]; then echo; echo "make demo: the demo app failed the gate, as intended (exit 1)."; else echo "make demo: expected exit 1 from the gate, got $$rc"; exit 1; fi
	@for f in kubegate.sarif kubegate.junit.xml kubegate.codequality.json kubegate.md; do test -s bin/demo-reports/$$f || { echo "make demo: no $$f"; exit 1; }; done

## crosscheck: verify what the real cosign CLI writes (both signature formats) against
## kubegate in a crane registry on loopback; installs cosign and crane (not part of test).
crosscheck:
	./scripts/crosscheck-cosign.sh

## release-check: goreleaser check on .goreleaser.yaml and a snapshot build for this
## platform, which must be built as make build builds (installs goreleaser; CI runs it).
release-check:
	./scripts/release-check.sh

## fuzz: run each fuzz target for FUZZTIME (default 2m).
FUZZTIME ?= 2m
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./gate/manifest
	$(GO) test -run '^$$' -fuzz '^FuzzFastPath$$' -fuzztime $(FUZZTIME) ./gate/manifest
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./gate/policy

clean:
	rm -rf bin

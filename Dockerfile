# syntax=docker/dockerfile:1
# kubegate as a container, built from source: a static binary (built by `make build`, as CI
# tests it) on distroless static (CA certificates, no shell, no package manager), as the
# distroless nonroot user. The release image is build/release.Dockerfile, the same base.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t kubegate .
#   docker run --rm -v "$PWD:/work" -w /work kubegate check --offline deploy/
# For CI jobs that run scripts in the image (GitLab CI), a busybox shell:
#   docker build --build-arg BASE=gcr.io/distroless/static-debian12:debug-nonroot -t kubegate:debug .

ARG GO_VERSION=1.26.8
ARG BASE=gcr.io/distroless/static-debian12:nonroot

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# The Makefile sets GOEXPERIMENT=jsonv2 (Trivy needs it) and CGO_ENABLED=0 (static).
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    make build VERSION=${VERSION} && \
    go version -m bin/kubegate | grep -q 'CGO_ENABLED=0'

FROM ${BASE}
COPY --from=build /src/bin/kubegate /usr/local/bin/kubegate
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/kubegate"]

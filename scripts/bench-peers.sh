#!/usr/bin/env bash
# twinvault against its peers, on two local SeaweedFS servers in one run: straight to one
# region, the client writing both regions itself, `rclone serve s3` over crypt over a union of
# both regions, and twinvault; 64 MiB and 4 KiB PUT/GET, then GET latency with one region
# 100 ms slower (hedged and primary gateways). Prints a table and `ratio NAME VALUE` lines.
# See docs/BENCHMARKS.md ("Against peers").
#
#   scripts/bench-peers.sh                 # full run (a few minutes after the build)
#   scripts/bench-peers.sh --quick         # smoke run
#   scripts/bench-peers.sh --rounds 5 --ops 4000 --latency-gets 400 --no-rclone
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-test-deps.sh
cargo build --release -p twinvault --bin twinvault -p integration-tests --bin peerbench
TWINVAULT_BIN="$PWD/target/release/twinvault" exec target/release/peerbench "$@"

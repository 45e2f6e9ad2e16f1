#!/usr/bin/env bash
# The Jepsen-style consistency check (issue #17): two gateways over two SeaweedFS regions,
# random operations on a few keys from concurrent workers while a nemesis kills, pauses, slows
# and cuts regions and kills gateways; then `twinvault repair` and a per-key check of the
# history and the final state. Prints ops, faults and anomalies per kind; the last line is
# `consistency: N anomalies`, and the exit status is 1 when N > 0.
#
#   scripts/check-consistency.sh                          # 60 s, random seed (printed)
#   scripts/check-consistency.sh --duration 600 --seed 7  # the long run
#   scripts/check-consistency.sh --write-policy all --read-mode primary --preferred-region b
#   scripts/check-consistency.sh --nemesis kill-region,pause-region --workers 8 --keys 4
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-test-deps.sh
cargo build --release -p twinvault --bin twinvault -p integration-tests --bin tvcheck
TWINVAULT_BIN="$PWD/target/release/twinvault" exec target/release/tvcheck "$@"

#!/usr/bin/env bash
# Envelope throughput against this machine's own AES-256-GCM ceiling, both on one core:
# `openssl speed` on 64 KiB blocks, and the criterion bench `gateway/benches/envelope.rs`
# (seal and open of 64 KiB and 16 MiB streams). Prints the raw MB/s figures, then
# `ratio envelope_seal_64k R` and `ratio envelope_open_64k R`, where R = twinvault MB/s ÷ openssl
# MB/s (target: >= 0.5). MB is 10^6 bytes throughout.
#
#   scripts/bench-envelope.sh                 # ~1 minute once the bench is built
#   BENCH_SECONDS=5 scripts/bench-envelope.sh # longer measurements
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${BENCH_SECONDS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Build first, so that compiling does not compete with openssl for the CPU.
cargo bench -p twinvault --bench envelope --no-run

# openssl prints "AES-256-GCM  4567890.12k" last, in 1000s of bytes per second.
openssl speed -evp aes-256-gcm -bytes 65536 -seconds "$seconds" >"$work/openssl.txt" 2>&1
openssl_mbs=$(awk '$NF ~ /^[0-9.]+k$/ { v = $NF } END { sub(/k$/, "", v); printf "%.1f", v / 1000 }' \
    "$work/openssl.txt")
[[ "$openssl_mbs" != "0.0" ]] || { cat "$work/openssl.txt" >&2; echo "bench-envelope: no openssl figure" >&2; exit 1; }

cargo bench -p twinvault --bench envelope -- --warm-up-time 1 --measurement-time "$seconds" \
    | tee "$work/criterion.txt"

# Criterion prints `envelope/seal/64KiB  time: [...]` then `thrpt: [low mid high]` (binary
# units); the first thrpt line after a name is its own (later ones are changes since last run).
awk '
    $1 ~ /^envelope\/(seal|open)\// { name = $1; next }
    name != "" && $1 == "thrpt:" {
        value = $4; unit = $5
        scale = (unit == "GiB/s") ? 1073.741824 : (unit == "MiB/s") ? 1.048576 : (unit == "KiB/s") ? 0.001024 : 0.000001
        split(name, part, "/")
        size = (part[3] == "64KiB") ? "64k" : (part[3] == "16MiB") ? "16m" : part[3]
        printf "envelope_%s_%s %.1f\n", part[2], size, value * scale
        name = ""
    }
' "$work/criterion.txt" >"$work/twinvault.txt"

echo
echo "raw openssl_aes_256_gcm_64k_mbs $openssl_mbs"
while read -r name mbs; do
    echo "raw ${name}_mbs $mbs"
done <"$work/twinvault.txt"
for name in envelope_seal_64k envelope_open_64k; do
    mbs=$(awk -v n="$name" '$1 == n { print $2 }' "$work/twinvault.txt")
    [[ -n "$mbs" ]] || { echo "bench-envelope: no criterion figure for $name" >&2; exit 1; }
    awk -v a="$mbs" -v b="$openssl_mbs" -v n="$name" 'BEGIN { printf "ratio %s %.2f\n", n, a / b }'
done

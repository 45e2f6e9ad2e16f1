#!/usr/bin/env bash
# Checks dashboards/ with real tools: the alert rules parse (`promtool check rules`) and pass
# their unit tests (`promtool test rules`), every dashboard is valid JSON, passes the rules of
# Grafana's dashboard linter (scripts/lint-dashboards.py: datasource, job and instance
# variables used everywhere, $__rate_interval, counters aggregated, unit and description on
# every panel, not editable, stable uid; exceptions with their reasons in dashboards/.lint), and
# every PromQL query in the dashboards parses (each is checked by promtool as a recording rule,
# with Grafana's $variables replaced by plain values). Installs Debian's `prometheus` package for
# promtool when it is missing (no daemon is started under the usual policy-rc.d). That metric
# names exist in gateway/src/metrics.rs is checked by `cargo test -p twinvault --test dashboards`;
# that a running gateway exports them after a workload (and that its scrape passes
# `promtool check metrics`) by the integration tests `metrics` and `prometheus`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${TWINVAULT_VENV:-$PWD/.venv}"

if ! command -v promtool >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

promtool check rules dashboards/alerts.yml
# rule_files in the test file are relative to it.
promtool test rules dashboards/alerts.test.yml

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t dashboards < <(find dashboards -name '*.json' | sort)
((${#dashboards[@]})) || { echo "check-dashboards: no dashboards/**/*.json found" >&2; exit 1; }
for f in "${dashboards[@]}"; do
    python3 -m json.tool "$f" >/dev/null
done
echo "check-dashboards: ${#dashboards[@]} dashboard(s) are valid JSON"
# The linter reads dashboards/.lint (YAML) with the venv's PyYAML.
if ! "$VENV/bin/python" -c 'import yaml' 2>/dev/null; then
    bash scripts/install-test-deps.sh
fi
"$VENV/bin/python" scripts/lint-dashboards.py "${dashboards[@]}"

python3 - "$tmp/dashboard-queries.rules.json" "${dashboards[@]}" <<'EOF'
import json, re, sys

out, files = sys.argv[1], sys.argv[2:]
rules = []

def walk(node, where):
    if isinstance(node, dict):
        expr = node.get("expr")
        if isinstance(expr, str) and expr.strip():
            # Grafana macros and template variables -> values PromQL accepts.
            e = re.sub(r"\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}", "1m", expr)
            e = re.sub(r"\$__range|\$\{__range\}", "1h", e)
            e = re.sub(r"\$\{?\w+\}?", ".*", e)
            rules.append({"record": "dashboard:query:%d" % len(rules), "expr": e,
                          "labels": {"source": where}})
        for v in node.values():
            walk(v, where)
    elif isinstance(node, list):
        for v in node:
            walk(v, where)

for f in files:
    with open(f) as fh:
        walk(json.load(fh), f)
if not rules:
    sys.exit("check-dashboards: no PromQL queries (expr) found in the dashboards")
with open(out, "w") as fh:
    json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, fh)
EOF
promtool check rules "$tmp/dashboard-queries.rules.json"
echo "check-dashboards: ok"

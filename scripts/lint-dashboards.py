"""Lints Grafana dashboards with the rules of Grafana's dashboard linter (grafana/dashboard-linter),
for Prometheus dashboards; run by scripts/check-dashboards.sh. PromQL syntax itself is checked
there by promtool.

    python3 scripts/lint-dashboards.py dashboards/*.json

Rules (the linter's names where it has one):
  template-datasource-rule     a `datasource` variable of type datasource, query prometheus
  template-job-rule            a `job` query variable on $datasource: label_values(..., job), multi, All
  template-instance-rule       an `instance` query variable likewise, filtered by job=~"$job"
  panel-datasource-rule        every panel uses the datasource variable
  target-datasource-rule       every target uses the datasource variable
  target-rate-interval-rule    rate/irate/increase ranges are $__rate_interval
  target-job-rule              every series selector has job=~"$job"
  target-instance-rule         every series selector has instance=~"$instance"
  target-counter-agg-rule      counters (_total, and histogram _bucket/_count/_sum) only inside
                               rate/irate/increase
  panel-units-rule             every panel has a unit
  panel-title-description-rule every panel has a title and a description
  dashboard-editable-rule      "editable": false (provisioned dashboards are changed in git)
  dashboard-uid-rule           a stable uid (set, URL-safe, at most 40 characters, unique) and no
                               fixed numeric id
Rows are layout, not panels, and are exempt from the panel rules.

Exceptions, as the linter takes them: a `.lint` file beside the dashboards,
    exclusions:
      <rule>:
        reason: why
        entries:            # optional; without it the rule is off for every dashboard
          - dashboard: <title>
            panel: <title>  # optional
"""

import json
import re
import sys
from pathlib import Path

import yaml

DATASOURCE_UIDS = {"$datasource", "${datasource}"}
RANGE_FUNCTIONS = ("rate", "irate", "increase")
COUNTER_SUFFIXES = ("_total", "_bucket", "_count", "_sum")
# Series selectors: a metric name (not followed by "(", i.e. not a function) optionally with
# {matchers}. Words PromQL uses otherwise are skipped.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
    "unless", "inf", "nan", "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk",
    "bottomk", "quantile", "count_values", "group",
}
# Strings, {matchers}, [ranges], numbers and durations, identifiers, any other character.
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\{[^}]*\}|\[[^\]]*\]|\d[0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*|\S')


def load_exclusions(directory):
    path = directory / ".lint"
    if not path.exists():
        return {}
    return (yaml.safe_load(path.read_text()) or {}).get("exclusions", {}) or {}


class Linter:
    def __init__(self, exclusions):
        self.exclusions = exclusions
        self.problems = []
        self.excluded = 0

    def report(self, rule, dashboard, panel, message):
        ex = self.exclusions.get(rule)
        if ex is not None:
            entries = ex.get("entries")
            if not entries or any(
                e.get("dashboard") == dashboard and e.get("panel") in (None, panel) for e in entries
            ):
                self.excluded += 1
                return
        where = f"{dashboard}" + (f" / panel {panel!r}" if panel else "")
        self.problems.append(f"{rule}: {where}: {message}")


def selectors(expr):
    """(metric, matchers text, enclosing function names innermost first) of each series selector."""
    tokens = TOKEN.findall(expr)
    stack = []  # function name (or "") of each open parenthesis
    out = []
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok == "(":
            prev = tokens[i - 1] if i else ""
            stack.append(prev if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prev) else "")
            continue
        if tok == ")":
            if stack:
                stack.pop()
            continue
        if re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", tok):
            # by (...), on (...), ignoring (...), group_left (...): label lists, not selectors.
            if stack and stack[-1] in ("by", "without", "on", "ignoring", "group_left", "group_right"):
                continue
            if nxt == "(" or tok.lower() in KEYWORDS:
                continue
            matchers = nxt if nxt.startswith("{") else ""
            out.append((tok, matchers, list(reversed(stack))))
    return out


def range_functions(expr):
    """(function, range) of each rate/irate/increase call."""
    out = []
    for m in re.finditer(r"\b(rate|irate|increase)\s*\(", expr):
        depth, j = 1, m.end()
        while j < len(expr) and depth:
            depth += {"(": 1, ")": -1}.get(expr[j], 0)
            j += 1
        ranges = re.findall(r"\[([^\]]*)\]", expr[m.end():j])
        out.append((m.group(1), ranges[-1] if ranges else None))
    return out


def uid_of(ds):
    if isinstance(ds, dict):
        return ds.get("uid")
    return ds


def lint_variables(lint, title, variables):
    by_name = {v.get("name"): v for v in variables}
    ds = by_name.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        lint.report("template-datasource-rule", title, None,
                    "needs a variable `datasource` of type datasource with query prometheus")
    for name, rule in (("job", "template-job-rule"), ("instance", "template-instance-rule")):
        var = by_name.get(name)
        if not var:
            lint.report(rule, title, None, f"needs a template variable `{name}`")
            continue
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if var.get("type") != "query" or uid_of(var.get("datasource")) not in DATASOURCE_UIDS:
            lint.report(rule, title, None, f"`{name}` must be a query variable on the datasource variable")
        if not re.fullmatch(rf"label_values\(.*,\s*{name}\)", str(query or "")):
            lint.report(rule, title, None, f"`{name}` must query label_values(..., {name}), got {query!r}")
        if not var.get("multi") or not var.get("includeAll"):
            lint.report(rule, title, None, f"`{name}` must allow several values and All")
        if name == "instance" and '"$job"' not in str(query):
            lint.report(rule, title, None, '`instance` must be filtered by job=~"$job"')


def lint_target(lint, title, panel_title, target):
    if uid_of(target.get("datasource")) not in DATASOURCE_UIDS:
        lint.report("target-datasource-rule", title, panel_title,
                    f"target {target.get('refId')} does not use the datasource variable")
    expr = target.get("expr") or ""
    if not expr.strip():
        return
    for func, rng in range_functions(expr):
        if rng != "$__rate_interval":
            lint.report("target-rate-interval-rule", title, panel_title,
                        f"{func}() over [{rng}] instead of [$__rate_interval]: {expr}")
    for metric, matchers, enclosing in selectors(expr):
        if not re.search(r'\bjob\s*=~\s*"\$job"', matchers):
            lint.report("target-job-rule", title, panel_title, f'{metric} has no job=~"$job" matcher')
        if not re.search(r'\binstance\s*=~\s*"\$instance"', matchers):
            lint.report("target-instance-rule", title, panel_title,
                        f'{metric} has no instance=~"$instance" matcher')
        if metric.endswith(COUNTER_SUFFIXES) and not (enclosing and enclosing[0] in RANGE_FUNCTIONS):
            lint.report("target-counter-agg-rule", title, panel_title,
                        f"counter {metric} used without rate/irate/increase: {expr}")


def lint_panels(lint, title, panels):
    for panel in panels:
        if panel.get("type") == "row":
            lint_panels(lint, title, panel.get("panels", []))
            continue
        ptitle = panel.get("title")
        if not ptitle or not str(panel.get("description", "")).strip():
            lint.report("panel-title-description-rule", title, ptitle, "needs a title and a description")
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            lint.report("panel-units-rule", title, ptitle, "needs a unit (fieldConfig.defaults.unit)")
        if uid_of(panel.get("datasource")) not in DATASOURCE_UIDS:
            lint.report("panel-datasource-rule", title, ptitle, "does not use the datasource variable")
        targets = panel.get("targets", [])
        if not targets:
            lint.report("panel-datasource-rule", title, ptitle, "has no targets")
        for target in targets:
            lint_target(lint, title, ptitle, target)


def main(files):
    lint = Linter(load_exclusions(Path(files[0]).parent) if files else {})
    uids = {}
    panels = 0
    for f in files:
        dash = json.loads(Path(f).read_text())
        title = dash.get("title") or f
        if dash.get("editable") is not False:
            lint.report("dashboard-editable-rule", title, None, '"editable" must be false')
        uid = dash.get("uid")
        if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
            lint.report("dashboard-uid-rule", title, None, f"uid {uid!r} is not a stable URL-safe uid")
        elif uid in uids:
            lint.report("dashboard-uid-rule", title, None, f"uid {uid!r} also used by {uids[uid]}")
        uids[uid] = f
        if dash.get("id") is not None:
            lint.report("dashboard-uid-rule", title, None, '"id" must be null (Grafana assigns it)')
        lint_variables(lint, title, dash.get("templating", {}).get("list", []))
        lint_panels(lint, title, dash.get("panels", []))
        panels += sum(1 for p in dash.get("panels", []) if p.get("type") != "row")
    for p in lint.problems:
        print(f"lint-dashboards: {p}", file=sys.stderr)
    if lint.problems:
        print(f"lint-dashboards: {len(lint.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"lint-dashboards: {len(files)} dashboard(s), {panels} panels pass the dashboard-linter rules"
          f" ({lint.excluded} finding(s) excluded by .lint with a reason)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

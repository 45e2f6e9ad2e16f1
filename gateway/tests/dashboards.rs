//! Dashboards and alert rules use only metrics the gateway registers (STYLE.md §5.7).
//!
//! Every `twinvault_*` name in `dashboards/**/*.json` (any string: queries, variables,
//! descriptions) and in the `expr:`/`series:` values of `dashboards/**/*.yml` must be a family
//! registered by `twinvault::metrics::Metrics`, or a histogram's `_bucket`/`_sum`/`_count`
//! series. PromQL syntax and the alerts' behaviour are checked by `scripts/check-dashboards.sh`
//! (promtool).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use prometheus::core::Collector;
use prometheus::proto::MetricType;
use twinvault::metrics::Metrics;

const PREFIX: &str = "twinvault_";
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// Every family the gateway registers, by full name, with its type.
fn registered_families() -> BTreeMap<String, MetricType> {
    let m = Metrics::new().expect("metrics register");
    m.prime(&["a", "b"]);
    // A vec metric renders only once it has a child: give each one a label set.
    m.s3_requests.with_label_values(&["GetObject", "2xx"]).inc_by(0);
    m.s3_request_duration.with_label_values(&["GetObject"]).observe(0.0);
    m.s3_in_flight.set(0);
    m.upstream_requests
        .with_label_values(&["a", "GetObject", "ok"])
        .inc_by(0);
    m.upstream_request_duration
        .with_label_values(&["a", "GetObject"])
        .observe(0.0);
    m.upstream_errors.with_label_values(&["a", "unavailable"]).inc_by(0);
    m.replication_writes.with_label_values(&["both"]).inc_by(0);
    m.reads_served.with_label_values(&["a", "first"]).inc_by(0);
    m.envelope_integrity_failures.with_label_values(&["segment"]).inc_by(0);
    // Set by the repair loop, not primed.
    m.journal_pending_records.with_label_values(&["b"]).set(0);
    m.journal_oldest_pending_age.with_label_values(&["b"]).set(0.0);

    let families: BTreeMap<String, MetricType> = m
        .registry()
        .gather()
        .iter()
        .map(|f| (f.name().to_owned(), f.get_field_type()))
        .collect();

    // Every collector the struct exposes must be among the rendered families, so a metric added
    // to `Metrics` but not touched above makes this test fail instead of going unnoticed.
    let collectors: [&dyn Collector; 16] = [
        &m.s3_requests,
        &m.s3_request_duration,
        &m.s3_in_flight,
        &m.upstream_requests,
        &m.upstream_request_duration,
        &m.upstream_errors,
        &m.replication_writes,
        &m.reads_served,
        &m.envelope_integrity_failures,
        &m.journal_records,
        &m.repair_objects,
        &m.repair_bytes,
        &m.repair_failures,
        &m.region_up,
        &m.journal_pending_records,
        &m.journal_oldest_pending_age,
    ];
    for desc in collectors.iter().flat_map(|c| c.desc()) {
        let name = format!("{PREFIX}{}", desc.fq_name);
        assert!(
            families.contains_key(&name),
            "{name} is registered but did not render; touch it in registered_families()"
        );
    }
    assert!(families.contains_key("twinvault_build_info"), "{families:?}");
    families
}

/// Every `twinvault_[a-z0-9_]+` identifier in `text` (not preceded by an identifier character).
fn metric_names(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut names = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find(PREFIX) {
        let start = from + pos;
        let mut end = start + PREFIX.len();
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase() || bytes[end].is_ascii_digit() || bytes[end] == b'_')
        {
            end += 1;
        }
        if start == 0 || !is_ident(bytes[start - 1]) {
            names.push(text[start..end].to_owned());
        }
        from = end;
    }
    names
}

/// Whether `name` is a registered family or a series of a registered histogram.
fn is_registered(name: &str, families: &BTreeMap<String, MetricType>) -> bool {
    families.contains_key(name)
        || HISTOGRAM_SUFFIXES.iter().any(|suffix| {
            name.strip_suffix(suffix)
                .and_then(|base| families.get(base))
                .is_some_and(|t| *t == MetricType::HISTOGRAM)
        })
}

/// Every string value in a JSON document.
fn json_strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

/// The values of the `expr:` and `series:` keys of a YAML file (inline, quoted or block
/// scalars), by simple text parsing.
fn yaml_queries(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let body = line.trim_start();
        let body = body.strip_prefix("- ").unwrap_or(body).trim_start();
        let Some(value) = ["expr:", "series:"].iter().find_map(|k| body.strip_prefix(k)) else {
            continue;
        };
        let key_indent = line.len() - body.len();
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let mut block = String::new();
            while i < lines.len() {
                let next = lines[i];
                let indent = next.len() - next.trim_start().len();
                if !next.trim().is_empty() && indent <= key_indent {
                    break;
                }
                block.push_str(next);
                block.push('\n');
                i += 1;
            }
            out.push(block);
        } else {
            out.push(value.to_owned());
        }
    }
    out
}

/// Files under `dir` (recursively) whose names end with one of `extensions`.
fn files_under(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(&path, extensions, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            out.push(path);
        }
    }
    out.sort();
}

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards")
}

/// `(file, name)` for every name used in the files that is not registered.
fn unknown_names(
    sources: &[(String, Vec<String>)],
    families: &BTreeMap<String, MetricType>,
) -> BTreeSet<(String, String)> {
    sources
        .iter()
        .flat_map(|(file, texts)| {
            texts
                .iter()
                .flat_map(|t| metric_names(t))
                .filter(|n| !is_registered(n, families))
                .map(move |n| (file.clone(), n))
        })
        .collect()
}

#[test]
fn dashboards_and_alerts_use_only_registered_metrics() {
    let families = registered_families();
    let dir = dashboards_dir();

    let mut json_files = Vec::new();
    files_under(&dir, &["json"], &mut json_files);
    let mut yaml_files = Vec::new();
    files_under(&dir, &["yml", "yaml"], &mut yaml_files);
    assert!(
        json_files.iter().any(|p| p.ends_with("twinvault-overview.json")),
        "{json_files:?}"
    );
    assert!(yaml_files.iter().any(|p| p.ends_with("alerts.yml")), "{yaml_files:?}");

    let mut sources: Vec<(String, Vec<String>)> = Vec::new();
    for path in &json_files {
        let text = std::fs::read_to_string(path).expect("read dashboard");
        let doc: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
        let mut strings = Vec::new();
        json_strings(&doc, &mut strings);
        sources.push((
            path.display().to_string(),
            strings.into_iter().map(str::to_owned).collect(),
        ));
    }
    for path in &yaml_files {
        let text = std::fs::read_to_string(path).expect("read rules");
        sources.push((path.display().to_string(), yaml_queries(&text)));
    }

    // Not vacuous: the overview dashboard and the alert rules do query metrics.
    let used: BTreeSet<String> = sources
        .iter()
        .flat_map(|(_, texts)| texts.iter().flat_map(|t| metric_names(t)))
        .collect();
    for expected in [
        "twinvault_s3_requests_total",
        "twinvault_upstream_errors_total",
        "twinvault_envelope_integrity_failures_total",
        "twinvault_s3_request_duration_seconds_bucket",
        "twinvault_journal_pending_records",
        "twinvault_journal_oldest_pending_age_seconds",
    ] {
        assert!(used.contains(expected), "{expected} not found in {used:?}");
    }
    let alert_exprs = sources
        .iter()
        .find(|(f, _)| f.ends_with("alerts.yml"))
        .map_or(0, |(_, exprs)| exprs.len());
    assert!(alert_exprs >= 5, "only {alert_exprs} expr: values found in alerts.yml");

    let unknown = unknown_names(&sources, &families);
    assert!(
        unknown.is_empty(),
        "metrics not registered in gateway/src/metrics.rs: {unknown:#?}\nregistered: {:#?}",
        families.keys().collect::<Vec<_>>()
    );
}

#[test]
fn unknown_names_catches_made_up_metrics() {
    let families = registered_families();
    let dashboard = serde_json::json!({
        "panels": [{"targets": [
            {"expr": "sum(rate(twinvault_s3_requests_total[5m]))"},
            {"expr": "histogram_quantile(0.99, rate(twinvault_s3_request_duration_seconds_bucket[5m]))"},
            {"expr": "rate(twinvault_no_such_metric_total[5m])"},
            {"expr": "rate(twinvault_s3_requests_total_bucket[5m])"},
        ]}]
    });
    let mut strings = Vec::new();
    json_strings(&dashboard, &mut strings);
    let rules = "groups:\n  - rules:\n      - alert: X\n        expr: |\n          \
                 twinvault_upstream_errors_total\n          / twinvault_made_up_seconds_count\n        for: 1m\n";
    let sources = vec![
        ("d.json".to_owned(), strings.into_iter().map(str::to_owned).collect()),
        ("r.yml".to_owned(), yaml_queries(rules)),
    ];
    let unknown: Vec<String> = unknown_names(&sources, &families).into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        unknown,
        [
            "twinvault_no_such_metric_total",
            "twinvault_s3_requests_total_bucket",
            "twinvault_made_up_seconds_count"
        ],
    );
}

#[test]
fn yaml_queries_reads_inline_and_block_values() {
    let text = "\
      - alert: A
        expr: sum(twinvault_a_total) > 0
        for: 2m
      - alert: B
        expr: |
          twinvault_b_total
            / twinvault_c_total
        labels: {}
    input_series:
      - series: 'twinvault_d_total{x=\"1\"}'
        values: '0+1x10'
";
    let queries = yaml_queries(text);
    assert_eq!(queries.len(), 3, "{queries:?}");
    let names: Vec<String> = queries.iter().flat_map(|q| metric_names(q)).collect();
    assert_eq!(
        names,
        [
            "twinvault_a_total",
            "twinvault_b_total",
            "twinvault_c_total",
            "twinvault_d_total"
        ]
    );
}

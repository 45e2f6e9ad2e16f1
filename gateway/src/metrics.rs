//! Every Prometheus metric twinvault exports, registered in one place into a registry owned by
//! the server (no global registry). Names follow `twinvault_<subsystem>_<name>_<unit>`; label
//! values come from closed sets (operation names, region names from the config, outcomes).

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Request and upstream-call latency buckets: 1 ms to ~60 s. Local upstreams answer in
/// milliseconds; cross-country regions in tens to hundreds; large bodies take seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The gateway's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// `twinvault_s3_requests_total{operation,status_class}`.
    pub s3_requests: IntCounterVec,
    /// `twinvault_s3_request_duration_seconds{operation}`: until the response head is ready.
    pub s3_request_duration: HistogramVec,
    /// `twinvault_s3_in_flight_requests`.
    pub s3_in_flight: IntGauge,
    /// `twinvault_upstream_requests_total{region,operation,outcome}`.
    pub upstream_requests: IntCounterVec,
    /// `twinvault_upstream_request_duration_seconds{region,operation}`.
    pub upstream_request_duration: HistogramVec,
    /// `twinvault_upstream_errors_total{region,kind}`.
    pub upstream_errors: IntCounterVec,
    /// `twinvault_replication_writes_total{outcome}`: both, degraded (one region only), failed.
    pub replication_writes: IntCounterVec,
    /// `twinvault_reads_served_total{region,outcome}`: first choice, hedge, failover, or resume (a body continued from the other region mid-stream).
    pub reads_served: IntCounterVec,
    /// `twinvault_reads_rerouted_total{region}`: reads not sent to `region` because it is
    /// behind for what they read (its journal has changes to it not replayed yet).
    pub reads_rerouted: IntCounterVec,
    /// `twinvault_reads_lagging_total{region}`: reads answered while the serving region was
    /// behind for them; `region="both"` when both were. Stays 0 unless both regions missed
    /// changes without a repair between.
    pub reads_lagging: IntCounterVec,
    /// `twinvault_reads_both_behind_total{outcome}`: reads of something both regions are
    /// behind on: a listing `merged` from both by the journal records, or `refused` (503).
    pub reads_both_behind: IntCounterVec,
    /// `twinvault_conditional_writes_refused_total{region}`: conditional writes answered 503
    /// because `region`, which decides them, was unavailable or behind for the key.
    pub conditional_writes_refused: IntCounterVec,
    /// `twinvault_lag_known_records{missed_region}`: journal records of changes the region
    /// missed that this gateway knows of (from its own writes and its last journal poll).
    pub lag_known_records: IntGaugeVec,
    /// `twinvault_envelope_integrity_failures_total{kind}`: corruption or tampering. Alert on any.
    pub envelope_integrity_failures: IntCounterVec,
    /// `twinvault_envelope_objects_total{op=seal|open}`: object envelopes created (writes) and
    /// opened (reads, copies), successful or not.
    pub envelope_objects: IntCounterVec,
    /// `twinvault_s3_payload_bytes_total{operation,direction=in|out}`: plaintext bytes of
    /// successful requests (bodies received on writes, bodies answered on reads).
    pub s3_payload_bytes: IntCounterVec,
    /// `twinvault_journal_records_total{missed_region}`: changes recorded for repair.
    pub journal_records: IntCounterVec,
    /// `twinvault_repair_objects_total{region,action}`: objects repaired (copied, deleted) into a region.
    pub repair_objects: IntCounterVec,
    /// `twinvault_repair_bytes_total{region}`: stored bytes copied into a region by repair.
    pub repair_bytes: IntCounterVec,
    /// `twinvault_repair_failures_total{region}`: repairs that failed and stay pending.
    pub repair_failures: IntCounterVec,
    /// `twinvault_region_up{region}`: 1 while the region's circuit breaker is closed.
    pub region_up: IntGaugeVec,
    /// `twinvault_journal_pending_records{missed_region}`: journal records not replayed yet,
    /// as the background repair loop last counted them.
    pub journal_pending_records: IntGaugeVec,
    /// `twinvault_journal_oldest_pending_age_seconds{missed_region}`: age of the oldest of those
    /// records when last counted; 0 when there is none.
    pub journal_oldest_pending_age: GaugeVec,
    /// `twinvault_limit_rejections_total{limit}`: requests and connections the S3 listener's
    /// limits refused or cut off; `limit` is a [`crate::limits::Limit`].
    pub limit_rejections: IntCounterVec,
    /// `twinvault_key_manager_request_duration_seconds{operation}`: KMIP calls (locate, get,
    /// create, activate), successful or not.
    pub key_manager_duration: HistogramVec,
    /// `twinvault_key_manager_errors_total{operation,kind}`: failed KMIP calls; `kind` is a
    /// [`crate::kmip::ErrorKind`] label (connect, tls, timeout, protocol, not_found, denied, refused).
    pub key_manager_errors: IntCounterVec,
    /// `twinvault_key_manager_up`: 1 while the last fetch of the keys from the key manager
    /// succeeded, 0 after a failed one (1 with the file keyring: no key manager to lose).
    pub key_manager_up: IntGauge,
    /// `twinvault_keyring_valid_seconds`: how long the keys in memory stay usable without another
    /// successful fetch (set on every scrape; 0: expired, reads and writes answer 503).
    pub keyring_valid_seconds: prometheus::Gauge,
    /// Audit log lines by outcome: written, dropped (the queue was full), failed (the write failed).
    pub audit_lines: IntCounterVec,
}

impl Metrics {
    /// Registers every metric into a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("twinvault".into()), None)?;
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| -> Result<HistogramVec, prometheus::Error> {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec()),
                labels,
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let s3_in_flight = IntGauge::new("s3_in_flight_requests", "S3 requests being handled")?;
        registry.register(Box::new(s3_in_flight.clone()))?;
        let build_info = IntGaugeVec::new(Opts::new("build_info", "Build information"), &["version"])?;
        registry.register(Box::new(build_info.clone()))?;
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let region_up = IntGaugeVec::new(
            Opts::new("region_up", "1 while the region's circuit breaker is closed"),
            &["region"],
        )?;
        registry.register(Box::new(region_up.clone()))?;
        let journal_pending_records = IntGaugeVec::new(
            Opts::new(
                "journal_pending_records",
                "Journal records a region missed, not replayed yet",
            ),
            &["missed_region"],
        )?;
        registry.register(Box::new(journal_pending_records.clone()))?;
        let journal_oldest_pending_age = GaugeVec::new(
            Opts::new(
                "journal_oldest_pending_age_seconds",
                "Age of the oldest journal record not replayed yet (0 when none)",
            ),
            &["missed_region"],
        )?;
        registry.register(Box::new(journal_oldest_pending_age.clone()))?;
        let lag_known_records = IntGaugeVec::new(
            Opts::new(
                "lag_known_records",
                "Journal records of changes a region missed that this gateway knows of",
            ),
            &["missed_region"],
        )?;
        registry.register(Box::new(lag_known_records.clone()))?;
        let key_manager_up = IntGauge::new(
            "key_manager_up",
            "1 while the last fetch of the keys from the key manager succeeded",
        )?;
        registry.register(Box::new(key_manager_up.clone()))?;
        key_manager_up.set(1);
        let keyring_valid_seconds = prometheus::Gauge::new(
            "keyring_valid_seconds",
            "Seconds the keys in memory stay usable without another fetch from the key manager",
        )?;
        registry.register(Box::new(keyring_valid_seconds.clone()))?;
        Ok(Self {
            key_manager_duration: histogram("key_manager_request_duration_seconds", "KMIP call time", &["operation"])?,
            key_manager_errors: counter(
                "key_manager_errors_total",
                "Failed KMIP calls by operation and kind",
                &["operation", "kind"],
            )?,
            key_manager_up,
            keyring_valid_seconds,
            reads_rerouted: counter(
                "reads_rerouted_total",
                "Reads not sent to a region because it is behind for them",
                &["region"],
            )?,
            reads_lagging: counter(
                "reads_lagging_total",
                "Reads answered while the serving region was behind for them",
                &["region"],
            )?,
            reads_both_behind: counter(
                "reads_both_behind_total",
                "Reads of something both regions are behind on: merged from both, or refused",
                &["outcome"],
            )?,
            conditional_writes_refused: counter(
                "conditional_writes_refused_total",
                "Conditional writes refused because the region deciding them was unavailable or behind",
                &["region"],
            )?,
            lag_known_records,
            s3_requests: counter(
                "s3_requests_total",
                "S3 requests by operation and status class",
                &["operation", "status_class"],
            )?,
            s3_request_duration: histogram(
                "s3_request_duration_seconds",
                "Time to the response head",
                &["operation"],
            )?,
            s3_in_flight,
            upstream_requests: counter(
                "upstream_requests_total",
                "Upstream calls",
                &["region", "operation", "outcome"],
            )?,
            upstream_request_duration: histogram(
                "upstream_request_duration_seconds",
                "Upstream call time",
                &["region", "operation"],
            )?,
            upstream_errors: counter(
                "upstream_errors_total",
                "Upstream failures by kind",
                &["region", "kind"],
            )?,
            replication_writes: counter("replication_writes_total", "Replicated writes by outcome", &["outcome"])?,
            reads_served: counter(
                "reads_served_total",
                "Reads by serving region and outcome",
                &["region", "outcome"],
            )?,
            envelope_integrity_failures: counter(
                "envelope_integrity_failures_total",
                "Stored objects that failed authentication (corruption or tampering)",
                &["kind"],
            )?,
            envelope_objects: counter(
                "envelope_objects_total",
                "Object envelopes sealed (writes) and opened (reads, copies)",
                &["op"],
            )?,
            s3_payload_bytes: counter(
                "s3_payload_bytes_total",
                "Plaintext body bytes of successful S3 requests",
                &["operation", "direction"],
            )?,
            journal_records: counter(
                "journal_records_total",
                "Changes a region missed, recorded for repair",
                &["missed_region"],
            )?,
            repair_objects: counter(
                "repair_objects_total",
                "Objects repaired into a region, by action",
                &["region", "action"],
            )?,
            repair_bytes: counter("repair_bytes_total", "Stored bytes copied by repair", &["region"])?,
            repair_failures: counter(
                "repair_failures_total",
                "Repairs that failed and stay pending",
                &["region"],
            )?,
            audit_lines: counter(
                "audit_lines_total",
                "Audit log lines by outcome (written; dropped: the writer's queue was full; failed: the write failed)",
                &["outcome"],
            )?,
            limit_rejections: counter(
                "limit_rejections_total",
                "Requests and connections refused or cut off by the S3 listener's limits",
                &["limit"],
            )?,
            region_up,
            journal_pending_records,
            journal_oldest_pending_age,
            registry,
        })
    }

    /// The registry to scrape.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Pre-creates the label sets a dashboard expects to see at zero.
    pub fn prime(&self, regions: &[&str]) {
        for outcome in ["both", "degraded", "failed"] {
            self.replication_writes.with_label_values(&[outcome]).inc_by(0);
        }
        self.reads_lagging.with_label_values(&["both"]).inc_by(0);
        for outcome in ["merged", "refused"] {
            self.reads_both_behind.with_label_values(&[outcome]).inc_by(0);
        }
        for outcome in ["written", "dropped", "failed"] {
            self.audit_lines.with_label_values(&[outcome]).inc_by(0);
        }
        for region in regions {
            self.journal_records.with_label_values(&[region]).inc_by(0);
            self.repair_bytes.with_label_values(&[region]).inc_by(0);
            self.repair_failures.with_label_values(&[region]).inc_by(0);
            for action in ["copied", "deleted"] {
                self.repair_objects.with_label_values(&[region, action]).inc_by(0);
            }
            self.region_up.with_label_values(&[region]).set(1);
            for outcome in ["first", "hedge", "failover", "resume", "current"] {
                self.reads_served.with_label_values(&[region, outcome]).inc_by(0);
            }
            self.reads_rerouted.with_label_values(&[region]).inc_by(0);
            self.reads_lagging.with_label_values(&[region]).inc_by(0);
            self.conditional_writes_refused.with_label_values(&[region]).inc_by(0);
            self.lag_known_records.with_label_values(&[region]).set(0);
            // The kinds the region alerts count as failures (alerts.yml), so their rate is 0
            // rather than absent before the first failure.
            for kind in ["unavailable", "access_denied", "other"] {
                self.upstream_errors.with_label_values(&[region, kind]).inc_by(0);
            }
        }
        for kind in ["header", "segment"] {
            self.envelope_integrity_failures.with_label_values(&[kind]).inc_by(0);
        }
        for op in ["seal", "open"] {
            self.envelope_objects.with_label_values(&[op]).inc_by(0);
        }
        // The key-manager panels' series exist (at zero) with any keyring.
        for op in ["locate", "get"] {
            self.key_manager_duration.with_label_values(&[op]);
        }
        for kind in ["connect", "tls", "timeout"] {
            self.key_manager_errors.with_label_values(&["connect", kind]).inc_by(0);
        }
    }
}

/// `2xx`, `3xx`, `4xx` or `5xx`.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

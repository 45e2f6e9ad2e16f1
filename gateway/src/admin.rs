//! The admin listener: `/livez`, `/readyz` and `/metrics`, kept off the S3 port.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use prometheus::{Encoder, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::keyring::LiveKeyring;
use crate::metrics::Metrics;
use crate::replication::Regions;

/// What the admin endpoints report on.
#[derive(Clone)]
pub struct AdminState {
    regions: Arc<Regions>,
    metrics: Arc<Metrics>,
    keyring: Option<LiveKeyring>,
    /// The key manager's endpoint, with `provider = "kmip"`.
    key_manager: Option<String>,
    ready: watch::Receiver<bool>,
    _ready_tx: Arc<watch::Sender<bool>>,
}

impl AdminState {
    /// State for `regions`, ready from the start.
    pub fn new(regions: Arc<Regions>, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = watch::channel(true);
        Self {
            regions,
            metrics,
            keyring: None,
            key_manager: None,
            ready: rx,
            _ready_tx: Arc::new(tx),
        }
    }

    /// Reports on `keyring` too (fetched from the key manager at `key_manager`, if any).
    pub fn with_keyring(mut self, keyring: LiveKeyring, key_manager: Option<String>) -> Self {
        self.keyring = Some(keyring);
        self.key_manager = key_manager;
        self
    }

    /// Seconds the keys stay usable (`None`: they never expire), published as a gauge.
    fn keys_valid_for(&self) -> Option<f64> {
        let remaining = self.keyring.as_ref()?.remaining()?.as_secs_f64();
        self.metrics.keyring_valid_seconds.set(remaining);
        Some(remaining)
    }
}

/// Serves the admin endpoints until `shutdown` flips; after that `/readyz` says not ready.
pub async fn serve_admin(listener: TcpListener, state: AdminState, shutdown: watch::Receiver<bool>) {
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let shutdown = shutdown.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            let shutting_down = *shutdown.borrow();
            async move {
                let response = if req.uri().path() == "/readyz" {
                    readiness(&state, shutting_down).await
                } else {
                    route(&state, &req)
                };
                Ok::<_, Infallible>(response)
            }
        });
        let conn = http.serve_connection(TokioIo::new(socket), service).into_owned();
        tokio::spawn(conn);
    }
}

/// How long a readiness probe waits for each region.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

/// `/readyz`: ready while not shutting down, at least one region answers (a gateway with one
/// region down still serves reads, and the write error tells clients the truth) and the keys
/// are usable. The body says which region is down and, with a key manager, whether its last
/// fetch worked and how long the keys in memory stay usable: a key manager that is down while
/// cached keys remain is reported but still ready (every replica shares the key manager, so
/// taking them all out of service early would only turn its outage into the gateway's).
async fn readiness(state: &AdminState, shutting_down: bool) -> Response<Full<Bytes>> {
    let probes = state.regions.all().iter().map(|region| async move {
        // A region whose breaker is open is down until traffic or the repair loop's probe says
        // otherwise: answering at once keeps /readyz within a kubelet's probe timeout.
        let open = region.health().is_open();
        let reachable = !open
            && matches!(
                tokio::time::timeout(PROBE_TIMEOUT, region.list_buckets()).await,
                Ok(Ok(_))
            );
        (region.name().to_owned(), reachable, open)
    });
    let regions = futures::future::join_all(probes).await;
    let any_region = regions.iter().any(|(_, up, _)| *up);
    let keys_valid = state.keys_valid_for();
    let keys_ok = keys_valid.is_none_or(|secs| secs > 0.0);
    let ready = *state.ready.borrow() && !shutting_down && any_region && keys_ok;
    let key_manager = match &state.key_manager {
        Some(endpoint) => format!(
            "{{\"endpoint\":{endpoint:?},\"reachable\":{},\"keys_valid_seconds\":{:.0}}}",
            state.metrics.key_manager_up.get() == 1,
            keys_valid.unwrap_or(0.0)
        ),
        None => "null".to_owned(),
    };
    let lag = state.regions.lag();
    let now_ms = crate::stamp::unix_millis();
    let listed: Vec<String> = regions
        .iter()
        .enumerate()
        .map(|(i, (name, up, open))| {
            // Behind: changes it missed are in the other region's journal, not replayed yet.
            let pending = lag.pending_records(i);
            let oldest = lag
                .oldest_ms(i)
                .map_or(0.0, |ms| now_ms.saturating_sub(ms) as f64 / 1000.0);
            format!(
                "{{\"name\":{name:?},\"reachable\":{up},\"breaker_open\":{open},\
                 \"pending_records\":{pending},\"oldest_pending_seconds\":{oldest:.1}}}"
            )
        })
        .collect();
    let body = format!(
        "{{\"ready\":{ready},\"shutting_down\":{shutting_down},\"regions\":[{}],\"key_manager\":{key_manager}}}\n",
        listed.join(",")
    );
    json(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        body,
    )
}

fn route(state: &AdminState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/livez") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/metrics") => {
            for region in state.regions.all() {
                let up = i64::from(!region.health().is_open());
                state
                    .regions
                    .metrics()
                    .region_up
                    .with_label_values(&[region.name()])
                    .set(up);
            }
            state.keys_valid_for();
            let mut out = Vec::new();
            let _ = TextEncoder::new().encode(&state.metrics.registry().gather(), &mut out);
            Response::builder()
                .header("content-type", "text/plain; version=0.0.4")
                .body(Full::new(Bytes::from(out)))
                .unwrap_or_default()
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap_or_default()
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

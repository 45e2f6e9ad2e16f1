//! The listeners: the S3 API (s3s behind hyper) and the admin endpoints, with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use s3s::service::{S3Service, S3ServiceBuilder};

use crate::audit::{AuditLog, AuditRecord};
use crate::auth::AccessPolicy;
use crate::limits::{self, HeldBody, Limit, RequestLimits};
use crate::preflight::Preflight;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};

use crate::admin::{AdminState, serve_admin};
use crate::api::Gateway;
use crate::auth::UserAuth;
use crate::config::{Config, KeyringConfig, ServerConfig};
use crate::keyring::LiveKeyring;
use crate::kmip::KeyManager;
use crate::metrics::Metrics;
use crate::replication::Regions;
use crate::vhost::DomainHost;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The TLS certificate or key did not load.
    #[error(transparent)]
    Tls(crate::tls::TlsError),
    /// The keys could not be fetched from the key manager.
    #[error("cannot start without the keys")]
    KeyManager(#[from] crate::kmip::KmipError),
    /// The audit log file could not be opened.
    #[error(transparent)]
    Audit(crate::audit::AuditError),
    /// Metric registration failed (a duplicate name: a programming error).
    #[error("metrics: {0}")]
    Metrics(String),
}

/// The S3 service for `config`: SigV4 auth for every configured user, optional virtual hosts.
pub fn build_s3_service(
    config: &Config,
    keyring: LiveKeyring,
    regions: Arc<Regions>,
    metrics: Arc<Metrics>,
) -> Result<S3Service, ServerError> {
    let owners = Arc::new(crate::ownership::Owners::new(Arc::clone(&regions)));
    let access = AccessPolicy::new(config, owners);
    let gateway = Gateway::new(config, keyring, regions, metrics, access.clone());
    let mut builder = S3ServiceBuilder::new(gateway);
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
        crate::preflight::s3s_config(),
    ))));
    builder.set_auth(UserAuth::new(&config.users));
    builder.set_access(access);
    if let Some(domain) = &config.server.domain {
        builder.set_host(DomainHost::new(domain));
    }
    Ok(builder.build())
}

/// Polls the journal of the changes region `missed` missed every `interval`, for as long as
/// the gateway serves: how replicas that did not journal a miss themselves learn that a region
/// is behind. One loop per region, so a region whose journal does not answer (it is the
/// other region that is down) never delays what is learnt of the other.
async fn poll_lag(regions: Arc<Regions>, missed: usize, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        regions.poll_lag_of(missed).await;
    }
}

/// Binds both listeners; returns their bound addresses (useful with port 0) and a future that
/// serves until `shutdown` flips to true, then drains in-flight requests.
pub async fn bind_and_serve(
    config: &Config,
    shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, SocketAddr, impl Future<Output = ()> + use<>), ServerError> {
    let metrics = Arc::new(Metrics::new().map_err(|e| ServerError::Metrics(e.to_string()))?);
    let names: Vec<&str> = config.regions.iter().map(|r| r.name.as_str()).collect();
    metrics.prime(&names);
    let regions = Arc::new(Regions::from_config(config, Arc::clone(&metrics)));
    let (keyring, key_manager) = open_keyring(config, &metrics).await?;
    let service = build_s3_service(config, keyring.clone(), Arc::clone(&regions), Arc::clone(&metrics))?;
    let tls = match (&config.server.tls_cert_file, &config.server.tls_key_file) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key).map_err(ServerError::Tls)?),
        _ => None,
    };
    let s3_listener = bind(config.server.s3_listen).await?;
    let admin_listener = bind(config.server.admin_listen).await?;
    let s3_addr = s3_listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.server.s3_listen,
        source,
    })?;
    let admin_addr = admin_listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.server.admin_listen,
        source,
    })?;
    let admin = AdminState::new(Arc::clone(&regions), Arc::clone(&metrics))
        .with_keyring(keyring.clone(), key_manager.as_ref().map(|k| k.endpoint().to_owned()));
    let refresh_task = key_manager.map(|km| tokio::spawn(km.refresh_loop(keyring.clone())));
    let admin_shutdown = shutdown.clone();
    let drain_timeout = config.server.drain_timeout;
    let repair_task = config.replication.repair_interval.map(|interval| {
        let keyring = keyring.clone();
        let settle = config.replication.journal_settle;
        let uploads = crate::store::Store::new(config, keyring.clone(), Arc::clone(&regions), Arc::clone(&metrics));
        tokio::spawn(crate::repair::run_background(
            Arc::clone(&regions),
            keyring,
            interval,
            settle,
            uploads,
        ))
    });
    // A replica that starts while a region is behind must know it before its first read: one
    // poll before the listener serves (bounded; a region whose journal could not be listed
    // counts as behind for everything until a poll lists it).
    regions.require_lag_polls();
    regions.lag().blind_if_asked();
    let first_poll = config.replication.lag_poll_interval.max(Duration::from_secs(2));
    if tokio::time::timeout(first_poll, regions.poll_lag()).await.is_err() {
        tracing::warn!("first journal poll did not finish in time; regions not listed count as behind");
    }
    let lag_tasks = [0, 1].map(|missed| {
        tokio::spawn(poll_lag(
            Arc::clone(&regions),
            missed,
            config.replication.lag_poll_interval,
        ))
    });
    let (audit, audit_writer) = AuditLog::start(
        &config.audit,
        config.regions.each_ref().map(|r| r.name.as_str()),
        metrics.audit_lines.clone(),
    )
    .map_err(ServerError::Audit)?;
    let cx = ConnectionContext::new(config, service, Arc::clone(&metrics), audit);
    let max_connections = config.server.max_connections;
    let serving = async move {
        let admin_task = tokio::spawn(serve_admin(admin_listener, admin, admin_shutdown));
        serve_s3(s3_listener, tls, cx, max_connections, shutdown, drain_timeout).await;
        // Every connection is closed: the queued audit lines are the last ones.
        audit_writer.finish().await;
        admin_task.abort();
        for task in lag_tasks {
            task.abort();
        }
        if let Some(task) = refresh_task {
            task.abort();
        }
        // Every repair step is safe to cut: an unfinished record stays in the journal.
        if let Some(task) = repair_task {
            task.abort();
        }
    };
    Ok((s3_addr, admin_addr, serving))
}

/// The keyring to serve with: the file's keys, or the key manager's, fetched now (the gateway
/// does not start without them) and then refreshed by the returned manager's loop.
async fn open_keyring(
    config: &Config,
    metrics: &Arc<Metrics>,
) -> Result<(LiveKeyring, Option<Arc<KeyManager>>), ServerError> {
    match &config.keyring {
        KeyringConfig::File(ring) => Ok((LiveKeyring::fixed(ring.clone()), None)),
        KeyringConfig::Kmip(kmip) => {
            let (live, manager) = KeyManager::new(kmip, Some(Arc::clone(metrics)))?
                .start()
                .await
                .inspect_err(|_| metrics.key_manager_up.set(0))?;
            Ok((live, Some(manager)))
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// The S3 service behind the listener's per-request limits, with a request id for every
/// request, including those s3s answers itself before any operation runs (bad signatures,
/// unknown keys, denied buckets, unknown operations) and those the limits refuse: the id rides
/// in the request's extensions to `Gateway::observe`, and goes back as `x-amz-request-id` on
/// every response that does not carry one yet.
#[derive(Clone)]
struct FrontDoor {
    s3: S3Service,
    limits: RequestLimits,
    preflight: Arc<Preflight>,
    /// The connection is TLS (SSE-C keys may cross it).
    secure: bool,
    /// Told of every request of one connection: the first ends its head deadline.
    requests_seen: Arc<Notify>,
    audit: AuditLog,
}

type FrontResponse = http::Response<HeldBody>;

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for FrontDoor {
    type Response = FrontResponse;
    type Error = s3s::HttpError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<FrontResponse, s3s::HttpError>> + Send>>;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        // Stores a permit when nobody waits: the connection task finds it whenever it looks.
        self.requests_seen.notify_one();
        let id = crate::telemetry::RequestId::random();
        let audit = self.audit.begin(req.headers(), &id);
        let Some(slot) = self.limits.try_admit() else {
            tracing::debug!(
                request_id = id.as_str(),
                "max_concurrent_requests reached, answering SlowDown"
            );
            return answered(limits::slow_down(id.as_str()), &id, audit);
        };
        if let Some(refused) = self.limits.refuse_large_head(&req, id.as_str()) {
            return answered(refused, &id, audit);
        }
        let (mut parts, body) = req.into_parts();
        if let Err(refused) = self.preflight.check(&parts, self.secure, std::time::SystemTime::now()) {
            tracing::debug!(request_id = id.as_str(), error = %refused, "refused before s3s");
            return answered(limits::error_response(&refused, id.as_str()), &id, audit);
        }
        parts.extensions.insert(id.clone());
        if let Some(audit) = &audit {
            parts.extensions.insert(audit.slot());
            parts.extensions.insert(audit.regions());
        }
        let (body, idle) = if http_body::Body::is_end_stream(&body) {
            (s3s::Body::from(body), None)
        } else {
            let (watched, idle) = match &audit {
                Some(audit) => {
                    let (watched, idle) = self.limits.watch_body(audit.count_in(body));
                    (s3s::Body::http_body(watched), idle)
                }
                None => {
                    let (watched, idle) = self.limits.watch_body(body);
                    (s3s::Body::http_body(watched), idle)
                }
            };
            (watched, Some(idle))
        };
        let (s3, limits) = (self.s3.clone(), self.limits.clone());
        Box::pin(async move {
            let response = s3.call(http::Request::from_parts(parts, body)).await?;
            let response = if idle.is_some_and(|idle| idle.is_set()) {
                // Whatever the operation made of the failed body, the client's fault is the wait.
                tracing::debug!(request_id = id.as_str(), "request body idle, answering RequestTimeout");
                limits.body_idle_response(id.as_str())
            } else {
                response.map(|body| HeldBody::new(body, Some(slot)))
            };
            Ok(audited(with_request_id(response, &id), audit))
        })
    }
}

/// An answer given by the front door itself, tagged and audited.
fn answered(
    response: FrontResponse,
    id: &crate::telemetry::RequestId,
    audit: Option<AuditRecord>,
) -> <FrontDoor as hyper::service::Service<http::Request<hyper::body::Incoming>>>::Future {
    Box::pin(std::future::ready(Ok(audited(with_request_id(response, id), audit))))
}

/// `response`, written to the audit log once sent (if the log is on).
fn audited(response: FrontResponse, audit: Option<AuditRecord>) -> FrontResponse {
    match audit {
        Some(audit) => audit.finish(response),
        None => response,
    }
}

fn with_request_id(mut response: FrontResponse, id: &crate::telemetry::RequestId) -> FrontResponse {
    if !response.headers().contains_key(crate::telemetry::REQUEST_ID_HEADER)
        && let Ok(value) = http::HeaderValue::from_str(id.as_str())
    {
        response
            .headers_mut()
            .insert(crate::telemetry::REQUEST_ID_HEADER, value);
    }
    response
}

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed accept (out of file descriptors, say), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// hyper's default HTTP/1 `max_buf_size` (8 KiB + 100 × 4 KiB).
const HYPER_DEFAULT_MAX_BUF_SIZE: usize = 8192 + 4096 * 100;

/// hyper's HTTP/1 and HTTP/2 settings for the S3 listener's limits.
fn http_builder(config: &ServerConfig) -> ConnBuilder<TokioExecutor> {
    let mut http = ConnBuilder::new(TokioExecutor::new());
    // hyper reads a head into one buffer and answers 431 once it holds `max_buf_size` without
    // a complete head; the same cap bounds its body-read and response-write buffers, which
    // want hyper's default size for throughput. So the buffer keeps at least that default, and
    // a head that fits it but exceeds `max_header_bytes` is refused by the front door
    // (`RequestLimits::refuse_large_head`).
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes.max(HYPER_DEFAULT_MAX_BUF_SIZE));
    http.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
    http
}

/// Everything one S3 connection needs.
#[derive(Clone)]
struct ConnectionContext {
    http: Arc<ConnBuilder<TokioExecutor>>,
    s3: S3Service,
    limits: RequestLimits,
    preflight: Arc<Preflight>,
    header_read_timeout: Duration,
    send_stall_timeout: Duration,
    metrics: Arc<Metrics>,
    audit: AuditLog,
}

impl ConnectionContext {
    fn new(config: &Config, s3: S3Service, metrics: Arc<Metrics>, audit: AuditLog) -> Self {
        Limit::prime(&metrics);
        let preflight = Arc::new(Preflight::new(config));
        let config = &config.server;
        Self {
            http: Arc::new(http_builder(config)),
            s3,
            limits: RequestLimits::new(config, Arc::clone(&metrics)),
            preflight,
            header_read_timeout: config.header_read_timeout,
            send_stall_timeout: config.send_stall_timeout,
            metrics,
            audit,
        }
    }
}

async fn serve_s3(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cx: ConnectionContext,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
    drain_timeout: Duration,
) {
    let graceful = GracefulShutdown::new();
    // Beyond the limit the loop stops accepting: new connections wait in the kernel's backlog
    // (and time out there) instead of costing memory here.
    let connections = Arc::new(Semaphore::new(max_connections));
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&connections).acquire_owned() => slot,
            _ = shutdown.changed() => break,
        };
        let Ok(slot) = slot else { break };
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _peer)) => socket,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = socket.set_nodelay(true);
        let (cx, watcher) = (cx.clone(), graceful.watcher());
        match &tls {
            None => {
                tokio::spawn(async move {
                    serve_connection(socket, false, cx, watcher).await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                // The handshake runs in the connection's task, never in the accept loop.
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                        Ok(Ok(stream)) => serve_connection(stream, true, cx, watcher).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    tracing::info!("s3 listener closed, draining in-flight requests");
    if tokio::time::timeout(drain_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            timeout_ms = drain_timeout.as_millis() as u64,
            "drain timeout reached, closing remaining connections"
        );
    }
}

/// Serves one connection. Until its first request head is complete it has `header_read_timeout`
/// in all: hyper's own HTTP/1 head timeout starts only once the protocol is known, and a
/// client that sends nothing (or a slow HTTP/2 preface) would otherwise hold its slot forever.
/// Later heads on the connection are timed by hyper.
async fn serve_connection<I>(io: I, secure: bool, cx: ConnectionContext, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let requests_seen = Arc::new(Notify::new());
    let front = FrontDoor {
        s3: cx.s3.clone(),
        limits: cx.limits.clone(),
        preflight: Arc::clone(&cx.preflight),
        secure,
        requests_seen: Arc::clone(&requests_seen),
        audit: cx.audit.clone(),
    };
    let io = limits::WriteStall::new(io, cx.send_stall_timeout, Arc::clone(&cx.metrics));
    let conn = watcher.watch(cx.http.serve_connection(TokioIo::new(io), front).into_owned());
    let mut conn = std::pin::pin!(conn);
    let finished = tokio::select! {
        finished = &mut conn => Some(finished),
        () = requests_seen.notified() => None,
        () = tokio::time::sleep(cx.header_read_timeout) => {
            tracing::debug!("no request head within header_read_timeout, closing");
            Limit::HeaderTimeout.record(&cx.metrics);
            return;
        }
    };
    let (finished, served) = match finished {
        Some(finished) => (finished, false),
        None => (conn.await, true),
    };
    if let Err(e) = finished {
        // hyper's error is the only record of a head it refused as too large (after its 431),
        // or timed out before our deadline did. Later head timeouts are not counted: they are
        // mostly idle keep-alive connections being closed.
        let refused = e.downcast_ref::<hyper::Error>();
        if refused.is_some_and(hyper::Error::is_parse_too_large) {
            Limit::HeaderSize.record(&cx.metrics);
        } else if !served && refused.is_some_and(hyper::Error::is_timeout) {
            Limit::HeaderTimeout.record(&cx.metrics);
        }
        tracing::debug!(error = %e, "s3 connection ended with an error");
    }
}

/// A watch channel flipped by SIGTERM or Ctrl-C.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        let _ = tx.send(true);
    });
    rx
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

//! The listeners: the S3 API (s3s behind hyper) and the admin endpoints, with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::service::{S3Service, S3ServiceBuilder};

use crate::auth::AccessPolicy;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::{AdminState, serve_admin};
use crate::api::Gateway;
use crate::auth::UserAuth;
use crate::config::Config;
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
    /// Metric registration failed (a duplicate name: a programming error).
    #[error("metrics: {0}")]
    Metrics(String),
}

/// The S3 service for `config`: SigV4 auth for every configured user, optional virtual hosts.
pub fn build_s3_service(
    config: &Config,
    regions: Arc<Regions>,
    metrics: Arc<Metrics>,
) -> Result<S3Service, ServerError> {
    let gateway = Gateway::new(config, regions, metrics);
    let mut builder = S3ServiceBuilder::new(gateway);
    builder.set_auth(UserAuth::new(&config.users));
    builder.set_access(AccessPolicy::new(config));
    if let Some(domain) = &config.server.domain {
        builder.set_host(DomainHost::new(domain));
    }
    Ok(builder.build())
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
    let service = build_s3_service(config, Arc::clone(&regions), Arc::clone(&metrics))?;
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
    let admin = AdminState::new(Arc::clone(&regions), metrics.registry().clone());
    let admin_shutdown = shutdown.clone();
    let drain_timeout = config.server.drain_timeout;
    let repair_task = config.replication.repair_interval.map(|interval| {
        let keyring = Arc::new(config.keyring.clone());
        tokio::spawn(crate::repair::run_background(Arc::clone(&regions), keyring, interval))
    });
    let serving = async move {
        let admin_task = tokio::spawn(serve_admin(admin_listener, admin, admin_shutdown));
        serve_s3(s3_listener, tls, service, shutdown, drain_timeout).await;
        admin_task.abort();
        // Every repair step is safe to cut: an unfinished record stays in the journal.
        if let Some(task) = repair_task {
            task.abort();
        }
    };
    Ok((s3_addr, admin_addr, serving))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// The S3 service with a request id for every request, including those s3s answers itself
/// before any operation runs (bad signatures, unknown keys, denied buckets, unknown
/// operations): the id rides in the request's extensions to `Gateway::observe`, and goes back as
/// `x-amz-request-id` on every response that does not carry one yet.
#[derive(Clone)]
struct WithRequestIds(S3Service);

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for WithRequestIds {
    type Response = <S3Service as hyper::service::Service<http::Request<hyper::body::Incoming>>>::Response;
    type Error = <S3Service as hyper::service::Service<http::Request<hyper::body::Incoming>>>::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, mut req: http::Request<hyper::body::Incoming>) -> Self::Future {
        let id = crate::telemetry::RequestId::random();
        req.extensions_mut().insert(id.clone());
        let answer = hyper::service::Service::call(&self.0, req);
        Box::pin(async move {
            let mut response = answer.await?;
            if !response.headers().contains_key(crate::telemetry::REQUEST_ID_HEADER)
                && let Ok(value) = http::HeaderValue::from_str(id.as_str())
            {
                response
                    .headers_mut()
                    .insert(crate::telemetry::REQUEST_ID_HEADER, value);
            }
            Ok(response)
        })
    }
}

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn serve_s3(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: S3Service,
    mut shutdown: watch::Receiver<bool>,
    drain_timeout: std::time::Duration,
) {
    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let service = WithRequestIds(service);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _peer)) = accepted else { continue };
                let _ = socket.set_nodelay(true);
                match &tls {
                    None => {
                        let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                        tokio::spawn(graceful.watch(conn));
                    }
                    Some(acceptor) => {
                        // The handshake runs in the connection's task, never in the accept loop.
                        let (acceptor, http, service, watcher) =
                            (acceptor.clone(), http.clone(), service.clone(), graceful.watcher());
                        tokio::spawn(async move {
                            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                                Ok(Ok(stream)) => {
                                    let conn = http.serve_connection(TokioIo::new(stream), service).into_owned();
                                    let _ = watcher.watch(conn).await;
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        });
                    }
                }
            }
            _ = shutdown.changed() => break,
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

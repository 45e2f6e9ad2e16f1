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
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::replication::Regions;

/// What the admin endpoints report on.
#[derive(Clone)]
pub struct AdminState {
    regions: Arc<Regions>,
    registry: Registry,
    ready: watch::Receiver<bool>,
    _ready_tx: Arc<watch::Sender<bool>>,
}

impl AdminState {
    /// State for `regions`, ready from the start.
    pub fn new(regions: Arc<Regions>, registry: Registry) -> Self {
        let (tx, rx) = watch::channel(true);
        Self {
            regions,
            registry,
            ready: rx,
            _ready_tx: Arc::new(tx),
        }
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
            async move { Ok::<_, Infallible>(route(&state, shutting_down, &req)) }
        });
        let conn = http.serve_connection(TokioIo::new(socket), service).into_owned();
        tokio::spawn(conn);
    }
}

fn route(state: &AdminState, shutting_down: bool, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/livez") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") => {
            let ready = *state.ready.borrow() && !shutting_down;
            let regions: Vec<String> = state
                .regions
                .all()
                .iter()
                .map(|r| format!("{{\"name\":{:?}}}", r.name()))
                .collect();
            let body = format!("{{\"ready\":{ready},\"regions\":[{}]}}\n", regions.join(","));
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(status, body)
        }
        (&Method::GET, "/metrics") => {
            let mut out = Vec::new();
            let _ = TextEncoder::new().encode(&state.registry.gather(), &mut out);
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

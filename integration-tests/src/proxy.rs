//! A TCP proxy in front of one region that injects faults, changeable while it runs: slow,
//! failing, cut and silent regions without root or kernel netem.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::target::S3Target;

/// What the proxy does to connections opened from now on (latency applies to open ones too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Relay faithfully (plus the configured delay).
    None,
    /// Close every new connection at once, unanswered (a dropped connection).
    Drop,
    /// Answer every request with this HTTP status and an S3 error body, never reaching the region.
    Status(u16),
    /// Relay the first N bytes a client sends, then close both sides (a stream cut mid-body).
    CutAfter(u64),
    /// Accept and read everything, answer nothing (a silent network).
    Blackhole,
    /// Relay N bytes of answers on a connection, then stop relaying answers (a stream that
    /// stalls mid-body). Applies to open connections too.
    StallResponseAfter(u64),
    /// Relay N bytes of answers on a connection, then close it (a stream cut mid-body).
    /// Applies to open connections too.
    CutResponseAfter(u64),
}

/// A running fault proxy; dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<(Fault, Duration)>>,
    _runtime: tokio::runtime::Runtime,
}

/// The proxy's former name, for tests that only add latency.
pub type DelayProxy = FaultProxy;

impl FaultProxy {
    /// Proxies 127.0.0.1:<new port> to `upstream` (host:port).
    pub fn start(upstream: &str) -> anyhow::Result<Self> {
        let (runtime, listener, addr) = listening_runtime()?;
        let state = Arc::new(Mutex::new((Fault::None, Duration::ZERO)));
        let (upstream, shared) = (upstream.to_owned(), Arc::clone(&state));
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, shared) = (upstream.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    let fault = shared.lock().map(|s| s.0).unwrap_or(Fault::None);
                    match fault {
                        Fault::Drop => drop(client),
                        Fault::Status(code) => answer_status(client, code).await,
                        Fault::Blackhole => swallow(client).await,
                        Fault::None
                        | Fault::CutAfter(_)
                        | Fault::StallResponseAfter(_)
                        | Fault::CutResponseAfter(_) => {
                            if let Ok(server) = TcpStream::connect(&upstream).await {
                                let cut = match fault {
                                    Fault::CutAfter(n) => Some(n),
                                    _ => None,
                                };
                                relay(client, server, shared, cut).await;
                            }
                        }
                    }
                });
            }
        });
        Ok(Self {
            addr,
            state,
            _runtime: runtime,
        })
    }

    /// Adds `delay` before each chunk of every answer from now on.
    pub fn set_delay(&self, delay: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.1 = delay;
        }
    }

    /// Applies `fault` to connections opened from now on.
    pub fn set_fault(&self, fault: Fault) {
        if let Ok(mut s) = self.state.lock() {
            s.0 = fault;
        }
    }

    /// `target`, reached through this proxy.
    pub fn target(&self, target: &S3Target) -> S3Target {
        S3Target::new(format!("http://{}", self.addr), &target.access_key, &target.secret_key)
    }
}

/// Reads one request head (and whatever body arrives with it) and answers `code` with an S3
/// error document, then closes.
async fn answer_status(mut client: TcpStream, code: u16) {
    let mut buf = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(Duration::from_millis(200), client.read(&mut buf)).await;
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>injected fault</Message></Error>",
        if code == 503 {
            "ServiceUnavailable"
        } else {
            "InternalError"
        }
    );
    let response = format!(
        "HTTP/1.1 {code} Injected\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
}

/// Reads and discards until the client gives up.
async fn swallow(mut client: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    while matches!(client.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn relay(client: TcpStream, server: TcpStream, state: Arc<Mutex<(Fault, Duration)>>, cut_after: Option<u64>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let faults = Arc::clone(&state);
    let upstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // A fault set while this connection is open hits it at its next request bytes.
            match faults.lock().map(|s| s.0).unwrap_or(Fault::None) {
                Fault::Drop | Fault::Status(_) => return true,
                Fault::Blackhole => {
                    while matches!(client_read.read(&mut buf).await, Ok(n) if n > 0) {}
                    return true;
                }
                Fault::None | Fault::CutAfter(_) | Fault::StallResponseAfter(_) | Fault::CutResponseAfter(_) => {}
            }
            let n = match cut_after {
                Some(limit) if sent + n as u64 >= limit => {
                    let _ = server_write.write_all(&buf[..(limit - sent) as usize]).await;
                    return true; // cut: close everything
                }
                _ => n,
            };
            sent += n as u64;
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
        false
    };
    let downstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut relayed = 0u64;
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (fault, delay) = state.lock().map(|s| *s).unwrap_or((Fault::None, Duration::ZERO));
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let n = match fault {
                Fault::StallResponseAfter(limit) | Fault::CutResponseAfter(limit) if relayed + n as u64 >= limit => {
                    let keep = limit.saturating_sub(relayed) as usize;
                    let _ = client_write.write_all(&buf[..keep]).await;
                    if matches!(fault, Fault::StallResponseAfter(_)) {
                        std::future::pending::<()>().await;
                    }
                    return; // cut: the select drops both halves
                }
                _ => n,
            };
            relayed += n as u64;
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    // A cut ends both directions at once (the halves are dropped with the select).
    tokio::pin!(downstream);
    tokio::select! {
        cut = upstream => if !cut { downstream.await },
        () = &mut downstream => {}
    }
}

/// A one-thread runtime for a test proxy and a listener on 127.0.0.1:<new port> in it.
pub(crate) fn listening_runtime() -> anyhow::Result<(tokio::runtime::Runtime, TcpListener, std::net::SocketAddr)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    Ok((runtime, listener, addr))
}

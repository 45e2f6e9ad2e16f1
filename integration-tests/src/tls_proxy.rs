//! A TLS-terminating TCP proxy in front of one region: the gateway talks https to it, it
//! forwards the decrypted bytes to the region's plain-HTTP port. It counts handshakes and keeps
//! the last failure, so a test can tell a refused certificate from an unreachable port.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::target::S3Target;

/// What the proxy saw of TLS handshakes so far.
#[derive(Debug, Default)]
struct Handshakes {
    completed: AtomicU64,
    failed: AtomicU64,
    last_failure: Mutex<Option<String>>,
}

/// A running TLS proxy; dropping it stops it.
pub struct TlsProxy {
    addr: SocketAddr,
    handshakes: Arc<Handshakes>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsProxy {
    /// Serves TLS on 127.0.0.1:<new port> with the PEM chain `cert` and key `key`, relaying
    /// to `upstream` (host:port) in the clear. No ALPN, so clients speak HTTP/1.1.
    pub fn start(upstream: &str, cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let acceptor = acceptor(cert, key)?;
        let (runtime, listener, addr) = crate::proxy::listening_runtime()?;
        let handshakes = Arc::new(Handshakes::default());
        let (upstream, seen) = (upstream.to_owned(), Arc::clone(&handshakes));
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream, seen) = (acceptor.clone(), upstream.clone(), Arc::clone(&seen));
                tokio::spawn(async move { serve(client, &acceptor, &upstream, &seen).await });
            }
        });
        Ok(Self {
            addr,
            handshakes,
            _runtime: runtime,
        })
    }

    /// `target`, reached through this proxy over https.
    pub fn target(&self, target: &S3Target) -> S3Target {
        S3Target::new(format!("https://{}", self.addr), &target.access_key, &target.secret_key)
    }

    /// Handshakes that completed.
    pub fn handshakes_completed(&self) -> u64 {
        self.handshakes.completed.load(Ordering::Relaxed)
    }

    /// Handshakes that failed (e.g. the client refused the certificate).
    pub fn handshakes_failed(&self) -> u64 {
        self.handshakes.failed.load(Ordering::Relaxed)
    }

    /// The error of the latest failed handshake, as rustls words it.
    pub fn last_failure(&self) -> Option<String> {
        self.handshakes.last_failure.lock().ok().and_then(|f| f.clone())
    }
}

fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("open {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parse {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("parse {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// One connection: handshake, then relay both ways until either side closes.
async fn serve(client: TcpStream, acceptor: &TlsAcceptor, upstream: &str, seen: &Handshakes) {
    let mut tls = match acceptor.accept(client).await {
        Ok(tls) => {
            seen.completed.fetch_add(1, Ordering::Relaxed);
            tls
        }
        Err(e) => {
            seen.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut last) = seen.last_failure.lock() {
                *last = Some(e.to_string());
            }
            return;
        }
    };
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
    }
}

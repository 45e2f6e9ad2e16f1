//! TLS on the S3 listener (rustls), with the certificate reloaded when its files change, so a
//! renewed certificate (cert-manager, certbot) takes effect without a restart.
//!
//! The listener's rustls config is built once around a certificate resolver that hands out the
//! current certificate; a background task re-reads the files when their modification time or
//! size changes and swaps the certificate in. A file that does not load leaves the previous
//! certificate in place (logged), so a half-written renewal never takes the listener down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// A TLS setup problem (at start: fatal; on reload: logged).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// Which file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the certificate or key.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificate the listener presents now.
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|c| Arc::clone(&c))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn load(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsError> {
    let file_error = |path: &Path, message: String| TlsError::File {
        path: path.to_owned(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| file_error(cert_file, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert_file, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(cert_file, "no PEM certificate found".into()));
    }
    // Never print key material: only the path and the kind of failure.
    let key =
        PrivateKeyDer::from_pem_file(key_file).map_err(|_| file_error(key_file, "no usable PEM private key".into()))?;
    Ok(CertifiedKey::from_der(certs, key, &provider())?)
}

/// Modification time and size of both files: what "changed" means here.
fn fingerprint(files: &[&Path]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// An acceptor for `cert_file`/`key_file`, plus the task that reloads them on change.
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsError> {
    let current = Arc::new(CurrentCert(RwLock::new(Arc::new(load(cert_file, key_file)?))));
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let (cert_file, key_file) = (cert_file.to_owned(), key_file.to_owned());
    tokio::spawn(async move {
        let mut seen = fingerprint(&[&cert_file, &key_file]);
        loop {
            tokio::time::sleep(RELOAD_CHECK).await;
            let now = fingerprint(&[&cert_file, &key_file]);
            if now == seen {
                continue;
            }
            seen = now;
            match load(&cert_file, &key_file) {
                Ok(cert) => {
                    if let Ok(mut slot) = current.0.write() {
                        *slot = Arc::new(cert);
                    }
                    tracing::info!(cert = %cert_file.display(), "TLS certificate reloaded");
                }
                Err(e) => tracing::warn!(error = %e, "TLS certificate not reloaded; keeping the previous one"),
            }
        }
    });
    Ok(TlsAcceptor::from(Arc::new(config)))
}

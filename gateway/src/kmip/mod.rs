//! Keys held by a KMIP key manager (`[keyring] provider = "kmip"`): fetched by name with Get,
//! kept in memory for `cache_ttl_secs`, fetched again every `refresh_interval_secs`.
//!
//! Why Get and a cache, not a KMIP Encrypt/Decrypt per object (docs/OPERATIONS.md, "Keys in a
//! KMIP key manager"): SSE-C objects and upload ids derive their keys from the KEK's bytes,
//! which a remote wrap cannot do without a new stored format; a key-manager round trip on every
//! GET, HEAD, PUT and copy would add its latency to each and its outages to every request. With
//! the KEK in memory the stored headers are byte for byte what the file keyring writes (a
//! header's key id is the KMIP Name), so an exported key opens them offline.

pub mod client;
pub mod ttlv;

use std::sync::Arc;
use std::time::Duration;

use crate::config::KmipConfig;
use crate::keyring::{Kek, Keyring, LiveKeyring};
use crate::metrics::Metrics;
use client::{Connector, Operation, Session};

/// What went wrong talking to the key manager; its label in `key_manager_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A certificate or key file, or a setting, that cannot work.
    Config,
    /// TCP connect or the connection broke.
    Connect,
    /// The TLS handshake failed (certificates refused on either side).
    Tls,
    /// No answer within `timeout_ms`.
    Timeout,
    /// An answer that is not the KMIP expected.
    Protocol,
    /// No object with that name or id.
    NotFound,
    /// The key manager refused this client.
    Denied,
    /// Any other refusal by the key manager.
    Refused,
}

impl ErrorKind {
    /// The `kind` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
            Self::NotFound => "not_found",
            Self::Denied => "denied",
            Self::Refused => "refused",
        }
    }
}

/// A key-manager failure. Its message names the endpoint, operation and key name, never key
/// bytes (the only message carrying them is a successful Get, which never becomes an error).
#[derive(Debug, thiserror::Error)]
#[error("key manager: {message}")]
pub struct KmipError {
    /// For metrics and callers.
    pub kind: ErrorKind,
    message: String,
}

impl KmipError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Fetches the configured keys from the key manager, counting every call in `metrics`.
pub struct KeyManager {
    config: KmipConfig,
    connector: Connector,
    metrics: Option<Arc<Metrics>>,
}

impl KeyManager {
    /// Reads the TLS files; does not connect yet.
    pub fn new(config: &KmipConfig, metrics: Option<Arc<Metrics>>) -> Result<Self, KmipError> {
        Ok(Self {
            connector: Connector::new(config)?,
            config: config.clone(),
            metrics,
        })
    }

    /// Every configured key, `current` first created if it is missing and `create_missing` is on.
    pub async fn fetch(&self) -> Result<Keyring, KmipError> {
        let observe = |op: Operation, took: Duration, failed: Option<ErrorKind>| {
            if let Some(metrics) = &self.metrics {
                metrics
                    .key_manager_duration
                    .with_label_values(&[op.label()])
                    .observe(took.as_secs_f64());
                if let Some(kind) = failed {
                    metrics
                        .key_manager_errors
                        .with_label_values(&[op.label(), kind.label()])
                        .inc();
                }
            }
        };
        let mut session = self.connector.connect().await.inspect_err(|e| {
            if let Some(metrics) = &self.metrics {
                metrics
                    .key_manager_errors
                    .with_label_values(&["connect", e.kind.label()])
                    .inc();
            }
        })?;
        let mut keys = Vec::with_capacity(self.config.keys.len());
        for name in &self.config.keys {
            let create = self.config.create_missing && *name == self.config.current;
            let bytes = fetch_one(&mut session, name, create, &observe).await?;
            keys.push(Kek::new(name.clone(), bytes).map_err(|e| KmipError::new(ErrorKind::Config, e.to_string()))?);
        }
        Keyring::new(&self.config.current, keys).map_err(|e| KmipError::new(ErrorKind::Config, e.to_string()))
    }

    /// Fetches once, for a command that runs and exits (`rotate`, `repair`, `decrypt`).
    pub async fn fetch_once(config: &KmipConfig) -> Result<Keyring, KmipError> {
        Self::new(config, None)?.fetch().await
    }

    /// The first fetch for `serve`: the gateway does not start without its keys.
    pub async fn start(self) -> Result<(LiveKeyring, Arc<Self>), KmipError> {
        let ring = self.fetch().await?;
        self.mark(true);
        tracing::info!(
            endpoint = %self.config.endpoint,
            current = %self.config.current,
            keys = self.config.keys.len(),
            cache_ttl_secs = self.config.cache_ttl.as_secs(),
            "keys fetched from the key manager"
        );
        Ok((LiveKeyring::fetched(ring, self.config.cache_ttl), Arc::new(self)))
    }

    /// Fetches the keys every `refresh_interval` for as long as the gateway serves; a failure
    /// leaves the keys in memory until they expire.
    pub async fn refresh_loop(self: Arc<Self>, live: LiveKeyring) {
        let mut ticker = tokio::time::interval(self.config.refresh_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match self.fetch().await {
                Ok(ring) => {
                    live.refresh(ring, self.config.cache_ttl);
                    if !self.mark(true) {
                        tracing::info!(endpoint = %self.config.endpoint, "key manager reachable again; keys fetched");
                    }
                }
                Err(e) => {
                    self.mark(false);
                    let remaining = live.remaining().unwrap_or_default().as_secs();
                    tracing::warn!(error = %e, keys_valid_for_secs = remaining, "key manager unreachable; serving with the keys in memory until they expire");
                }
            }
        }
    }

    /// Records whether the last fetch worked; returns what the previous one said.
    fn mark(&self, up: bool) -> bool {
        let Some(metrics) = &self.metrics else {
            return up;
        };
        let before = metrics.key_manager_up.get() == 1;
        metrics.key_manager_up.set(i64::from(up));
        before
    }

    /// The endpoint, for /readyz.
    pub fn endpoint(&self) -> &str {
        &self.config.endpoint
    }
}

/// One key by name: Locate (exactly one match), then Get; Create when allowed and none exists.
async fn fetch_one(
    session: &mut Session,
    name: &str,
    create: bool,
    observe: client::Observer<'_>,
) -> Result<[u8; crate::envelope::format::KEY_LEN], KmipError> {
    let ids = session.locate(name, observe).await?;
    let id = match ids.as_slice() {
        [id] => id.clone(),
        [] if create => {
            let id = session.create_key(name, observe).await?;
            tracing::info!(name, id, "created the current key in the key manager (create_missing)");
            id
        }
        [] => {
            return Err(KmipError::new(
                ErrorKind::NotFound,
                format!(
                    "no key named {name:?} (create it, or set keyring.kmip.create_missing = true for the current key)"
                ),
            ));
        }
        more => {
            return Err(KmipError::new(
                ErrorKind::Protocol,
                format!(
                    "{} keys are named {name:?} (ids {}); a key id must name one key",
                    more.len(),
                    more.join(", ")
                ),
            ));
        }
    };
    session.get_key(&id, observe).await
}

//! `[keyring] provider = "kmip"` and `[keyring.kmip]`: keys held by a KMIP key manager, validated.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::raw::RawKmip;
use crate::envelope::format::MAX_KEY_ID_LEN;

/// Where the keys live and how long fetched keys stay in memory.
#[derive(Clone, Debug, Serialize)]
pub struct KmipConfig {
    /// `host:port` of the key manager (KMIP's port is 5696).
    pub endpoint: String,
    /// The name its certificate must carry (default: the endpoint's host).
    pub server_name: String,
    /// PEM CA(s) that sign the key manager's certificate.
    pub ca_file: PathBuf,
    /// PEM certificate (chain) the gateway authenticates with.
    pub client_cert_file: PathBuf,
    /// PEM private key of `client_cert_file`.
    pub client_key_file: PathBuf,
    /// KMIP Name of the key that wraps new data keys; recorded as the key id in every header.
    pub current: String,
    /// Every key name fetched: `current` and the older ones that still unwrap, in order.
    pub keys: Vec<String>,
    /// Create `current` in the key manager (AES-256, activated) when no key has that name.
    pub create_missing: bool,
    /// How long fetched keys stay usable without a successful fetch.
    #[serde(rename = "cache_ttl_secs", serialize_with = "secs")]
    pub cache_ttl: Duration,
    /// How often the keys are fetched again while serving.
    #[serde(rename = "refresh_interval_secs", serialize_with = "secs")]
    pub refresh_interval: Duration,
    /// Limit of each connect, handshake and call.
    #[serde(rename = "timeout_ms", serialize_with = "millis")]
    pub timeout: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Keys fetched live 5 minutes: a key revoked in the key manager stops being used within that,
/// and an outage of the key manager shorter than that is not seen by clients.
const DEFAULT_CACHE_TTL_SECS: u64 = 300;
const DEFAULT_REFRESH_SECS: u64 = 30;
const DEFAULT_TIMEOUT_MS: u64 = 5000;

/// Validates `[keyring.kmip]` with `current`, adding every problem to `problems`.
pub(super) fn validate(
    raw: Option<RawKmip>,
    current: Option<String>,
    problems: &mut Vec<String>,
) -> Option<KmipConfig> {
    let Some(raw) = raw else {
        problems.push(
            "keyring.kmip: required with provider = \"kmip\" (endpoint, ca_file, client_cert_file, client_key_file)"
                .to_owned(),
        );
        return None;
    };
    let missing = |problems: &mut Vec<String>, name: &str| problems.push(format!("keyring.kmip.{name}: missing"));
    let endpoint = raw.endpoint.filter(|e| !e.is_empty());
    if endpoint.is_none() {
        missing(problems, "endpoint");
    }
    let ca_file = raw.ca_file;
    let client_cert_file = raw.client_cert_file;
    let client_key_file = raw.client_key_file;
    for (name, path) in [
        ("ca_file", &ca_file),
        ("client_cert_file", &client_cert_file),
        ("client_key_file", &client_key_file),
    ] {
        match path {
            None => missing(problems, name),
            Some(path) if !path.is_file() => {
                problems.push(format!(
                    "keyring.kmip.{name}: {} is not a readable file",
                    path.display()
                ));
            }
            Some(_) => {}
        }
    }
    let Some(current) = current.filter(|c| !c.is_empty()) else {
        problems.push("keyring.current: missing (the KMIP name of the key for new writes)".to_owned());
        return None;
    };
    let mut keys = vec![current.clone()];
    let mut seen = BTreeSet::from([current.clone()]);
    for name in raw.keys.unwrap_or_default() {
        if seen.insert(name.clone()) {
            keys.push(name);
        }
    }
    for name in &keys {
        if name.is_empty() || name.len() > MAX_KEY_ID_LEN {
            problems.push(format!(
                "keyring.kmip.keys: key name {name:?} must be 1 to {MAX_KEY_ID_LEN} bytes (it is stored in every object header)"
            ));
        }
    }
    let cache_ttl = Duration::from_secs(raw.cache_ttl_secs.unwrap_or(DEFAULT_CACHE_TTL_SECS));
    let refresh_interval = Duration::from_secs(raw.refresh_interval_secs.unwrap_or(DEFAULT_REFRESH_SECS));
    if refresh_interval.is_zero() {
        problems.push("keyring.kmip.refresh_interval_secs: must be at least 1".to_owned());
    }
    if cache_ttl <= refresh_interval {
        problems.push(format!(
            "keyring.kmip.cache_ttl_secs: {} must be longer than refresh_interval_secs ({}), or keys expire between two fetches",
            cache_ttl.as_secs(),
            refresh_interval.as_secs()
        ));
    }
    let timeout = Duration::from_millis(raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS).max(1));
    let endpoint = endpoint?;
    let server_name = match raw.server_name.filter(|s| !s.is_empty()) {
        Some(name) => name,
        None => match endpoint.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                host.trim_start_matches('[').trim_end_matches(']').to_owned()
            }
            _ => {
                problems.push(format!(
                    "keyring.kmip.endpoint: {endpoint:?} is not host:port (KMIP's port is 5696)"
                ));
                return None;
            }
        },
    };
    Some(KmipConfig {
        endpoint,
        server_name,
        ca_file: ca_file?,
        client_cert_file: client_cert_file?,
        client_key_file: client_key_file?,
        current,
        keys,
        create_missing: raw.create_missing.unwrap_or(false),
        cache_ttl,
        refresh_interval,
        timeout,
    })
}

//! Configuration: figment layering, then validation into the typed [`Config`] the program uses.

mod access;
mod kmip;
mod raw;
mod secret;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;

pub use access::{AccessConfig, AuditConfig, KeyNames, UnownedBuckets};
pub use kmip::KmipConfig;
pub use raw::RawConfig;
pub use secret::{REDACTED, Secret};

use crate::keyring::{Kek, Keyring};

/// Environment variable prefix for overrides; `__` separates nested keys.
pub const ENV_PREFIX: &str = "TWINVAULT_";

/// Top-level sections that environment overrides may touch. Other `TWINVAULT_*` variables
/// (such as `TWINVAULT_CONFIG`) are not configuration keys and are ignored.
const ENV_SECTIONS: &[&str] = &[
    "server",
    "replication",
    "keyring",
    "regions",
    "multipart",
    "access",
    "audit",
];

/// Why the configuration could not be loaded: every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// When a write is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WritePolicy {
    /// Both regions hold the object.
    All,
    /// One region holds it and the miss is recorded for repair.
    One,
}

/// How reads choose a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadMode {
    /// Preferred region first, the other after an adaptive delay.
    Hedged,
    /// Both at once.
    Race,
    /// Preferred region, the other only on failure.
    Primary,
}

/// `[server]`, validated.
#[derive(Clone, Debug, Serialize)]
pub struct ServerConfig {
    /// S3 API listener.
    pub s3_listen: SocketAddr,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// Base domain for virtual-host-style addressing.
    pub domain: Option<String>,
    /// Region reported to clients.
    pub region: String,
    /// Largest client user metadata in bytes.
    pub max_metadata_bytes: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(with = "millis")]
    pub drain_timeout: Duration,
    /// PEM certificate chain: TLS on the S3 listener when set (with the key).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the certificate.
    pub tls_key_file: Option<PathBuf>,
    /// Largest request head (HTTP/1) or header list (HTTP/2) in bytes.
    pub max_header_bytes: usize,
    /// Time allowed for a complete request head; also the idle keep-alive time.
    #[serde(with = "millis")]
    pub header_read_timeout: Duration,
    /// A request body idle this long fails the request.
    #[serde(with = "millis")]
    pub body_idle_timeout: Duration,
    /// A response the client accepts nothing of for this long closes the connection.
    #[serde(with = "millis")]
    pub send_stall_timeout: Duration,
    /// Open client connections on the S3 listener.
    pub max_connections: usize,
    /// Requests handled at once.
    pub max_concurrent_requests: usize,
    /// Signature Version 2 is accepted (bounded in time, compared in constant time).
    pub allow_sigv2: bool,
    /// SSE-C requests are served on a plain-HTTP listener (TLS terminated in front of it).
    pub allow_sse_c_over_http: bool,
}

/// One client identity.
#[derive(Clone, Debug, Serialize)]
pub struct UserConfig {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Bucket names or `*` patterns the user is limited to; `None`: every bucket.
    pub buckets: Option<Vec<String>>,
    /// Sees and may use every user's buckets (within `buckets`).
    pub admin: bool,
}

/// `[replication]`, validated.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicationConfig {
    /// When writes are acknowledged.
    pub write_policy: WritePolicy,
    /// How reads pick a region.
    pub read_mode: ReadMode,
    /// Region tried first.
    pub preferred_region: String,
    /// Timeout for upstream calls without a streamed body.
    #[serde(with = "millis")]
    pub upstream_timeout: Duration,
    /// Smallest hedge delay.
    #[serde(with = "millis")]
    pub hedge_delay_min: Duration,
    /// With policy "one": the longest a write waits for the slower region once the other has it.
    #[serde(with = "millis")]
    pub write_timeout: Duration,
    /// Client-space name of the reserved journal bucket (mapped by each region's template).
    pub journal_bucket: String,
    /// Background journal replay period; `None` turns the loop off.
    #[serde(with = "opt_millis")]
    pub repair_interval: Option<Duration>,
    /// How often the journals are polled for regions that are behind (reads avoid them).
    #[serde(with = "millis")]
    pub lag_poll_interval: Duration,
    /// The background repair clears a record only once it is this old and its region has
    /// answered this long without failing: a write the gateway gave up on may still land late.
    #[serde(with = "millis")]
    pub journal_settle: Duration,
    /// A GET body idle this long continues from the other region.
    #[serde(with = "millis")]
    pub read_stall_timeout: Duration,
    /// Consecutive failures that open a region's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker fails fast before one probe goes through.
    #[serde(with = "millis")]
    pub breaker_cooldown: Duration,
}

/// One upstream region, validated.
#[derive(Clone, Debug, Serialize)]
pub struct RegionConfig {
    /// The user's name for it.
    pub name: String,
    /// Endpoint URL.
    pub endpoint: String,
    /// SigV4 region for upstream requests.
    pub signing_region: String,
    /// Upstream access key id.
    pub access_key_id: String,
    /// Upstream secret.
    pub secret_access_key: Secret,
    /// Upstream bucket template containing `{bucket}`.
    pub bucket_template: String,
    /// Path-style addressing.
    pub force_path_style: bool,
    /// The only CAs trusted for the endpoint's TLS certificate; `None`: the system roots.
    #[serde(rename = "ca_bundle_file")]
    pub ca_bundle: Option<CaBundle>,
}

impl RegionConfig {
    /// The upstream bucket holding client bucket `bucket`.
    pub fn upstream_bucket(&self, bucket: &str) -> String {
        self.bucket_template.replace("{bucket}", bucket)
    }
}

/// A region's `ca_bundle_file`, read once at load time so that `check-config` judges the very
/// bytes `serve` trusts. Shown (Debug, effective config) as its path.
#[derive(Clone)]
pub struct CaBundle {
    path: PathBuf,
    pem: Vec<u8>,
}

impl CaBundle {
    /// Reads `path` and checks every certificate in it the way the upstream client's rustls
    /// trust store will (the SDK panics on one it cannot parse, so none may reach it).
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for (i, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
            let cert = cert.map_err(|e| format!("{shown}: certificate {} is not valid PEM: {e}", i + 1))?;
            roots
                .add(cert)
                .map_err(|e| format!("{shown}: certificate {} is not a usable CA certificate: {e}", i + 1))?;
        }
        if roots.is_empty() {
            return Err(format!(
                "{shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            pem,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's contents: one or more PEM certificates, all checked by [`Self::load`].
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CaBundle").field(&self.path).finish()
    }
}

impl Serialize for CaBundle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.path.serialize(serializer)
    }
}

/// The whole validated configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// Listeners and logging.
    pub server: ServerConfig,
    /// Client identities.
    pub users: Vec<UserConfig>,
    /// Key-encryption keys: in the file, or where to fetch them.
    pub keyring: KeyringConfig,
    /// Policies.
    pub replication: ReplicationConfig,
    /// The two regions, ordered by name.
    pub regions: [RegionConfig; 2],
    /// Multipart uploads.
    pub multipart: MultipartConfig,
    /// Bucket ownership.
    pub access: AccessConfig,
    /// The audit log.
    pub audit: AuditConfig,
}

/// `[keyring]`, validated: the keys themselves, or the key manager that holds them.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum KeyringConfig {
    /// `[[keyring.keys]]`.
    File(#[serde(serialize_with = "keyring_summary")] Keyring),
    /// `[keyring.kmip]`.
    Kmip(KmipConfig),
}

impl KeyringConfig {
    /// The file keyring, if that is the provider.
    pub fn file(&self) -> Option<&Keyring> {
        match self {
            Self::File(ring) => Some(ring),
            Self::Kmip(_) => None,
        }
    }

    /// The id (with KMIP: the name) of the key for new writes.
    pub fn current_id(&self) -> &str {
        match self {
            Self::File(ring) => ring.current().id(),
            Self::Kmip(kmip) => &kmip.current,
        }
    }
}

/// `[multipart]`, validated.
#[derive(Clone, Debug, Serialize)]
pub struct MultipartConfig {
    /// How long an upload id stays usable after CreateMultipartUpload.
    #[serde(rename = "upload_ttl_secs", serialize_with = "secs")]
    pub upload_ttl: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// An upload id's lifetime: S3's usual abort-incomplete-uploads rule is 7 days.
const DEFAULT_UPLOAD_TTL_SECS: u64 = 7 * 24 * 3600;

fn validate_multipart(raw: raw::RawMultipart, problems: &mut Vec<String>) -> MultipartConfig {
    let secs = raw.upload_ttl_secs.unwrap_or(DEFAULT_UPLOAD_TTL_SECS);
    if secs == 0 {
        problems.push("multipart.upload_ttl_secs: must be at least 1 (seconds)".to_owned());
    }
    MultipartConfig {
        upload_ttl: Duration::from_secs(secs.max(1)),
    }
}

impl Config {
    /// The layered figment: built-in defaults, then the TOML file at `path`, then `TWINVAULT_*`
    /// environment variables (`TWINVAULT_SERVER__S3_LISTEN=...`), later layers winning.
    pub fn figment(path: &Path) -> Figment {
        let env = Env::prefixed(ENV_PREFIX).split("__").filter(|key| {
            let section = key.as_str().split('.').next().unwrap_or_default();
            ENV_SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(section))
        });
        Figment::new().merge(Toml::file_exact(path)).merge(env)
    }

    /// Loads and validates the configuration file at `path` with environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        if !path.exists() {
            return Err(ConfigError(vec![format!(
                "config file {} does not exist",
                path.display()
            )]));
        }
        Self::from_figment(Self::figment(path))
    }

    /// Validates whatever `figment` holds.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ConfigError(e.into_iter().map(|e| e.to_string()).collect()))?;
        Self::try_from(raw)
    }

    /// The effective configuration as TOML, secrets and keys redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }

    /// The region with this name.
    pub fn region(&self, name: &str) -> Option<&RegionConfig> {
        self.regions.iter().find(|r| r.name == name)
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let server = validate_server(raw.server, &mut problems);
        let users = validate_users(raw.users, &mut problems);
        let keyring = validate_keyring(raw.keyring, &mut problems);
        let regions = validate_regions(raw.regions, &mut problems);
        let replication = validate_replication(raw.replication, regions.as_ref(), &mut problems);
        let multipart = validate_multipart(raw.multipart, &mut problems);
        let access = access::validate_access(raw.access, &users, &mut problems);
        let audit = access::validate_audit(raw.audit, &mut problems);
        match (server, keyring, regions, replication) {
            (Some(server), Some(keyring), Some(regions), Some(replication)) if problems.is_empty() => Ok(Self {
                server,
                users,
                keyring,
                replication,
                regions,
                multipart,
                access,
                audit,
            }),
            _ => Err(ConfigError(problems)),
        }
    }
}

fn parse_addr(name: &str, value: Option<String>, default: &str, problems: &mut Vec<String>) -> Option<SocketAddr> {
    let text = value.unwrap_or_else(|| default.to_owned());
    text.parse()
        .map_err(|_| problems.push(format!("{name}: {text:?} is not an address like \"127.0.0.1:9000\"")))
        .ok()
}

fn validate_server(raw: raw::RawServer, problems: &mut Vec<String>) -> Option<ServerConfig> {
    let limits = validate_server_limits(&raw, problems);
    let s3_listen = parse_addr("server.s3_listen", raw.s3_listen, "127.0.0.1:9000", problems);
    let admin_listen = parse_addr("server.admin_listen", raw.admin_listen, "127.0.0.1:9090", problems);
    let log_format = match raw.log_format.as_deref().unwrap_or("text") {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        other => {
            problems.push(format!("server.log_format: {other:?} is not \"text\" or \"json\""));
            None
        }
    };
    let tls_files = [&raw.tls_cert_file, &raw.tls_key_file];
    if tls_files.iter().filter(|f| f.is_some()).count() == 1 {
        problems.push("server.tls_cert_file and server.tls_key_file: set both or neither".to_owned());
    }
    for (name, file) in ["server.tls_cert_file", "server.tls_key_file"].iter().zip(tls_files) {
        if let Some(path) = file
            && !path.is_file()
        {
            problems.push(format!("{name}: {} is not a readable file", path.display()));
        }
    }
    Some(ServerConfig {
        s3_listen: s3_listen?,
        admin_listen: admin_listen?,
        log_format: log_format?,
        domain: raw.domain.filter(|d| !d.is_empty()),
        region: raw.region.unwrap_or_else(|| "us-east-1".to_owned()),
        max_metadata_bytes: raw.max_metadata_bytes.unwrap_or(2048),
        drain_timeout: Duration::from_millis(raw.drain_timeout_ms.unwrap_or(30_000)),
        tls_cert_file: raw.tls_cert_file,
        tls_key_file: raw.tls_key_file,
        max_header_bytes: limits.max_header_bytes,
        header_read_timeout: limits.header_read_timeout,
        body_idle_timeout: limits.body_idle_timeout,
        send_stall_timeout: limits.send_stall_timeout,
        max_connections: limits.max_connections,
        max_concurrent_requests: limits.max_concurrent_requests,
        allow_sigv2: raw.allow_sigv2.unwrap_or(false),
        allow_sse_c_over_http: raw.allow_sse_c_over_http.unwrap_or(false),
    })
}

/// The S3 listener's request limits, as [`ServerConfig`] holds them.
struct ServerLimits {
    max_header_bytes: usize,
    header_read_timeout: Duration,
    body_idle_timeout: Duration,
    send_stall_timeout: Duration,
    max_connections: usize,
    max_concurrent_requests: usize,
}

/// The smallest `server.max_header_bytes`: hyper refuses (panics on) a smaller HTTP/1 buffer.
pub const MIN_HEADER_BYTES: usize = 8192;

/// Validates the limits of `[server]`. A bad value is reported in `problems` (which fails the
/// whole configuration); the value returned with it is only a placeholder.
fn validate_server_limits(raw: &raw::RawServer, problems: &mut Vec<String>) -> ServerLimits {
    let max_header_bytes = raw.max_header_bytes.unwrap_or(64 * 1024);
    // HTTP/2 carries the limit as a u32 setting.
    if !(MIN_HEADER_BYTES..=u32::MAX as usize).contains(&max_header_bytes) {
        problems.push(format!(
            "server.max_header_bytes: {max_header_bytes} is not between {MIN_HEADER_BYTES} and {}",
            u32::MAX
        ));
    }
    let positive_ms = |name: &str, value: Option<u64>, default: u64, problems: &mut Vec<String>| {
        let ms = value.unwrap_or(default);
        if ms == 0 {
            problems.push(format!("server.{name}: must be at least 1 (milliseconds)"));
        }
        Duration::from_millis(ms.max(1))
    };
    let count = |name: &str, value: Option<usize>, default: usize, problems: &mut Vec<String>| {
        let n = value.unwrap_or(default);
        // The listener counts them with a tokio semaphore, which holds at most this many.
        if !(1..=tokio::sync::Semaphore::MAX_PERMITS).contains(&n) {
            problems.push(format!(
                "server.{name}: {n} is not between 1 and {}",
                tokio::sync::Semaphore::MAX_PERMITS
            ));
        }
        n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS)
    };
    ServerLimits {
        max_header_bytes,
        header_read_timeout: positive_ms("header_read_timeout_ms", raw.header_read_timeout_ms, 10_000, problems),
        body_idle_timeout: positive_ms("body_idle_timeout_ms", raw.body_idle_timeout_ms, 30_000, problems),
        send_stall_timeout: positive_ms("send_stall_timeout_ms", raw.send_stall_timeout_ms, 60_000, problems),
        max_connections: count("max_connections", raw.max_connections, 1024, problems),
        max_concurrent_requests: count("max_concurrent_requests", raw.max_concurrent_requests, 256, problems),
    }
}

fn validate_users(raw: Vec<raw::RawUser>, problems: &mut Vec<String>) -> Vec<UserConfig> {
    if raw.is_empty() {
        problems.push("users: at least one [[users]] entry is required".to_owned());
    }
    let mut seen = BTreeSet::new();
    let mut users = Vec::new();
    for (i, user) in raw.into_iter().enumerate() {
        let name = format!("users[{i}].secret_access_key");
        let secret = secret::resolve(
            &name,
            user.secret_access_key.as_deref(),
            user.secret_access_key_file.as_deref(),
            problems,
        );
        let Some(access_key_id) = user.access_key_id.filter(|k| !k.is_empty()) else {
            problems.push(format!("users[{i}].access_key_id: missing"));
            continue;
        };
        if !seen.insert(access_key_id.clone()) {
            problems.push(format!(
                "users[{i}].access_key_id: duplicate access key id {access_key_id:?}"
            ));
        }
        if let Some(patterns) = &user.buckets
            && patterns
                .iter()
                .any(|p| p.is_empty() || p.chars().any(char::is_whitespace))
        {
            problems.push(format!(
                "users[{i}].buckets: patterns must be non-empty bucket names, optionally with '*'"
            ));
        }
        if let Some(secret_access_key) = secret {
            users.push(UserConfig {
                access_key_id,
                secret_access_key,
                buckets: user.buckets,
                admin: user.admin.unwrap_or(false),
            });
        }
    }
    users
}

/// Decodes a base64 key and checks it is exactly 32 bytes.
pub fn decode_key(name: &str, text: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| format!("{name}: not valid base64"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("{name}: must be 32 bytes after base64 decoding, got {}", bytes.len()))
}

fn validate_keyring(raw: raw::RawKeyring, problems: &mut Vec<String>) -> Option<KeyringConfig> {
    match raw.provider.as_deref().unwrap_or("file") {
        "file" => {
            if raw.kmip.is_some() {
                problems.push("keyring.kmip: only used with provider = \"kmip\"".to_owned());
            }
            validate_file_keyring(raw, problems).map(KeyringConfig::File)
        }
        "kmip" => {
            if !raw.keys.is_empty() {
                problems.push(
                    "keyring.keys: not used with provider = \"kmip\" (name older keys in keyring.kmip.keys)".to_owned(),
                );
            }
            kmip::validate(raw.kmip, raw.current, problems).map(KeyringConfig::Kmip)
        }
        other => {
            problems.push(format!("keyring.provider: {other:?} is not \"file\" or \"kmip\""));
            None
        }
    }
}

fn validate_file_keyring(raw: raw::RawKeyring, problems: &mut Vec<String>) -> Option<Keyring> {
    if raw.keys.is_empty() {
        problems.push("keyring.keys: at least one [[keyring.keys]] entry is required".to_owned());
    }
    let mut keys = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, key) in raw.keys.into_iter().enumerate() {
        let name = format!("keyring.keys[{i}].key");
        let secret = secret::resolve(&name, key.key.as_deref(), key.key_file.as_deref(), problems);
        let Some(id) = key.id.filter(|id| !id.is_empty()) else {
            problems.push(format!("keyring.keys[{i}].id: missing"));
            continue;
        };
        if !ids.insert(id.clone()) {
            problems.push(format!("keyring.keys[{i}].id: duplicate key id {id:?}"));
            continue;
        }
        let bytes = match secret.map(|s| decode_key(&name, s.expose())) {
            Some(Ok(bytes)) => bytes,
            Some(Err(problem)) => {
                problems.push(problem);
                continue;
            }
            None => continue,
        };
        match Kek::new(id, bytes) {
            Ok(kek) => keys.push(kek),
            Err(e) => problems.push(format!("keyring.keys[{i}].id: {e}")),
        }
    }
    let Some(current) = raw.current else {
        problems.push("keyring.current: missing (the id of the key for new writes)".to_owned());
        return None;
    };
    if !ids.contains(&current) {
        problems.push(format!(
            "keyring.current: {current:?} is not the id of a key in keyring.keys"
        ));
        return None;
    }
    Keyring::new(&current, keys).ok()
}

fn validate_regions(
    raw: std::collections::BTreeMap<String, raw::RawRegion>,
    problems: &mut Vec<String>,
) -> Option<[RegionConfig; 2]> {
    if raw.len() != 2 {
        problems.push(format!(
            "regions: exactly two regions are required ([regions.a] and [regions.b], any names), found {}",
            raw.len()
        ));
    }
    let mut regions = Vec::new();
    for (name, region) in raw {
        let secret = secret::resolve(
            &format!("regions.{name}.secret_access_key"),
            region.secret_access_key.as_deref(),
            region.secret_access_key_file.as_deref(),
            problems,
        );
        let endpoint = region.endpoint.unwrap_or_default();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            problems.push(format!(
                "regions.{name}.endpoint: {endpoint:?} is not an http:// or https:// URL"
            ));
        }
        let access_key_id = region.access_key_id.unwrap_or_default();
        if access_key_id.is_empty() {
            problems.push(format!("regions.{name}.access_key_id: missing"));
        }
        let bucket_template = region.bucket_template.unwrap_or_else(|| "{bucket}".to_owned());
        if !bucket_template.contains("{bucket}") {
            problems.push(format!(
                "regions.{name}.bucket_template: {bucket_template:?} must contain \"{{bucket}}\""
            ));
        }
        let ca_bundle = validate_ca_bundle(&name, &endpoint, region.ca_bundle_file.as_deref(), problems);
        if let Some(secret_access_key) = secret {
            regions.push(RegionConfig {
                name,
                endpoint: endpoint.trim_end_matches('/').to_owned(),
                signing_region: region.signing_region.unwrap_or_else(|| "us-east-1".to_owned()),
                access_key_id,
                secret_access_key,
                bucket_template,
                force_path_style: region.force_path_style.unwrap_or(true),
                ca_bundle,
            });
        }
    }
    <[RegionConfig; 2]>::try_from(regions).ok()
}

/// A region's `ca_bundle_file`: only meaningful with an https:// endpoint (set on http:// it
/// would suggest a verification that never happens), and it must hold usable certificates.
fn validate_ca_bundle(name: &str, endpoint: &str, path: Option<&Path>, problems: &mut Vec<String>) -> Option<CaBundle> {
    let path = path?;
    if !endpoint.starts_with("https://") {
        problems.push(format!(
            "regions.{name}.ca_bundle_file: set, but the endpoint {endpoint:?} is not https://"
        ));
    }
    CaBundle::load(path)
        .map_err(|problem| problems.push(format!("regions.{name}.ca_bundle_file: {problem}")))
        .ok()
}

fn validate_replication(
    raw: raw::RawReplication,
    regions: Option<&[RegionConfig; 2]>,
    problems: &mut Vec<String>,
) -> Option<ReplicationConfig> {
    let write_policy = match raw.write_policy.as_deref().unwrap_or("all") {
        "all" => Some(WritePolicy::All),
        "one" => Some(WritePolicy::One),
        other => {
            problems.push(format!("replication.write_policy: {other:?} is not \"all\" or \"one\""));
            None
        }
    };
    let read_mode = match raw.read_mode.as_deref().unwrap_or("hedged") {
        "hedged" => Some(ReadMode::Hedged),
        "race" => Some(ReadMode::Race),
        "primary" => Some(ReadMode::Primary),
        other => {
            problems.push(format!(
                "replication.read_mode: {other:?} is not \"hedged\", \"race\" or \"primary\""
            ));
            None
        }
    };
    let preferred_region = match (raw.preferred_region, regions) {
        (Some(name), Some(regions)) if !regions.iter().any(|r| r.name == name) => {
            problems.push(format!(
                "replication.preferred_region: {name:?} is not a configured region"
            ));
            None
        }
        (Some(name), _) => Some(name),
        (None, Some(regions)) => Some(regions[0].name.clone()),
        (None, None) => None,
    };
    let journal_bucket = raw.journal_bucket.unwrap_or_else(|| "twinvault-journal".to_owned());
    let journal_bucket = if valid_bucket_name(&journal_bucket) {
        Some(journal_bucket)
    } else {
        problems.push(format!(
            "replication.journal_bucket: {journal_bucket:?} is not a valid bucket name (3-63 of a-z, 0-9, '-', '.')"
        ));
        None
    };
    let breaker_failures = match raw.breaker_failures.unwrap_or(5) {
        0 => {
            problems.push("replication.breaker_failures: must be at least 1".to_owned());
            None
        }
        n => Some(n),
    };
    Some(ReplicationConfig {
        write_policy: write_policy?,
        read_mode: read_mode?,
        preferred_region: preferred_region?,
        upstream_timeout: Duration::from_millis(raw.upstream_timeout_ms.unwrap_or(30_000)),
        hedge_delay_min: Duration::from_millis(raw.hedge_delay_min_ms.unwrap_or(20)),
        write_timeout: Duration::from_millis(raw.write_timeout_ms.unwrap_or(10_000)),
        journal_bucket: journal_bucket?,
        repair_interval: match raw.repair_interval_ms.unwrap_or(30_000) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
        lag_poll_interval: Duration::from_millis(raw.lag_poll_interval_ms.unwrap_or(500).max(50)),
        journal_settle: Duration::from_millis(raw.journal_settle_ms.unwrap_or(5000)),
        read_stall_timeout: Duration::from_millis(raw.read_stall_timeout_ms.unwrap_or(10_000).max(1)),
        breaker_failures: breaker_failures?,
        breaker_cooldown: Duration::from_millis(raw.breaker_cooldown_ms.unwrap_or(5_000)),
    })
}

fn keyring_summary<S: serde::Serializer>(keyring: &Keyring, serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Summary<'a> {
        current: &'a str,
        key_ids: Vec<&'a str>,
        keys: &'static str,
    }
    Summary {
        current: keyring.current().id(),
        key_ids: keyring.ids().collect(),
        keys: REDACTED,
    }
    .serialize(serializer)
}

/// S3's bucket naming rules, as far as they matter for a name the gateway itself creates.
fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

mod opt_millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.map_or(0, |d| d.as_millis() as u64))
    }
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

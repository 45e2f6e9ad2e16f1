//! The configuration as written: plain serde shapes, before any validation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Top level of `twinvault.toml`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Listeners and logging.
    #[serde(default)]
    pub server: RawServer,
    /// Clients' SigV4 credentials.
    #[serde(default)]
    pub users: Vec<RawUser>,
    /// The customer's key-encryption keys.
    #[serde(default)]
    pub keyring: RawKeyring,
    /// Write and read policies.
    #[serde(default)]
    pub replication: RawReplication,
    /// Exactly two upstream stores, by the user's names.
    #[serde(default)]
    pub regions: BTreeMap<String, RawRegion>,
    /// Multipart uploads.
    #[serde(default)]
    pub multipart: RawMultipart,
    /// Bucket ownership.
    #[serde(default)]
    pub access: RawAccess,
    /// The audit log.
    #[serde(default)]
    pub audit: RawAudit,
}

/// `[access]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccess {
    /// Who may use a bucket with no recorded owner (one that existed before ownership was
    /// recorded): "everyone" or the access key id of one `[[users]]` entry (default: "everyone").
    pub unowned_buckets: Option<String>,
}

/// `[audit]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// Write one JSON line per S3 request (default: false).
    pub enabled: Option<bool>,
    /// File the lines are appended to (default: standard error).
    pub path: Option<PathBuf>,
    /// "plain" (object keys as sent) or "hashed" (a keyed hash of each key) (default: "plain").
    pub key_names: Option<String>,
    /// Secret of the keyed hash for `key_names = "hashed"`, inline.
    pub key_hash_secret: Option<String>,
    /// Secret of the keyed hash, read from this file.
    pub key_hash_secret_file: Option<PathBuf>,
}

/// `[multipart]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMultipart {
    /// An upload id older than this answers NoSuchUpload, in seconds; at least 1 (default:
    /// 604800, 7 days, S3's usual rule for aborting incomplete uploads).
    pub upload_ttl_secs: Option<u64>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// S3 API listener (default: "127.0.0.1:9000").
    pub s3_listen: Option<String>,
    /// Admin listener for /metrics, /livez, /readyz (default: "127.0.0.1:9090").
    pub admin_listen: Option<String>,
    /// "text" or "json" (default: "text").
    pub log_format: Option<String>,
    /// Base domain for virtual-host-style requests, e.g. "s3.example.com" (default: none, path style only).
    pub domain: Option<String>,
    /// Region name the gateway reports to clients (default: "us-east-1").
    pub region: Option<String>,
    /// Largest client user metadata, names and values together, in bytes (default: 2048, as AWS).
    pub max_metadata_bytes: Option<usize>,
    /// PEM certificate chain for TLS on the S3 listener (default: none, plain HTTP).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// On SIGTERM, how long in-flight requests may take to finish, in ms (default: 30000).
    pub drain_timeout_ms: Option<u64>,
    /// Largest HTTP/1 request head (request line and headers) or HTTP/2 header list, in bytes;
    /// at least 8192 (default: 65536).
    pub max_header_bytes: Option<usize>,
    /// How long a client may take to send a complete request head, and how long an idle
    /// keep-alive connection stays open, in ms (default: 10000).
    pub header_read_timeout_ms: Option<u64>,
    /// A request body that delivers no bytes for this long fails with RequestTimeout, in ms (default: 30000).
    pub body_idle_timeout_ms: Option<u64>,
    /// A response the client accepts no bytes of for this long closes its connection, in ms
    /// (default: 60000).
    pub send_stall_timeout_ms: Option<u64>,
    /// Open client connections on the S3 listener; more wait in the kernel's backlog (default: 1024).
    pub max_connections: Option<usize>,
    /// Requests handled at once; more are answered 503 SlowDown (default: 256).
    pub max_concurrent_requests: Option<usize>,
    /// Accept Signature Version 2 (header and presigned), checked within 15 minutes of its
    /// Date and in constant time; off, v2 requests get 403 AccessDenied (default: false).
    pub allow_sigv2: Option<bool>,
    /// Accept SSE-C headers on a plain-HTTP S3 listener (no `tls_cert_file`); off, they get
    /// 400 InvalidRequest as from S3 (default: false).
    pub allow_sse_c_over_http: Option<bool>,
}

/// One `[[users]]` entry.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    /// Access key id the client signs with.
    pub access_key_id: Option<String>,
    /// Secret access key, inline.
    pub secret_access_key: Option<String>,
    /// Secret access key, read from this file.
    pub secret_access_key_file: Option<PathBuf>,
    /// Buckets this user may use: names or patterns with `*` (default: every bucket).
    pub buckets: Option<Vec<String>>,
    /// May see and use every user's buckets (still limited by `buckets`) (default: false).
    pub admin: Option<bool>,
}

/// `[keyring]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyring {
    /// Where the keys are: "file" (`[[keyring.keys]]`, default) or "kmip" (`[keyring.kmip]`).
    pub provider: Option<String>,
    /// Id of the key that wraps new data keys (with "kmip": its KMIP Name).
    pub current: Option<String>,
    /// All keys; old ones stay to read old objects (provider "file").
    #[serde(default)]
    pub keys: Vec<RawKey>,
    /// The key manager (provider "kmip").
    pub kmip: Option<RawKmip>,
}

/// `[keyring.kmip]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKmip {
    /// `host:port` of the KMIP server.
    pub endpoint: Option<String>,
    /// Name in its certificate (default: the endpoint's host).
    pub server_name: Option<String>,
    /// PEM CA bundle that signs the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate.
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub client_key_file: Option<PathBuf>,
    /// KMIP Names of older keys that still unwrap (`current` is always fetched).
    pub keys: Option<Vec<String>>,
    /// Create `current` (AES-256) when no key has that name (default: false).
    pub create_missing: Option<bool>,
    /// Fetched keys stay usable this long without a successful fetch (default: 300).
    pub cache_ttl_secs: Option<u64>,
    /// Fetch the keys again this often (default: 30).
    pub refresh_interval_secs: Option<u64>,
    /// Each connect, handshake and call, in milliseconds (default: 5000).
    pub timeout_ms: Option<u64>,
}

/// One `[[keyring.keys]]` entry.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// Key id, stored in every object header it wraps.
    pub id: Option<String>,
    /// Base64 of 32 random bytes, inline.
    pub key: Option<String>,
    /// Base64 of 32 random bytes, read from this file.
    pub key_file: Option<PathBuf>,
}

/// `[replication]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplication {
    /// "all" or "one" (default: "all").
    pub write_policy: Option<String>,
    /// "hedged", "race" or "primary" (default: "hedged").
    pub read_mode: Option<String>,
    /// Region tried first for reads (default: the first region by name).
    pub preferred_region: Option<String>,
    /// Per-request timeout for upstream calls that carry no body, in ms (default: 30000).
    pub upstream_timeout_ms: Option<u64>,
    /// Hedged reads: the smallest hedge delay, in ms (default: 20).
    pub hedge_delay_min_ms: Option<u64>,
    /// With "one": how long a write waits for the slower region once the other has it, in ms (default: 10000).
    pub write_timeout_ms: Option<u64>,
    /// Client-space name of the reserved bucket holding the repair journal (default: "twinvault-journal").
    pub journal_bucket: Option<String>,
    /// How often the background repair loop replays the journal, in ms; 0 turns it off (default: 30000).
    pub repair_interval_ms: Option<u64>,
    /// How often every gateway lists the journals to learn which region is behind, in ms
    /// (default: 500; at least 50).
    pub lag_poll_interval_ms: Option<u64>,
    /// The background repair clears a replayed journal record only once its region has
    /// answered this long without a failure (and a record of a request the region may still
    /// apply late only once it is this old), in ms; until then reads avoid the region for its
    /// keys and each round repairs again (default: 5000; 0 = clear once replayed).
    pub journal_settle_ms: Option<u64>,
    /// A GET body that sends nothing for this long continues from the other region, in ms (default: 10000).
    pub read_stall_timeout_ms: Option<u64>,
    /// Consecutive failures that open a region's circuit breaker (default: 5).
    pub breaker_failures: Option<u32>,
    /// How long an open breaker fails fast before letting one probe through, in ms (default: 5000).
    pub breaker_cooldown_ms: Option<u64>,
}

/// One `[regions.NAME]` entry.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    /// Upstream S3 endpoint URL.
    pub endpoint: Option<String>,
    /// Region used in upstream SigV4 signatures (default: "us-east-1").
    pub signing_region: Option<String>,
    /// Upstream access key id.
    pub access_key_id: Option<String>,
    /// Upstream secret, inline.
    pub secret_access_key: Option<String>,
    /// Upstream secret, read from this file.
    pub secret_access_key_file: Option<PathBuf>,
    /// Upstream bucket for a client bucket; must contain "{bucket}" (default: "{bucket}").
    pub bucket_template: Option<String>,
    /// Path-style upstream addressing (default: true).
    pub force_path_style: Option<bool>,
    /// PEM file of the CA certificates an https:// endpoint's certificate must chain to; they
    /// replace the system roots for this region (default: none, the system roots).
    pub ca_bundle_file: Option<PathBuf>,
}

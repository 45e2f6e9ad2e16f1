//! Shared fixtures for tests of the object layer and of repair: a configuration from TOML, two
//! regions ("a" and "b") over in-memory backends, a [`Store`] over them, and the backends at
//! hand to break a region or look at what it stores (ciphertext only).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use figment::Figment;
use figment::providers::{Format, Toml};
use futures::{Stream, StreamExt};

use crate::config::Config;
use crate::envelope::{EnvelopeError, ObjectAttributes};
use crate::error::{ApiError, ApiResult};
use crate::keyring::{Keyring, LiveKeyring};
use crate::metrics::Metrics;
use crate::repair::Repairer;
use crate::replication::Regions;
use crate::reserved::PendingRecord;
use crate::store::{BodyVerdict, ByteRange, Conditions, NewObject, ObjectRead, ReadRequest, Store};
use crate::upstream::{Health, MemoryBackend, StoredObject, Upstream};

/// The client bucket the fixtures create.
pub(crate) const BUCKET: &str = "photos";
/// The reserved bucket (the configuration's default).
pub(crate) const JOURNAL: &str = "twinvault-journal";

/// A configuration with regions "a" (preferred) and "b" under `write_policy` and `read_mode`.
/// The breakers never open: a region set down and up again answers at once, whatever the
/// real clock says.
pub(crate) fn config(write_policy: &str, read_mode: &str) -> Config {
    config_with(write_policy, read_mode, "breaker_failures = 1000000")
}

/// As [`config`], with `replication` settings of its own (TOML lines) instead of the breaker's.
pub(crate) fn config_with(write_policy: &str, read_mode: &str, replication: &str) -> Config {
    let toml = format!(
        r#"
        [[users]]
        access_key_id = "AK"
        secret_access_key = "SK"
        [keyring]
        current = "k1"
        [[keyring.keys]]
        id = "k1"
        key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        [replication]
        read_mode = "{read_mode}"
        write_policy = "{write_policy}"
        preferred_region = "a"
        {replication}
        [regions.a]
        endpoint = "http://127.0.0.1:1"
        access_key_id = "a"
        secret_access_key = "a"
        [regions.b]
        endpoint = "http://127.0.0.1:2"
        access_key_id = "b"
        secret_access_key = "b"
        "#
    );
    Config::from_figment(Figment::from(Toml::string(&toml))).unwrap_or_else(|e| panic!("{e}"))
}

/// The file keyring every test configuration has.
pub(crate) fn keyring(config: &Config) -> &Keyring {
    config.keyring.file().expect("test configurations use the file keyring")
}

/// Regions "a" and "b" of `config` over `backends`: several over the same two backends are
/// gateway replicas.
pub(crate) fn regions_over(config: &Config, backends: &[Arc<MemoryBackend>; 2], metrics: Arc<Metrics>) -> Regions {
    let r = &config.replication;
    let upstream = |name: &str, backend: &Arc<MemoryBackend>| {
        let health = Health::new(r.breaker_failures, r.breaker_cooldown);
        Upstream::with_backend(
            name,
            "{bucket}",
            r.upstream_timeout,
            health,
            Arc::clone(&metrics),
            Arc::clone(backend) as _,
        )
    };
    let upstreams = [upstream("a", &backends[0]), upstream("b", &backends[1])];
    Regions::new(upstreams, r, metrics)
}

/// Both regions over memory backends and the object layer over them.
pub(crate) struct Twin {
    pub config: Config,
    pub regions: Arc<Regions>,
    pub store: Store,
    /// Region a's and region b's backend, in configuration order.
    pub backends: [Arc<MemoryBackend>; 2],
}

impl Twin {
    /// The fixture under `write_policy`, reads in "primary" mode (a first, then b).
    pub fn new(write_policy: &str) -> Self {
        Self::with_read_mode(write_policy, "primary")
    }

    /// The fixture under `write_policy` and `read_mode`.
    pub fn with_read_mode(write_policy: &str, read_mode: &str) -> Self {
        let config = config(write_policy, read_mode);
        let metrics = Arc::new(Metrics::new().unwrap_or_else(|e| panic!("{e}")));
        let backends = [Arc::new(MemoryBackend::new()), Arc::new(MemoryBackend::new())];
        let regions = Arc::new(regions_over(&config, &backends, Arc::clone(&metrics)));
        let store = Store::new(
            &config,
            LiveKeyring::fixed(keyring(&config).clone()),
            Arc::clone(&regions),
            metrics,
        );
        Self {
            config,
            regions,
            store,
            backends,
        }
    }

    /// The fixture with [`BUCKET`] and the reserved bucket created in both regions.
    pub async fn with_bucket(write_policy: &str) -> Self {
        let twin = Self::new(write_policy);
        twin.store.create_bucket(BUCKET).await.expect("create bucket");
        for up in twin.regions.all() {
            twin.regions.journal().ensure_bucket(up).await.expect("journal bucket");
        }
        twin
    }

    /// Region a's backend.
    pub fn a(&self) -> &MemoryBackend {
        &self.backends[0]
    }

    /// Region b's backend.
    pub fn b(&self) -> &MemoryBackend {
        &self.backends[1]
    }

    /// PutObject of `plain` under [`BUCKET`]/`key`, streamed in uneven chunks.
    pub async fn put(&self, key: &str, plain: &[u8]) -> ApiResult<StoredObject> {
        self.put_with(key, plain, ObjectAttributes::default()).await
    }

    /// PutObject of `plain` with the client's attributes `attrs`.
    pub async fn put_with(&self, key: &str, plain: &[u8], attrs: ObjectAttributes) -> ApiResult<StoredObject> {
        self.put_as(key, plain, attrs, crate::store::WriteCondition::Always)
            .await
    }

    /// PutObject of `plain` under the client's precondition `condition`.
    pub async fn put_if(
        &self,
        key: &str,
        plain: &[u8],
        condition: crate::store::WriteCondition,
    ) -> ApiResult<StoredObject> {
        self.put_as(key, plain, ObjectAttributes::default(), condition).await
    }

    async fn put_as(
        &self,
        key: &str,
        plain: &[u8],
        attrs: ObjectAttributes,
        condition: crate::store::WriteCondition,
    ) -> ApiResult<StoredObject> {
        let new = NewObject {
            bucket: BUCKET,
            key,
            plain_len: plain.len() as u64,
            attrs,
            sse_c: None,
            condition,
            checksum: None,
        };
        let verdict = BodyVerdict::default();
        self.store.put_object(new, body(plain), &verdict).await
    }

    /// GetObject of the whole of [`BUCKET`]/`key`: its plaintext.
    pub async fn get(&self, key: &str) -> ApiResult<Vec<u8>> {
        self.read(read_request(key)).await.map(|(_, bytes)| bytes)
    }

    /// GetObject of a range of [`BUCKET`]/`key`.
    pub async fn get_range(&self, key: &str, range: ByteRange) -> ApiResult<(ObjectRead, Vec<u8>)> {
        self.read(ReadRequest {
            range: Some(range),
            ..read_request(key)
        })
        .await
    }

    /// GetObject with `request`; the answer and the whole body (a body that fails is an error).
    pub async fn read(&self, request: ReadRequest<'_>) -> ApiResult<(ObjectRead, Vec<u8>)> {
        let mut read = self.store.get_object(&request).await?;
        let body = std::mem::replace(&mut read.body, Box::pin(futures::stream::empty()));
        let bytes = collect(body).await.map_err(ApiError::Envelope)?;
        Ok((read, bytes))
    }

    /// The journal records that region `holder` (0: a, 1: b) keeps about the other region.
    pub async fn pending(&self, holder: usize) -> Vec<PendingRecord> {
        let regions = self.regions.all();
        self.regions
            .journal()
            .pending(&regions[holder], regions[1 - holder].name(), 1000)
            .await
            .expect("journal readable")
    }

    /// Keys of the reserved bucket of region `region` (0: a, 1: b) under `prefix`.
    pub fn reserved_keys(&self, region: usize, prefix: &str) -> Vec<String> {
        self.backends[region].keys(JOURNAL, prefix)
    }

    /// A repairer over both regions (not dry).
    pub fn repairer(&self) -> Repairer<'_> {
        Repairer::new(&self.regions, keyring(&self.config), false)
    }
}

/// A plain GetObject request of [`BUCKET`]/`key`.
pub(crate) fn read_request(key: &str) -> ReadRequest<'_> {
    ReadRequest {
        bucket: BUCKET,
        key,
        conditions: Conditions::default(),
        sse_c: None,
        range: None,
        part_number: None,
    }
}

/// `plain` as a request body, in chunks of 10,000 bytes (not a divisor of a segment).
pub(crate) fn body(plain: &[u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + use<> {
    let chunks: Vec<_> = plain.chunks(10_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(chunks)
}

/// `bytes` as an upstream request body (one frame).
pub(crate) fn frames(
    bytes: &[u8],
) -> impl Stream<Item = Result<http_body::Frame<Bytes>, std::io::Error>> + Send + Sync + 'static + use<> {
    futures::stream::iter([Ok(http_body::Frame::data(Bytes::copy_from_slice(bytes)))])
}

/// Every byte of a plaintext stream, or its first error.
pub(crate) async fn collect<S>(mut body: S) -> Result<Vec<u8>, EnvelopeError>
where
    S: Stream<Item = Result<Bytes, EnvelopeError>> + Unpin,
{
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// `len` bytes of deterministic noise from `seed` (no two 8-byte windows alike in practice),
/// so a misplaced byte range cannot pass for the right one.
pub(crate) fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Waits (bounded, on virtual time under a paused clock) until `done` holds, letting
/// background tasks run; whether it did.
pub(crate) async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if done() {
            return true;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done()
}

/// The error of a result that must have failed.
pub(crate) fn failure<T>(result: ApiResult<T>) -> ApiError {
    match result {
        Ok(_) => panic!("expected a failure, got a success"),
        Err(e) => e,
    }
}

/// A CompleteMultipartUpload part list of (number, client ETag) pairs, without checksums.
pub fn requested(parts: &[(i32, String)]) -> Vec<crate::store::RequestedPart> {
    parts
        .iter()
        .map(|(number, etag)| crate::store::RequestedPart {
            number: *number,
            etag: etag.clone(),
            checksum: None,
        })
        .collect()
}

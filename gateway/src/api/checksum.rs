//! Verifies the client's checksums (Content-MD5, x-amz-checksum-*, trailers) over the plaintext
//! as it streams past, failing the stream before its end on a mismatch so nothing is stored.

use std::pin::Pin;

use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::Stream;
use md5::{Digest, Md5};
use s3s::TrailingHeaders;
use s3s::checksum::ChecksumHasher;
use s3s::dto::{Checksum, ChecksumAlgorithm};

use crate::error::ApiError;
use crate::store::{ChecksumSlot, ClientChecksum};

type StdError = Box<dyn std::error::Error + Send + Sync>;

/// The checksums a client announced for a body, in headers or trailers.
pub struct ClientChecksums {
    content_md5: Option<Vec<u8>>,
    expected: Checksum,
    hasher: ChecksumHasher,
    md5: Option<Md5>,
    trailers: Option<TrailingHeaders>,
    /// The one checksum kept with the object: the request's declared algorithm, and where its
    /// verified value lands once the body has gone by.
    kept: Option<ClientChecksum>,
}

const TRAILER_NAMES: [&str; 5] = [
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-checksum-crc64nvme",
];

impl ClientChecksums {
    /// Collects what to verify. `trailer_header` is the request's `x-amz-trailer` value.
    pub fn new(
        content_md5: Option<&str>,
        expected: Checksum,
        algorithm: Option<&ChecksumAlgorithm>,
        trailer_header: Option<&str>,
        trailers: Option<TrailingHeaders>,
    ) -> Result<Self, ApiError> {
        let content_md5 = match content_md5 {
            Some(text) => {
                let bytes = STANDARD
                    .decode(text.trim())
                    .map_err(|_| ApiError::InvalidDigest("Content-MD5 is not valid base64".into()))?;
                if bytes.len() != 16 {
                    return Err(ApiError::InvalidDigest("Content-MD5 must be 16 bytes".into()));
                }
                Some(bytes)
            }
            None => None,
        };
        let mut hasher = ChecksumHasher::default();
        let trailer = trailer_header.unwrap_or_default().to_ascii_lowercase();
        let wants = |header: &Option<String>, name: &str, alg: &str| {
            header.is_some()
                || trailer.contains(name)
                || algorithm.is_some_and(|a| a.as_str().eq_ignore_ascii_case(alg))
        };
        if wants(&expected.checksum_crc32, TRAILER_NAMES[0], "CRC32") {
            hasher.crc32 = Some(Default::default());
        }
        if wants(&expected.checksum_crc32c, TRAILER_NAMES[1], "CRC32C") {
            hasher.crc32c = Some(Default::default());
        }
        if wants(&expected.checksum_sha1, TRAILER_NAMES[2], "SHA1") {
            hasher.sha1 = Some(Default::default());
        }
        if wants(&expected.checksum_sha256, TRAILER_NAMES[3], "SHA256") {
            hasher.sha256 = Some(Default::default());
        }
        if wants(&expected.checksum_crc64nvme, TRAILER_NAMES[4], "CRC64NVME") {
            hasher.crc64nvme = Some(Default::default());
        }
        let md5 = content_md5.as_ref().map(|_| Md5::new());
        let kept = kept_checksum(&expected, &hasher, algorithm);
        Ok(Self {
            content_md5,
            expected,
            hasher,
            md5,
            trailers,
            kept,
        })
    }

    /// The checksum to keep with the object (S3 keeps one per object): its algorithm, its value
    /// when the request's headers carry it, and the slot its verified value lands in.
    pub fn kept(&self) -> Option<ClientChecksum> {
        self.kept.clone()
    }

    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        if let Some(md5) = &mut self.md5 {
            md5.update(data);
        }
    }

    /// Compares what was computed with what the client sent (headers, then trailers).
    fn verify(self) -> Result<(), ApiError> {
        if let (Some(want), Some(md5)) = (self.content_md5, self.md5)
            && md5.finalize().as_slice() != want.as_slice()
        {
            return Err(ApiError::BadDigest {
                algorithm: "Content-MD5",
            });
        }
        let mut expected = self.expected;
        if let Some(trailers) = self.trailers.and_then(|t| t.take()) {
            let slots = [
                &mut expected.checksum_crc32,
                &mut expected.checksum_crc32c,
                &mut expected.checksum_sha1,
                &mut expected.checksum_sha256,
                &mut expected.checksum_crc64nvme,
            ];
            for (name, slot) in TRAILER_NAMES.iter().zip(slots) {
                if let Some(value) = trailers.get(*name) {
                    let text = value
                        .to_str()
                        .map_err(|_| ApiError::InvalidDigest(format!("{name} is not text")))?;
                    *slot = Some(text.to_owned());
                }
            }
        }
        let got = self.hasher.finalize();
        if let Some(kept) = &self.kept {
            let computed = ALGORITHMS
                .iter()
                .zip(checksum_slots(&got))
                .find(|(name, _)| **name == kept.algorithm)
                .and_then(|(_, value)| value.clone());
            if let Ok(mut slot) = kept.verified.lock() {
                *slot = computed;
            }
        }
        let pairs = [
            ("x-amz-checksum-crc32", &expected.checksum_crc32, &got.checksum_crc32),
            ("x-amz-checksum-crc32c", &expected.checksum_crc32c, &got.checksum_crc32c),
            ("x-amz-checksum-sha1", &expected.checksum_sha1, &got.checksum_sha1),
            ("x-amz-checksum-sha256", &expected.checksum_sha256, &got.checksum_sha256),
            (
                "x-amz-checksum-crc64nvme",
                &expected.checksum_crc64nvme,
                &got.checksum_crc64nvme,
            ),
        ];
        for (algorithm, want, computed) in pairs {
            if let Some(want) = want
                && computed.as_deref() != Some(want.as_str())
            {
                return Err(ApiError::BadDigest { algorithm });
            }
        }
        Ok(())
    }
}

/// S3's algorithm names, in the order of [`TRAILER_NAMES`].
const ALGORITHMS: [&str; 5] = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"];

/// The values of `checksum`, in the order of [`ALGORITHMS`].
fn checksum_slots(checksum: &Checksum) -> [&Option<String>; 5] {
    [
        &checksum.checksum_crc32,
        &checksum.checksum_crc32c,
        &checksum.checksum_sha1,
        &checksum.checksum_sha256,
        &checksum.checksum_crc64nvme,
    ]
}

/// Which checksum S3 would keep: the declared algorithm (`x-amz-sdk-checksum-algorithm`), else
/// the one whose header or trailer the request carries (computed here either way).
fn kept_checksum(
    expected: &Checksum,
    hasher: &ChecksumHasher,
    algorithm: Option<&ChecksumAlgorithm>,
) -> Option<ClientChecksum> {
    let computed = [
        hasher.crc32.is_some(),
        hasher.crc32c.is_some(),
        hasher.sha1.is_some(),
        hasher.sha256.is_some(),
        hasher.crc64nvme.is_some(),
    ];
    let declared = algorithm.and_then(|a| ALGORITHMS.iter().position(|n| n.eq_ignore_ascii_case(a.as_str())));
    let index = declared.or_else(|| computed.iter().position(|c| *c))?;
    Some(ClientChecksum {
        algorithm: ALGORITHMS[index],
        value: checksum_slots(expected)[index].clone(),
        verified: ChecksumSlot::default(),
    })
}

/// Where a checksum failure is left for the handler: the stream itself can only carry an
/// opaque error to the upstream bodies it aborts.
pub type ChecksumVerdict = crate::store::BodyVerdict;

/// The body stream, checked: on a mismatch it ends with an error instead of cleanly.
pub struct CheckedBody<S> {
    inner: S,
    checks: Option<ClientChecksums>,
    verdict: ChecksumVerdict,
}

impl<S> CheckedBody<S> {
    /// Wraps `inner`; a failure is also recorded in `verdict`.
    pub fn new(inner: S, checks: ClientChecksums, verdict: ChecksumVerdict) -> Self {
        Self {
            inner,
            checks: Some(checks),
            verdict,
        }
    }
}

/// The error a failed check puts into the stream.
#[derive(Debug, thiserror::Error)]
#[error("client checksum mismatch")]
struct ChecksumMismatch;

impl<S> Stream for CheckedBody<S>
where
    S: Stream<Item = Result<Bytes, StdError>> + Unpin,
{
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(checks) = &mut this.checks {
                    checks.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => match this.checks.take().map(ClientChecksums::verify) {
                Some(Err(e)) => {
                    if let Ok(mut slot) = this.verdict.lock() {
                        *slot = Some(e);
                    }
                    Poll::Ready(Some(Err(Box::new(ChecksumMismatch))))
                }
                _ => Poll::Ready(None),
            },
            other => other,
        }
    }
}

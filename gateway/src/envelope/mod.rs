//! The encryption envelope: how one object's bytes and attributes are stored upstream.
//!
//! An object gets a random data key (DEK), wrapped by the customer's current key-encryption key
//! and bound to the object's bucket and key ([`ObjectHeader`]). The body is cut into 64 KiB
//! segments, each sealed with AES-256-GCM ([`SealStream`], [`OpenStream`]); the client's
//! metadata is sealed beside it ([`ObjectAttributes`]). Sizes and ranges are pure arithmetic
//! ([`format`]), so listings and range reads need no decryption. This module knows nothing of
//! S3 or the network. The byte layout is specified in `docs/FORMAT.md`.
#![warn(missing_docs)]

mod attrs;
mod cipher;
pub mod customer;
pub mod format;
#[cfg(test)]
mod fuzz;
mod header;
mod open;
mod parts;
#[cfg(test)]
mod reference;
mod seal;
mod stored;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

pub use attrs::{ObjectAttributes, ObjectChecksum};
pub use header::{CustomerKey, DataKey, ObjectHeader, ObjectIdentity};
pub use open::{OpenStream, Opener, SegmentOpener, StreamLayout};
pub use parts::PartsOpener;
pub use seal::{SealStream, SegmentSealer, stream_id_for};
pub use stored::StoredSegment;

/// Why an object could not be sealed or opened. Each variant names the check that failed.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The header names a KEK that the keyring no longer holds.
    #[error("unknown key id {0:?}: the keyring does not hold the key that wrapped this object")]
    UnknownKeyId(String),
    /// The header bytes do not parse.
    #[error("object header corrupt ({0})")]
    HeaderCorrupt(&'static str),
    /// The header has a format version this build does not know.
    #[error("unsupported envelope format version {0}")]
    UnsupportedVersion(u8),
    /// The data key did not unwrap: wrong key, wrong object identity, or a modified header.
    #[error("data key failed authentication (wrong key, object moved to another name, or header modified)")]
    KeyUnwrapFailed,
    /// The object was written with an SSE-C key and none was given.
    #[error("the object is encrypted with a customer-provided key, and none was given")]
    CustomerKeyRequired,
    /// A customer key was given for an object written without one.
    #[error("the object is not encrypted with a customer-provided key")]
    CustomerKeyNotExpected,
    /// A segment failed authentication.
    #[error("segment {segment} fails authentication")]
    SegmentAuth {
        /// Index of the failing segment within its stream.
        segment: u64,
    },
    /// The stored stream ends before its final segment.
    #[error("stored object is truncated: segment {segment} is missing")]
    Truncated {
        /// Index of the first missing segment.
        segment: u64,
    },
    /// Bytes follow the final segment.
    #[error("stored object has data after its final segment")]
    TrailingData,
    /// A stored length that no plaintext length produces.
    #[error("stored length {0} is not a valid envelope length")]
    BadStoredLength(u64),
    /// The sealed attributes do not open.
    #[error("sealed object attributes fail authentication")]
    AttributesCorrupt,
    /// More plaintext or less than announced.
    #[error("body length {actual} does not match the declared {expected}")]
    LengthMismatch {
        /// Declared length.
        expected: u64,
        /// Bytes actually received.
        actual: u64,
    },
    /// A stream longer than 2^32 segments (256 TiB).
    #[error("stream has too many segments")]
    TooManySegments,
    /// The input stream failed (client disconnect, upstream error).
    #[error("input stream failed: {0}")]
    Input(Box<dyn std::error::Error + Send + Sync>),
    /// A cipher operation failed that cannot fail with valid lengths.
    #[error("internal envelope error: {0}")]
    Internal(&'static str),
}

impl EnvelopeError {
    /// Whether this error means stored bytes were corrupted or tampered with.
    pub fn is_integrity_failure(&self) -> bool {
        matches!(
            self,
            Self::HeaderCorrupt(_)
                | Self::KeyUnwrapFailed
                | Self::SegmentAuth { .. }
                | Self::Truncated { .. }
                | Self::TrailingData
                | Self::BadStoredLength(_)
                | Self::AttributesCorrupt
        )
    }
}

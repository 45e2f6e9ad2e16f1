//! Offline recovery: open one stored object with the keyring alone, no gateway, no network.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use bytes::BytesMut;

use crate::envelope::{
    EnvelopeError, ObjectAttributes, ObjectHeader, ObjectIdentity, Opener, PartsOpener, SegmentOpener, StreamLayout,
};
use crate::keyring::Keyring;
use crate::store::object::{LAYOUT_PARTS, META_ATTRS, META_HEADER, META_LAYOUT};

/// Why an offline decryption failed; the message names the failing check.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// Which file.
        what: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The metadata file is not usable.
    #[error("metadata: {0}")]
    Metadata(String),
    /// An envelope check failed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// Opens `path` for the recovered plaintext, readable and writable by the owner only (mode
/// 0600): created so, and an existing file is truncated and narrowed to 0600 before any
/// plaintext is written to it.
pub fn create_private(path: &Path) -> Result<std::fs::File, DecryptError> {
    let io = |source| DecryptError::Io {
        what: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(io)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(io)?;
    Ok(file)
}

/// Reads the upstream metadata: a head-object JSON (`{"Metadata": {...}}`) or a plain map;
/// names may carry the `x-amz-meta-` prefix.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>, DecryptError> {
    let text = std::fs::read_to_string(path).map_err(|source| DecryptError::Io {
        what: path.display().to_string(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| DecryptError::Metadata(format!("not JSON: {e}")))?;
    let map = value.get("Metadata").unwrap_or(&value);
    let object = map
        .as_object()
        .ok_or_else(|| DecryptError::Metadata("expected a JSON object".into()))?;
    Ok(object
        .iter()
        .filter_map(|(k, v)| {
            let name = k.to_ascii_lowercase();
            let name = name.strip_prefix("x-amz-meta-").unwrap_or(&name).to_owned();
            Some((name, v.as_str()?.to_owned()))
        })
        .collect())
}

/// Decrypts `stored` (exactly `stored_len` bytes of one stored object) to `out`, one segment
/// at a time, returning the object's attributes.
pub fn decrypt(
    keyring: &Keyring,
    identity: ObjectIdentity<'_>,
    metadata: &HashMap<String, String>,
    stored_len: u64,
    mut stored: impl Read,
    mut out: impl Write,
) -> Result<ObjectAttributes, DecryptError> {
    let header_value = metadata
        .get(META_HEADER)
        .ok_or_else(|| DecryptError::Metadata(format!("no {META_HEADER} entry")))?;
    let header = ObjectHeader::from_metadata_value(header_value)?;
    let dek = header.unwrap(keyring, identity, None)?;
    let attrs = match metadata.get(META_ATTRS) {
        Some(v) => ObjectAttributes::open(&dek, v)?,
        None => ObjectAttributes::default(),
    };
    let layout = StreamLayout::from_stored_len(0, stored_len)?;
    let mut opener: Box<dyn Opener> = if metadata.get(META_LAYOUT).is_some_and(|v| v == LAYOUT_PARTS) {
        Box::new(PartsOpener::new(&dek, layout))
    } else {
        Box::new(SegmentOpener::new(&dek, layout))
    };
    let io_in = |source| DecryptError::Io {
        what: "input".into(),
        source,
    };
    let io_out = |source| DecryptError::Io {
        what: "output".into(),
        source,
    };
    while let Some(len) = opener.next_stored_len() {
        let mut segment = BytesMut::zeroed(len);
        stored.read_exact(&mut segment).map_err(io_in)?;
        let plain = opener.open(segment)?;
        out.write_all(&plain).map_err(io_out)?;
    }
    let mut probe = [0u8; 1];
    if stored.read(&mut probe).map_err(io_in)? != 0 {
        return Err(EnvelopeError::TrailingData.into());
    }
    out.flush().map_err(io_out)?;
    Ok(attrs)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn out_files_are_created_owner_only_and_existing_ones_narrowed_and_truncated() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fresh = dir.path().join("fresh.bin");
        super::create_private(&fresh).expect("create");
        assert_eq!(mode(&fresh), 0o600);

        let existing = dir.path().join("existing.bin");
        std::fs::write(&existing, b"older, longer contents").expect("write");
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let file = super::create_private(&existing).expect("open existing");
        assert_eq!(mode(&existing), 0o600);
        assert_eq!(file.metadata().expect("stat").len(), 0, "not truncated");
    }
}

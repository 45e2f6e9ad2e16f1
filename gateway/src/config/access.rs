//! `[access]` (who owns buckets that have no recorded owner) and `[audit]` (the audit log),
//! validated.

use std::path::PathBuf;

use serde::{Serialize, Serializer};

use super::raw::{RawAccess, RawAudit};
use super::{Secret, UserConfig, secret};

/// Who may use a bucket with no recorded owner (created before ownership was recorded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnownedBuckets {
    /// Every user, as before ownership existed.
    Everyone,
    /// This user (by access key id), and admins.
    User(String),
}

impl Serialize for UnownedBuckets {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Everyone => serializer.serialize_str("everyone"),
            Self::User(id) => serializer.serialize_str(id),
        }
    }
}

/// `[access]`, validated.
#[derive(Clone, Debug, Serialize)]
pub struct AccessConfig {
    /// Who may use buckets without a recorded owner.
    pub unowned_buckets: UnownedBuckets,
}

/// How object keys appear in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyNames {
    /// As the client sent them.
    Plain,
    /// HMAC-SHA256 under `key_hash_secret`, in hex: equal keys give equal hashes, and
    /// nobody without the secret can test a guessed key.
    Hashed,
}

/// `[audit]`, validated.
#[derive(Clone, Debug, Serialize)]
pub struct AuditConfig {
    /// Lines are written.
    pub enabled: bool,
    /// File appended to; `None`: standard error.
    pub path: Option<PathBuf>,
    /// How object keys are written.
    pub key_names: KeyNames,
    /// Secret of the keyed hash (with `key_names = "hashed"`).
    pub key_hash_secret: Option<Secret>,
}

/// Shortest accepted hash secret: a short one could be guessed from hashed keys.
const MIN_HASH_SECRET_BYTES: usize = 16;

pub(super) fn validate_access(raw: RawAccess, users: &[UserConfig], problems: &mut Vec<String>) -> AccessConfig {
    let unowned_buckets = match raw.unowned_buckets.as_deref() {
        None | Some("everyone") => UnownedBuckets::Everyone,
        Some(id) if users.iter().any(|u| u.access_key_id == id) => UnownedBuckets::User(id.to_owned()),
        Some(other) => {
            problems.push(format!(
                "access.unowned_buckets: {other:?} is neither \"everyone\" nor the access_key_id of a [[users]] entry"
            ));
            UnownedBuckets::Everyone
        }
    };
    AccessConfig { unowned_buckets }
}

pub(super) fn validate_audit(raw: RawAudit, problems: &mut Vec<String>) -> AuditConfig {
    let key_names = match raw.key_names.as_deref() {
        None | Some("plain") => KeyNames::Plain,
        Some("hashed") => KeyNames::Hashed,
        Some(other) => {
            problems.push(format!("audit.key_names: {other:?} is not \"plain\" or \"hashed\""));
            KeyNames::Plain
        }
    };
    let given = raw.key_hash_secret.is_some() || raw.key_hash_secret_file.is_some();
    let key_hash_secret = given
        .then(|| {
            secret::resolve(
                "audit.key_hash_secret",
                raw.key_hash_secret.as_deref(),
                raw.key_hash_secret_file.as_deref(),
                problems,
            )
        })
        .flatten();
    match (&key_hash_secret, key_names) {
        (Some(s), _) if s.expose().len() < MIN_HASH_SECRET_BYTES => {
            problems.push(format!("audit.key_hash_secret: at least {MIN_HASH_SECRET_BYTES} bytes"))
        }
        (None, KeyNames::Hashed) if !given => {
            problems.push("audit.key_names = \"hashed\" needs audit.key_hash_secret (or key_hash_secret_file)".into())
        }
        _ => {}
    }
    AuditConfig {
        enabled: raw.enabled.unwrap_or(false),
        path: raw.path,
        key_names,
        key_hash_secret,
    }
}

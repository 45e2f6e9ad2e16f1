//! Secret values: read inline or from a file, and never printed.

use std::fmt;
use std::path::Path;

use serde::{Serialize, Serializer};

/// A secret string whose `Debug`, `Display` and serialization show a redaction.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// What every secret prints as.
pub const REDACTED: &str = "**REDACTED**";

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it (a signer, a cipher).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Resolves a secret given as `name = "value"` or `name_file = "path"` (exactly one of them).
/// Problems are pushed to `problems` so that every one is reported at once.
pub fn resolve(name: &str, value: Option<&str>, file: Option<&Path>, problems: &mut Vec<String>) -> Option<Secret> {
    match (value, file) {
        (Some(_), Some(_)) => {
            problems.push(format!("{name}: set either {name} or {name}_file, not both"));
            None
        }
        (Some(""), None) => {
            problems.push(format!("{name}: must not be empty"));
            None
        }
        (Some(v), None) => Some(Secret::new(v)),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => {
                problems.push(format!("{name}_file: {} is empty", path.display()));
                None
            }
            Ok(text) => Some(Secret::new(text.trim())),
            Err(e) => {
                problems.push(format!(
                    "{name}_file: cannot read {}: {e} (the file must exist on the host that runs twinvault)",
                    path.display()
                ));
                None
            }
        },
        (None, None) => {
            problems.push(format!("{name}: missing (set {name} or {name}_file)"));
            None
        }
    }
}

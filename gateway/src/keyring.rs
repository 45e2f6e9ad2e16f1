//! The customer's key-encryption keys (KEKs): which one wraps new data keys, which ones still unwrap.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::envelope::format::{KEY_LEN, MAX_KEY_ID_LEN};

/// One key-encryption key. Its bytes never leave this type except into a cipher.
#[derive(Clone)]
pub struct Kek {
    id: String,
    key: [u8; KEY_LEN],
}

impl Kek {
    /// A KEK with the given id; the id must be 1..=64 bytes (it is stored in every header).
    pub fn new(id: impl Into<String>, key: [u8; KEY_LEN]) -> Result<Self, KeyringError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_KEY_ID_LEN {
            return Err(KeyringError::BadKeyId(id));
        }
        Ok(Self { id, key })
    }

    /// The id recorded in headers wrapped by this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn key_bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("key", &"**REDACTED**")
            .finish()
    }
}

/// All KEKs the customer supplied, and the one used for new writes.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: Arc<Kek>,
    keys: BTreeMap<String, Arc<Kek>>,
}

/// Why a keyring could not be built or used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    /// A key id that is empty or too long to store.
    #[error("key id {0:?} must be 1 to 64 bytes")]
    BadKeyId(String),
    /// Two keys share an id.
    #[error("duplicate key id {0:?} in the keyring")]
    DuplicateKeyId(String),
    /// `current` names a key that is not in the keyring.
    #[error("current key id {0:?} is not in the keyring")]
    CurrentMissing(String),
}

impl Keyring {
    /// Builds a keyring from its keys; `current` must be one of them.
    pub fn new(current: &str, keys: Vec<Kek>) -> Result<Self, KeyringError> {
        let mut map = BTreeMap::new();
        for kek in keys {
            let id = kek.id.clone();
            if map.insert(id.clone(), Arc::new(kek)).is_some() {
                return Err(KeyringError::DuplicateKeyId(id));
            }
        }
        let current = map
            .get(current)
            .cloned()
            .ok_or_else(|| KeyringError::CurrentMissing(current.to_owned()))?;
        Ok(Self { current, keys: map })
    }

    /// The key that wraps new data keys.
    pub fn current(&self) -> &Kek {
        &self.current
    }

    /// The key with this id, if the keyring still holds it.
    pub fn get(&self, id: &str) -> Option<&Kek> {
        self.keys.get(id).map(Arc::as_ref)
    }

    /// Ids of every key, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// A fresh random 32-byte key, as `keygen` prints it.
pub fn generate_key() -> [u8; KEY_LEN] {
    rand::random()
}

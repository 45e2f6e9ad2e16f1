//! The customer's key-encryption keys (KEKs): which one wraps new data keys, which ones still unwrap.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

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

/// The keyring a serving gateway uses: fixed (the file keyring), or fetched from a key manager
/// and usable until `valid_until`, after which every operation needing a key fails until a
/// fetch succeeds again (`crate::kmip` refreshes it long before that while the key manager
/// answers).
#[derive(Clone, Debug)]
pub struct LiveKeyring(Arc<RwLock<Held>>);

#[derive(Debug)]
struct Held {
    ring: Arc<Keyring>,
    /// `None`: never expires (the file keyring).
    valid_until: Option<Instant>,
}

/// The keys fetched from the key manager have expired (and it has not answered since).
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the key manager has been unreachable for longer than the key cache lifetime; keys expired {expired_secs} s ago"
)]
pub struct KeysExpired {
    /// How long ago they expired.
    pub expired_secs: u64,
}

impl LiveKeyring {
    /// A keyring that never expires.
    pub fn fixed(ring: Keyring) -> Self {
        Self::held(ring, None)
    }

    /// Keys fetched from a key manager, usable for `ttl` from now.
    pub fn fetched(ring: Keyring, ttl: Duration) -> Self {
        Self::held(ring, Some(Instant::now() + ttl))
    }

    fn held(ring: Keyring, valid_until: Option<Instant>) -> Self {
        Self(Arc::new(RwLock::new(Held {
            ring: Arc::new(ring),
            valid_until,
        })))
    }

    /// The keyring, while it is valid.
    pub fn get(&self) -> Result<Arc<Keyring>, KeysExpired> {
        let held = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        match held.valid_until {
            Some(until) if Instant::now() >= until => Err(KeysExpired {
                expired_secs: until.elapsed().as_secs(),
            }),
            _ => Ok(Arc::clone(&held.ring)),
        }
    }

    /// How long the keys stay valid without another fetch (`None`: forever).
    pub fn remaining(&self) -> Option<Duration> {
        let held = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.valid_until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    /// Replaces the keys after a successful fetch, valid for `ttl` from now.
    pub fn refresh(&self, ring: Keyring, ttl: Duration) {
        let mut held = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.ring = Arc::new(ring);
        held.valid_until = Some(Instant::now() + ttl);
    }
}

/// A fresh random 32-byte key, as `keygen` prints it.
pub fn generate_key() -> [u8; KEY_LEN] {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(id: &str) -> Keyring {
        Keyring::new(id, vec![Kek::new(id, [1; KEY_LEN]).expect("id")]).expect("ring")
    }

    #[test]
    fn fetched_keys_expire_and_a_refresh_brings_them_back() {
        let live = LiveKeyring::fetched(ring("a"), Duration::ZERO);
        assert!(live.get().is_err(), "expired at once");
        assert_eq!(live.remaining(), Some(Duration::ZERO));
        live.refresh(ring("b"), Duration::from_secs(60));
        assert_eq!(live.get().expect("valid").current().id(), "b");
        assert!(live.remaining().is_some_and(|d| d > Duration::from_secs(50)));
        let fixed = LiveKeyring::fixed(ring("c"));
        assert_eq!(fixed.remaining(), None);
        assert_eq!(fixed.get().expect("never expires").current().id(), "c");
    }

    #[test]
    fn key_bytes_never_print() {
        let kek = Kek::new("k", [0x5A; KEY_LEN]).expect("id");
        let shown = format!("{:?} {:?}", kek, ring("k"));
        assert!(shown.contains("REDACTED") && !shown.contains("90"), "{shown}");
    }
}

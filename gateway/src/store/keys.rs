//! Which keys the gateway writes. S3 takes any UTF-8 key up to 1024 bytes, but the stores
//! behind it do not all keep every key as given: SeaweedFS stores a key ending in `/` as a
//! directory, dropping its body and metadata (the envelope with them), and folds `//` into
//! `/`, so two keys share one object and listings show a key no client wrote. Such keys are
//! refused before anything is written, whatever the store, instead of being acknowledged and
//! then lost.

use crate::error::{ApiError, ApiResult};

/// InvalidRequest for a key that some store behind the gateway would not keep as written.
pub(super) fn check_writable_key(key: &str) -> ApiResult<()> {
    if key.ends_with('/') {
        return Err(ApiError::InvalidRequest(
            "keys ending in \"/\" (folder markers) cannot be stored by twinvault".into(),
        ));
    }
    if key.contains("//") {
        return Err(ApiError::InvalidRequest(
            "keys containing \"//\" cannot be stored by twinvault".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_writable_key;

    #[test]
    fn keys_a_store_would_alter_are_refused() {
        for ok in ["a", "a/b", "/leading", " ", "a b+c%d?e#f&g", "日本/😀", "a/./b"] {
            assert!(check_writable_key(ok).is_ok(), "{ok:?} refused");
        }
        for bad in ["dir/", "/", "a//b", "//", "x/y//"] {
            assert!(check_writable_key(bad).is_err(), "{bad:?} accepted");
        }
    }
}

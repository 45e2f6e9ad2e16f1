//! Property tests ("fuzzing" on stable Rust) of the request parsers the gateway owns: upload
//! ids, copy-source ranges, SSE-C headers, client checksum headers and Host headers. Each must
//! answer any input with a value or an error, never a panic, and never accept a forgery.

use proptest::prelude::*;

use super::checksum::ClientChecksums;
use crate::keyring::{Kek, Keyring};
use crate::store::upload_id::UploadState;
use crate::store::{SseC, parse_copy_range};

fn ring() -> Keyring {
    Keyring::new("k1", vec![Kek::new("k1", [9u8; 32]).expect("kek")]).expect("keyring")
}

fn state() -> UploadState {
    UploadState {
        upstream_ids: ["upload-a".into(), "upload-b".into()],
        header: "header".into(),
        stamp: "0000000000000001.0000000000000002".into(),
        sse_c_check: None,
        created_unix_secs: None,
        checksum: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn upload_ids_of_garbage_never_open(text in ".{0,300}", tail in "[A-Za-z0-9_-]{0,300}") {
        let keyring = ring();
        prop_assert!(UploadState::open(&keyring, "b", "k", &text).is_err());
        let prefixed = format!("tv1.{tail}");
        prop_assert!(UploadState::open(&keyring, "b", "k", &prefixed).is_err());
    }

    #[test]
    fn a_changed_upload_id_never_opens(at in 0usize..400, with in "[A-Za-z0-9_-]") {
        let keyring = ring();
        let id = state().seal(&keyring, "b", "k").expect("seal");
        let at = 4 + at % (id.len() - 4);
        let mut changed = id.clone();
        changed.replace_range(at..at + 1, &with);
        prop_assume!(changed != id);
        prop_assert!(UploadState::open(&keyring, "b", "k", &changed).is_err());
        prop_assert!(UploadState::open(&keyring, "b", "k", &changed[..at]).is_err());
    }

    #[test]
    fn copy_ranges_parse_or_fail_cleanly(text in "(bytes=)?[0-9 ,-]{0,40}|.{0,40}") {
        if let Ok((first, last)) = parse_copy_range(&text) {
            prop_assert!(first <= last);
        }
    }

    #[test]
    fn sse_c_headers_parse_or_fail_cleanly(
        algorithm in proptest::option::of(".{0,12}"),
        key in proptest::option::of("[A-Za-z0-9+/=]{0,60}|.{0,60}"),
        md5 in proptest::option::of("[A-Za-z0-9+/=]{0,30}"),
    ) {
        if let Ok(Some(sse_c)) = SseC::from_headers(algorithm.as_deref(), key.as_deref(), md5.as_deref()) {
            prop_assert_eq!(algorithm.as_deref(), Some("AES256"));
            prop_assert!(!sse_c.check_value().is_empty());
        }
    }

    /// Only Content-MD5 is decoded up front: random text (never the 24 base64 characters of 16
    /// bytes, bar odds of nil) is refused as InvalidDigest, and without one the checks are set up.
    #[test]
    fn checksum_headers_parse_or_fail_cleanly(md5 in proptest::option::of(".{0,40}"), crc in proptest::option::of(".{0,20}"), sha in proptest::option::of(".{0,60}")) {
        let sent = s3s::dto::Checksum {
            checksum_crc32: crc.clone(),
            checksum_crc32c: crc,
            checksum_sha256: sha,
            ..Default::default()
        };
        let checks = ClientChecksums::new(md5.as_deref(), sent, None, None, None);
        match md5 {
            Some(_) => prop_assert!(matches!(checks, Err(crate::error::ApiError::InvalidDigest(_)))),
            None => prop_assert!(checks.is_ok()),
        }
    }

    #[test]
    fn host_headers_parse_or_fail_cleanly(host in ".{0,80}", domain in "[a-z0-9.-]{0,20}") {
        use s3s::host::S3Host;
        let parser = crate::vhost::DomainHost::new(&domain);
        let _ = parser.parse_host_header(&host);
        let under = format!("{host}.{domain}");
        let _ = parser.parse_host_header(&under);
    }
}

//! One audit line: the facts of one S3 request as a JSON object on one line. Only what names
//! the request and its outcome; never a secret, a signature, key material, metadata or a body.

use hmac::{KeyInit, Mac};
use serde::Serialize;

use crate::config::{KeyNames, Secret};

/// What is known of a request by the time its answer is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// `x-amz-request-id`.
    pub request_id: String,
    /// The access key id the request was signed with, once its signature checked out.
    pub access_key_id: Option<String>,
    /// S3 operation name (`PutObject`), once s3s routed the request.
    pub operation: Option<String>,
    /// Client bucket.
    pub bucket: Option<String>,
    /// Object key (as the client sent it; hashed on output if so configured).
    pub key: Option<String>,
    /// The request carried SSE-C headers (own or copy source).
    pub sse_c: bool,
}

/// How keys are written.
#[derive(Clone)]
pub enum KeyWriter {
    /// As sent.
    Plain,
    /// HMAC-SHA256 under the configured secret, hex.
    Hashed(hmac::Hmac<sha2::Sha256>),
}

impl std::fmt::Debug for KeyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain => "Plain",
            Self::Hashed(_) => "Hashed",
        })
    }
}

impl KeyWriter {
    /// The writer for `names`, keyed with `secret` (required by the config for hashed names;
    /// without one keys are left out rather than written plain).
    pub fn new(names: KeyNames, secret: Option<&Secret>) -> Option<Self> {
        match names {
            KeyNames::Plain => Some(Self::Plain),
            KeyNames::Hashed => {
                let mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(secret?.expose().as_bytes()).ok()?;
                Some(Self::Hashed(mac))
            }
        }
    }

    fn write(&self, key: &str) -> String {
        match self {
            Self::Plain => key.to_owned(),
            Self::Hashed(mac) => {
                let mut mac = mac.clone();
                mac.update(key.as_bytes());
                format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
            }
        }
    }
}

/// The line as written (field order is output order).
#[derive(Debug, Serialize)]
struct Line<'a> {
    time: String,
    request_id: &'a str,
    access_key_id: Option<&'a str>,
    operation: Option<&'a str>,
    bucket: Option<&'a str>,
    key: Option<String>,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    regions: &'a [&'a str],
    sse_c: bool,
}

/// The audit line of a request answered `status` at `time` (ms since the epoch), with its
/// body sizes (in, out) and the regions that answered its upstream calls, ending in a newline.
pub fn format(
    facts: &Facts,
    keys: Option<&KeyWriter>,
    status: u16,
    (bytes, regions): ((u64, u64), &[&str]),
    time_ms: u64,
) -> String {
    let line = Line {
        time: rfc3339_millis(time_ms),
        request_id: &facts.request_id,
        access_key_id: facts.access_key_id.as_deref(),
        operation: facts.operation.as_deref(),
        bucket: facts.bucket.as_deref(),
        key: facts.key.as_deref().and_then(|k| keys.map(|w| w.write(k))),
        status,
        bytes_in: bytes.0,
        bytes_out: bytes.1,
        regions,
        sse_c: facts.sse_c,
    };
    let mut text = serde_json::to_string(&line).unwrap_or_else(|_| String::from("{}"));
    text.push('\n');
    text
}

/// `2026-12-07T09:30:00.123Z`.
fn rfc3339_millis(ms: u64) -> String {
    let at = time::OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            request_id: "0123456789ABCDEF".into(),
            access_key_id: Some("TVUSER".into()),
            operation: Some("PutObject".into()),
            bucket: Some("photos".into()),
            key: Some("a/\"quoted\"\nkey".into()),
            sse_c: true,
        }
    }

    #[test]
    fn a_line_is_one_json_object_with_every_field() {
        let text = format(
            &facts(),
            Some(&KeyWriter::Plain),
            200,
            ((5, 0), &["a", "b"]),
            1_796_634_000_123,
        );
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1, "{text:?}");
        assert_eq!(
            text.trim_end(),
            r#"{"time":"2026-12-07T09:00:00.123Z","request_id":"0123456789ABCDEF","access_key_id":"TVUSER","operation":"PutObject","bucket":"photos","key":"a/\"quoted\"\nkey","status":200,"bytes_in":5,"bytes_out":0,"regions":["a","b"],"sse_c":true}"#
        );
    }

    #[test]
    fn unknown_facts_are_null_and_hashed_keys_depend_on_the_secret() {
        let empty = Facts {
            request_id: "R".into(),
            ..Facts::default()
        };
        let text = format(&empty, None, 403, ((0, 243), &[]), 0);
        assert!(text.starts_with(r#"{"time":"1970-01-01T00:00:00.000Z","request_id":"R","access_key_id":null,"operation":null,"bucket":null,"key":null,"status":403"#), "{text}");
        assert!(
            text.contains(r#""bytes_out":243,"regions":[],"sse_c":false}"#),
            "no region answered: {text}"
        );
        let secret = Secret::new("a-secret-of-sixteen+");
        let hashed = KeyWriter::new(KeyNames::Hashed, Some(&secret)).unwrap_or(KeyWriter::Plain);
        let other =
            KeyWriter::new(KeyNames::Hashed, Some(&Secret::new("another-secret-of-16"))).unwrap_or(KeyWriter::Plain);
        let line = format(&facts(), Some(&hashed), 200, ((0, 0), &["b"]), 0);
        assert!(
            !line.contains("quoted") && line.contains("\"key\":\"hmac-sha256:"),
            "{line}"
        );
        assert_eq!(hashed.write("k"), hashed.write("k"), "equal keys, equal hashes");
        assert_ne!(hashed.write("k"), other.write("k"), "the hash depends on the secret");
        assert_ne!(hashed.write("k"), hashed.write("k2"));
        assert!(
            KeyWriter::new(KeyNames::Hashed, None).is_none(),
            "no secret, no hashed keys"
        );
    }
}

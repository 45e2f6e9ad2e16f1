//! Virtual-host-style addressing: `bucket.<server.domain>[:port]` names the bucket; any other
//! host (an IP, `localhost`, the bare domain) is path style.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// Parses Host headers against one configured base domain.
#[derive(Debug)]
pub struct DomainHost {
    domain: String,
}

impl DomainHost {
    /// Virtual hosts under `domain` (e.g. `s3.example.com`).
    pub fn new(domain: &str) -> Self {
        Self {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        }
    }
}

impl S3Host for DomainHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = strip_port(host);
        let bucket = name
            .len()
            .checked_sub(self.domain.len() + 1)
            // `get`, not indexing: a non-ASCII host must not split a character (found by fuzzing).
            .filter(|&cut| {
                name.get(cut + 1..)
                    .is_some_and(|d| d.eq_ignore_ascii_case(&self.domain))
                    && name.as_bytes().get(cut) == Some(&b'.')
            })
            .and_then(|cut| name.get(..cut));
        Ok(match bucket {
            Some(bucket) if !bucket.is_empty() => VirtualHost::new(self.domain.as_str()).with_bucket(bucket),
            _ => VirtualHost::new(self.domain.as_str()),
        })
    }
}

/// `host:port` → `host`, leaving IPv6 literals (`[::1]:9000` → `[::1]`) intact.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_of(host: &str) -> Option<String> {
        let domain = DomainHost::new("s3.example.com");
        let parsed = domain.parse_host_header(host).expect("parses");
        parsed.bucket().map(str::to_owned)
    }

    // Regression (found by `api::fuzz`): a multi-byte character where the domain would start.
    #[test]
    fn a_non_ascii_host_is_path_style_not_a_panic() {
        // The domain would start inside the "é": the old `name[cut + 1..]` panicked here.
        assert_eq!(bucket_of("a\u{e9}3.example.com"), None);
        assert_eq!(bucket_of("b\u{e9}.s3.example.com").as_deref(), Some("b\u{e9}"));
        assert_eq!(bucket_of("\u{1f600}"), None);
    }

    #[test]
    fn only_subdomains_of_the_configured_domain_name_a_bucket() {
        assert_eq!(bucket_of("photos.s3.example.com:9000").as_deref(), Some("photos"));
        assert_eq!(
            bucket_of("my.dotted.bucket.s3.example.com").as_deref(),
            Some("my.dotted.bucket")
        );
        assert_eq!(bucket_of("s3.example.com:9000"), None);
        assert_eq!(bucket_of("127.0.0.1:9000"), None);
        assert_eq!(bucket_of("[::1]:9000"), None);
        assert_eq!(bucket_of("localhost"), None);
        assert_eq!(bucket_of("evil-s3.example.com"), None);
    }
}

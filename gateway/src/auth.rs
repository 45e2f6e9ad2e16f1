//! SigV4 identities: the configured users' secrets, looked up by access key id.

use std::collections::HashMap;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{CopyObjectInput, CopySource, UploadPartCopyInput};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result};

use crate::error::ApiError;

use crate::config::UserConfig;

/// The configured users. Unknown access keys get `InvalidAccessKeyId`, as from AWS.
pub struct UserAuth {
    secrets: HashMap<String, SecretKey>,
}

impl UserAuth {
    /// Identities for `users`.
    pub fn new(users: &[UserConfig]) -> Self {
        let secrets = users
            .iter()
            .map(|u| (u.access_key_id.clone(), SecretKey::from(u.secret_access_key.expose())))
            .collect();
        Self { secrets }
    }
}

#[async_trait::async_trait]
impl S3Auth for UserAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.secrets.get(access_key) {
            Some(secret) => Ok(secret.clone()),
            None => Err(ApiError::InvalidAccessKeyId.into()),
        }
    }
}

/// Access control: signed requests only; never the buckets the gateway reserves for itself (the
/// repair journal); and, for users with a `buckets` list, only the buckets it names (as a
/// request's bucket or as a copy source).
#[derive(Clone, Debug)]
pub struct AccessPolicy {
    reserved: String,
    /// Access key id → bucket patterns, for users restricted to some buckets.
    restricted: HashMap<String, Vec<String>>,
}

impl AccessPolicy {
    /// The policy for `config`'s users and journal bucket.
    pub fn new(config: &crate::config::Config) -> Self {
        let restricted = config
            .users
            .iter()
            .filter_map(|u| Some((u.access_key_id.clone(), u.buckets.clone()?)))
            .collect();
        Self {
            reserved: config.replication.journal_bucket.clone(),
            restricted,
        }
    }

    /// Whether `access_key` may use `bucket`.
    pub fn allows(&self, access_key: Option<&str>, bucket: &str) -> bool {
        if bucket == self.reserved {
            return false;
        }
        match access_key.and_then(|k| self.restricted.get(k)) {
            Some(patterns) => patterns.iter().any(|p| glob_match(p, bucket)),
            None => true,
        }
    }

    fn check(&self, access_key: Option<&str>, bucket: &str) -> S3Result<()> {
        if bucket == self.reserved {
            return Err(ApiError::ReservedBucket(bucket.to_owned()).into());
        }
        if !self.allows(access_key, bucket) {
            return Err(
                ApiError::AccessDenied(format!("access to bucket {bucket:?} is not allowed for this user")).into(),
            );
        }
        Ok(())
    }
}

impl AccessPolicy {
    /// The source of CopyObject and UploadPartCopy is read with the caller's rights too.
    fn check_copy_source(&self, credentials: Option<&s3s::auth::Credentials>, source: &CopySource) -> S3Result<()> {
        match source {
            CopySource::Bucket { bucket, .. } => {
                AccessPolicy::check(self, credentials.map(|c| c.access_key.as_str()), bucket)
            }
            _ => Ok(()),
        }
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty(); // no '*': exact match
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[async_trait::async_trait]
impl S3Access for AccessPolicy {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(ApiError::AccessDenied("Signature is required".into()).into());
        };
        let access_key = credentials.access_key.clone();
        match cx.s3_path() {
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => {
                AccessPolicy::check(self, Some(&access_key), bucket)
            }
            S3Path::Root => Ok(()),
        }
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        self.check_copy_source(req.credentials.as_ref(), &req.input.copy_source)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.check_copy_source(req.credentials.as_ref(), &req.input.copy_source)
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn bucket_patterns() {
        for (pattern, name, expected) in [
            ("photos", "photos", true),
            ("photos", "photos2", false),
            ("logs-*", "logs-2026", true),
            ("logs-*", "logs-", true),
            ("logs-*", "log", false),
            ("*-eu", "data-eu", true),
            ("*-eu", "data-us", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxcyyb", false),
            ("*", "anything", true),
            ("ab*ba", "aba", false),
        ] {
            assert_eq!(glob_match(pattern, name), expected, "{pattern} ~ {name}");
        }
    }
}

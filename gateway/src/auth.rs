//! SigV4 identities: the configured users' secrets, looked up by access key id.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{CopyObjectInput, CopySource, UploadPartCopyInput};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result};

use crate::audit::AuditSlot;
use crate::error::ApiError;

use crate::config::{UnownedBuckets, UserConfig};
use crate::ownership::{BucketOwner, Caller, CreateVerdict, Owners, policy};

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

/// Access control, the one place that decides who may use which bucket: signed requests
/// only; never the buckets the gateway reserves for itself (the repair journal); for users
/// with a `buckets` list, only the buckets it names; and only the caller's own buckets
/// ([`crate::ownership`]; admins may use all, `access.unowned_buckets` says who may use
/// buckets without a recorded owner). A copy's source is checked like its target.
#[derive(Clone, Debug)]
pub struct AccessPolicy {
    reserved: String,
    /// Access key id → bucket patterns, for users restricted to some buckets.
    restricted: HashMap<String, Vec<String>>,
    /// Access key ids of the admins.
    admins: HashSet<String>,
    unowned: UnownedBuckets,
    owners: Arc<Owners>,
}

/// CreateBucket's verdict, passed from the access check to the handler in the request's
/// extensions: [`CreateVerdict::New`] means the handler records the caller as the owner.
#[derive(Clone, Copy, Debug)]
pub struct CreateDecision(pub CreateVerdict);

impl AccessPolicy {
    /// The policy for `config`'s users and journal bucket, with ownership from `owners`.
    pub fn new(config: &crate::config::Config, owners: Arc<Owners>) -> Self {
        let restricted = config
            .users
            .iter()
            .filter_map(|u| Some((u.access_key_id.clone(), u.buckets.clone()?)))
            .collect();
        let admins = config
            .users
            .iter()
            .filter(|u| u.admin)
            .map(|u| u.access_key_id.clone())
            .collect();
        Self {
            reserved: config.replication.journal_bucket.clone(),
            restricted,
            admins,
            unowned: config.access.unowned_buckets.clone(),
            owners,
        }
    }

    /// The ownership records this policy reads.
    pub fn owners(&self) -> &Arc<Owners> {
        &self.owners
    }

    /// Whether `access_key`'s `buckets` list (if any) names `bucket`, which is not reserved.
    fn within_list(&self, access_key: &str, bucket: &str) -> bool {
        if bucket == self.reserved {
            return false;
        }
        match self.restricted.get(access_key) {
            Some(patterns) => patterns.iter().any(|p| glob_match(p, bucket)),
            None => true,
        }
    }

    fn caller<'a>(&self, access_key: &'a str) -> Caller<'a> {
        Caller {
            access_key,
            admin: self.admins.contains(access_key),
        }
    }

    /// Which of `buckets` `access_key` may see in ListBuckets (`owners`: every recorded owner).
    pub fn visible(&self, access_key: &str, bucket: &str, owners: &HashMap<String, String>) -> bool {
        let owner = match owners.get(bucket) {
            Some(owner) => BucketOwner::Owner(owner.clone()),
            None => BucketOwner::Unowned,
        };
        self.within_list(access_key, bucket) && policy::may_use(self.caller(access_key), &owner, &self.unowned)
    }

    /// Refuses `bucket` to `access_key` unless it may use it (CreateBucket: see [`Self::check_create`]).
    async fn check(&self, access_key: &str, bucket: &str) -> S3Result<()> {
        self.check_listed(access_key, bucket)?;
        let owner = self.owners.lookup(bucket).await.map_err(ApiError::from)?;
        if !policy::may_use(self.caller(access_key), &owner, &self.unowned) {
            return Err(ApiError::AccessDenied("Access Denied".into()).into());
        }
        Ok(())
    }

    fn check_listed(&self, access_key: &str, bucket: &str) -> S3Result<()> {
        if bucket == self.reserved {
            return Err(ApiError::ReservedBucket(bucket.to_owned()).into());
        }
        if !self.within_list(access_key, bucket) {
            return Err(
                ApiError::AccessDenied(format!("access to bucket {bucket:?} is not allowed for this user")).into(),
            );
        }
        Ok(())
    }

    /// CreateBucket: another user's bucket is 409 BucketAlreadyExists, as on S3.
    async fn check_create(&self, access_key: &str, bucket: &str) -> S3Result<CreateVerdict> {
        self.check_listed(access_key, bucket)?;
        let owner = self.owners.lookup(bucket).await.map_err(ApiError::from)?;
        let exists = match &owner {
            BucketOwner::Owner(o) if o != access_key => self.owners.exists(bucket).await.map_err(ApiError::from)?,
            _ => true,
        };
        match policy::create(self.caller(access_key), &owner, exists, &self.unowned) {
            CreateVerdict::Taken => Err(ApiError::BucketAlreadyExists.into()),
            verdict => Ok(verdict),
        }
    }

    /// The source of CopyObject and UploadPartCopy is read with the caller's rights too.
    async fn check_copy_source(
        &self,
        credentials: Option<&s3s::auth::Credentials>,
        source: &CopySource,
    ) -> S3Result<()> {
        let Some(credentials) = credentials else {
            return Err(ApiError::AccessDenied("Signature is required".into()).into());
        };
        match source {
            CopySource::Bucket { bucket, .. } => AccessPolicy::check(self, &credentials.access_key, bucket).await,
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
        let (bucket, key) = match cx.s3_path() {
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
            S3Path::Root => (None, None),
        };
        let operation = cx.s3_op().name().to_owned();
        if let Some(slot) = cx.extensions_mut().get::<AuditSlot>() {
            slot.note(&access_key, &operation, bucket.as_deref(), key.as_deref());
        }
        let Some(bucket) = bucket else {
            return Ok(()); // ListBuckets: filtered by the handler (`visible`)
        };
        if operation == "CreateBucket" {
            let verdict = self.check_create(&access_key, &bucket).await?;
            cx.extensions_mut().insert(CreateDecision(verdict));
            return Ok(());
        }
        AccessPolicy::check(self, &access_key, &bucket).await
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        self.check_copy_source(req.credentials.as_ref(), &req.input.copy_source)
            .await
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.check_copy_source(req.credentials.as_ref(), &req.input.copy_source)
            .await
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

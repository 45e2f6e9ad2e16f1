//! SigV4 identities: the configured users' secrets, looked up by access key id.

use std::collections::HashMap;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{CopyObjectInput, CopySource};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

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
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "the access key id you provided does not exist in our records"
            )),
        }
    }
}

/// Access control: signed requests only, and never to the buckets the gateway reserves for
/// itself (the repair journal), as a request's bucket or as a copy source.
pub struct ReservedBuckets {
    reserved: String,
}

impl ReservedBuckets {
    /// Reserves `journal_bucket`.
    pub fn new(journal_bucket: &str) -> Self {
        Self {
            reserved: journal_bucket.to_owned(),
        }
    }

    fn refuse(&self, bucket: &str) -> S3Result<()> {
        if bucket == self.reserved {
            return Err(s3_error!(
                AccessDenied,
                "the bucket name {bucket:?} is reserved by twinvault"
            ));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl S3Access for ReservedBuckets {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        }
        match cx.s3_path() {
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => self.refuse(bucket),
            S3Path::Root => Ok(()),
        }
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        match &req.input.copy_source {
            CopySource::Bucket { bucket, .. } => self.refuse(bucket),
            _ => Ok(()),
        }
    }
}

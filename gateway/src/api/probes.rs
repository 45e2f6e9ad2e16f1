//! The read-only configuration probes tools send before they work (aws-cli, s3cmd `info`,
//! Cyberduck-style browsers, the SDKs' helpers). twinvault keeps no per-bucket configuration,
//! so each answers what S3 answers for a bucket that has none, after checking that the bucket
//! (or object) exists; what it does keep is stated truthfully (every object is encrypted).

use s3s::dto::{
    GetBucketAclOutput, GetBucketEncryptionOutput, GetObjectAclOutput, Grant, Grantee, Owner, Permission,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Type,
};

use super::Gateway;
use crate::error::{ApiError, ApiResult};

/// The owner twinvault names in its answers (ListBuckets, ACLs, listings with FetchOwner).
pub(super) fn owner() -> Owner {
    Owner {
        display_name: Some("twinvault".into()),
        id: Some("twinvault".into()),
    }
}

/// The owner with FULL_CONTROL: S3's default ACL, and the only one twinvault stores.
fn owner_full_control() -> Vec<Grant> {
    let owner = owner();
    vec![Grant {
        grantee: Some(Grantee {
            display_name: owner.display_name,
            id: owner.id,
            type_: Type::from_static(Type::CANONICAL_USER),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }]
}

pub async fn get_bucket_acl(gw: &Gateway, bucket: &str) -> ApiResult<GetBucketAclOutput> {
    gw.store.head_bucket(bucket).await?;
    Ok(GetBucketAclOutput {
        grants: Some(owner_full_control()),
        owner: Some(owner()),
    })
}

pub async fn get_object_acl(gw: &Gateway, bucket: &str, key: &str) -> ApiResult<GetObjectAclOutput> {
    gw.store.object_exists(bucket, key).await?;
    Ok(GetObjectAclOutput {
        grants: Some(owner_full_control()),
        owner: Some(owner()),
        ..Default::default()
    })
}

pub async fn get_bucket_encryption(gw: &Gateway, bucket: &str) -> ApiResult<GetBucketEncryptionOutput> {
    gw.store.head_bucket(bucket).await?;
    let rule = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
            sse_algorithm: ServerSideEncryption::from_static(ServerSideEncryption::AES256),
            kms_master_key_id: None,
        }),
        bucket_key_enabled: None,
    };
    Ok(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
    })
}

/// For a configuration twinvault never holds: S3's "there is none" error (`code`, 404) once
/// the bucket is known to exist.
pub async fn no_configuration<T>(gw: &Gateway, bucket: &str, code: &'static str) -> ApiResult<T> {
    gw.store.head_bucket(bucket).await?;
    Err(ApiError::NoSuchConfiguration(code))
}

/// For a configuration whose absence S3 answers with an empty document (versioning never
/// enabled, logging, notifications, accelerate): the default output once the bucket is known
/// to exist.
pub async fn empty_configuration<T: Default>(gw: &Gateway, bucket: &str) -> ApiResult<T> {
    gw.store.head_bucket(bucket).await?;
    Ok(T::default())
}

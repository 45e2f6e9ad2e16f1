//! Bucket operations at the front door.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s3s::S3Request;
use s3s::dto::{
    Bucket, CreateBucketInput, CreateBucketOutput, DeleteBucketInput, DeleteBucketOutput, GetBucketLocationInput,
    GetBucketLocationOutput, HeadBucketInput, HeadBucketOutput, ListBucketsInput, ListBucketsOutput,
};

use super::Gateway;
use super::dto;
use crate::auth::CreateDecision;
use crate::error::{ApiError, ApiResult};
use crate::ownership::CreateVerdict;
use crate::upstream::UpstreamErrorKind;

/// Creates a bucket; a new one is owned by the caller, recorded in both regions before the
/// bucket exists (so it never exists unowned). Re-creating one's own bucket answers as S3 does:
/// 200 in us-east-1, 409 BucketAlreadyOwnedByYou elsewhere. Another user's name never gets
/// here: the access check answers 409 BucketAlreadyExists (`auth.rs`).
pub async fn create_bucket(gw: &Gateway, req: S3Request<CreateBucketInput>) -> ApiResult<CreateBucketOutput> {
    let bucket = &req.input.bucket;
    check_bucket_name(bucket)?;
    let new = matches!(
        req.extensions.get::<CreateDecision>(),
        Some(CreateDecision(CreateVerdict::New))
    );
    if new && let Some(credentials) = &req.credentials {
        gw.access.owners().record(bucket, &credentials.access_key).await?;
    }
    match gw.store.create_bucket(bucket).await {
        Err(ApiError::Upstream(e))
            if e.kind == UpstreamErrorKind::BucketAlreadyOwnedByYou && gw.region_name == "us-east-1" => {}
        other => other?,
    }
    Ok(CreateBucketOutput {
        location: Some(format!("/{bucket}")),
    })
}

pub async fn delete_bucket(gw: &Gateway, req: S3Request<DeleteBucketInput>) -> ApiResult<DeleteBucketOutput> {
    gw.store.delete_bucket(&req.input.bucket).await?;
    gw.access.owners().remove(&req.input.bucket).await;
    Ok(DeleteBucketOutput::default())
}

pub async fn head_bucket(gw: &Gateway, req: S3Request<HeadBucketInput>) -> ApiResult<HeadBucketOutput> {
    gw.store.head_bucket(&req.input.bucket).await?;
    Ok(HeadBucketOutput::default())
}

/// S3's largest and default page of ListBuckets.
const MAX_BUCKETS: i32 = 10_000;

pub async fn list_buckets(gw: &Gateway, req: S3Request<ListBucketsInput>) -> ApiResult<ListBucketsOutput> {
    let input = &req.input;
    let max = match input.max_buckets {
        None => MAX_BUCKETS,
        Some(n) if (1..=MAX_BUCKETS).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::InvalidArgument(format!(
                "max-buckets must be 1 to {MAX_BUCKETS}, got {n}"
            )));
        }
    };
    let after = input.continuation_token.as_deref().map(page_start).transpose()?;
    let prefix = input.prefix.as_deref().unwrap_or_default();
    let mut names = gw.store.list_buckets().await?;
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let access_key = req.credentials.as_ref().map_or("", |c| c.access_key.as_str());
    let owners = gw.access.owners().all().await?;
    let mut page: Vec<Bucket> = names
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix) && after.as_ref().is_none_or(|after| name > after))
        // Hides the journal bucket and every bucket the caller may not use (another user's, or
        // one outside its `buckets` list).
        .filter(|(name, _)| gw.access.visible(access_key, name, &owners))
        .take(max as usize + 1)
        .map(|(name, created)| Bucket {
            name: Some(name),
            creation_date: created.map(dto::timestamp),
            ..Default::default()
        })
        .collect();
    let next = if page.len() > max as usize {
        page.truncate(max as usize);
        page.last().and_then(|b| b.name.as_deref()).map(page_token)
    } else {
        None
    };
    Ok(ListBucketsOutput {
        buckets: Some(page),
        continuation_token: next,
        owner: Some(super::probes::owner()),
        prefix: input.prefix.clone(),
    })
}

/// The continuation token after the bucket `last`: its name, so the next page starts after it.
fn page_token(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(last)
}

/// The bucket name a continuation token resumes after.
fn page_start(token: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ApiError::InvalidArgument("the continuation token is not valid".into()))
}

pub async fn get_bucket_location(
    gw: &Gateway,
    req: S3Request<GetBucketLocationInput>,
) -> ApiResult<GetBucketLocationOutput> {
    gw.store.head_bucket(&req.input.bucket).await?;
    let location = (gw.region_name != "us-east-1").then(|| gw.region_name.clone().into());
    Ok(GetBucketLocationOutput {
        location_constraint: location,
    })
}

/// S3's rules for a new bucket's name (general purpose buckets), whatever the store behind
/// would accept: a name that works here works on S3 too.
fn check_bucket_name(name: &str) -> ApiResult<()> {
    const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    let invalid = |why| Err(ApiError::InvalidBucketName(why));
    if !(3..=63).contains(&name.len()) {
        return invalid("a bucket name has 3 to 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return invalid("a bucket name has only lowercase letters, digits, dots and hyphens");
    }
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !alnum(name.as_bytes().first()) || !alnum(name.as_bytes().last()) {
        return invalid("a bucket name begins and ends with a letter or a digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return invalid("a bucket name has no two adjacent dots and no dot next to a hyphen");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return invalid("a bucket name is not formatted as an IP address");
    }
    if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) || RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return invalid("a bucket name does not use a prefix or suffix S3 reserves");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_bucket_name, page_start, page_token};

    #[test]
    fn list_buckets_tokens_resume_after_their_bucket_and_refuse_garbage() {
        assert_eq!(
            page_start(&page_token("my-bucket.v2")).ok().as_deref(),
            Some("my-bucket.v2")
        );
        assert!(page_start("not a token!").is_err());
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["abc", "my-bucket.v2", "0day", &"a".repeat(63), "1.2.3.b"] {
            assert!(check_bucket_name(good).is_ok(), "{good} refused");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Upper",
            "under_score",
            "a..b",
            "a.-b",
            "a-.b",
            "-lead",
            "trail-",
            ".dot",
            "192.168.5.4",
            "xn--abc",
            "name-s3alias",
            "name--ol-s3",
            "sthree-x",
            "with space",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad} accepted");
        }
    }
}

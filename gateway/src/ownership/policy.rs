//! Who may use a bucket: the decision table, apart from where its facts come from (tested on
//! its own, see the tests below).

use crate::config::UnownedBuckets;

/// What is known of a bucket's owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BucketOwner {
    /// Recorded: this access key id owns it.
    Owner(String),
    /// The bucket exists with no recorded owner (created before ownership was recorded).
    Unowned,
    /// No record and no bucket: requests on it answer NoSuchBucket, as S3's do.
    Missing,
}

/// The signed caller.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// Access key id.
    pub access_key: &'a str,
    /// `[[users]] admin = true`.
    pub admin: bool,
}

/// Whether `caller` may use a bucket (read, write, list, copy from or to, probe) owned as
/// `owner` is. A missing bucket is allowed: the operation then answers NoSuchBucket, which
/// tells no more than S3 does.
pub fn may_use(caller: Caller<'_>, owner: &BucketOwner, unowned: &UnownedBuckets) -> bool {
    match owner {
        _ if caller.admin => true,
        BucketOwner::Owner(owner) => owner == caller.access_key,
        BucketOwner::Unowned => may_use_unowned(caller, unowned),
        BucketOwner::Missing => true,
    }
}

/// Whether `caller` may use a bucket that exists with no recorded owner.
fn may_use_unowned(caller: Caller<'_>, unowned: &UnownedBuckets) -> bool {
    match unowned {
        UnownedBuckets::Everyone => true,
        UnownedBuckets::User(user) => caller.admin || user == caller.access_key,
    }
}

/// What CreateBucket does for `caller`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateVerdict {
    /// A new bucket: record `caller` as its owner, then create it.
    New,
    /// The caller's own bucket (or an unowned one it may use): answered as S3 answers a
    /// re-creation, nothing recorded.
    Existing,
    /// Another user's: 409 BucketAlreadyExists.
    Taken,
}

/// CreateBucket's decision. `exists`: the bucket exists in a region (asked only when a record
/// names another owner: a record whose bucket is gone is stale and the name free again).
pub fn create(caller: Caller<'_>, owner: &BucketOwner, exists: bool, unowned: &UnownedBuckets) -> CreateVerdict {
    match owner {
        BucketOwner::Missing => CreateVerdict::New,
        BucketOwner::Owner(owner) if owner == caller.access_key => CreateVerdict::Existing,
        BucketOwner::Owner(_) if !exists => CreateVerdict::New,
        BucketOwner::Owner(_) => CreateVerdict::Taken,
        BucketOwner::Unowned if may_use_unowned(caller, unowned) => CreateVerdict::Existing,
        BucketOwner::Unowned => CreateVerdict::Taken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Caller<'static> = Caller {
        access_key: "alice",
        admin: false,
    };
    const BOB: Caller<'static> = Caller {
        access_key: "bob",
        admin: false,
    };
    const ROOT: Caller<'static> = Caller {
        access_key: "root",
        admin: true,
    };

    fn owned_by(id: &str) -> BucketOwner {
        BucketOwner::Owner(id.to_owned())
    }

    #[test]
    fn who_may_use_a_bucket() {
        let everyone = UnownedBuckets::Everyone;
        let alice_only = UnownedBuckets::User("alice".into());
        for (caller, owner, unowned, expected) in [
            (ALICE, owned_by("alice"), &everyone, true),
            (BOB, owned_by("alice"), &everyone, false),
            (BOB, owned_by("alice"), &alice_only, false),
            (ROOT, owned_by("alice"), &everyone, true),
            (ALICE, BucketOwner::Unowned, &everyone, true),
            (BOB, BucketOwner::Unowned, &everyone, true),
            (ALICE, BucketOwner::Unowned, &alice_only, true),
            (BOB, BucketOwner::Unowned, &alice_only, false),
            (ROOT, BucketOwner::Unowned, &alice_only, true),
            (BOB, BucketOwner::Missing, &alice_only, true),
        ] {
            assert_eq!(
                may_use(caller, &owner, unowned),
                expected,
                "{caller:?} on {owner:?} with unowned buckets {unowned:?}"
            );
        }
    }

    #[test]
    fn what_create_bucket_does() {
        use CreateVerdict::*;
        let everyone = UnownedBuckets::Everyone;
        let alice_only = UnownedBuckets::User("alice".into());
        for (caller, owner, exists, unowned, expected) in [
            (ALICE, BucketOwner::Missing, false, &everyone, New),
            (ALICE, owned_by("alice"), true, &everyone, Existing),
            (ALICE, owned_by("alice"), false, &everyone, Existing),
            (BOB, owned_by("alice"), true, &everyone, Taken),
            (BOB, owned_by("alice"), false, &everyone, New),
            (ROOT, owned_by("alice"), true, &everyone, Taken),
            (BOB, BucketOwner::Unowned, true, &everyone, Existing),
            (BOB, BucketOwner::Unowned, true, &alice_only, Taken),
            (ALICE, BucketOwner::Unowned, true, &alice_only, Existing),
            (ROOT, BucketOwner::Unowned, true, &alice_only, Existing),
        ] {
            assert_eq!(
                create(caller, &owner, exists, unowned),
                expected,
                "{caller:?} creating over {owner:?} (exists: {exists}) with unowned buckets {unowned:?}"
            );
        }
    }
}

//! Every key name inside the reserved bucket, in one place (the table in the module docs).
//! Changing one is a format change: records written by older gateways must still be found.

use sha2::{Digest, Sha256};

/// Prefix of the records of changes that regions missed.
pub const MISSED: &str = "missed/";
/// Prefix of multipart upload records.
pub const UPLOADS: &str = "uploads/";
/// Prefix of staged parts.
pub const STAGING: &str = "staging/";
/// Prefix of conditional writes' bodies staged in the region that does not decide them.
pub const STAGING_PUTS: &str = "staging/put/";
/// Prefix of the records naming uploaded parts' checksums.
pub const CHECKSUM_PARTS: &str = "checksum-parts/";
/// Prefix of completed multipart objects' checksum records.
pub const CHECKSUMS: &str = "checksums/";
/// The journal-replay lease.
pub const LEASE_REPLAY: &str = "lease/replay";
/// Prefix of bucket ownership records.
pub const OWNERS: &str = "owners/";

/// Bytes of a client key spelled out (in hex) in an upload record's name. Longer keys are cut
/// there and end in `~` + the SHA-256 of the whole key, so a name stays under S3's 1024-byte
/// key limit; such keys sort by hash among those sharing their first 400 bytes.
pub const SPELLED_KEY_BYTES: usize = 400;

/// `missed/<region>/`: the records of changes `region` missed.
pub fn missed_prefix(region: &str) -> String {
    format!("{MISSED}{region}/")
}

/// `missed/<region>/<stamp>`: one change `region` missed. Stamps sort in time order, so a
/// listing yields the oldest first.
pub fn missed_record(region: &str, stamp: &str) -> String {
    format!("{}{stamp}", missed_prefix(region))
}

/// `uploads/<bucket>/`: where one bucket's upload records are kept.
pub fn uploads_prefix(bucket: &str) -> String {
    format!("{UPLOADS}{bucket}/")
}

/// A client key as it appears in upload record names: its bytes in hex, which sorts like the
/// key itself (byte order) and is safe in any store's key syntax.
pub fn upload_key_name(key: &str) -> String {
    let bytes = key.as_bytes();
    if bytes.len() <= SPELLED_KEY_BYTES {
        hex::encode(bytes)
    } else {
        format!(
            "{}~{}",
            hex::encode(&bytes[..SPELLED_KEY_BYTES]),
            hex::encode(Sha256::digest(bytes))
        )
    }
}

/// `uploads/<bucket>/<key name>/<stamp>`: uploads of one key in the order they were created.
pub fn upload_record(bucket: &str, key: &str, stamp: &str) -> String {
    format!("{}{}/{stamp}", uploads_prefix(bucket), upload_key_name(key))
}

/// `staging/<tag>/`: one upload's staged parts. The tag is a hash of the upload's header,
/// which is unique per upload (it holds a fresh wrapped data key).
pub fn staging_prefix(upload_header: &str) -> String {
    let tag = Sha256::digest(upload_header.as_bytes());
    format!("{STAGING}{}/", hex::encode(&tag[..16]))
}

/// `staging/<tag>/<part>`: where part `part` of the upload is staged (its newest upload).
pub fn staging_part(upload_header: &str, part: i32) -> String {
    format!("{}{part:05}", staging_prefix(upload_header))
}

/// `staging/put/<stamp>`: the body of one conditional write (its version stamp is unique),
/// held until the deciding region has judged the condition.
pub fn staging_put(stamp: &str) -> String {
    format!("{STAGING_PUTS}{stamp}")
}

/// `checksum-parts/<stamp>/`: the part checksum records of the upload with version stamp
/// `stamp` (unique per upload, and the completed object's).
pub fn checksum_parts_prefix(stamp: &str) -> String {
    format!("{CHECKSUM_PARTS}{stamp}/")
}

/// `checksum-parts/<stamp>/<part>/<upstream ETag>/<sealed>`: one upload of one part and its
/// sealed checksum, in the name, so that one listing gives every part's checksum.
pub fn checksum_part(stamp: &str, part: i32, upstream_etag: &str, sealed: &str) -> String {
    format!("{}{part:05}/{upstream_etag}/{sealed}", checksum_parts_prefix(stamp))
}

/// `checksums/<stamp>`: the checksums of the multipart object with version stamp `stamp`
/// (kept by copies of it in the other region, and by key rotations).
pub fn checksum_record(stamp: &str) -> String {
    format!("{CHECKSUMS}{stamp}")
}

/// `owners/<bucket>/`: the ownership records of one bucket.
pub fn owners_prefix(bucket: &str) -> String {
    format!("{OWNERS}{bucket}/")
}

/// `owners/<bucket>/<stamp>/<hex access key id>`: `owner` owns `bucket` since `stamp`. The
/// record is its name alone (the body is empty), so one listing yields every owner; where a
/// bucket has several records (an owner assigned again), the newest stamp counts.
pub fn owner_record(bucket: &str, stamp: &str, owner: &str) -> String {
    format!("{}{stamp}/{}", owners_prefix(bucket), hex::encode(owner))
}

/// One ownership record, read back from its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRecord {
    /// Client bucket.
    pub bucket: String,
    /// When the owner was recorded (text order is time order).
    pub stamp: String,
    /// The owner's access key id.
    pub owner: String,
}

/// Reads an [`owner_record`] name; `None` for anything else.
pub fn parse_owner_record(name: &str) -> Option<OwnerRecord> {
    let mut parts = name.strip_prefix(OWNERS)?.split('/');
    let (bucket, stamp, owner) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || bucket.is_empty() || stamp.is_empty() {
        return None;
    }
    let owner = String::from_utf8(hex::decode(owner).ok()?)
        .ok()
        .filter(|o| !o.is_empty())?;
    Some(OwnerRecord {
        bucket: bucket.to_owned(),
        stamp: stamp.to_owned(),
        owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_record_names_sort_like_their_keys() {
        let keys = ["a", "a/b", "a0", "ab", "b", "é", "z~", "\u{10348}"];
        let mut names: Vec<(String, &str)> = keys
            .iter()
            .map(|k| (upload_record("bkt", k, "0001.0002"), *k))
            .collect();
        names.sort();
        let sorted: Vec<&str> = names.iter().map(|(_, k)| *k).collect();
        let mut expected = keys.to_vec();
        expected.sort();
        assert_eq!(sorted, expected);
    }

    #[test]
    fn long_keys_get_bounded_names_after_their_spelled_prefix() {
        let long = "k".repeat(1024);
        let name = upload_record(&"b".repeat(63), &long, &"f".repeat(33));
        assert!(name.len() <= 1024, "{} bytes", name.len());
        let prefix = "k".repeat(SPELLED_KEY_BYTES);
        assert!(upload_record("b", &prefix, "x") < upload_record("b", &long, "x"));
        assert_ne!(
            upload_key_name(&long),
            upload_key_name(&format!("{long}x")),
            "distinct long keys collide"
        );
    }

    #[test]
    fn the_layout_is_stable() {
        // Records written by earlier gateways must still be found: these names are a format.
        assert_eq!(missed_record("b", "0001.0002"), "missed/b/0001.0002");
        assert_eq!(upload_record("bkt", "k", "s"), "uploads/bkt/6b/s");
        assert_eq!(checksum_part("s", 7, "e", "x"), "checksum-parts/s/00007/e/x");
        assert_eq!(checksum_record("s"), "checksums/s");
        assert_eq!(owner_record("bkt", "0001.0002", "AK"), "owners/bkt/0001.0002/414b");
        assert_eq!(
            staging_part("h", 7),
            format!("staging/{}/00007", &hex::encode(Sha256::digest(b"h"))[..32])
        );
    }

    #[test]
    fn owner_records_read_back_and_nothing_else_parses() {
        let name = owner_record("photos", "0001.0002", "AKIA/ODD key");
        let record = parse_owner_record(&name).unwrap_or_else(|| panic!("{name} does not parse"));
        assert_eq!((record.bucket.as_str(), record.stamp.as_str()), ("photos", "0001.0002"));
        assert_eq!(record.owner, "AKIA/ODD key");
        for other in [
            "owners/b/s",
            "owners/b/s/zz",
            "owners/b/s/41/x",
            "owners//s/41",
            "missed/b/s",
            "owners/b/s/",
        ] {
            assert_eq!(parse_owner_record(other), None, "{other}");
        }
    }
}

//! The reserved bucket of each region (`replication.journal_bucket`, default
//! `twinvault-journal`, mapped by the region's bucket template): the only state the gateway
//! keeps, and it keeps it in the upstreams so that replicas stay stateless. Every key inside
//! it is built in [`layout`]; [`Journal`] is its handle (records of missed changes, and the
//! small-object helpers the other users of the bucket share).
//!
//! | prefix | written by | what |
//! |---|---|---|
//! | `missed/<region>/<stamp>` | replication (write commit, damaged reads) | a change `<region>` missed, or a copy found damaged |
//! | `uploads/<bucket>/<hex key>/<stamp>` | store::uploads | one in-progress multipart upload, for ListMultipartUploads |
//! | `staging/<upload tag>/<part>` | store::realign | a part that may be re-sealed at completion |
//! | `checksum-parts/<stamp>/<part>/<upstream ETag>/<sealed checksum>` | store::checksum_records | an empty record whose name carries one uploaded part's checksum, sealed |
//! | `checksums/<stamp>` | store::checksum_records | a completed multipart object's checksum and its parts' checksums, sealed |
//! | `lease/replay` | repair::background | which gateway replica replays the journal now |
//! | `owners/<bucket>/<stamp>/<hex access key id>` | ownership (CreateBucket, `twinvault assign-owner`) | who owns a bucket (empty body) |

mod journal;
pub mod layout;

pub use journal::{ChangeKind, Journal, MAX_RECORD_BYTES, MissRecord, PendingRecord};

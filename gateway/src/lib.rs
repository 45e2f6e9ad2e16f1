//! twinvault: an S3 gateway that encrypts every object with keys the customer holds and writes
//! it to two upstream S3 stores in different regions.
//!
//! # Architecture
//!
//! A PUT arrives at [`api`] (an `s3s::S3` implementation behind SigV4 auth), which turns it into
//! one call into [`store`], the object layer. The body streams through the client-checksum
//! check, then [`envelope`] seals it into 64 KiB AES-256-GCM segments under a fresh data key,
//! wrapped by the [`keyring`]'s current key and bound to the bucket and key. [`replication`]
//! streams the same ciphertext to both [`upstream`] regions at once with bounded buffers and
//! settles the two results under the write policy; a change one region missed is journaled in
//! the other region's reserved bucket ([`reserved`]) and replayed by [`repair`]. A GET asks the
//! preferred region (or the one answering much faster lately; hedged to the other when the first
//! is slow, failing over on errors), unwraps the data key from the object's metadata, and opens
//! the segments as they stream out; a body that breaks, stalls or fails authentication
//! continues from the other region, and a range fetches only the segments that cover it.
//!
//! # Modules
//!
//! - [`cli`]: command-line parsing. [`config`]: figment loading and validation.
//! - [`server`]: the S3 and admin listeners, graceful drain. [`admin`]: `/metrics`, `/livez`,
//!   `/readyz`. [`limits`]: the S3 listener's per-request limits (concurrency, idle bodies).
//!   [`tls`]: the S3 listener's TLS, reloaded on renewal. [`auth`]: SigV4 secrets and bucket
//!   access. [`ownership`]: who owns each bucket (records in the reserved buckets). [`vhost`]: virtual-host-style addressing. [`preflight`]: what is checked on a
//!   request's head before s3s (presigned URL lifetimes).
//! - [`telemetry`]: logs, spans and request ids. [`metrics`]: every Prometheus metric.
//! - [`api`]: the S3 front door (s3s types in, one [`store`] call, s3s types out). [`error`]: the
//!   S3 error mapping.
//! - [`store`]: the object layer: the stored-object model (metadata, views, ETags, SSE-C, upload
//!   ids) and every operation on objects and buckets.
//! - [`replication`]: both regions as one (write policy, read order and hedging, fan-out,
//!   mid-stream resume). [`reserved`]: each region's reserved bucket (its key layout, the
//!   journal). [`upstream`]: one region (breaker, timeouts, metrics) over a `Backend`.
//! - [`envelope`]: the stored format (no S3 or network types). [`keyring`]: the customer's keys.
//!   [`stamp`]: version stamps (last writer wins).
//! - [`repair`]: reconciling the regions (journal replay, full pass, background loop).
//!   [`rotate`]: data keys rewrapped under the current key. [`decrypt`]: offline recovery.
//!   [`quickstart`]: embedded regions for a no-setup demo.
//!
//! Dependencies point downwards: `api` → `store` → {`envelope`, `replication` → {`reserved`,
//! `upstream`}}. Only [`server`] uses `api`; `repair`, `rotate` and `decrypt` read stored
//! objects through `store::object`, never `api` (docs/ARCHITECTURE.md, "Layers and the
//! dependency rule").
pub mod admin;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod decrypt;
pub mod envelope;
pub mod error;
pub mod keyring;
pub mod kmip;
pub mod limits;
pub mod metrics;
pub mod ownership;
pub mod preflight;
pub mod quickstart;
pub mod repair;
pub mod replication;
pub mod reserved;
pub mod rotate;
pub mod server;
pub mod stamp;
pub mod store;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod testing;
pub mod tls;
pub mod upstream;
pub mod vhost;

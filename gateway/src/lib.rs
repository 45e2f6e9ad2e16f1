//! twinvault: an S3 gateway that encrypts every object with keys the customer holds and writes
//! it to two upstream S3 stores in different regions.
//!
//! # Architecture
//!
//! A PUT arrives at [`api`] (an `s3s::S3` implementation behind SigV4 auth). The body streams
//! through the client-checksum check, then [`envelope`] seals it into 64 KiB AES-256-GCM
//! segments under a fresh data key, wrapped by the [`keyring`]'s current key and bound to the
//! bucket and key. [`replication`] streams the same ciphertext to both [`upstream`] regions at
//! once with bounded buffers. A GET asks the preferred region (failing over to the other),
//! unwraps the data key from the object's metadata, and opens the segments as they stream out;
//! a range fetches only the segments that cover it.
//!
//! # Modules
//!
//! - [`cli`]: command-line parsing. [`config`]: figment loading and validation.
//! - [`server`]: the S3 and admin listeners. [`admin`]: `/metrics`, `/livez`, `/readyz`.
//!   [`limits`]: the S3 listener's per-request limits (concurrency, idle bodies).
//! - [`api`]: the S3 front door, one module per operation family. [`error`]: S3 error mapping.
//! - [`envelope`]: the stored format (no S3 or network types). [`keyring`]: the customer's keys.
//! - [`replication`]: both regions as one. [`upstream`]: one region's S3 client.
//! - [`quickstart`]: embedded regions for a no-setup demo. [`decrypt`]: offline recovery.
//!
//! Dependencies point downwards: `api` → `replication` → `upstream`; `api` → `envelope`.
pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod decrypt;
pub mod envelope;
pub mod error;
pub mod keyring;
pub mod limits;
pub mod metrics;
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

//! Real-parts integration-test harness for twinvault: SeaweedFS regions, the gateway binary and real S3 CLIs.
//!
//! Nothing here is mocked. [`SeaweedRegion`] runs a real `weed server` (master, volume, filer
//! and S3 in one process) in a temp dir, [`Gateway`] runs the built `twinvault serve` binary
//! against a generated config, and [`clients`] drives aws-cli, rclone, s3cmd, s5cmd and boto3
//! against any [`S3Target`] (the gateway or a raw region, to read ciphertext at rest).
//!
//! The tools come from the virtualenv made by `scripts/install-test-deps.sh` (see [`Venv`]).
//!
//! Module map:
//! - [`venv`]: where the tools live
//! - [`ports`]: process-wide allocator of free loopback ports in 18000-18999
//! - [`process`]: child processes in their own process group, log files, signals
//! - [`proxy`]: a fault-injecting TCP proxy in front of a region (latency, 5xx, drops, cuts, silence)
//! - [`tls_proxy`]: a TLS-terminating proxy in front of a region (https upstreams)
//! - [`sdk`]: an aws-sdk-s3 client for tests that stream generated bodies
//! - [`seaweed`]: one SeaweedFS instance = one region
//! - [`gateway_config`]: builder for the gateway's TOML config
//! - [`gateway`]: the `twinvault serve` process
//! - [`target`]: endpoint + credentials of an S3 server
//! - [`command`]: running a CLI with a timeout and reporting its full output
//! - [`clients`]: aws-cli, rclone, s3cmd, s5cmd and python/boto3 with isolated config
//! - [`fixtures`]: random payloads, unique bucket names, digests
//! - [`kmip`]: a real KMIP key manager (PyKMIP's `pykmip-server`) with a test CA of its own
//! - [`http`]: a minimal plain-HTTP GET (admin endpoints, a local Prometheus)
//! - [`eventually`]: polling for state that settles asynchronously
//! - [`bench`]: what the benchmark binaries (tvbench, peerbench, repairbench) share
//! - [`consistency`]: the Jepsen-style consistency check (history, checker, live run; `tvcheck`)

pub mod bench;
pub mod clients;
pub mod command;
pub mod consistency;
pub mod eventually;
pub mod fixtures;
pub mod gateway;
pub mod gateway_config;
pub mod http;
pub mod kmip;
pub mod ports;
pub mod process;
pub mod proxy;
pub mod sdk;
pub mod seaweed;
pub mod target;
pub mod tls_proxy;
pub mod venv;

pub use clients::{Cli, aws, boto3, python, rclone, s3cmd, s5cmd};
pub use command::CmdOutput;
pub use eventually::eventually;
pub use fixtures::{md5_hex, random_bytes, random_token, unique_bucket};
pub use gateway::Gateway;
pub use gateway_config::GatewayConfig;
pub use kmip::KmipServer;
pub use proxy::{DelayProxy, Fault, FaultProxy};
pub use sdk::sdk_client;
pub use seaweed::SeaweedRegion;
pub use target::S3Target;
pub use tls_proxy::TlsProxy;
pub use venv::{Venv, workspace_root};

//! A Jepsen-style consistency check of twinvault (issue #17): concurrent workers issue random
//! PUT / conditional PUT / GET / HEAD / DELETE / LIST operations on a few keys through two
//! gateways over the same two regions while a nemesis kills, pauses and slows regions and kills
//! gateways; every operation is recorded and the history is checked per key.
//!
//! - [`history`]: the operation record (kind, key, value, invoke/complete instants, outcome)
//! - [`checker`]: the per-key check of a history and the final state after repair
//! - [`run`]: the live run (regions, proxies, gateways, workers, nemesis, repair, final reads)
//! - [`blind`]: the symptom as a directed run, read through a replica that polls the
//!   journal hourly (the checker must catch it) and through one that polls as configured

pub mod blind;
pub mod checker;
pub mod history;
pub mod run;

pub use checker::{Anomaly, AnomalyKind, FinalState, RawCopy, check};
pub use history::{Op, OpKind, Outcome, Read};
pub use run::{FaultKind, Report, RunConfig, run};

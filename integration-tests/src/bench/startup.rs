//! What a bench starts before its first phase: both SeaweedFS regions, the gateway, the tokio
//! runtime.

use anyhow::Context;

use crate::{Gateway, GatewayConfig, SeaweedRegion};

/// Starts regions `a` and `b` in parallel (each takes ~3.5 s to become writable).
pub fn start_regions() -> anyhow::Result<(SeaweedRegion, SeaweedRegion)> {
    std::thread::scope(|scope| {
        let a = scope.spawn(|| SeaweedRegion::start("a"));
        let b = scope.spawn(|| SeaweedRegion::start("b"));
        let a = a.join().map_err(|_| anyhow::anyhow!("starting region a panicked"))?;
        let b = b.join().map_err(|_| anyhow::anyhow!("starting region b panicked"))?;
        Ok((a.context("start region a")?, b.context("start region b")?))
    })
}

/// Starts the gateway `config` describes and says on stderr (`BENCH: gateway pid N binary
/// PATH`) which process and build it is. `script` is the bench's wrapper script, named in the
/// error when the gateway does not start (it builds the gateway first).
pub fn start_gateway(bench: &str, config: &GatewayConfig, script: &str) -> anyhow::Result<Gateway> {
    let gateway = config
        .start()
        .with_context(|| format!("start the gateway ({script} builds it first)"))?;
    eprintln!(
        "{bench}: gateway pid {} binary {}",
        gateway.pid().unwrap_or_default(),
        Gateway::binary().display()
    );
    Ok(gateway)
}

/// The multi-threaded runtime the phases run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("build the tokio runtime")
}

//! The `twinvault` binary: parse the command line, load configuration, run.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use clap::Parser;
use twinvault::cli::{Cli, Command};
use twinvault::config::{Config, KeyringConfig, LogFormat};
use twinvault::envelope::ObjectIdentity;

/// A small request allocates and frees many short-lived buffers across two HTTP stacks and
/// the upstream SDK; with glibc malloc that was ~20 % of a 4 KiB GET's CPU. mimalloc cut the
/// gateway's CPU per 4 KiB PUT, GET and HEAD by 10-20 % in alternating runs, for ~25 MiB
/// more peak RSS under 16 concurrent large PUTs (docs/BENCHMARKS.md, issue #20).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twinvault: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            runtime()?.block_on(serve(config, None))
        }
        Command::Quickstart {
            data_dir,
            s3_listen,
            admin_listen,
        } => runtime()?.block_on(async move {
            let path = twinvault::quickstart::ensure_config(&data_dir, &s3_listen, &admin_listen)?;
            let config = twinvault::quickstart::start_regions(&data_dir, &path, &s3_listen, &admin_listen).await?;
            serve(config, Some(path)).await
        }),
        Command::CheckConfig { config } => {
            let loaded = Config::load(&config)?;
            print!("{}", loaded.to_redacted_toml());
            eprintln!("{}: configuration is valid", config.display());
            Ok(())
        }
        Command::Keygen { id } => {
            let id = id.unwrap_or_else(|| {
                let date = time::OffsetDateTime::now_utc().date();
                format!(
                    "k{}{:02}{:02}-{:04x}",
                    date.year(),
                    u8::from(date.month()),
                    date.day(),
                    rand::random::<u16>()
                )
            });
            let key = base64::engine::general_purpose::STANDARD.encode(twinvault::keyring::generate_key());
            println!("[[keyring.keys]]\nid = \"{id}\"\nkey = \"{key}\"");
            Ok(())
        }
        Command::Repair(pass) => {
            let config = Config::load(&pass.config)?;
            runtime()?.block_on(repair(config, pass.bucket, pass.dry_run))
        }
        Command::Rotate(pass) => {
            let config = Config::load(&pass.config)?;
            runtime()?.block_on(rotate(config, pass.bucket, pass.dry_run))
        }
        Command::AssignOwner { config, bucket, user } => {
            let config = Config::load(&config)?;
            if !config.users.iter().any(|u| u.access_key_id == user) {
                anyhow::bail!("{user:?} is not the access_key_id of any [[users]] entry");
            }
            runtime()?.block_on(assign_owner(config, bucket, user))
        }
        Command::Decrypt {
            config,
            bucket,
            key,
            metadata,
            input,
            output,
        } => {
            let config = Config::load(&config)?;
            let metadata = twinvault::decrypt::read_metadata(&metadata)?;
            let (stored_len, reader): (u64, Box<dyn Read>) = match input {
                Some(path) => {
                    let file = std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
                    (file.metadata()?.len(), Box::new(std::io::BufReader::new(file)))
                }
                None => {
                    let mut bytes = Vec::new();
                    std::io::stdin().read_to_end(&mut bytes)?;
                    (bytes.len() as u64, Box::new(std::io::Cursor::new(bytes)))
                }
            };
            let writer: Box<dyn Write> = match output {
                Some(path) => Box::new(twinvault::decrypt::create_private(&path)?),
                None => Box::new(std::io::stdout().lock()),
            };
            let identity = ObjectIdentity {
                bucket: &bucket,
                key: &key,
            };
            let keyring = match &config.keyring {
                KeyringConfig::File(ring) => ring.clone(),
                KeyringConfig::Kmip(_) => runtime()?.block_on(keyring_for(&config))?,
            };
            twinvault::decrypt::decrypt(&keyring, identity, &metadata, stored_len, reader, writer)?;
            Ok(())
        }
    }
}

/// The keys of `config` for a command that runs once: the file's, or fetched from the key manager.
async fn keyring_for(config: &Config) -> anyhow::Result<twinvault::keyring::Keyring> {
    match &config.keyring {
        KeyringConfig::File(ring) => Ok(ring.clone()),
        KeyringConfig::Kmip(kmip) => Ok(twinvault::kmip::KeyManager::fetch_once(kmip).await?),
    }
}

/// The regions of `config`, for the commands that work on the upstreams directly.
fn regions_for(config: &Config) -> anyhow::Result<twinvault::replication::Regions> {
    twinvault::telemetry::init(config.server.log_format);
    let metrics = std::sync::Arc::new(twinvault::metrics::Metrics::new()?);
    Ok(twinvault::replication::Regions::from_config(config, metrics))
}

/// A live progress line on a terminal (nothing otherwise); `finish` ends the line.
struct Progress {
    started: std::time::Instant,
    terminal: bool,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Self {
            started: std::time::Instant::now(),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, line: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K[{:>6.1}s] {line}", self.started.elapsed().as_secs_f64());
        }
    }

    fn finish(&self) -> f64 {
        if self.terminal {
            eprintln!();
        }
        self.started.elapsed().as_secs_f64()
    }
}

async fn assign_owner(config: Config, bucket: String, user: String) -> anyhow::Result<()> {
    let owners = twinvault::ownership::Owners::new(std::sync::Arc::new(regions_for(&config)?));
    let previous = owners
        .assign(&bucket, &user)
        .await
        .with_context(|| format!("assign an owner to bucket {bucket:?}"))?;
    println!(
        "bucket {bucket}: owner {user} (was {})",
        previous.as_deref().unwrap_or("not recorded")
    );
    Ok(())
}

async fn repair(config: Config, bucket: Option<String>, dry_run: bool) -> anyhow::Result<()> {
    let regions = std::sync::Arc::new(regions_for(&config)?);
    let keyring = keyring_for(&config).await?;
    let repairer = twinvault::repair::Repairer::new(&regions, &keyring, dry_run);
    let progress = Progress::new();
    let journal = repairer.replay_journal().await;
    if let Err(e) = &journal {
        eprintln!("twinvault repair: journal replay incomplete: {e}");
    }
    let pass = repairer
        .full_pass(bucket.as_deref(), &|summary| progress.show(&summary.line()))
        .await;
    let owners = twinvault::ownership::Owners::new(std::sync::Arc::clone(&regions))
        .sync(dry_run)
        .await;
    let seconds = progress.finish();
    println!(
        "repair {}: {} seconds {seconds:.2}",
        if dry_run { "dry run" } else { "done" },
        repairer.summary.line()
    );
    if let Ok(summary) = &owners {
        println!(
            "bucket owners: {} records copied, {} stale records removed",
            summary.copied, summary.removed
        );
    }
    pass.context("full pass")?;
    owners.context("bucket owner records")?;
    journal.context("journal replay")?;
    if repairer.summary.has_failures() {
        anyhow::bail!("some objects could not be repaired; run again once both regions answer");
    }
    Ok(())
}

async fn rotate(config: Config, bucket: Option<String>, dry_run: bool) -> anyhow::Result<()> {
    let regions = regions_for(&config)?;
    let keyring = keyring_for(&config).await?;
    let rotator = twinvault::rotate::Rotator::new(&regions, &keyring, dry_run);
    let progress = Progress::new();
    let result = rotator
        .run(bucket.as_deref(), &|summary| progress.show(&summary.line()))
        .await;
    let seconds = progress.finish();
    println!(
        "rotate {} to key {}: {} seconds {seconds:.2}",
        if dry_run { "dry run" } else { "done" },
        keyring.current().id(),
        rotator.summary.line(),
    );
    result.context("listing")?;
    if rotator.summary.failed.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        anyhow::bail!("some objects could not be re-wrapped; run again");
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

async fn serve(config: Config, quickstart_config: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    twinvault::telemetry::init(config.server.log_format);
    let shutdown = twinvault::server::shutdown_signal();
    let (s3_addr, admin_addr, serving) = twinvault::server::bind_and_serve(&config, shutdown).await?;
    if config.server.log_format == LogFormat::Text {
        tracing::debug!(config = %config.to_redacted_toml(), "effective configuration");
    }
    tracing::info!(s3 = %s3_addr, admin = %admin_addr, regions = ?config.regions.iter().map(|r| &r.name).collect::<Vec<_>>(), "twinvault listening");
    if let Some(path) = quickstart_config {
        // A closed stdout (a pipe whose reader left) must not take the server down.
        let banner = twinvault::quickstart::banner(&config, s3_addr, admin_addr, &path);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{banner}").and_then(|()| out.flush());
    }
    serving.await;
    tracing::info!("stopped");
    Ok(())
}

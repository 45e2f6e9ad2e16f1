//! The `twinvault` binary: parse the command line, load configuration, run.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use clap::Parser;
use twinvault::cli::{Cli, Command};
use twinvault::config::{Config, LogFormat};
use twinvault::envelope::ObjectIdentity;

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
            let config = twinvault::quickstart::start_regions(&data_dir, &path).await?;
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
        Command::Repair {
            config,
            bucket,
            dry_run,
        } => {
            let config = Config::load(&config)?;
            runtime()?.block_on(repair(config, bucket, dry_run))
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
                Some(path) => {
                    Box::new(std::fs::File::create(&path).with_context(|| format!("create {}", path.display()))?)
                }
                None => Box::new(std::io::stdout().lock()),
            };
            let identity = ObjectIdentity {
                bucket: &bucket,
                key: &key,
            };
            twinvault::decrypt::decrypt(&config.keyring, identity, &metadata, stored_len, reader, writer)?;
            Ok(())
        }
    }
}

async fn repair(config: Config, bucket: Option<String>, dry_run: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    twinvault::telemetry::init(config.server.log_format);
    let metrics = std::sync::Arc::new(twinvault::metrics::Metrics::new()?);
    let regions = twinvault::replication::Regions::from_config(&config, metrics);
    let repairer = twinvault::repair::Repairer::new(&regions, dry_run);
    let started = std::time::Instant::now();
    let journal = repairer.replay_journal().await;
    if let Err(e) = &journal {
        eprintln!("twinvault repair: journal replay incomplete: {e}");
    }
    let terminal = std::io::stderr().is_terminal();
    let progress = |summary: &twinvault::repair::RepairSummary| {
        if terminal {
            eprint!(
                "\r\x1b[2K[{:>6.1}s] {}",
                started.elapsed().as_secs_f64(),
                summary.line()
            );
        }
    };
    let pass = repairer.full_pass(bucket.as_deref(), &progress).await;
    if terminal {
        eprintln!();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "repair {}: {} seconds {seconds:.2}",
        if dry_run { "dry run" } else { "done" },
        repairer.summary.line()
    );
    pass.context("full pass")?;
    journal.context("journal replay")?;
    if repairer.summary.has_failures() {
        anyhow::bail!("some objects could not be repaired; run again once both regions answer");
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

//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// twinvault: an S3 gateway that encrypts with your keys and writes to two regions.
#[derive(Debug, Parser)]
#[command(name = "twinvault", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve {
        /// Configuration file.
        #[arg(long, env = "TWINVAULT_CONFIG", default_value = "twinvault.toml")]
        config: PathBuf,
    },
    /// Run a self-contained gateway with two embedded regions stored under DATA_DIR.
    Quickstart {
        /// Where the embedded regions, the keyring and the credentials live (relative to the
        /// current directory). Keep it: it holds the only copy of the encryption key.
        #[arg(long, env = "TWINVAULT_QUICKSTART_DATA_DIR", default_value = "./twinvault-data")]
        data_dir: PathBuf,
        /// S3 listener (also on later runs: it overrides the generated configuration's).
        #[arg(long, env = "TWINVAULT_QUICKSTART_S3_LISTEN", default_value = "127.0.0.1:9000")]
        s3_listen: String,
        /// Admin listener (also on later runs).
        #[arg(long, env = "TWINVAULT_QUICKSTART_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
        admin_listen: String,
    },
    /// Validate a configuration and print it with secrets redacted.
    CheckConfig {
        /// Configuration file.
        #[arg(long, env = "TWINVAULT_CONFIG", default_value = "twinvault.toml")]
        config: PathBuf,
    },
    /// Print a new random key-encryption key for [[keyring.keys]].
    Keygen {
        /// Key id (default: k-<date>-<random>).
        #[arg(long)]
        id: Option<String>,
    },
    /// Make both regions identical: replay the repair journal, then compare every object in
    /// both regions and copy what is missing or older (ciphertext only, never decrypted).
    Repair(BucketPass),
    /// Re-wrap every object's data key under the keyring's current key, in both regions
    /// (metadata only, no data rewritten); resumable. Afterwards old keys can be removed.
    Rotate(BucketPass),
    /// Make a user the owner of an existing bucket (one created before ownership was
    /// recorded, or to hand a bucket over): recorded in both regions.
    AssignOwner {
        /// Configuration file (the user must be one of its [[users]]).
        #[arg(long, env = "TWINVAULT_CONFIG", default_value = "twinvault.toml")]
        config: PathBuf,
        /// Client bucket name.
        #[arg(long)]
        bucket: String,
        /// Access key id of the new owner.
        #[arg(long)]
        user: String,
    },
    /// Decrypt one stored object offline, with the keyring alone.
    Decrypt {
        /// Configuration file holding the keyring.
        #[arg(long, env = "TWINVAULT_CONFIG", default_value = "twinvault.toml")]
        config: PathBuf,
        /// Client bucket name the object was written to.
        #[arg(long)]
        bucket: String,
        /// Object key.
        #[arg(long)]
        key: String,
        /// The stored object's upstream metadata as JSON: `aws s3api head-object` output, or a
        /// map of metadata names (`tv-header`, `tv-attrs`) to values.
        #[arg(long)]
        metadata: PathBuf,
        /// The stored bytes (default: standard input).
        #[arg(long = "in")]
        input: Option<PathBuf>,
        /// Where to write the plaintext (default: standard output).
        #[arg(long = "out")]
        output: Option<PathBuf>,
    },
}

/// Arguments of the commands that walk every object of both regions (`repair`, `rotate`).
#[derive(Debug, Args)]
pub struct BucketPass {
    /// Configuration file (for `rotate`, its keyring's `current` key is the new one).
    #[arg(long, env = "TWINVAULT_CONFIG", default_value = "twinvault.toml")]
    pub config: PathBuf,
    /// Only this bucket (default: every bucket in either region).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Report what would be done without changing anything.
    #[arg(long)]
    pub dry_run: bool,
}

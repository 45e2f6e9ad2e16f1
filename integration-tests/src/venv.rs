//! Locates the virtualenv with SeaweedFS and the S3 CLIs (made by `scripts/install-test-deps.sh`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::bail;

/// Overrides the virtualenv location (default: `<workspace>/.venv`).
pub const ENV_VENV: &str = "TWINVAULT_VENV";

/// Executables the harness needs from the virtualenv.
const REQUIRED_BINS: [&str; 6] = ["python", "weed", "aws", "rclone", "s3cmd", "s5cmd"];

/// The workspace root: the parent of this crate's manifest dir.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests is a member directly under the workspace root")
        .to_path_buf()
}

/// The test-dependency virtualenv.
#[derive(Debug, Clone)]
pub struct Venv {
    root: PathBuf,
}

impl Venv {
    /// Finds the venv (`$TWINVAULT_VENV`, else `<workspace>/.venv`) and checks that every tool is there.
    pub fn locate() -> anyhow::Result<Venv> {
        let root = match std::env::var_os(ENV_VENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => workspace_root().join(".venv"),
        };
        let venv = Venv { root };
        let missing: Vec<&str> = REQUIRED_BINS
            .into_iter()
            .filter(|bin| !venv.bin(bin).is_file())
            .collect();
        if !missing.is_empty() {
            bail!(
                "test virtualenv {} lacks {}: run `scripts/install-test-deps.sh` \
                 (set {ENV_VENV} to use another venv)",
                venv.root.display(),
                missing.join(", ")
            );
        }
        Ok(venv)
    }

    /// The located venv, checked once per process.
    ///
    /// # Panics
    /// If the venv is missing, with a message saying to run `scripts/install-test-deps.sh`.
    pub fn get() -> &'static Venv {
        static VENV: OnceLock<Result<Venv, String>> = OnceLock::new();
        match VENV.get_or_init(|| Venv::locate().map_err(|err| format!("{err:#}"))) {
            Ok(venv) => venv,
            Err(msg) => panic!("{msg}"),
        }
    }

    /// The venv directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<venv>/bin/<name>`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.root.join("bin").join(name)
    }
}

//! A real KMIP key manager for the tests: PyKMIP's `pykmip-server` from the test venv, on a
//! loopback port, with a test CA of its own made with `openssl` (a server certificate, the
//! gateway's client certificate, and a client certificate from a second, untrusted CA).
//!
//! The server keeps its keys in a SQLite file in its temp dir, so [`KmipServer::restart`]
//! brings back the same keys on the same port.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::ports;
use crate::process::{self, GroupChild};
use crate::venv::Venv;

const READY_DEADLINE: Duration = Duration::from_secs(30);

/// PEM files of the test PKI, all in the server's temp dir.
#[derive(Clone, Debug)]
pub struct KmipCerts {
    /// The CA that signs the server and the gateway's client certificate.
    pub ca: PathBuf,
    /// The gateway's client certificate (CN `twinvault`, clientAuth) and key.
    pub client_cert: PathBuf,
    /// Key of [`Self::client_cert`].
    pub client_key: PathBuf,
    /// A CA the server does not trust, and a client certificate it signed.
    pub rogue_ca: PathBuf,
    /// Client certificate signed by [`Self::rogue_ca`] (same CN: only the issuer differs).
    pub rogue_client_cert: PathBuf,
    /// Key of [`Self::rogue_client_cert`].
    pub rogue_client_key: PathBuf,
}

/// A running `pykmip-server`.
#[derive(Debug)]
pub struct KmipServer {
    // Field order = drop order: kill the process before deleting its dir.
    child: Option<GroupChild>,
    port: u16,
    certs: KmipCerts,
    dir: TempDir,
}

impl KmipServer {
    /// Makes the PKI, writes the server's configuration and starts it; waits until it accepts
    /// connections.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("tv-kmip-").tempdir()?;
        let certs = make_certs(dir.path())?;
        let port = ports::allocate_one()?;
        std::fs::create_dir_all(dir.path().join("policies"))?;
        let conf = format!(
            "[server]\nhostname=127.0.0.1\nport={port}\ncertificate_path={d}/server.pem\nkey_path={d}/server.key\n\
             ca_path={d}/ca.pem\nauth_suite=TLS1.2\npolicy_path={d}/policies\nenable_tls_client_auth=True\n\
             logging_level=INFO\ndatabase_path={d}/pykmip.db\n",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("server.conf"), conf)?;
        let mut server = Self {
            child: None,
            port,
            certs,
            dir,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let d = self.dir.path();
        let mut cmd = Command::new(Venv::get().bin("pykmip-server"));
        cmd.arg("-f")
            .arg(d.join("server.conf"))
            .arg("-l")
            .arg(d.join("server.log"));
        self.child = Some(GroupChild::spawn(&mut cmd, &d.join("stdout.log"))?);
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(status) = self.child.as_mut().and_then(GroupChild::try_exit) {
                bail!("pykmip-server exited with {status}:\n{}", self.log_tail());
            }
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "pykmip-server not listening after {READY_DEADLINE:?}:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The test PKI.
    pub fn certs(&self) -> &KmipCerts {
        &self.certs
    }

    /// Kills the server (SIGKILL): the key manager becomes unreachable.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Starts it again on the same port with the same keys.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.launch()
    }

    /// The last lines of the server's own log and its stdout/stderr.
    pub fn log_tail(&self) -> String {
        let d = self.dir.path();
        format!(
            "{}\n{}",
            process::log_tail(&d.join("server.log"), 30),
            process::log_tail(&d.join("stdout.log"), 30)
        )
    }

    /// The raw bytes of the key named `name`, read with PyKMIP's own client (as an operator
    /// exports a key with the key manager's tools).
    pub fn export_key(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let script = format!(
            "from kmip.pie.client import ProxyKmipClient\nfrom kmip import enums\n\
             c = ProxyKmipClient(hostname='127.0.0.1', port={port}, cert={cert:?}, key={key:?}, ca={ca:?}, config_file='/dev/null')\n\
             with c:\n    f = c.attribute_factory.create_attribute(enums.AttributeType.NAME, {name:?})\n\
             \x20   ids = c.locate(attributes=[f])\n    assert len(ids) == 1, ids\n    print(c.get(ids[0]).value.hex())\n",
            port = self.port,
            cert = self.certs.client_cert.display().to_string(),
            key = self.certs.client_key.display().to_string(),
            ca = self.certs.ca.display().to_string(),
        );
        let out = Command::new(Venv::get().bin("python"))
            .arg("-c")
            .arg(&script)
            .output()
            .context("run the PyKMIP client")?;
        if !out.status.success() {
            bail!("PyKMIP export failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        hex::decode(String::from_utf8_lossy(&out.stdout).trim()).context("hex key")
    }
}

/// Runs openssl in `dir`.
fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("run openssl (scripts/install-test-deps.sh installs it)")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// P-256 keys throughout: PyKMIP's TLS 1.2 suite offers ECDHE-ECDSA with AES-GCM, which rustls
/// speaks (its RSA suites are CBC ones rustls does not).
const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

fn make_ca(dir: &Path, name: &str) -> anyhow::Result<()> {
    let (key, pem, subj) = (format!("{name}.key"), format!("{name}.pem"), format!("/CN={name}"));
    let args = [
        &[
            "req", "-x509", "-nodes", "-days", "2", "-subj", &subj, "-keyout", &key, "-out", &pem,
        ][..],
        &EC,
    ]
    .concat();
    openssl(dir, &args)
}

fn make_leaf(dir: &Path, name: &str, ca: &str, cn: &str, usage: &str) -> anyhow::Result<()> {
    let (key, csr, pem, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    let subj = format!("/CN={cn}");
    openssl(
        dir,
        &[
            &["req", "-new", "-nodes", "-subj", &subj, "-keyout", &key, "-out", &csr][..],
            &EC,
        ]
        .concat(),
    )?;
    std::fs::write(
        dir.join(&ext),
        format!("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n"),
    )?;
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &ext,
        ],
    )
}

fn make_certs(dir: &Path) -> anyhow::Result<KmipCerts> {
    make_ca(dir, "ca")?;
    make_ca(dir, "rogue-ca")?;
    make_leaf(dir, "server", "ca", "kmip-server", "serverAuth")?;
    make_leaf(dir, "client", "ca", "twinvault", "clientAuth")?;
    make_leaf(dir, "rogue-client", "rogue-ca", "twinvault", "clientAuth")?;
    Ok(KmipCerts {
        ca: dir.join("ca.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        rogue_ca: dir.join("rogue-ca.pem"),
        rogue_client_cert: dir.join("rogue-client.pem"),
        rogue_client_key: dir.join("rogue-client.key"),
    })
}

//! A test cluster: two real SeaweedFS regions and the real gateway, plus checks of what the
//! regions store (identical ciphertext, no plaintext, decryptable offline).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use integration_tests::{DelayProxy, FaultProxy, Gateway, GatewayConfig, S3Target, SeaweedRegion, TlsProxy, aws};

/// Region b maps client buckets to `<bucket>-b`, so the mapping is exercised everywhere.
pub const REGION_B_TEMPLATE: &str = "{bucket}-b";

pub struct Cluster {
    pub a: SeaweedRegion,
    pub b: SeaweedRegion,
    pub gw: Gateway,
    pub work: tempfile::TempDir,
}

impl Cluster {
    /// Starts both regions concurrently, then the gateway with `configure` applied.
    pub fn start(configure: impl FnOnce(GatewayConfig) -> GatewayConfig) -> Self {
        let (a, b) = start_regions();
        let (ta, tb) = (a.target(), b.target());
        Self::with_gateway(a, b, &ta, &tb, configure)
    }

    /// Like [`Self::start`], with region a reached through a [`DelayProxy`].
    pub fn start_with_slow_a(configure: impl FnOnce(GatewayConfig) -> GatewayConfig) -> (Self, DelayProxy) {
        let (a, b) = start_regions();
        let proxy = DelayProxy::start(a.target().host_port()).expect("start proxy");
        let (ta, tb) = (proxy.target(&a.target()), b.target());
        (Self::with_gateway(a, b, &ta, &tb, configure), proxy)
    }

    /// Like [`Self::start`], with region b reached through a [`FaultProxy`].
    pub fn start_with_faulty_b(configure: impl FnOnce(GatewayConfig) -> GatewayConfig) -> (Self, FaultProxy) {
        let (a, b) = start_regions();
        let proxy = FaultProxy::start(b.target().host_port()).expect("start proxy");
        let (ta, tb) = (a.target(), proxy.target(&b.target()));
        (Self::with_gateway(a, b, &ta, &tb, configure), proxy)
    }

    /// Like [`Self::start`], with region b reached over https through a [`TlsProxy`] that
    /// presents the PEM chain `cert` with key `key`.
    pub fn start_with_tls_b(
        cert: &Path,
        key: &Path,
        configure: impl FnOnce(GatewayConfig) -> GatewayConfig,
    ) -> (Self, TlsProxy) {
        let (a, b) = start_regions();
        let proxy = TlsProxy::start(b.target().host_port(), cert, key).expect("start tls proxy");
        let (ta, tb) = (a.target(), proxy.target(&b.target()));
        (Self::with_gateway(a, b, &ta, &tb, configure), proxy)
    }

    /// The gateway over regions reached at `ta` and `tb` (directly or through a proxy).
    fn with_gateway(
        a: SeaweedRegion,
        b: SeaweedRegion,
        ta: &S3Target,
        tb: &S3Target,
        configure: impl FnOnce(GatewayConfig) -> GatewayConfig,
    ) -> Self {
        let config = GatewayConfig::new(ta, tb).set("regions.b.bucket_template", REGION_B_TEMPLATE);
        let gw = configure(config).start().expect("start gateway");
        Self {
            a,
            b,
            gw,
            work: tempfile::tempdir().expect("work dir"),
        }
    }

    /// Runs `integration-tests/py/<script>` with boto3 against the gateway, with `TV_BUCKET`
    /// set, and checks it reached its final "all checks passed" line.
    pub fn run_boto3_script(&self, script: &str, bucket: &str) {
        self.run_boto3_script_with(script, bucket, &[]);
    }

    /// [`Self::run_boto3_script`] with more environment variables for the script.
    pub fn run_boto3_script_with(&self, script: &str, bucket: &str, env: &[(&str, &str)]) {
        let path = integration_tests::workspace_root()
            .join("integration-tests/py")
            .join(script);
        let mut cli = integration_tests::Cli::python(Some(&self.target()));
        cli = cli.arg(&path).env("TV_BUCKET", bucket);
        for (name, value) in env {
            cli = cli.env(*name, *value);
        }
        let out = cli.run().expect_success();
        assert!(
            out.stdout_str().contains("all checks passed"),
            "{script}:\n{}",
            out.combined()
        );
    }

    pub fn target(&self) -> S3Target {
        self.gw.target()
    }

    /// The upstream bucket name in region `region` ("a" or "b").
    pub fn upstream_bucket(region: &str, bucket: &str) -> String {
        if region == "b" {
            format!("{bucket}-b")
        } else {
            bucket.to_owned()
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// The stored bytes and the head-object JSON of `key` as region `region` holds it.
    pub fn stored(&self, region: &str, bucket: &str, key: &str) -> (Vec<u8>, PathBuf) {
        let target = if region == "a" {
            self.a.target()
        } else {
            self.b.target()
        };
        let upstream = Self::upstream_bucket(region, bucket);
        let tag = format!("{region}-{}", key.replace('/', "_"));
        let body = self.path(&format!("{tag}.stored"));
        aws(
            &target,
            [
                "s3api",
                "get-object",
                "--bucket",
                &upstream,
                "--key",
                key,
                body.to_str().expect("utf8"),
            ],
        )
        .expect_success();
        let head = aws(&target, ["s3api", "head-object", "--bucket", &upstream, "--key", key]).expect_success();
        let meta = self.path(&format!("{tag}.meta.json"));
        std::fs::write(&meta, head.stdout_str()).expect("write metadata");
        (std::fs::read(&body).expect("read stored body"), meta)
    }

    /// Checks at-rest protection of one object: both regions hold identical bytes, none of the
    /// plaintext appears in them, and `twinvault decrypt` recovers the plaintext from each.
    pub fn assert_protected_at_rest(&self, bucket: &str, key: &str, plaintext: &[u8]) {
        let (stored_a, meta_a) = self.stored("a", bucket, key);
        let (stored_b, meta_b) = self.stored("b", bucket, key);
        assert!(stored_a == stored_b, "{key}: regions hold different bytes");
        assert_no_plaintext(&stored_a, plaintext, key);
        for (region, meta) in [("a", meta_a), ("b", meta_b)] {
            let stored_path = self.path(&format!("{region}-{}.stored", key.replace('/', "_")));
            let recovered = self.decrypt_offline(bucket, key, &meta, &stored_path);
            assert!(
                recovered == plaintext,
                "{key}: offline decrypt of region {region}'s copy differs"
            );
        }
    }

    /// Runs `twinvault decrypt` with the gateway's config (the keyring) on stored bytes; the
    /// `--out` file it creates is the owner's alone (mode 0600).
    pub fn decrypt_offline(&self, bucket: &str, key: &str, meta: &Path, stored: &Path) -> Vec<u8> {
        self.decrypt_offline_with(&self.gw.config_path(), bucket, key, meta, stored)
    }

    /// [`Self::decrypt_offline`] with the configuration at `config` (another keyring).
    pub fn decrypt_offline_with(&self, config: &Path, bucket: &str, key: &str, meta: &Path, stored: &Path) -> Vec<u8> {
        let out = self.path("decrypted.out");
        // Created afresh each time, so its mode is the one `decrypt` creates it with.
        let _ = std::fs::remove_file(&out);
        let status = std::process::Command::new(Gateway::binary())
            .args(["decrypt", "--config"])
            .arg(config)
            .args(["--bucket", bucket, "--key", key, "--metadata"])
            .arg(meta)
            .arg("--in")
            .arg(stored)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run twinvault decrypt");
        assert!(
            status.status.success(),
            "decrypt failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&out).expect("stat output").permissions());
        assert_eq!(
            mode & 0o777,
            0o600,
            "decrypt --out created {} with mode {mode:o}",
            out.display()
        );
        std::fs::read(&out).expect("read decrypted output")
    }
}

/// Regions a and b, started concurrently. Region b creates missing buckets on PUT (SeaweedFS's
/// default) and region a does not, so every test runs against both store behaviours.
pub fn start_regions() -> (SeaweedRegion, SeaweedRegion) {
    std::thread::scope(|scope| {
        let a = scope.spawn(|| SeaweedRegion::start("a"));
        let b = scope.spawn(|| SeaweedRegion::start_creating_buckets_on_put("b"));
        (
            a.join().expect("thread a").expect("start region a"),
            b.join().expect("thread b").expect("start region b"),
        )
    })
}

/// No 16-byte window of `plaintext` (taken every 16 bytes, so any leaked run of 31 bytes or
/// more contains one) appears anywhere in `stored`. Plaintexts under 4 bytes are not searched:
/// random ciphertext contains a given 1-byte string with probability ~len/256, so a match
/// would prove nothing (those objects are still checked by offline decryption and by the
/// identical-ciphertext comparison).
pub fn assert_no_plaintext(stored: &[u8], plaintext: &[u8], what: &str) {
    if plaintext.len() < 4 {
        return;
    }
    if plaintext.len() < 16 {
        assert!(
            !stored.windows(plaintext.len()).any(|w| w == plaintext),
            "{what}: short plaintext found in stored bytes"
        );
        return;
    }
    let windows: HashSet<&[u8]> = plaintext.chunks_exact(16).collect();
    let leaked = stored.windows(16).position(|w| windows.contains(w));
    assert!(
        leaked.is_none(),
        "{what}: plaintext found in stored bytes at offset {leaked:?}"
    );
}

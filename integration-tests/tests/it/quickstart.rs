//! The README's first command: `twinvault quickstart`, then aws-cli with the printed settings.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::{Gateway, S3Target, aws, ports, random_bytes, unique_bucket};

/// A running quickstart, killed when dropped: a failing assertion must not leave it running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the quickstart, reads the endpoint and credentials from what it prints, and uses them.
fn start(data_dir: &std::path::Path) -> (Running, S3Target) {
    let s3 = ports::allocate_one().expect("port");
    let admin = ports::allocate_one().expect("port");
    let mut child = Command::new(Gateway::binary())
        .args(["quickstart", "--data-dir"])
        .arg(data_dir)
        .args([
            "--s3-listen",
            &format!("127.0.0.1:{s3}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn quickstart");
    let stdout = child.stdout.take().expect("stdout");
    let child = Running(child);
    let (mut endpoint, mut ak, mut sk) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("read line");
        let value = line.split(" : ").nth(1).map(str::trim).map(str::to_owned);
        match line.trim_start() {
            l if l.starts_with("S3 endpoint") => endpoint = value,
            l if l.starts_with("access key") => ak = value,
            l if l.starts_with("secret key") => sk = value,
            _ => {}
        }
        if (endpoint.is_some() && ak.is_some() && sk.is_some()) || Instant::now() > deadline {
            break;
        }
    }
    // Keep draining what it prints, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    let target = S3Target::new(
        endpoint.expect("quickstart printed its endpoint"),
        ak.expect("quickstart printed an access key"),
        sk.expect("quickstart printed a secret key"),
    );
    (child, target)
}

#[test]
fn quickstart_serves_s3_with_printed_credentials_and_reuses_them() {
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("tv-data");
    let (first, target) = start(&data_dir);
    let bucket = unique_bucket("qs");
    let file = dir.path().join("hello.bin");
    let data = random_bytes(150_000);
    std::fs::write(&file, &data).expect("write");
    aws(&target, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    aws(
        &target,
        [
            "s3",
            "cp",
            file.to_str().expect("utf8"),
            &format!("s3://{bucket}/hello.bin"),
        ],
    )
    .expect_success();

    // The embedded regions (s3s-fs) list no ETags; the listing still shows the object's own.
    let etag_of = |args: &[&str], query: &str| {
        let mut full = vec!["s3api"];
        full.extend_from_slice(args);
        full.extend(["--bucket", &bucket, "--query", query, "--output", "text"]);
        aws(&target, full).expect_success().stdout_str().trim().to_owned()
    };
    let listed = etag_of(&["list-objects-v2"], "Contents[0].ETag");
    let head = etag_of(&["head-object", "--key", "hello.bin"], "ETag");
    assert!(head.len() > 6 && !head.contains("\"-1"), "HEAD ETag {head}");
    assert_eq!(listed, head, "the listing's ETag is not the object's");
    assert_eq!(etag_of(&["list-objects"], "Contents[0].ETag"), head, "v1 listing");

    // Both embedded regions hold the same ciphertext, not the plaintext.
    let a = std::fs::read(data_dir.join("region-a").join(&bucket).join("hello.bin")).expect("region a copy");
    let b = std::fs::read(data_dir.join("region-b").join(&bucket).join("hello.bin")).expect("region b copy");
    assert!(a == b, "embedded regions differ");
    crate::cluster::assert_no_plaintext(&a, &data, "quickstart region a");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.join("twinvault.toml"))
            .expect("config")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the quickstart config holding the key is readable by others"
        );
    }
    drop(first);

    // A second run reuses the keyring and credentials: the object still opens.
    let (second, again) = start(&data_dir);
    assert_eq!(again.access_key, target.access_key);
    let back = dir.path().join("back.bin");
    aws(
        &again,
        [
            "s3",
            "cp",
            &format!("s3://{bucket}/hello.bin"),
            back.to_str().expect("utf8"),
        ],
    )
    .expect_success();
    assert!(std::fs::read(&back).expect("read") == data);
    drop(second);
}

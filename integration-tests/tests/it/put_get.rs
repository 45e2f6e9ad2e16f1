//! The data path with every real client: writes land encrypted and identical in both regions,
//! reads return the plaintext, and the clients' own sync/verification logic is satisfied.

use std::collections::BTreeMap;

use integration_tests::{aws, random_bytes, rclone, s3cmd, s5cmd, unique_bucket};

use crate::cluster::Cluster;

/// Sizes around the 64 KiB segment boundary, plus multi-segment ones (below aws-cli's 8 MiB
/// multipart threshold).
const SIZES: &[(&str, usize)] = &[
    ("empty.bin", 0),
    ("one.bin", 1),
    ("seg-minus-1.bin", 65_535),
    ("seg.bin", 65_536),
    ("seg-plus-1.bin", 65_537),
    ("one-mib.bin", 1 << 20),
    ("three-mib-odd.bin", 3 * (1 << 20) + 7),
];

fn write_sources(cluster: &Cluster) -> (std::path::PathBuf, BTreeMap<String, Vec<u8>>) {
    let dir = cluster.path("src");
    std::fs::create_dir_all(&dir).expect("src dir");
    let mut files = BTreeMap::new();
    for (name, size) in SIZES {
        let data = random_bytes(*size);
        std::fs::write(dir.join(name), &data).expect("write source");
        // Files older than their upload, as a user's usually are: a file written in the same
        // second as its upload looks newer than S3's whole-second LastModified, and
        // `aws s3 sync` would rightly upload it again (a race of the test, seen in CI).
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(dir.join(name))
            .and_then(|f| f.set_modified(an_hour_ago))
            .expect("age source");
        files.insert((*name).to_owned(), data);
    }
    (dir, files)
}

#[test]
fn every_client_round_trips_and_only_identical_ciphertext_lands_in_both_regions() {
    let cluster = Cluster::start(|c| c);
    let gw = cluster.target();
    let bucket = unique_bucket("pg");
    let (src, files) = write_sources(&cluster);
    let src_arg = format!("{}/", src.display());

    aws(&gw, ["s3", "mb", &format!("s3://{bucket}")]).expect_success();

    // aws-cli: sync twice, the second uploads nothing (size + mtime comparison).
    aws(&gw, ["s3", "sync", &src_arg, &format!("s3://{bucket}/aws/")]).expect_success();
    let again = aws(&gw, ["s3", "sync", &src_arg, &format!("s3://{bucket}/aws/")]).expect_success();
    assert!(
        !again.stdout_str().contains("upload:"),
        "second aws s3 sync uploaded again:\n{}",
        again.stdout_str()
    );
    let back = cluster.path("aws-back");
    aws(
        &gw,
        [
            "s3",
            "cp",
            "--recursive",
            &format!("s3://{bucket}/aws/"),
            back.to_str().expect("utf8"),
        ],
    )
    .expect_success();
    assert_same_tree(&files, &back, "aws-cli");

    // rclone: copy (with its upload verification), check reports no difference, cat.
    let remote = format!("tv:{bucket}/rclone");
    rclone(&gw, ["copy", &src_arg, &remote]).expect_success();
    let check = rclone(&gw, ["check", &src_arg, &remote]).expect_success();
    assert!(
        check.combined().contains("0 differences found"),
        "rclone check:\n{}",
        check.combined()
    );
    let cat = rclone(&gw, ["cat", &format!("{remote}/seg-plus-1.bin")]).expect_success();
    assert!(cat.stdout == files["seg-plus-1.bin"], "rclone cat returned other bytes");

    // s3cmd: put/get one file, sync twice (the second uploads nothing: md5 from s3cmd-attrs).
    let one = src.join("one-mib.bin");
    s3cmd(
        &gw,
        [
            "put",
            one.to_str().expect("utf8"),
            &format!("s3://{bucket}/s3cmd/one-mib.bin"),
        ],
    )
    .expect_success();
    let got = cluster.path("s3cmd-get.bin");
    s3cmd(
        &gw,
        [
            "get",
            &format!("s3://{bucket}/s3cmd/one-mib.bin"),
            got.to_str().expect("utf8"),
        ],
    )
    .expect_success();
    assert!(
        std::fs::read(&got).expect("read") == files["one-mib.bin"],
        "s3cmd get returned other bytes"
    );
    s3cmd(&gw, ["sync", &src_arg, &format!("s3://{bucket}/s3cmd-sync/")]).expect_success();
    let again = s3cmd(&gw, ["sync", &src_arg, &format!("s3://{bucket}/s3cmd-sync/")]).expect_success();
    assert!(
        !again.combined().contains("upload:"),
        "second s3cmd sync uploaded again:\n{}",
        again.combined()
    );
    let listing = s3cmd(&gw, ["ls", &format!("s3://{bucket}/s3cmd-sync/")]).expect_success();
    assert_eq!(
        listing.stdout_str().lines().count(),
        SIZES.len(),
        "s3cmd ls:\n{}",
        listing.stdout_str()
    );

    // s5cmd: cp up and down, ls shows plaintext sizes.
    s5cmd(
        &gw,
        ["cp", &format!("{}/*", src.display()), &format!("s3://{bucket}/s5cmd/")],
    )
    .expect_success();
    let ls = s5cmd(&gw, ["ls", &format!("s3://{bucket}/s5cmd/*")]).expect_success();
    for (name, data) in &files {
        let line = ls
            .stdout_str()
            .lines()
            .find(|l| l.ends_with(name.as_str()))
            .map(str::to_owned);
        let line = line.unwrap_or_else(|| panic!("s5cmd ls lacks {name}:\n{}", ls.stdout_str()));
        assert!(
            line.split_whitespace().any(|w| w == data.len().to_string()),
            "s5cmd size of {name}: {line}"
        );
    }
    let s5back = cluster.path("s5-back");
    s5cmd(
        &gw,
        [
            "cp",
            &format!("s3://{bucket}/s5cmd/*"),
            &format!("{}/", s5back.display()),
        ],
    )
    .expect_success();
    assert_same_tree(&files, &s5back, "s5cmd");

    // What the regions hold: identical ciphertext, no plaintext, decryptable offline.
    for (name, data) in &files {
        for prefix in ["aws", "rclone", "s5cmd"] {
            cluster.assert_protected_at_rest(&bucket, &format!("{prefix}/{name}"), data);
        }
    }

    // Deletes go to both regions.
    s5cmd(&gw, ["rm", &format!("s3://{bucket}/s5cmd/*")]).expect_success();
    rclone(&gw, ["delete", &remote]).expect_success();
    s3cmd(&gw, ["del", "--recursive", "--force", &format!("s3://{bucket}/s3cmd")]).expect_success();
    aws(&gw, ["s3", "rm", "--recursive", &format!("s3://{bucket}/")]).expect_success();
    for (region, target) in [("a", cluster.a.target()), ("b", cluster.b.target())] {
        let upstream = Cluster::upstream_bucket(region, &bucket);
        let left = aws(&target, ["s3api", "list-objects-v2", "--bucket", &upstream]).expect_success();
        assert!(
            !left.stdout_str().contains("\"Key\""),
            "region {region} still holds objects:\n{}",
            left.stdout_str()
        );
    }
    aws(&gw, ["s3", "rb", &format!("s3://{bucket}")]).expect_success();
}

fn assert_same_tree(files: &BTreeMap<String, Vec<u8>>, dir: &std::path::Path, client: &str) {
    for (name, data) in files {
        let got = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{client}: {name} missing: {e}"));
        assert!(&got == data, "{client}: {name} differs after the round trip");
    }
}

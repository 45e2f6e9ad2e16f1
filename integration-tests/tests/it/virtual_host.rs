//! Virtual-host-style addressing (`bucket.domain`) with `server.domain` set, signed by curl.

use std::process::Command;

use integration_tests::{aws, unique_bucket};

use crate::cluster::Cluster;

const DOMAIN: &str = "s3.twinvault.test";

fn curl(cluster: &Cluster, bucket: &str, args: &[&str], path: &str) -> (String, String) {
    let port = cluster.gw.s3_addr().port();
    let host = format!("{bucket}.{DOMAIN}");
    let out = Command::new("curl")
        .args([
            "-sS",
            "-w",
            "\n%{http_code}",
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
            "--user",
        ])
        .arg(format!("{}:{}", cluster.gw.access_key(), cluster.gw.secret_key()))
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .args(args)
        .arg(format!("http://{host}:{port}{path}"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (body.to_owned(), code.to_owned())
}

#[test]
fn virtual_host_requests_reach_the_bucket_named_in_the_host() {
    let cluster = Cluster::start(|c| c.set("server.domain", DOMAIN));
    let bucket = unique_bucket("vh");
    aws(&cluster.target(), ["s3", "mb", &format!("s3://{bucket}")]).expect_success();
    let payload = "virtual host payload";
    let (_, put) = curl(
        &cluster,
        &bucket,
        &[
            "-X",
            "PUT",
            "--data-binary",
            payload,
            "-H",
            "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        ],
        "/greeting.txt",
    );
    assert_eq!(put, "200", "virtual-host PUT");
    let (body, get) = curl(
        &cluster,
        &bucket,
        &["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"],
        "/greeting.txt",
    );
    assert_eq!((body.as_str(), get.as_str()), (payload, "200"), "virtual-host GET");
    // The same object through path-style addressing.
    let path_style = aws(
        &cluster.target(),
        ["s3", "cp", &format!("s3://{bucket}/greeting.txt"), "-"],
    )
    .expect_success();
    assert_eq!(path_style.stdout_str(), payload);
    let (listing, list) = curl(
        &cluster,
        &bucket,
        &["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"],
        "/?list-type=2",
    );
    assert_eq!(list, "200");
    assert!(listing.contains("<Key>greeting.txt</Key>"), "{listing}");
}

//! The binary's offline commands: `keygen` output pastes into a keyring that `check-config`
//! accepts; `check-config` prints the effective config redacted, or lists every problem.

use std::process::Command;

use integration_tests::Gateway;

fn twinvault(args: &[&str]) -> std::process::Output {
    Command::new(Gateway::binary())
        .args(args)
        .output()
        .expect("run twinvault")
}

const BASE: &str = r#"
[[users]]
access_key_id = "AK"
secret_access_key = "user-secret-value"
[regions.a]
endpoint = "http://127.0.0.1:1"
access_key_id = "A"
secret_access_key = "region-a-secret-value"
[regions.b]
endpoint = "http://127.0.0.1:2"
access_key_id = "B"
secret_access_key = "region-b-secret-value"
"#;

#[test]
fn keygen_output_makes_a_valid_keyring_and_check_config_redacts_it() {
    let keygen = twinvault(&["keygen", "--id", "k-test"]);
    assert!(keygen.status.success());
    let entry = String::from_utf8(keygen.stdout).expect("utf8");
    assert!(
        entry.starts_with("[[keyring.keys]]\nid = \"k-test\"\nkey = \""),
        "{entry}"
    );
    let key = entry
        .lines()
        .nth(2)
        .and_then(|l| l.split('"').nth(1))
        .expect("key value")
        .to_owned();

    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("good.toml");
    std::fs::write(&path, format!("[keyring]\ncurrent = \"k-test\"\n{entry}{BASE}")).expect("write");
    let out = twinvault(&["check-config", "--config", path.to_str().expect("utf8")]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("k-test") && shown.contains("REDACTED"), "{shown}");
    for secret in [
        key.as_str(),
        "user-secret-value",
        "region-a-secret-value",
        "region-b-secret-value",
    ] {
        assert!(!shown.contains(secret), "check-config printed a secret");
    }
}

#[test]
fn check_config_lists_every_problem_and_fails() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bad.toml");
    let bad = r#"
[server]
s3_listen = "nowhere"
bogus_key = 1
"#;
    std::fs::write(&path, bad).expect("write");
    let out = twinvault(&["check-config", "--config", path.to_str().expect("utf8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bogus_key") && err.contains("bad.toml"),
        "unknown key not named with its file: {err}"
    );

    std::fs::write(
        &path,
        format!("[server]\ns3_listen = \"nowhere\"\n[keyring]\ncurrent = \"k9\"\n{BASE}"),
    )
    .expect("write");
    let out = twinvault(&["check-config", "--config", path.to_str().expect("utf8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["server.s3_listen", "keyring.keys", "keyring.current"] {
        assert!(err.contains(needle), "missing {needle}: {err}");
    }
    let missing = twinvault(&["check-config", "--config", "/nonexistent/twinvault.toml"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

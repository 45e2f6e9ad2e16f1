//! Loader tests, run inside `figment::Jail` (temporary files and environment).
#![allow(clippy::result_large_err)] // figment::Jail closures return figment::Error, which is large.

use figment::Jail;

use super::*;

const GOOD: &str = r#"
[server]
s3_listen = "127.0.0.1:9100"
[[users]]
access_key_id = "AK1"
secret_access_key = "user-secret-1"
[keyring]
current = "k1"
[[keyring.keys]]
id = "k1"
key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
[regions.a]
endpoint = "http://127.0.0.1:1"
access_key_id = "A"
secret_access_key = "region-secret-a"
[regions.b]
endpoint = "http://127.0.0.1:2"
access_key_id = "B"
secret_access_key_file = "b.secret"
bucket_template = "{bucket}-eu"
"#;

fn load(jail: &Jail) -> Result<Config, ConfigError> {
    Config::load(&jail.directory().join("twinvault.toml"))
}

#[test]
fn loads_a_good_config_with_defaults_and_secret_files() {
    Jail::expect_with(|jail| {
        jail.create_file("twinvault.toml", GOOD)?;
        jail.create_file("b.secret", "region-secret-b\n")?;
        let config = load(jail).expect("valid");
        assert_eq!(config.server.s3_listen.port(), 9100);
        assert_eq!(config.server.admin_listen.port(), 9090);
        assert_eq!(config.replication.write_policy, WritePolicy::All);
        assert_eq!(config.replication.read_mode, ReadMode::Hedged);
        assert_eq!(config.replication.preferred_region, "a");
        assert_eq!(config.regions[1].secret_access_key.expose(), "region-secret-b");
        assert_eq!(config.regions[1].upstream_bucket("photos"), "photos-eu");
        Ok(())
    });
}

#[test]
fn environment_overrides_nested_keys_and_ignores_non_config_variables() {
    Jail::expect_with(|jail| {
        jail.create_file("twinvault.toml", GOOD)?;
        jail.create_file("b.secret", "region-secret-b")?;
        jail.set_env("TWINVAULT_SERVER__S3_LISTEN", "0.0.0.0:9555");
        jail.set_env("TWINVAULT_REPLICATION__READ_MODE", "race");
        jail.set_env("TWINVAULT_CONFIG", "/elsewhere.toml");
        let config = load(jail).expect("valid");
        assert_eq!(config.server.s3_listen.to_string(), "0.0.0.0:9555");
        assert_eq!(config.replication.read_mode, ReadMode::Race);
        Ok(())
    });
}

#[test]
fn unknown_keys_are_named_with_their_file() {
    Jail::expect_with(|jail| {
        jail.create_file("twinvault.toml", &format!("{GOOD}\n[server2]\nx = 1\n"))?;
        let err = load(jail).expect_err("unknown key");
        let text = err.to_string();
        assert!(text.contains("server2"), "{text}");
        assert!(text.contains("twinvault.toml"), "{text}");
        Ok(())
    });
}

#[test]
fn every_problem_is_reported_together() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "twinvault.toml",
            r#"
[server]
s3_listen = "not-an-address"
[[users]]
access_key_id = "AK1"
secret_access_key = "s1"
[[users]]
access_key_id = "AK1"
secret_access_key = "s2"
[keyring]
current = "k9"
[[keyring.keys]]
id = "k1"
key = "c2hvcnQ="
[[keyring.keys]]
id = "k1"
key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
[regions.a]
endpoint = "http://127.0.0.1:1"
access_key_id = "A"
secret_access_key = "x"
"#,
        )?;
        let problems = load(jail).expect_err("invalid").0;
        let all = problems.join("\n");
        for needle in [
            "server.s3_listen",
            "duplicate access key id",
            "must be 32 bytes",
            "duplicate key id",
            "keyring.current",
            "exactly two regions",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        Ok(())
    });
}

#[test]
fn redacted_output_never_contains_secrets() {
    Jail::expect_with(|jail| {
        jail.create_file("twinvault.toml", GOOD)?;
        jail.create_file("b.secret", "region-secret-b")?;
        let config = load(jail).expect("valid");
        let shown = format!("{}\n{:?}", config.to_redacted_toml(), config);
        for secret in [
            "user-secret-1",
            "region-secret-a",
            "region-secret-b",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked");
        }
        assert!(shown.contains(REDACTED));
        Ok(())
    });
}

#[test]
fn the_example_config_loads() {
    Jail::expect_with(|jail| {
        let example = include_str!("../../../config/twinvault.example.toml");
        let example = example.replace("/etc/twinvault/secrets/region-b-secret", "b.secret");
        jail.create_file("twinvault.toml", &example)?;
        jail.create_file("b.secret", "region-secret-b")?;
        let config = load(jail).expect("example is valid");
        assert_eq!(config.regions.len(), 2);
        Ok(())
    });
}

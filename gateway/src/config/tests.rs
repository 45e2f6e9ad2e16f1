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
        // As shipped: `twinvault check-config --config config/twinvault.example.toml` passes.
        let example = include_str!("../../../config/twinvault.example.toml");
        jail.create_file("twinvault.toml", example)?;
        let config = load(jail).expect("example is valid");
        assert_eq!(config.regions.len(), 2);
        Ok(())
    });
}

#[test]
fn server_limits_have_defaults_and_can_be_set() {
    Jail::expect_with(|jail| {
        jail.create_file("twinvault.toml", GOOD)?;
        jail.create_file("b.secret", "region-secret-b")?;
        let config = load(jail).expect("valid");
        assert_eq!(config.server.max_header_bytes, 64 * 1024);
        assert_eq!(config.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.server.body_idle_timeout, Duration::from_secs(30));
        assert_eq!(config.server.send_stall_timeout, Duration::from_secs(60));
        assert_eq!(config.server.max_connections, 1024);
        assert_eq!(config.server.max_concurrent_requests, 256);

        let limits = "max_header_bytes = 8192\nheader_read_timeout_ms = 1500\nbody_idle_timeout_ms = 2500\n\
                      send_stall_timeout_ms = 3500\nmax_connections = 3\nmax_concurrent_requests = 2\n";
        jail.create_file(
            "twinvault.toml",
            &GOOD.replacen("[server]\n", &format!("[server]\n{limits}"), 1),
        )?;
        let config = load(jail).expect("valid");
        assert_eq!(config.server.max_header_bytes, 8192);
        assert_eq!(config.server.header_read_timeout, Duration::from_millis(1500));
        assert_eq!(config.server.body_idle_timeout, Duration::from_millis(2500));
        assert_eq!(config.server.send_stall_timeout, Duration::from_millis(3500));
        assert_eq!(config.server.max_connections, 3);
        assert_eq!(config.server.max_concurrent_requests, 2);
        Ok(())
    });
}

#[test]
fn server_limits_out_of_range_are_reported_together() {
    Jail::expect_with(|jail| {
        let limits = "max_header_bytes = 8191\nheader_read_timeout_ms = 0\nbody_idle_timeout_ms = 0\n\
                      send_stall_timeout_ms = 0\nmax_connections = 0\nmax_concurrent_requests = 0\n";
        jail.create_file(
            "twinvault.toml",
            &GOOD.replacen("[server]\n", &format!("[server]\n{limits}"), 1),
        )?;
        jail.create_file("b.secret", "region-secret-b")?;
        let all = load(jail).expect_err("invalid").0.join("\n");
        for needle in [
            "server.max_header_bytes: 8191 is not between 8192",
            "server.header_read_timeout_ms: must be at least 1",
            "server.body_idle_timeout_ms: must be at least 1",
            "server.send_stall_timeout_ms: must be at least 1",
            "server.max_connections: 0 is not between 1",
            "server.max_concurrent_requests: 0 is not between 1",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        Ok(())
    });
}

/// A self-signed CA certificate (P-256, valid until 2126); only parsed, never used to connect.
const TEST_CA: &str = r"-----BEGIN CERTIFICATE-----
MIIBrjCCAVOgAwIBAgIUGnkItEL87d5INj+GX7mqMjrbkUkwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYdHdpbnZhdWx0IGNvbmZpZyB0ZXN0IENBMCAXDTI2MTEyNjAz
MjkxOVoYDzIxMjYxMTAyMDMyOTE5WjAjMSEwHwYDVQQDDBh0d2ludmF1bHQgY29u
ZmlnIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATgnp20v04aR2du
3xuuzd8SewlagSRUghpHhyNmXNNSVtKoiLDiwBhFCTS/2r9fur7NQhRT0samLn81
GRYYEPZVo2MwYTAdBgNVHQ4EFgQUMxQbH1ulRChpCedLv4ndHSG6rVYwHwYDVR0j
BBgwFoAUMxQbH1ulRChpCedLv4ndHSG6rVYwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAgQwCgYIKoZIzj0EAwIDSQAwRgIhAIcb14Dr8gZssgxo8IDKRKPg
8CTqwh42oat2o11V7RDFAiEA6/aaXNJFVmoWFVIgpl1vH8JAmnY+NAqtzy42FvWb
yK4=
-----END CERTIFICATE-----
";

/// [`GOOD`] with region a reached over https and trusting `ca.pem`.
fn good_with_ca_bundle() -> String {
    GOOD.replacen(
        "endpoint = \"http://127.0.0.1:1\"",
        "endpoint = \"https://127.0.0.1:1\"\nca_bundle_file = \"ca.pem\"",
        1,
    )
}

#[test]
fn a_ca_bundle_file_is_read_at_load_and_shown_as_its_path() {
    Jail::expect_with(|jail| {
        jail.create_file("twinvault.toml", &good_with_ca_bundle())?;
        jail.create_file("b.secret", "region-secret-b")?;
        // Two certificates, with a non-certificate block between them (ignored, as rustls does).
        let bundle =
            format!("{TEST_CA}-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{TEST_CA}");
        jail.create_file("ca.pem", &bundle)?;
        let config = load(jail).expect("valid");
        let ca_bundle = config.regions[0].ca_bundle.as_ref().expect("region a has a bundle");
        assert_eq!(ca_bundle.path(), Path::new("ca.pem"));
        assert_eq!(ca_bundle.pem(), bundle.as_bytes());
        assert!(config.regions[1].ca_bundle.is_none(), "region b uses the system roots");
        let shown = config.to_redacted_toml();
        assert!(shown.contains("ca_bundle_file = \"ca.pem\""), "{shown}");
        assert!(!shown.contains("BEGIN CERTIFICATE"), "{shown}");
        Ok(())
    });
}

#[test]
fn a_ca_bundle_file_that_is_missing_or_set_on_plain_http_is_reported_with_other_problems() {
    Jail::expect_with(|jail| {
        let config = good_with_ca_bundle().replacen(
            "bucket_template = \"{bucket}-eu\"",
            "bucket_template = \"{bucket}-eu\"\nca_bundle_file = \"b-ca.pem\"",
            1,
        );
        jail.create_file(
            "twinvault.toml",
            &format!("{config}\n[replication]\nread_mode = \"fastest\"\n"),
        )?;
        jail.create_file("b.secret", "region-secret-b")?;
        jail.create_file("b-ca.pem", TEST_CA)?;
        let all = load(jail).expect_err("invalid").0.join("\n");
        for needle in [
            "regions.a.ca_bundle_file: cannot read ca.pem",
            "regions.b.ca_bundle_file: set, but the endpoint \"http://127.0.0.1:2\" is not https://",
            "replication.read_mode",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        Ok(())
    });
}

#[test]
fn a_ca_bundle_file_must_hold_only_usable_pem_certificates_and_at_least_one() {
    let not_a_certificate = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(b"these bytes are no DER certificate")
    );
    let bad_second = format!("{TEST_CA}-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
    let cases = [
        ("", "ca.pem holds no PEM certificate"),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "ca.pem holds no PEM certificate",
        ),
        (bad_second.as_str(), "ca.pem: certificate 2 is not valid PEM"),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n",
            "ca.pem: certificate 1 is not valid PEM",
        ),
        (
            not_a_certificate.as_str(),
            "ca.pem: certificate 1 is not a usable CA certificate",
        ),
    ];
    for (contents, expected) in cases {
        Jail::expect_with(|jail| {
            jail.create_file("twinvault.toml", &good_with_ca_bundle())?;
            jail.create_file("b.secret", "region-secret-b")?;
            jail.create_file("ca.pem", contents)?;
            let all = load(jail).expect_err("invalid bundle").0.join("\n");
            assert!(all.contains(&format!("regions.a.ca_bundle_file: {expected}")), "{all}");
            Ok(())
        });
    }
}

#[test]
fn security_settings_default_to_strict_and_can_be_set() {
    Jail::expect_with(|jail| {
        jail.create_file("twinvault.toml", GOOD)?;
        jail.create_file("b.secret", "region-secret-b")?;
        let config = load(jail).expect("valid");
        assert!(!config.server.allow_sigv2);
        assert!(!config.server.allow_sse_c_over_http);
        assert_eq!(config.multipart.upload_ttl, Duration::from_secs(604_800));

        let server = "allow_sigv2 = true\nallow_sse_c_over_http = true\n";
        let text =
            GOOD.replacen("[server]\n", &format!("[server]\n{server}"), 1) + "[multipart]\nupload_ttl_secs = 3600\n";
        jail.create_file("twinvault.toml", &text)?;
        let config = load(jail).expect("valid");
        assert!(config.server.allow_sigv2 && config.server.allow_sse_c_over_http);
        assert_eq!(config.multipart.upload_ttl, Duration::from_secs(3600));

        jail.set_env("TWINVAULT_MULTIPART__UPLOAD_TTL_SECS", "0");
        let problems = load(jail).expect_err("a zero TTL").0;
        assert_eq!(problems, ["multipart.upload_ttl_secs: must be at least 1 (seconds)"]);
        Ok(())
    });
}

const KMIP: &str = r#"
[[users]]
access_key_id = "AK1"
secret_access_key = "user-secret-1"
[keyring]
provider = "kmip"
current = "kek-2"
[keyring.kmip]
endpoint = "kmip.example.com:5696"
ca_file = "ca.pem"
client_cert_file = "client.pem"
client_key_file = "client.key"
keys = ["kek-1", "kek-2"]
[regions.a]
endpoint = "http://127.0.0.1:1"
access_key_id = "A"
secret_access_key = "region-secret-a"
[regions.b]
endpoint = "http://127.0.0.1:2"
access_key_id = "B"
secret_access_key = "region-secret-b"
"#;

#[test]
fn a_kmip_keyring_names_its_keys_and_has_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file("twinvault.toml", KMIP)?;
        for file in ["ca.pem", "client.pem", "client.key"] {
            jail.create_file(file, "pem")?;
        }
        let config = load(jail).expect("valid");
        let KeyringConfig::Kmip(kmip) = &config.keyring else {
            panic!("not kmip: {:?}", config.keyring);
        };
        assert_eq!(config.keyring.current_id(), "kek-2");
        assert_eq!(kmip.keys, ["kek-2", "kek-1"], "current first, no duplicates");
        assert_eq!(kmip.server_name, "kmip.example.com");
        assert_eq!(kmip.cache_ttl, Duration::from_secs(300));
        assert_eq!(kmip.refresh_interval, Duration::from_secs(30));
        assert!(!kmip.create_missing);
        let shown = config.to_redacted_toml();
        assert!(
            shown.contains("provider = \"kmip\"") && shown.contains("cache_ttl_secs = 300"),
            "{shown}"
        );
        Ok(())
    });
}

#[test]
fn a_kmip_keyring_reports_every_problem() {
    Jail::expect_with(|jail| {
        let bad = KMIP
            .replace("endpoint = \"kmip.example.com:5696\"", "endpoint = \"no-port\"")
            .replace(
                "keys = [\"kek-1\", \"kek-2\"]",
                "keys = [\"kek-1\"]\ncache_ttl_secs = 10\nrefresh_interval_secs = 10",
            )
            + "[[keyring.keys]]\nid = \"k1\"\nkey = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";
        jail.create_file("twinvault.toml", &bad)?;
        let problems = load(jail).expect_err("invalid").0.join("\n");
        for needle in [
            "keyring.keys: not used with provider = \"kmip\"",
            "keyring.kmip.ca_file: ca.pem is not a readable file",
            "keyring.kmip.client_key_file: client.key is not a readable file",
            "keyring.kmip.cache_ttl_secs: 10 must be longer than refresh_interval_secs (10)",
            "keyring.kmip.endpoint: \"no-port\" is not host:port",
        ] {
            assert!(problems.contains(needle), "missing {needle:?} in:\n{problems}");
        }
        jail.create_file(
            "twinvault.toml",
            &KMIP.replace("provider = \"kmip\"", "provider = \"vault\""),
        )?;
        let problems = load(jail).expect_err("invalid").0.join("\n");
        assert!(problems.contains("keyring.provider: \"vault\" is not"), "{problems}");
        Ok(())
    });
}

#[test]
fn ownership_and_audit_settings_default_to_open_and_off_and_are_checked() {
    use super::{KeyNames, UnownedBuckets};
    Jail::expect_with(|jail| {
        jail.create_file("twinvault.toml", GOOD)?;
        jail.create_file("b.secret", "region-secret-b")?;
        let config = load(jail).expect("valid");
        assert_eq!(config.access.unowned_buckets, UnownedBuckets::Everyone);
        assert!(!config.audit.enabled && config.audit.path.is_none());
        assert!(!config.users[0].admin);

        let text = GOOD.replacen("[[users]]\n", "[[users]]\nadmin = true\n", 1)
            + "[access]\nunowned_buckets = \"AK1\"\n[audit]\nenabled = true\npath = \"a.log\"\n\
               key_names = \"hashed\"\nkey_hash_secret = \"sixteen-bytes-or-more\"\n";
        jail.create_file("twinvault.toml", &text)?;
        let config = load(jail).expect("valid");
        assert!(config.users[0].admin);
        assert_eq!(config.access.unowned_buckets, UnownedBuckets::User("AK1".into()));
        assert_eq!(config.audit.key_names, KeyNames::Hashed);
        assert!(
            !config.to_redacted_toml().contains("sixteen-bytes"),
            "hash secret printed"
        );

        let text = GOOD.to_owned() + "[access]\nunowned_buckets = \"NOBODY\"\n[audit]\nkey_names = \"hashed\"\n";
        jail.create_file("twinvault.toml", &text)?;
        let problems = load(jail).expect_err("bad settings").0;
        assert_eq!(
            problems,
            [
                "access.unowned_buckets: \"NOBODY\" is neither \"everyone\" nor the access_key_id of a [[users]] entry",
                "audit.key_names = \"hashed\" needs audit.key_hash_secret (or key_hash_secret_file)",
            ]
        );
        jail.create_file(
            "twinvault.toml",
            &(GOOD.to_owned() + "[audit]\nkey_hash_secret = \"short\"\n"),
        )?;
        let problems = load(jail).expect_err("short secret").0;
        assert_eq!(problems, ["audit.key_hash_secret: at least 16 bytes"]);
        Ok(())
    });
}

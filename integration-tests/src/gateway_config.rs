//! Builder for the gateway's TOML config, wired to two regions with fresh credentials and ports.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use base64::Engine;
use toml::{Table, Value};

use crate::fixtures::{random_bytes, random_token};
use crate::gateway::Gateway;
use crate::ports;
use crate::target::S3Target;

/// A gateway config: one user with random keys, a one-key keyring, `write_policy = "all"`,
/// `read_mode = "primary"`, `preferred_region = "a"`, regions `a` and `b`.
///
/// Any key can be overridden with [`set`](Self::set) (`"replication.write_policy"`) or removed
/// with [`remove`](Self::remove), to test config validation.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    table: Table,
}

impl GatewayConfig {
    /// A config for regions `a` and `b` (e.g. `region_a.target()`, or a proxy in front of it).
    pub fn new(region_a: &S3Target, region_b: &S3Target) -> Self {
        let text = format!(
            r#"
            [server]
            log_format = "text"

            [[users]]
            access_key_id = {user_ak}
            secret_access_key = {user_sk}

            [keyring]
            current = "k1"
            [[keyring.keys]]
            id = "k1"
            key = {key}

            [replication]
            write_policy = "all"
            read_mode = "primary"
            preferred_region = "a"

            [regions.a]
            {a}

            [regions.b]
            {b}
            "#,
            user_ak = quote(&format!("TV{}", random_token(18).to_ascii_uppercase())),
            user_sk = quote(&random_token(40)),
            key = quote(&random_key()),
            a = region_fields(region_a),
            b = region_fields(region_b),
        );
        let table = text
            .parse::<Table>()
            .expect("the built-in gateway config template is valid TOML");
        GatewayConfig { table }
    }

    pub fn write_policy(self, policy: &str) -> Self {
        self.set("replication.write_policy", policy)
    }

    pub fn read_mode(self, mode: &str) -> Self {
        self.set("replication.read_mode", mode)
    }

    pub fn preferred_region(self, region: &str) -> Self {
        self.set("replication.preferred_region", region)
    }

    /// Sets `bucket_template` on both regions (e.g. `"tv-{bucket}"`).
    pub fn bucket_template(self, template: &str) -> Self {
        self.set("regions.a.bucket_template", template)
            .set("regions.b.bucket_template", template)
    }

    /// Adds a keyring key (`key_b64` = base64 of 32 bytes; see [`random_key`]).
    pub fn add_key(mut self, id: &str, key_b64: &str) -> Self {
        let mut entry = Table::new();
        entry.insert("id".into(), id.into());
        entry.insert("key".into(), key_b64.into());
        self.array_mut("keyring", "keys").push(Value::Table(entry));
        self
    }

    /// Makes `id` the key new objects are encrypted with.
    pub fn current_key(self, id: &str) -> Self {
        self.set("keyring.current", id)
    }

    /// Adds another gateway user; the first user stays the one [`Gateway`] exposes.
    pub fn add_user(mut self, access_key: &str, secret_key: &str) -> Self {
        let mut entry = Table::new();
        entry.insert("access_key_id".into(), access_key.into());
        entry.insert("secret_access_key".into(), secret_key.into());
        self.array_mut("", "users").push(Value::Table(entry));
        self
    }

    /// Adds a gateway user with `admin = true` (sees and may use every user's buckets).
    pub fn add_admin_user(mut self, access_key: &str, secret_key: &str) -> Self {
        let mut entry = Table::new();
        entry.insert("access_key_id".into(), access_key.into());
        entry.insert("secret_access_key".into(), secret_key.into());
        entry.insert("admin".into(), true.into());
        self.array_mut("", "users").push(Value::Table(entry));
        self
    }

    /// Adds a gateway user limited to the buckets matching `buckets` (names or `*` patterns).
    pub fn add_restricted_user(mut self, access_key: &str, secret_key: &str, buckets: &[&str]) -> Self {
        let mut entry = Table::new();
        entry.insert("access_key_id".into(), access_key.into());
        entry.insert("secret_access_key".into(), secret_key.into());
        let patterns = buckets.iter().map(|b| Value::from(*b)).collect();
        entry.insert("buckets".into(), Value::Array(patterns));
        self.array_mut("", "users").push(Value::Table(entry));
        self
    }

    /// Sets a dotted key path, creating tables on the way: `.set("server.max_object_size_bytes", 1024)`.
    pub fn set(mut self, path: &str, value: impl Into<Value>) -> Self {
        let (parents, leaf) = split_path(path);
        let mut table = &mut self.table;
        for part in parents {
            let entry = table
                .entry(part.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            table = entry
                .as_table_mut()
                .unwrap_or_else(|| panic!("config key {part} in {path} is not a table"));
        }
        table.insert(leaf.to_string(), value.into());
        self
    }

    /// Removes a dotted key path if present (to test config validation).
    pub fn remove(mut self, path: &str) -> Self {
        let (parents, leaf) = split_path(path);
        let mut table = Some(&mut self.table);
        for part in parents {
            table = table.and_then(|t| t.get_mut(part)).and_then(Value::as_table_mut);
        }
        if let Some(table) = table {
            table.remove(leaf);
        }
        self
    }

    /// The TOML with `server.s3_listen` and `server.admin_listen` set to freshly allocated
    /// loopback ports unless they were set explicitly.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        let mut config = self.clone();
        for key in ["s3_listen", "admin_listen"] {
            let present = config.table.get("server").and_then(|server| server.get(key)).is_some();
            if !present {
                let addr = SocketAddr::from(([127, 0, 0, 1], ports::allocate_one()?));
                config = config.set(&format!("server.{key}"), addr.to_string());
            }
        }
        toml::to_string(&config.table).context("serialize gateway config")
    }

    /// Renders the config and starts a gateway with it (see [`Gateway::start`]).
    pub fn start(&self) -> anyhow::Result<Gateway> {
        Gateway::start(&self.to_toml()?)
    }

    /// The config as a TOML table, for inspection.
    pub fn table(&self) -> &Table {
        &self.table
    }

    fn array_mut(&mut self, table: &str, key: &str) -> &mut Vec<Value> {
        let parent = if table.is_empty() {
            &mut self.table
        } else {
            self.table
                .get_mut(table)
                .and_then(Value::as_table_mut)
                .unwrap_or_else(|| panic!("config has no [{table}] table"))
        };
        parent
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .unwrap_or_else(|| panic!("config key {key} is not an array"))
    }
}

/// A fresh keyring key: base64 of 32 random bytes.
pub fn random_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(random_bytes(32))
}

/// The listen addresses and first user of a rendered config (what [`Gateway`] needs to know).
pub(crate) struct ConfigFacts {
    pub s3_listen: SocketAddr,
    pub admin_listen: Option<SocketAddr>,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for ConfigFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigFacts")
            .field("s3_listen", &self.s3_listen)
            .field("admin_listen", &self.admin_listen)
            .field("access_key", &self.access_key)
            .field("secret_key", &"**REDACTED**")
            .finish()
    }
}

pub(crate) fn facts(config_toml: &str) -> anyhow::Result<ConfigFacts> {
    let table: Table = config_toml.parse().context("gateway config is not valid TOML")?;
    let server = table.get("server").and_then(Value::as_table);
    let addr = |key: &str| -> anyhow::Result<Option<SocketAddr>> {
        match server.and_then(|server| server.get(key)).and_then(Value::as_str) {
            Some(text) => Ok(Some(
                text.parse()
                    .with_context(|| format!("server.{key} = {text:?} is not ip:port"))?,
            )),
            None => Ok(None),
        }
    };
    let Some(s3_listen) = addr("s3_listen")? else {
        bail!("gateway config has no server.s3_listen");
    };
    let user = table
        .get("users")
        .and_then(Value::as_array)
        .and_then(|users| users.first())
        .and_then(Value::as_table);
    let user_field = |key: &str| {
        user.and_then(|user| user.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(ConfigFacts {
        s3_listen,
        admin_listen: addr("admin_listen")?,
        access_key: user_field("access_key_id"),
        secret_key: user_field("secret_access_key"),
    })
}

fn region_fields(target: &S3Target) -> String {
    format!(
        "endpoint = {}\nsigning_region = \"us-east-1\"\naccess_key_id = {}\n\
         secret_access_key = {}\nbucket_template = \"{{bucket}}\"",
        quote(&target.endpoint),
        quote(&target.access_key),
        quote(&target.secret_key)
    )
}

/// A TOML basic string (JSON string escapes are valid TOML).
fn quote(value: &str) -> String {
    serde_json::to_string(value).expect("strings always serialize")
}

fn split_path(path: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let leaf = parts.pop().expect("split yields at least one part");
    (parts, leaf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GatewayConfig {
        let a = S3Target::new("http://127.0.0.1:18006", "AKA", "SKA");
        let b = S3Target::new("http://127.0.0.1:18016", "AKB", "SK\"B");
        GatewayConfig::new(&a, &b)
    }

    #[test]
    fn renders_the_documented_shape() {
        let toml = sample().write_policy("quorum").to_toml().expect("render");
        let table: Table = toml.parse().expect("valid toml");
        assert_eq!(table["replication"]["write_policy"].as_str(), Some("quorum"));
        assert_eq!(table["regions"]["b"]["secret_access_key"].as_str(), Some("SK\"B"));
        assert_eq!(table["regions"]["a"]["bucket_template"].as_str(), Some("{bucket}"));
        assert_eq!(table["keyring"]["keys"][0]["id"].as_str(), Some("k1"));
        let key = table["keyring"]["keys"][0]["key"].as_str().expect("key");
        let raw = base64::engine::general_purpose::STANDARD.decode(key).expect("base64");
        assert_eq!(raw.len(), 32);
        let facts = facts(&toml).expect("facts");
        assert!(facts.admin_listen.is_some());
        assert_ne!(Some(facts.s3_listen), facts.admin_listen);
        assert!(facts.access_key.starts_with("TV"));
    }

    #[test]
    fn set_and_remove_nested_keys() {
        let config = sample()
            .set("server.max_object_size_bytes", 1024)
            .add_key("k2", &random_key())
            .current_key("k2")
            .remove("regions.b.signing_region");
        let table = config.table();
        assert_eq!(table["server"]["max_object_size_bytes"].as_integer(), Some(1024));
        assert_eq!(table["keyring"]["keys"].as_array().map(Vec::len), Some(2));
        assert_eq!(table["keyring"]["current"].as_str(), Some("k2"));
        assert!(table["regions"]["b"].get("signing_region").is_none());
    }
}

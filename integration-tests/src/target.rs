//! Endpoint and credentials of an S3 server: the gateway or a raw SeaweedFS region.

/// Where a client sends requests and how it signs them (SigV4, region `us-east-1`, path style).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Target {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
}

impl S3Target {
    pub fn new(endpoint: impl Into<String>, access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        S3Target {
            endpoint: endpoint.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }
    }

    /// The endpoint without its scheme: `127.0.0.1:PORT`.
    pub fn host_port(&self) -> &str {
        let without_scheme = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, rest)| rest);
        without_scheme.trim_end_matches('/')
    }

    /// The same endpoint with other credentials (e.g. a wrong secret).
    pub fn with_credentials(&self, access_key: &str, secret_key: &str) -> Self {
        S3Target::new(self.endpoint.clone(), access_key, secret_key)
    }
}

impl std::fmt::Debug for S3Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Target")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret_key", &"**REDACTED**")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_strips_scheme_and_slash() {
        let target = S3Target::new("http://127.0.0.1:18006/", "ak", "sk");
        assert_eq!(target.host_port(), "127.0.0.1:18006");
    }
}

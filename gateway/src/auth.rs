//! SigV4 identities: the configured users' secrets, looked up by access key id.

use std::collections::HashMap;

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

use crate::config::UserConfig;

/// The configured users. Unknown access keys get `InvalidAccessKeyId`, as from AWS.
pub struct UserAuth {
    secrets: HashMap<String, SecretKey>,
}

impl UserAuth {
    /// Identities for `users`.
    pub fn new(users: &[UserConfig]) -> Self {
        let secrets = users
            .iter()
            .map(|u| (u.access_key_id.clone(), SecretKey::from(u.secret_access_key.expose())))
            .collect();
        Self { secrets }
    }
}

#[async_trait::async_trait]
impl S3Auth for UserAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.secrets.get(access_key) {
            Some(secret) => Ok(secret.clone()),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "the access key id you provided does not exist in our records"
            )),
        }
    }
}

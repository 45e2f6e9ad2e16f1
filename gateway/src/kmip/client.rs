//! A KMIP 1.2 client over mutual TLS for the four operations the keyring needs: Locate a key by
//! name, Get its bytes, and Create + Activate a new AES-256 key.
//!
//! One TLS connection per refresh (a few requests, seconds apart from the next refresh): no pool
//! to keep healthy, and a key manager that restarts is simply reached again next time.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::ttlv::{Item, Value, item_len};
use super::{ErrorKind, KmipError};
use crate::config::KmipConfig;
use crate::envelope::format::KEY_LEN;

/// The tags used here (KMIP 1.2 spec, section 9.1.3.1).
mod tag {
    pub const ATTRIBUTE: u32 = 0x420008;
    pub const ATTRIBUTE_NAME: u32 = 0x42000A;
    pub const ATTRIBUTE_VALUE: u32 = 0x42000B;
    pub const BATCH_COUNT: u32 = 0x42000D;
    pub const BATCH_ITEM: u32 = 0x42000F;
    pub const CRYPTOGRAPHIC_ALGORITHM: u32 = 0x420028;
    pub const KEY: u32 = 0x42003F;
    pub const KEY_BLOCK: u32 = 0x420040;
    pub const KEY_FORMAT_TYPE: u32 = 0x420042;
    pub const KEY_MATERIAL: u32 = 0x420043;
    pub const KEY_VALUE: u32 = 0x420045;
    pub const NAME_TYPE: u32 = 0x420054;
    pub const NAME_VALUE: u32 = 0x420055;
    pub const OBJECT_TYPE: u32 = 0x420057;
    pub const OPERATION: u32 = 0x42005C;
    pub const PROTOCOL_VERSION: u32 = 0x420069;
    pub const PROTOCOL_VERSION_MAJOR: u32 = 0x42006A;
    pub const PROTOCOL_VERSION_MINOR: u32 = 0x42006B;
    pub const REQUEST_HEADER: u32 = 0x420077;
    pub const REQUEST_MESSAGE: u32 = 0x420078;
    pub const REQUEST_PAYLOAD: u32 = 0x420079;
    pub const RESPONSE_MESSAGE: u32 = 0x42007B;
    pub const RESPONSE_PAYLOAD: u32 = 0x42007C;
    pub const RESULT_MESSAGE: u32 = 0x42007D;
    pub const RESULT_REASON: u32 = 0x42007E;
    pub const RESULT_STATUS: u32 = 0x42007F;
    pub const SYMMETRIC_KEY: u32 = 0x42008F;
    pub const TEMPLATE_ATTRIBUTE: u32 = 0x420091;
    pub const UNIQUE_IDENTIFIER: u32 = 0x420094;
}

/// A KMIP operation this client sends; its name labels the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Create a symmetric key.
    Create = 0x01,
    /// Find objects by attribute.
    Locate = 0x08,
    /// Fetch an object.
    Get = 0x0A,
    /// Move an object to the Active state.
    Activate = 0x12,
}

impl Operation {
    /// The `operation` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Locate => "locate",
            Self::Get => "get",
            Self::Activate => "activate",
        }
    }
}

const OBJECT_SYMMETRIC_KEY: u32 = 0x02;
const ALGORITHM_AES: u32 = 0x03;
const KEY_FORMAT_RAW: u32 = 0x01;
const NAME_UNINTERPRETED_TEXT: u32 = 0x01;
const USAGE_ENCRYPT_DECRYPT: i32 = 0x04 | 0x08;
const RESULT_SUCCESS: u32 = 0x00;
const RESULT_REASON_ITEM_NOT_FOUND: u32 = 0x01;
const RESULT_REASON_PERMISSION_DENIED: u32 = 0x0C;
/// An answer far larger than any of these operations' (a key is a few hundred bytes).
const MAX_RESPONSE: usize = 1 << 20;

/// Where the key manager is and how to prove who we are: built once from the configuration.
#[derive(Clone)]
pub struct Connector {
    tls: TlsConnector,
    endpoint: String,
    server_name: ServerName<'static>,
    timeout: Duration,
}

impl Connector {
    /// Reads the CA and the client certificate and key; fails on a missing or unreadable file.
    pub fn new(config: &KmipConfig) -> Result<Self, KmipError> {
        let tls_error = |what: String| KmipError::new(ErrorKind::Config, what);
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(&config.ca_file)? {
            roots
                .add(cert)
                .map_err(|e| tls_error(format!("{}: {e}", config.ca_file.display())))?;
        }
        let chain = read_certs(&config.client_cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&config.client_key_file)
            .map_err(|e| tls_error(format!("{}: no private key: {e}", config.client_key_file.display())))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_error(format!("client certificate and key: {e}")))?;
        let server_name = ServerName::try_from(config.server_name.clone()).map_err(|_| {
            tls_error(format!(
                "keyring.kmip.server_name {:?} is not a host name",
                config.server_name
            ))
        })?;
        Ok(Self {
            tls: TlsConnector::from(Arc::new(tls)),
            endpoint: config.endpoint.clone(),
            server_name,
            timeout: config.timeout,
        })
    }

    /// A session: TCP connect and the TLS handshake, each within the configured timeout.
    pub async fn connect(&self) -> Result<Session, KmipError> {
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&self.endpoint))
            .await
            .map_err(|_| KmipError::new(ErrorKind::Timeout, format!("connect to {}: timed out", self.endpoint)))?
            .map_err(|e| KmipError::new(ErrorKind::Connect, format!("connect to {}: {e}", self.endpoint)))?;
        let _ = tcp.set_nodelay(true);
        let stream = tokio::time::timeout(self.timeout, self.tls.connect(self.server_name.clone(), tcp))
            .await
            .map_err(|_| {
                KmipError::new(
                    ErrorKind::Timeout,
                    format!("TLS handshake with {}: timed out", self.endpoint),
                )
            })?
            .map_err(|e| KmipError::new(ErrorKind::Tls, format!("TLS handshake with {}: {e}", self.endpoint)))?;
        Ok(Session {
            stream,
            timeout: self.timeout,
            endpoint: self.endpoint.clone(),
        })
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, KmipError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| KmipError::new(ErrorKind::Config, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(KmipError::new(
            ErrorKind::Config,
            format!("{}: no certificate in it", path.display()),
        ));
    }
    Ok(certs)
}

/// One TLS connection to the key manager. Every call reports its latency and outcome to
/// `observe`.
pub struct Session {
    stream: TlsStream<TcpStream>,
    timeout: Duration,
    endpoint: String,
}

/// What a call reports: the operation, how long it took and, when it failed, why.
pub type Observer<'a> = &'a (dyn Fn(Operation, Duration, Option<ErrorKind>) + Send + Sync);

impl Session {
    /// The unique identifiers of the symmetric keys named `name`.
    pub async fn locate(&mut self, name: &str, observe: Observer<'_>) -> Result<Vec<String>, KmipError> {
        let payload = vec![
            Item::new(tag::OBJECT_TYPE, Value::Enumeration(OBJECT_SYMMETRIC_KEY)).into_attribute("Object Type"),
            name_attribute(name),
        ];
        let answer = self.call(Operation::Locate, payload, observe).await?;
        Ok(answer
            .children_with(tag::UNIQUE_IDENTIFIER)
            .filter_map(|i| i.text().map(str::to_owned))
            .collect())
    }

    /// The raw bytes of the AES-256 key `id`.
    pub async fn get_key(&mut self, id: &str, observe: Observer<'_>) -> Result<[u8; KEY_LEN], KmipError> {
        let payload = vec![
            Item::new(tag::UNIQUE_IDENTIFIER, Value::Text(id.to_owned())),
            Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(KEY_FORMAT_RAW)),
        ];
        let answer = self.call(Operation::Get, payload, observe).await?;
        key_bytes(&answer).ok_or_else(|| {
            KmipError::new(
                ErrorKind::Protocol,
                format!("Get {id:?}: not a 256-bit AES key in raw format"),
            )
        })
    }

    /// Creates an AES-256 key named `name` for encrypt/decrypt use and activates it; its id.
    pub async fn create_key(&mut self, name: &str, observe: Observer<'_>) -> Result<String, KmipError> {
        let attributes = vec![
            Item::new(tag::CRYPTOGRAPHIC_ALGORITHM, Value::Enumeration(ALGORITHM_AES))
                .into_attribute("Cryptographic Algorithm"),
            Item::new(0, Value::Integer(256)).into_attribute("Cryptographic Length"),
            Item::new(0, Value::Integer(USAGE_ENCRYPT_DECRYPT)).into_attribute("Cryptographic Usage Mask"),
            name_attribute(name),
        ];
        let payload = vec![
            Item::new(tag::OBJECT_TYPE, Value::Enumeration(OBJECT_SYMMETRIC_KEY)),
            Item::structure(tag::TEMPLATE_ATTRIBUTE, attributes),
        ];
        let answer = self.call(Operation::Create, payload, observe).await?;
        let id = unique_id(&answer, Operation::Create)?;
        let payload = vec![Item::new(tag::UNIQUE_IDENTIFIER, Value::Text(id.clone()))];
        let answer = self.call(Operation::Activate, payload, observe).await?;
        unique_id(&answer, Operation::Activate)?;
        Ok(id)
    }

    /// Sends one request and returns the response payload of a successful answer.
    async fn call(&mut self, op: Operation, payload: Vec<Item>, observe: Observer<'_>) -> Result<Item, KmipError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.exchange(op, payload))
            .await
            .unwrap_or_else(|_| {
                Err(KmipError::new(
                    ErrorKind::Timeout,
                    format!("{} at {}: no answer in time", op.label(), self.endpoint),
                ))
            });
        observe(op, started.elapsed(), result.as_ref().err().map(|e| e.kind));
        result
    }

    async fn exchange(&mut self, op: Operation, payload: Vec<Item>) -> Result<Item, KmipError> {
        let request = request_message(op, payload).encode();
        let io =
            |e: std::io::Error| KmipError::new(ErrorKind::Connect, format!("{} at {}: {e}", op.label(), self.endpoint));
        self.stream.write_all(&request).await.map_err(io)?;
        self.stream.flush().await.map_err(io)?;
        let mut head = [0u8; 8];
        self.stream.read_exact(&mut head).await.map_err(io)?;
        let total = item_len(&head);
        if total > MAX_RESPONSE {
            return Err(KmipError::new(
                ErrorKind::Protocol,
                format!("{}: answer of {total} bytes", op.label()),
            ));
        }
        let mut message = vec![0u8; total];
        message[..8].copy_from_slice(&head);
        self.stream.read_exact(&mut message[8..]).await.map_err(io)?;
        let response =
            Item::decode(&message).map_err(|e| KmipError::new(ErrorKind::Protocol, format!("{}: {e}", op.label())))?;
        response_payload(op, response)
    }
}

impl Item {
    /// This value wrapped as a 1.x `Attribute` named `name` (the item's own tag is replaced).
    fn into_attribute(self, name: &str) -> Item {
        Item::structure(
            tag::ATTRIBUTE,
            vec![
                Item::new(tag::ATTRIBUTE_NAME, Value::Text(name.to_owned())),
                Item::new(tag::ATTRIBUTE_VALUE, self.value),
            ],
        )
    }
}

fn name_attribute(name: &str) -> Item {
    Item::structure(
        0,
        vec![
            Item::new(tag::NAME_VALUE, Value::Text(name.to_owned())),
            Item::new(tag::NAME_TYPE, Value::Enumeration(NAME_UNINTERPRETED_TEXT)),
        ],
    )
    .into_attribute("Name")
}

/// A request message of one batch item, KMIP 1.2.
fn request_message(op: Operation, payload: Vec<Item>) -> Item {
    let version = Item::structure(
        tag::PROTOCOL_VERSION,
        vec![
            Item::new(tag::PROTOCOL_VERSION_MAJOR, Value::Integer(1)),
            Item::new(tag::PROTOCOL_VERSION_MINOR, Value::Integer(2)),
        ],
    );
    Item::structure(
        tag::REQUEST_MESSAGE,
        vec![
            Item::structure(
                tag::REQUEST_HEADER,
                vec![version, Item::new(tag::BATCH_COUNT, Value::Integer(1))],
            ),
            Item::structure(
                tag::BATCH_ITEM,
                vec![
                    Item::new(tag::OPERATION, Value::Enumeration(op as u32)),
                    Item::structure(tag::REQUEST_PAYLOAD, payload),
                ],
            ),
        ],
    )
}

/// The payload of a successful answer, or the key manager's refusal as an error.
fn response_payload(op: Operation, response: Item) -> Result<Item, KmipError> {
    let protocol = |what: &str| KmipError::new(ErrorKind::Protocol, format!("{}: {what}", op.label()));
    if response.tag != tag::RESPONSE_MESSAGE {
        return Err(protocol("not a response message"));
    }
    let batch = response
        .child(tag::BATCH_ITEM)
        .ok_or_else(|| protocol("no batch item"))?;
    let status = batch
        .child(tag::RESULT_STATUS)
        .and_then(Item::enumeration)
        .ok_or_else(|| protocol("no result status"))?;
    if status != RESULT_SUCCESS {
        let reason = batch.child(tag::RESULT_REASON).and_then(Item::enumeration);
        let message = batch.child(tag::RESULT_MESSAGE).and_then(Item::text).unwrap_or("");
        let kind = match reason {
            Some(RESULT_REASON_ITEM_NOT_FOUND) => ErrorKind::NotFound,
            Some(RESULT_REASON_PERMISSION_DENIED) => ErrorKind::Denied,
            _ => ErrorKind::Refused,
        };
        // The server's message names the failure, never key bytes (those only travel in Get
        // answers, which succeeded if they carry any).
        return Err(KmipError::new(
            kind,
            format!(
                "{} refused by the key manager (status {status}, reason {}): {message}",
                op.label(),
                reason.map_or_else(|| "none".to_owned(), |r| r.to_string())
            ),
        ));
    }
    Ok(batch
        .child(tag::RESPONSE_PAYLOAD)
        .cloned()
        .unwrap_or_else(|| Item::structure(tag::RESPONSE_PAYLOAD, Vec::new())))
}

fn unique_id(payload: &Item, op: Operation) -> Result<String, KmipError> {
    payload
        .child(tag::UNIQUE_IDENTIFIER)
        .and_then(Item::text)
        .map(str::to_owned)
        .ok_or_else(|| KmipError::new(ErrorKind::Protocol, format!("{}: no unique identifier", op.label())))
}

/// The 32 key bytes of a Get answer: Symmetric Key / Key Block / Key Value / Key Material,
/// either raw bytes or a transparent key's `Key`.
fn key_bytes(payload: &Item) -> Option<[u8; KEY_LEN]> {
    let block = payload.child(tag::SYMMETRIC_KEY)?.child(tag::KEY_BLOCK)?;
    if let Some(alg) = block.child(tag::CRYPTOGRAPHIC_ALGORITHM).and_then(Item::enumeration)
        && alg != ALGORITHM_AES
    {
        return None;
    }
    let material = block.child(tag::KEY_VALUE)?.child(tag::KEY_MATERIAL)?;
    let bytes = material
        .bytes()
        .or_else(|| material.child(tag::KEY).and_then(Item::bytes))?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u32, extra: Vec<Item>) -> Item {
        let mut batch = vec![
            Item::new(tag::OPERATION, Value::Enumeration(Operation::Get as u32)),
            Item::new(tag::RESULT_STATUS, Value::Enumeration(status)),
        ];
        batch.extend(extra);
        Item::structure(tag::RESPONSE_MESSAGE, vec![Item::structure(tag::BATCH_ITEM, batch)])
    }

    fn get_payload(material: Item, alg: u32) -> Item {
        Item::structure(
            tag::RESPONSE_PAYLOAD,
            vec![Item::structure(
                tag::SYMMETRIC_KEY,
                vec![Item::structure(
                    tag::KEY_BLOCK,
                    vec![
                        Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(KEY_FORMAT_RAW)),
                        Item::structure(tag::KEY_VALUE, vec![material]),
                        Item::new(tag::CRYPTOGRAPHIC_ALGORITHM, Value::Enumeration(alg)),
                    ],
                )],
            )],
        )
    }

    #[test]
    fn request_has_the_1_2_header_and_one_batch_item() {
        let msg = request_message(Operation::Locate, vec![name_attribute("kek-1")]);
        let decoded = Item::decode(&msg.encode()).expect("decodes");
        let header = decoded.child(tag::REQUEST_HEADER).expect("header");
        let version = header.child(tag::PROTOCOL_VERSION).expect("version");
        assert_eq!(
            version.child(tag::PROTOCOL_VERSION_MAJOR).and_then(Item::integer),
            Some(1)
        );
        assert_eq!(
            version.child(tag::PROTOCOL_VERSION_MINOR).and_then(Item::integer),
            Some(2)
        );
        let batch = decoded.child(tag::BATCH_ITEM).expect("batch");
        assert_eq!(batch.child(tag::OPERATION).and_then(Item::enumeration), Some(0x08));
        let attr = batch
            .child(tag::REQUEST_PAYLOAD)
            .and_then(|p| p.child(tag::ATTRIBUTE))
            .expect("attribute");
        assert_eq!(attr.child(tag::ATTRIBUTE_NAME).and_then(Item::text), Some("Name"));
        let name = attr.child(tag::ATTRIBUTE_VALUE).expect("value");
        assert_eq!(name.child(tag::NAME_VALUE).and_then(Item::text), Some("kek-1"));
    }

    #[test]
    fn reads_raw_and_transparent_key_material() {
        let raw = get_payload(Item::new(tag::KEY_MATERIAL, Value::Bytes(vec![7; 32])), ALGORITHM_AES);
        assert_eq!(key_bytes(&raw), Some([7; 32]));
        let transparent = get_payload(
            Item::structure(tag::KEY_MATERIAL, vec![Item::new(tag::KEY, Value::Bytes(vec![8; 32]))]),
            ALGORITHM_AES,
        );
        assert_eq!(key_bytes(&transparent), Some([8; 32]));
        let short = get_payload(Item::new(tag::KEY_MATERIAL, Value::Bytes(vec![7; 16])), ALGORITHM_AES);
        assert_eq!(key_bytes(&short), None, "AES-128 is not a KEK here");
        let des = get_payload(Item::new(tag::KEY_MATERIAL, Value::Bytes(vec![7; 32])), 0x02);
        assert_eq!(key_bytes(&des), None, "not AES");
    }

    #[test]
    fn failures_carry_their_kind_and_message_but_no_payload() {
        let not_found = answer(
            0x01,
            vec![
                Item::new(tag::RESULT_REASON, Value::Enumeration(RESULT_REASON_ITEM_NOT_FOUND)),
                Item::new(tag::RESULT_MESSAGE, Value::Text("no such object".into())),
            ],
        );
        let e = response_payload(Operation::Get, not_found).expect_err("refused");
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.to_string().contains("no such object"), "{e}");
        let denied = answer(
            0x01,
            vec![Item::new(
                tag::RESULT_REASON,
                Value::Enumeration(RESULT_REASON_PERMISSION_DENIED),
            )],
        );
        assert_eq!(
            response_payload(Operation::Get, denied).expect_err("denied").kind,
            ErrorKind::Denied
        );
        let ok = answer(
            0,
            vec![get_payload(Item::new(tag::KEY_MATERIAL, Value::Bytes(vec![1; 32])), 3)],
        );
        let payload = response_payload(Operation::Get, ok).expect("success");
        assert_eq!(key_bytes(&payload), Some([1; 32]));
        let wrong = Item::structure(tag::REQUEST_MESSAGE, vec![]);
        assert_eq!(
            response_payload(Operation::Get, wrong)
                .expect_err("not a response")
                .kind,
            ErrorKind::Protocol
        );
    }
}

//! Logging and tracing: the subscriber (stderr, text or JSON, filtered by `RUST_LOG`), the
//! span of each S3 request and of each upstream call, and the request id clients get back.
//!
//! Span layout (fields are span fields, never metric labels):
//! - `s3_request{operation, request_id, access_key}`: one per S3 request that reaches a handler
//!   (`access_key`: the access key id it was signed with, never the secret), entered while the
//!   handler runs (`api::Gateway::observe`). The same `request_id` is returned as
//!   `x-amz-request-id` and, in error bodies, as `<RequestId>`.
//! - `upstream{region, operation}`: one per upstream call, a child of the request's span when
//!   the call serves a request (the repair loop's calls have no parent).
//!
//! No span or event carries a secret, an object key or body, an SSE-C header or a presigned
//! signature; s3s's own debug output, which prints whole requests, is never let through.

use std::fmt;

use http::HeaderValue;
use s3s::{S3Error, S3Response};
use tracing::{Level, Span};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Default filter: lifecycle at info; s3s logs every rejected request at error, which is
/// client noise, not an operator problem.
const DEFAULT_FILTER: &str = "info,s3s=off,aws_smithy_runtime=warn,aws_sdk_s3=warn,hyper=warn";

/// The response header S3 clients read the request id from.
pub const REQUEST_ID_HEADER: &str = "x-amz-request-id";

/// Installs the global subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = subscriber(format, filter, std::io::stderr).try_init();
}

/// The subscriber [`init`] installs, writing to `writer` (tests capture it).
fn subscriber<W>(format: LogFormat, filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let output = tracing_subscriber::fmt::layer().with_writer(writer);
    let output = match format {
        LogFormat::Text => output.boxed(),
        LogFormat::Json => output.json().boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(no_raw_requests())
        .with(output)
}

/// Drops s3s's debug and trace output whatever `RUST_LOG` says: it prints whole requests,
/// headers included (`Authorization`, SSE-C keys, presigned signatures).
fn no_raw_requests() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    FilterFn::new(|meta| {
        let s3s = meta.target() == "s3s" || meta.target().starts_with("s3s::");
        !(s3s && *meta.level() > Level::INFO)
    })
}

/// The id of one S3 request: 16 upper-case hex digits, the shape of S3's own ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(format!("{:016X}", rand::random::<u64>()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn header_value(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.0).ok()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The span of one S3 request. INFO so that it is on under the default filter: a span prints
/// nothing by itself, it only gives the request's warnings and errors their context.
pub fn request_span(operation: &'static str, id: &RequestId, access_key: Option<&str>) -> Span {
    tracing::info_span!("s3_request", operation, request_id = %id, access_key = access_key.unwrap_or("-"))
}

/// The span of one upstream call to `region`.
pub fn upstream_span(region: &str, operation: &'static str) -> Span {
    tracing::info_span!("upstream", region, operation)
}

/// Returns `id` to the client of a successful request (`x-amz-request-id`).
pub fn tag_response<T>(response: &mut S3Response<T>, id: &RequestId) {
    if let Some(value) = id.header_value() {
        response.headers.insert(REQUEST_ID_HEADER, value);
    }
}

/// Returns `id` to the client of a failed request: `<RequestId>` in the XML body and
/// `x-amz-request-id`. s3s answers an error with exactly the headers the error carries, so the
/// XML content type is set here too.
pub fn tag_error(error: &mut S3Error, id: &RequestId) {
    error.set_request_id(id.as_str());
    let mut headers = error.headers().cloned().unwrap_or_default();
    if let Some(value) = id.header_value() {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    }
    error.set_headers(headers);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use s3s::S3ErrorCode;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::Context;
    use tracing_subscriber::registry::LookupSpan;

    use super::*;

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn request_ids_are_sixteen_hex_digits_and_fresh() {
        let (a, b) = (RequestId::random(), RequestId::random());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.as_str().len(), 16, "{id}");
            assert!(id.as_str().chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
    }

    #[tokio::test]
    async fn error_answers_carry_the_request_id_in_header_and_body() {
        let id = RequestId::random();
        let mut error = S3Error::with_message(S3ErrorCode::NoSuchKey, "the specified key does not exist");
        tag_error(&mut error, &id);
        let response = error.to_http_response().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 404);
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header(REQUEST_ID_HEADER), Some(id.as_str()));
        assert_eq!(header("content-type"), Some("application/xml"));
        let body = response.body().bytes().unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(&format!("<RequestId>{id}</RequestId>")), "{body}");
        assert!(body.contains("<Code>NoSuchKey</Code>"), "{body}");
    }

    #[test]
    fn success_answers_carry_the_request_id_header() {
        let id = RequestId::random();
        let mut response = S3Response::new(());
        tag_response(&mut response, &id);
        assert_eq!(
            response.headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()),
            Some(id.as_str())
        );
    }

    #[test]
    fn s3s_debug_output_never_reaches_the_log_whatever_rust_log_says() {
        let out = Captured::default();
        let subscriber = subscriber(LogFormat::Text, EnvFilter::new("trace"), out.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "s3s::service", "x-amz-server-side-encryption-customer-key: c2VjcmV0");
            tracing::trace!(target: "s3s", "raw request");
            tracing::info!(target: "s3s::ops", "s3s info stays");
            tracing::debug!(target: "twinvault::api", "our debug stays");
        });
        let text = out.text();
        assert!(
            !text.contains("customer-key") && !text.contains("raw request"),
            "{text}"
        );
        assert!(
            text.contains("s3s info stays") && text.contains("our debug stays"),
            "{text}"
        );
    }

    #[test]
    fn json_lines_carry_the_request_and_upstream_span_fields() {
        let out = Captured::default();
        let subscriber = subscriber(LogFormat::Json, EnvFilter::new("info"), out.clone());
        let id = RequestId::random();
        tracing::subscriber::with_default(subscriber, || {
            request_span("PutObject", &id, Some("TVUSER")).in_scope(|| {
                upstream_span("b", "PutObject").in_scope(|| tracing::warn!("upstream slow"));
            });
        });
        let text = out.text();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
        let spans = &line["spans"];
        assert_eq!(spans[0]["name"], "s3_request", "{line}");
        assert_eq!(spans[0]["operation"], "PutObject", "{line}");
        assert_eq!(spans[0]["request_id"], id.as_str(), "{line}");
        assert_eq!(spans[0]["access_key"], "TVUSER", "{line}");
        assert_eq!(spans[1]["name"], "upstream", "{line}");
        assert_eq!(spans[1]["region"], "b", "{line}");
        assert_eq!(line["level"], "WARN", "{line}");
    }

    // === In-process end to end: the real server over two embedded regions ===

    /// One span as it was opened: its fields and its parent's.
    #[derive(Clone, Debug)]
    struct OpenedSpan {
        name: &'static str,
        fields: BTreeMap<String, String>,
        parent: Option<(&'static str, BTreeMap<String, String>)>,
    }

    #[derive(Default)]
    struct FieldText(BTreeMap<String, String>);

    impl Visit for FieldText {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    /// Records every span opened, with its parent.
    #[derive(Clone, Default)]
    struct SpanLog(Arc<Mutex<Vec<OpenedSpan>>>);

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanLog {
        fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
            let mut fields = FieldText::default();
            attrs.record(&mut fields);
            let Some(span) = ctx.span(id) else { return };
            let parent = span.parent().and_then(|p| {
                let parent_fields = p.extensions().get::<BTreeMap<String, String>>().cloned()?;
                Some((p.name(), parent_fields))
            });
            span.extensions_mut().insert(fields.0.clone());
            if let Ok(mut log) = self.0.lock() {
                log.push(OpenedSpan {
                    name: span.name(),
                    fields: fields.0,
                    parent,
                });
            }
        }
    }

    fn s3_client(config: &crate::config::Config, endpoint: std::net::SocketAddr) -> aws_sdk_s3::Client {
        let user = &config.users[0];
        let credentials = aws_sdk_s3::config::Credentials::new(
            &user.access_key_id,
            user.secret_access_key.expose(),
            None,
            None,
            "test",
        );
        let sdk = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(format!("http://{endpoint}"))
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(sdk)
    }

    /// PutObject and a GET of a missing key against the real server (two embedded s3s-fs
    /// regions over loopback); returns each answer's `x-amz-request-id`.
    async fn put_then_get_missing(dir: &std::path::Path) -> (String, String) {
        use aws_sdk_s3::operation::RequestId as _;
        let path = crate::quickstart::ensure_config(dir, "127.0.0.1:0", "127.0.0.1:0").expect("config");
        let config = crate::quickstart::start_regions(dir, &path, "127.0.0.1:0", "127.0.0.1:0")
            .await
            .expect("regions");
        let (_tx, shutdown) = tokio::sync::watch::channel(false);
        let (s3_addr, _admin, serving) = crate::server::bind_and_serve(&config, shutdown).await.expect("serve");
        tokio::spawn(serving);
        let client = s3_client(&config, s3_addr);
        client
            .create_bucket()
            .bucket("traced")
            .send()
            .await
            .expect("create bucket");
        let put = client
            .put_object()
            .bucket("traced")
            .key("k")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hello"))
            .send()
            .await
            .expect("put");
        let missing = client
            .get_object()
            .bucket("traced")
            .key("missing")
            .send()
            .await
            .expect_err("missing key");
        let put_id = put.request_id().unwrap_or_default().to_owned();
        let missing_id = missing.request_id().unwrap_or_default().to_owned();
        (put_id, missing_id)
    }

    #[test]
    fn requests_and_their_upstream_calls_are_traced_under_the_id_the_client_gets() {
        let log = SpanLog::default();
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(log.clone()));
        let dir = tempfile::tempdir().expect("temp dir");
        // One thread: every task the server spawns runs under this thread's subscriber.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (put_id, missing_id) = runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(60), put_then_get_missing(dir.path()))
                .await
                .expect("requests finish")
        });
        let spans = log.0.lock().map(|s| s.clone()).unwrap_or_default();
        let request = |id: &str| {
            spans
                .iter()
                .find(|s| s.name == "s3_request" && s.fields.get("request_id").map(String::as_str) == Some(id))
                .unwrap_or_else(|| panic!("no s3_request span with request_id {id:?}: {spans:#?}"))
        };
        assert_eq!(put_id.len(), 16, "{put_id:?}");
        assert_eq!(request(&put_id).fields["operation"], "PutObject");
        assert_eq!(request(&missing_id).fields["operation"], "GetObject");
        assert_ne!(put_id, missing_id);

        // The PUT's upstream calls are its children: the bucket check, then one PUT per region.
        let mut regions: Vec<&str> = spans
            .iter()
            .filter(|s| s.name == "upstream")
            .filter(|s| {
                s.parent
                    .as_ref()
                    .is_some_and(|(name, f)| *name == "s3_request" && f.get("request_id") == Some(&put_id))
            })
            .filter(|s| s.fields["operation"] != "HeadBucket")
            .map(|s| {
                assert_eq!(s.fields["operation"], "PutObject", "{s:?}");
                s.fields["region"].as_str()
            })
            .collect();
        regions.sort_unstable();
        assert_eq!(regions, ["a", "b"]);
        // No span field holds an object key.
        for span in &spans {
            for value in span.fields.values() {
                assert_ne!(value, "missing", "{span:?}");
                assert_ne!(value, "k", "{span:?}");
            }
        }
    }
}

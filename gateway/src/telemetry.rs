//! Logging setup: tracing to stderr, text or JSON, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Default filter: lifecycle at info; s3s logs every rejected request at error, which is
/// client noise, not an operator problem.
const DEFAULT_FILTER: &str = "info,s3s=off,aws_smithy_runtime=warn,aws_sdk_s3=warn,hyper=warn";

/// Installs the global subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

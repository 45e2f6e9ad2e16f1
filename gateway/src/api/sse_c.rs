//! SSE-C headers of a request (or of its copy source), parsed into the object layer's key.

/// The SSE-C key of a request whose input has the three usual `sse_customer_*` fields.
macro_rules! request_sse_c {
    ($input:expr) => {
        $crate::store::SseC::from_headers(
            $input.sse_customer_algorithm.as_deref(),
            $input.sse_customer_key.as_deref(),
            $input.sse_customer_key_md5.as_deref(),
        )
    };
}
pub(super) use request_sse_c;

/// The SSE-C key of a copy's source (`x-amz-copy-source-server-side-encryption-customer-*`).
macro_rules! copy_source_sse_c {
    ($input:expr) => {
        $crate::store::SseC::from_headers(
            $input.copy_source_sse_customer_algorithm.as_deref(),
            $input.copy_source_sse_customer_key.as_deref(),
            $input.copy_source_sse_customer_key_md5.as_deref(),
        )
    };
}
pub(super) use copy_source_sse_c;

/// The response's SSE-C echo (algorithm, key MD5) for `sse_c`.
pub(super) fn echo(sse_c: Option<&crate::store::SseC>) -> (Option<String>, Option<String>) {
    crate::store::SseC::echo(sse_c)
}

//! twinvault integration tests: one binary, real SeaweedFS regions, the real gateway binary
//! and real S3 CLIs (run `scripts/install-test-deps.sh` first).

mod harness_smoke; // the harness itself: two regions, every client, restart, missing buckets
// mod put_get;         // gateway data path with every client: PUT/GET/HEAD/LIST/DELETE, ciphertext at rest
// mod multipart;       // multipart uploads through the gateway, ETags, abort, list parts
// mod degraded_region; // one region down/paused: write policies, read fallback, error codes
// mod hedge;           // slow region: hedged reads answer from the fast one
// mod repair;          // writes missed by a region are repaired once it is back
// mod sse_c;           // SSE-C keys: right key, wrong key, missing key
// mod metrics;         // /metrics series move for each subsystem

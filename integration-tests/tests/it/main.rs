//! twinvault integration tests: one binary, real SeaweedFS regions, the real gateway binary
//! and real S3 CLIs (run `scripts/install-test-deps.sh` first).

mod access; // [[users]] buckets = [...]: AccessDenied elsewhere, ListBuckets filtered
mod cli; // the binary offline: keygen, check-config good and bad
mod cluster; // shared: two regions + gateway, at-rest checks (identical ciphertext, no plaintext, offline decrypt)
mod consistency; // Jepsen-style: 2 gateways, 4 workers on 8 keys, nemesis (kill/pause regions, kill gateways, latency, cuts), repair, per-key check
mod copy; // CopyObject: server-side, rebound to the new name, conditions, aws s3 cp between buckets
mod degraded_region; // one region down: failover reads, 503 on writes with policy "all"
mod faults; // region b behind a fault proxy (5xx, drops, cuts, silence) under policy "one"
mod format_vectors; // docs/FORMAT.md's vectors, opened by an independent Python decryptor
mod harness_smoke; // the harness itself: two regions, every client, restart, missing buckets
mod hedge; // hedged reads: a slow region loses to the fast one; a missing copy fails over
mod kmip; // keys in a real KMIP key manager (pykmip-server): refused starts, round trips, decrypt offline, rotation, outage, no key bytes anywhere
mod lagging_region; // policy one, a region back but behind: reads never return what it missed, via either gateway
mod large_objects; // 8 concurrent 1 GiB PUTs and GETs, generated on the fly; gateway peak RSS < 256 MiB
mod limits; // slowloris heads and bodies cut off while others are served; 431, 503 SlowDown, max_connections
mod metrics; // /metrics series move for requests, upstream calls, replication, reads
mod multipart; // multipart uploads: boto3 edge cases, aws-cli/rclone/s5cmd multipart, at rest
mod ownership; // two users and an admin: the other's bucket refused everywhere (boto3, aws-cli), own buckets listed page by page, kept across restart, repair and the background loop, assign-owner, audit log with regions, expired uploads refused and cleaned
mod prometheus; // a real Prometheus scrapes the admin port, loads alerts.yml, answers queries
mod put_get; // gateway data path with every client: sync twice, check, ls, rm, ciphertext at rest
mod quickstart; // the quickstart binary, driven with the credentials it prints, reused on a second run
mod readme; // the commands README and docs/ tell a user to run, parsed from their text and run as written
mod repair; // policy "one" with a region down; journal, background loop, `twinvault repair`, LWW
mod resume; // a GET body that stalls or is cut mid-stream continues from the other region
mod retries; // retried Complete (same ETag), DELETE and PUT answer as S3 does
mod rotate; // twinvault rotate: re-wrap under the new key in both regions, then drop the old key
mod s3_api; // boto3: every operation, conditions, metadata, ranges, presign, auth failures
mod secrets; // no secret in logs (debug), /metrics, error bodies or check-config after using them all
mod shutdown; // SIGTERM: in-flight upload finishes, readyz not-ready, new work refused, exit 0
mod signing; // presigned URL lifetimes (X-Amz-Expires 1..=604800, expired, future-dated), SigV4 clock skew, SigV2 off by default and bounded when on
mod sse_c; // SSE-C: right, missing and wrong keys, copies, aws-cli --sse-c, key never stored or logged
mod tamper; // tampered upstream copies: failover to the good copy, or a loud failure; never wrong bytes
mod tls; // https on the S3 listener with aws-cli and boto3; a renewed certificate is reloaded
mod upstream_tls; // https upstreams: a region trusted through ca_bundle_file, refused without it
mod virtual_host; // bucket.domain addressing with server.domain set

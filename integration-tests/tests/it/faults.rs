//! Region b behind a fault-injecting proxy (5xx answers, dropped connections, streams cut
//! mid-body, silence): under policy "one" every write is acknowledged, nothing partial is ever
//! visible in b, its breaker opens, and once the faults stop the background loop makes b equal
//! to a.

use std::time::{Duration, Instant};

use integration_tests::{Fault, boto3, unique_bucket};

use crate::cluster::Cluster;
use crate::repair::{policy_one, region_state, states};

#[test]
fn every_kind_of_region_fault_is_absorbed_under_policy_one_and_repaired() {
    let (cluster, proxy) = Cluster::start_with_faulty_b(|c| policy_one(c, 1000));
    let gw = cluster.target();
    let bucket = unique_bucket("faults");
    boto3(&gw, &format!("s3.create_bucket(Bucket={bucket:?})")).expect_success();
    boto3(
        &gw,
        &format!("[s3.put_object(Bucket={bucket:?}, Key=f'old/{{i}}', Body=b'o' * 5000) for i in range(5)]"),
    )
    .expect_success();
    let faults = [
        ("status503", Fault::Status(503)),
        ("status500", Fault::Status(500)),
        ("drop", Fault::Drop),
        ("cut", Fault::CutAfter(300_000)),
        ("blackhole", Fault::Blackhole),
    ];
    for (i, (name, fault)) in faults.iter().enumerate() {
        proxy.set_fault(*fault);
        let code = format!(
            r#"
            for j in range(4):
                s3.put_object(Bucket={bucket:?}, Key=f"{name}/{{j}}", Body=os.urandom(1024 * 1024))
            s3.delete_object(Bucket={bucket:?}, Key="old/{i}")
            print("acknowledged")
            "#
        );
        let out = boto3(&gw, &code);
        assert!(
            out.expect_success().stdout_str().contains("acknowledged"),
            "fault {name}"
        );
        // Nothing partial in b: whatever it lists under this prefix is complete.
        let b = region_state(&cluster.b.target(), &Cluster::upstream_bucket("b", &bucket));
        let a = region_state(&cluster.a.target(), &bucket);
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(&a).expect("json"),
            serde_json::from_str(&b).expect("json"),
        );
        for (key, copy) in b.as_object().into_iter().flatten() {
            if key.starts_with(name) {
                assert_eq!(Some(copy), a.get(key), "fault {name}: {key} differs in b (partial?)");
            }
        }
    }
    let (_, ready) = cluster.gw.admin_get("/readyz").expect("readyz");
    assert!(
        ready.contains(r#""name":"b","reachable":false,"breaker_open":true"#),
        "{ready}"
    );

    proxy.set_fault(Fault::None);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (a, b) = states(&cluster, &bucket);
        if a == b {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b not repaired within 90 s\na: {a}\nb: {b}\n{}",
            cluster.gw.log_contents()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

//! The test vectors in `docs/FORMAT.md`, decrypted by a Python implementation written only from
//! that document (`integration-tests/py/format_vectors.py`). The gateway's unit test
//! `envelope::vectors` checks the same vectors against the Rust code. Together the two tests
//! show that the spec is complete enough to build a second, independent decryptor.

use integration_tests::{python, workspace_root};

#[test]
fn independent_python_decryptor_opens_every_published_vector() {
    let root = workspace_root();
    let script = root.join("integration-tests/py/format_vectors.py");
    let doc = root.join("docs/FORMAT.md");
    assert!(script.is_file(), "missing {}", script.display());
    let script = script.to_str().expect("workspace path is UTF-8");
    let doc = doc.to_str().expect("workspace path is UTF-8");

    let out = python(script, &[("TV_FORMAT_MD", doc)]).expect_success();
    let stdout = out.stdout_str();
    for name in ["empty", "hello", "pattern-65537", "multipart-2-parts"] {
        assert!(
            stdout.contains(&format!("vector {name}: ok")),
            "vector {name} not checked\n{out}"
        );
    }
    assert!(stdout.contains("format vectors:"), "no summary line\n{out}");
}

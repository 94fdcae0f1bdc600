//! `linkguard demo` as a person runs it: a subprocess, no accounts, no
//! network beyond loopback; it must succeed, say what each platform saw, and
//! leave an audit log whose chain verifies.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_demo_runs_and_its_audit_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_linkguard"))
        .args(["demo", "--database"])
        .arg(&db)
        .env_remove("LINKGUARD_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("demo runs");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(30), "the demo took {took:?}");
    for expected in [
        "alice (reposted by linkguard)",
        "(webhook repost)",
        "✗ deleted by linkguard",
        "only linkguard admins",
        "now in monitor mode",
        "would have replaced",
        "audit chain verified",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    let verify = Command::new(env!("CARGO_BIN_EXE_linkguard"))
        .args(["audit", "verify"])
        .env(
            "LINKGUARD_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

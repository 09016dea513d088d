//! Real Unix signals to this test process (one test in its own binary, so
//! no other test sees them): SIGHUP is logged and ignored, SIGTERM drains,
//! a SIGINT while draining stops at once.

#[path = "edge-support/mod.rs"]
mod support;

use std::time::Duration;

use support::*;
use switchyard::rt::Options;

fn kill(sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(std::process::id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_sigterm_then_sigint() {
    let dir = tempfile::tempdir().unwrap();
    // Handlers are installed before `serve` reports ready.
    let edge = start_opts(config(dir.path()), true, Options::default()).await;
    let c = udp_client().await;
    let udp = edge.ready.udp[0];
    udp_roundtrip(&c, udp, b"CALL").await;

    kill("HUP");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!edge.task.is_finished());
    assert!(!edge.seen.lock().unwrap().drain_began);

    kill("TERM");
    eventually(5, || edge.seen.lock().unwrap().drain_began).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!edge.task.is_finished(), "a call is up: still draining");

    kill("INT");
    edge.finished(5).await.unwrap();
}

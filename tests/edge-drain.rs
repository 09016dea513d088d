//! Graceful shutdown through `rt::serve`'s control handle (the same commands
//! SIGTERM and SIGINT send): drain waits for calls, the drain deadline ends
//! them, a second interrupt stops at once, and the store is flushed in every
//! case.

#[path = "edge-support/mod.rs"]
mod support;

use std::time::Duration;

use support::*;
use switchyard::rt::store;

/// Whether `serve` is still running after `ms`.
async fn still_running_after(edge: &Edge, ms: u64) -> bool {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    !edge.task.is_finished()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_calls_then_returns() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(config(dir.path())).await; // drain_timeout 10 s
    let c = udp_client().await;
    let udp = edge.ready.udp[0];
    udp_roundtrip(&c, udp, b"CALL").await;
    udp_roundtrip(&c, udp, b"CALL").await;

    assert!(edge.ready.control.drain().await);
    assert!(
        still_running_after(&edge, 300).await,
        "returned with calls up"
    );
    assert!(edge.seen.lock().unwrap().drain_began);

    // Traffic still flows while draining (BYEs, in-dialog requests).
    udp_roundtrip(&c, udp, b"HANGUP").await;
    assert!(
        still_running_after(&edge, 100).await,
        "returned with a call up"
    );
    // A repeated SIGTERM changes nothing.
    edge.ready.control.drain().await;
    udp_roundtrip(&c, udp, b"CDRS 3").await;
    c.send_to(b"HANGUP", udp).await.unwrap();

    let t0 = tokio::time::Instant::now();
    let seen = std::sync::Arc::clone(&edge.seen);
    edge.finished(5).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(!seen.lock().unwrap().ended_all, "no call needed ending");
    assert_eq!(store::read_cdrs(dir.path()).unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_with_no_calls_returns_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(config(dir.path())).await;
    let t0 = tokio::time::Instant::now();
    edge.ready.control.drain().await;
    edge.finished(5).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_deadline_ends_all_calls() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.drain_timeout = Duration::from_millis(300);
    let edge = start(cfg).await;
    let c = udp_client().await;
    udp_roundtrip(&c, edge.ready.udp[0], b"CALL").await;

    let t0 = tokio::time::Instant::now();
    edge.ready.control.drain().await;
    let seen = std::sync::Arc::clone(&edge.seen);
    edge.finished(5).await.unwrap();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "ended before the deadline: {took:?}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(seen.lock().unwrap().ended_all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_ending_calls_the_edge_waits_for_the_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.drain_timeout = Duration::from_millis(100);
    // end_all_calls leaves the call up until its BYE is answered.
    let edge = start_with(cfg, false).await;
    let c = udp_client().await;
    let udp = edge.ready.udp[0];
    udp_roundtrip(&c, udp, b"CALL").await;
    edge.ready.control.drain().await;
    eventually(5, || edge.seen.lock().unwrap().ended_all).await;
    assert!(
        still_running_after(&edge, 200).await,
        "did not wait for the answers"
    );
    // The "200 OK to the BYE" arrives.
    c.send_to(b"HANGUP", udp).await.unwrap();
    edge.finished(3).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_interrupt_stops_at_once_and_still_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(config(dir.path())).await;
    let c = udp_client().await;
    let udp = edge.ready.udp[0];
    udp_roundtrip(&c, udp, b"CALL").await;
    udp_roundtrip(&c, udp, b"CDRS 500").await;

    edge.ready.control.interrupt().await;
    assert!(
        still_running_after(&edge, 200).await,
        "first SIGINT only drains"
    );
    let t0 = tokio::time::Instant::now();
    edge.ready.control.interrupt().await;
    edge.finished(5).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(store::read_cdrs(dir.path()).unwrap().len(), 500);
}

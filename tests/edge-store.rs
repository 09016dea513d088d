//! The SQLite store thread: bindings survive a restart (expired ones do not),
//! every queued write is committed on shutdown, and a full queue blocks
//! rather than drops.

#[path = "edge-support/mod.rs"]
mod support;

use support::*;
use switchyard::rt::store::{self, SCHEMA_VERSION, Store, StoreError};
use switchyard::store::StoreOp;

#[test]
fn bindings_round_trip_and_expired_ones_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data"); // created on open
    let (s, restored) = Store::open(&data, 1_000).unwrap();
    assert!(restored.is_empty());
    let tx = s.sender();
    let live = binding("1001", "<sip:1001@10.0.0.1>", 5_000);
    let live2 = binding("1001", "<sip:1001@10.0.0.2>", 9_000);
    let expired = binding("1002", "<sip:1002@10.0.0.3>", 1_500);
    let removed = binding("1003", "<sip:1003@10.0.0.4>", 9_000);
    let all_gone = binding("1004", "<sip:1004@10.0.0.5>", 9_000);
    for b in [&live, &live2, &expired, &removed, &all_gone] {
        tx.send(StoreOp::SaveBinding(b.clone())).unwrap();
    }
    // Re-registering replaces (aor, contact).
    let mut refreshed = live2.clone();
    refreshed.cseq = 8;
    refreshed.expires_at = 9_500;
    tx.send(StoreOp::SaveBinding(refreshed.clone())).unwrap();
    tx.send(StoreOp::RemoveBinding {
        aor: "1003".into(),
        contact: removed.contact.clone(),
    })
    .unwrap();
    tx.send(StoreOp::RemoveAll { aor: "1004".into() }).unwrap();
    drop(tx);
    let stats = s.close().unwrap();
    assert_eq!(stats.applied, 8);
    assert_eq!(stats.failed, 0);

    let (s, restored) = Store::open(&data, 2_000).unwrap();
    assert_eq!(restored, vec![live, refreshed]);
    s.close().unwrap();

    let conn = rusqlite::Connection::open(data.join(store::DB_FILE)).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // The expired binding was deleted from disk, not only filtered.
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM bindings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join(store::DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Store::open(dir.path(), 0).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
    assert!(err.to_string().contains("switchyard.db"), "{err}");
}

#[test]
fn a_full_queue_blocks_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = Store::open(dir.path(), 0).unwrap();
    // More than the queue holds, from two producers: senders block, never drop.
    let n = store::QUEUE_CAPACITY as u64 + 5_000;
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let tx = s.sender();
            std::thread::spawn(move || {
                for i in (p..n).step_by(2) {
                    tx.send(StoreOp::Cdr(cdr(i))).unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let stats = s.close().unwrap();
    assert_eq!(stats.applied, n);
    assert!(stats.batches > 1, "applied in batches");
    let cdrs = store::read_cdrs(dir.path()).unwrap();
    assert_eq!(cdrs.len() as u64, n);
    assert_eq!(cdrs[7], cdr(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_cdrs_through_the_edge_survive_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let now = switchyard::rt::Clock::unix_secs();

    let edge = start(config(dir.path())).await;
    let c = udp_client().await;
    let udp = edge.ready.udp[0];
    assert_eq!(udp_roundtrip(&c, udp, b"CDRS 10000").await, b"CDRS 10000");
    let keep = format!("BIND 1001 {}", now + 3600);
    let stale = format!("BIND 1002 {}", now.saturating_sub(10));
    udp_roundtrip(&c, udp, keep.as_bytes()).await;
    udp_roundtrip(&c, udp, stale.as_bytes()).await;
    // Stop at once: the store must still commit everything queued.
    assert!(edge.ready.control.stop().await);
    edge.finished(10).await.unwrap();

    let cdrs = store::read_cdrs(dir.path()).unwrap();
    assert_eq!(cdrs.len(), 10_000);
    assert_eq!(cdrs[0], cdr(0));
    assert_eq!(cdrs[9_999], cdr(9_999));

    // A restart feeds the surviving binding to the core factory.
    let edge = start(config(dir.path())).await;
    {
        let seen = edge.seen.lock().unwrap();
        assert_eq!(seen.restored.len(), 1, "{:?}", seen.restored);
        assert_eq!(seen.restored[0].aor, "1001");
        assert_eq!(seen.restored[0].expires_at, now + 3600);
    }
    edge.ready.control.stop().await;
    edge.finished(5).await.unwrap();
}

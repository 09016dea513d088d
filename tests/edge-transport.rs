//! The edge's transports through `rt::serve` on loopback: UDP echo and
//! batching, core timers, TCP framing, keep-alive pings, caps, idle timeout,
//! outbound connections and bind errors.

#[path = "edge-support/mod.rs"]
mod support;

use std::time::Duration;

use support::*;
use switchyard::rt::RtError;
use switchyard::sip::transport::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(5);

async fn read_exact_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(T, s.read_exact(&mut buf))
        .await
        .expect("read timed out")
        .unwrap();
    buf
}

/// Reads until EOF or reset (at most 5 s); returns what came before it.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(T, s.read(&mut buf))
            .await
            .expect("connection not closed within 5 s")
        {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_echo_batch_timer_and_oversize() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    // A second UDP socket: read by its own task, not by the core task.
    cfg.server.udp.push("127.0.0.1:0".parse().unwrap());
    let edge = start(cfg).await;
    let primary = edge.ready.udp[0];
    let secondary = edge.ready.udp[1];
    assert_ne!(primary.port(), 0);
    let c = udp_client().await;

    assert_eq!(udp_roundtrip(&c, primary, b"hello").await, b"hello");

    // A burst larger than one batch: every datagram handled, none lost.
    for i in 0..200 {
        c.send_to(format!("burst {i}").as_bytes(), primary)
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..200 {
        got.push(String::from_utf8(udp_recv(&c).await).unwrap());
    }
    got.sort();
    let mut want: Vec<String> = (0..200).map(|i| format!("burst {i}")).collect();
    want.sort();
    assert_eq!(got, want);

    assert_eq!(
        udp_roundtrip(&c, secondary, b"via secondary").await,
        b"via secondary"
    );

    // A core timer: sleep_until(poll_timeout) wakes the core.
    let t0 = tokio::time::Instant::now();
    assert_eq!(udp_roundtrip(&c, primary, b"TIMER 150").await, b"TIMER 150");
    assert_eq!(udp_recv(&c).await, b"FIRED");
    assert!(t0.elapsed() >= Duration::from_millis(150));

    // An oversize datagram is dropped and logged; the edge goes on.
    assert_eq!(udp_roundtrip(&c, primary, b"BIG").await, b"BIG");
    assert_eq!(
        udp_roundtrip(&c, primary, b"still here").await,
        b"still here"
    );

    let seen = edge
        .seen
        .lock()
        .unwrap()
        .inputs
        .iter()
        .filter(|(p, _)| p.transport == Transport::Udp)
        .count();
    assert_eq!(seen, 1 + 200 + 1 + 1 + 1 + 1);
    assert!(edge.ready.control.stop().await);
    edge.finished(5).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_framing_two_in_one_write_and_split() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(config(dir.path())).await;
    let addr = edge.ready.tcp[0];
    let mut s = TcpStream::connect(addr).await.unwrap();

    let (a, b) = (sip("OPTIONS", "abc"), sip("MESSAGE", "hello there"));
    let both = [a.clone(), b.clone()].concat();
    s.write_all(&both).await.unwrap();
    assert_eq!(read_exact_n(&mut s, both.len()).await, both);

    let c = sip("INFO", "split body");
    for chunk in [&c[..10], &c[10..40], &c[40..c.len() - 3], &c[c.len() - 3..]] {
        s.write_all(chunk).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read_exact_n(&mut s, c.len()).await, c);

    {
        let seen = edge.seen.lock().unwrap();
        let tcp: Vec<_> = seen
            .inputs
            .iter()
            .filter(|(p, _)| p.transport == Transport::Tcp)
            .collect();
        assert_eq!(tcp.len(), 3, "each message framed once");
        assert_eq!(tcp[0].1, a);
        assert_eq!(tcp[1].1, b);
        assert_eq!(tcp[2].1, c);
        let conn = tcp[0].0.conn.expect("stream input carries its ConnId");
        assert!(tcp.iter().all(|(p, _)| p.conn == Some(conn)));
        assert_eq!(tcp[0].0.addr, s.local_addr().unwrap());
    }

    // Closing our side: the core hears about it.
    drop(s);
    eventually(5, || edge.seen.lock().unwrap().closed.len() == 1).await;
    edge.ready.control.stop().await;
    edge.finished(5).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_crlf_ping_answered() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(config(dir.path())).await;
    let mut s = TcpStream::connect(edge.ready.tcp[0]).await.unwrap();

    s.write_all(b"\r\n\r\n").await.unwrap();
    assert_eq!(read_exact_n(&mut s, 2).await, b"\r\n");

    // A ping split over two writes still counts as one.
    s.write_all(b"\r\n").await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    s.write_all(b"\r\n").await.unwrap();
    assert_eq!(read_exact_n(&mut s, 2).await, b"\r\n");

    // Keep-alives never reach the core; a message after them does.
    let m = sip("OPTIONS", "");
    s.write_all(&m).await.unwrap();
    assert_eq!(read_exact_n(&mut s, m.len()).await, m);
    assert_eq!(edge.seen.lock().unwrap().inputs.len(), 1);
    edge.ready.control.stop().await;
    edge.finished(5).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_oversize_header_and_body_close_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(config(dir.path())).await; // 1024-byte headers, 1000-byte bodies
    let addr = edge.ready.tcp[0];

    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut head = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    while head.len() < 2000 {
        head.extend_from_slice(
            b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    s.write_all(&head).await.unwrap();
    assert!(read_to_close(&mut s).await.is_empty());
    eventually(5, || edge.seen.lock().unwrap().closed.len() == 1).await;

    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut s).await.is_empty());
    eventually(5, || edge.seen.lock().unwrap().closed.len() == 2).await;

    // A message without Content-Length cannot be framed on a stream either.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"MESSAGE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut s).await.is_empty());
    eventually(5, || edge.seen.lock().unwrap().closed.len() == 3).await;

    assert!(edge.seen.lock().unwrap().inputs.is_empty());
    edge.ready.control.stop().await;
    edge.finished(5).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_idle_timeout_closes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.tcp_idle_timeout = Duration::from_millis(400);
    let edge = start(cfg).await;
    let mut s = TcpStream::connect(edge.ready.tcp[0]).await.unwrap();
    let m = sip("OPTIONS", "");
    s.write_all(&m).await.unwrap();
    assert_eq!(read_exact_n(&mut s, m.len()).await, m);
    let t0 = tokio::time::Instant::now();
    assert!(read_to_close(&mut s).await.is_empty());
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "closed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "closed too late: {waited:?}"
    );
    eventually(5, || edge.seen.lock().unwrap().closed.len() == 1).await;
    edge.ready.control.stop().await;
    edge.finished(5).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_tcp_connection_is_opened_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(config(dir.path())).await;
    let far = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let far_addr = far.local_addr().unwrap();
    let c = udp_client().await;
    let udp = edge.ready.udp[0];

    let cmd = format!("SEND tcp {far_addr} first");
    assert_eq!(udp_roundtrip(&c, udp, cmd.as_bytes()).await, cmd.as_bytes());
    let (mut conn, _) = tokio::time::timeout(T, far.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_exact_n(&mut conn, 5).await, b"first");

    // A second message to the same address reuses the connection.
    let cmd = format!("SEND tcp {far_addr} again");
    assert_eq!(udp_roundtrip(&c, udp, cmd.as_bytes()).await, cmd.as_bytes());
    assert_eq!(read_exact_n(&mut conn, 5).await, b"again");

    // What the far end sends back comes in on that connection and is echoed on it.
    let m = sip("OPTIONS", "back");
    conn.write_all(&m).await.unwrap();
    assert_eq!(read_exact_n(&mut conn, m.len()).await, m);

    // Outbound TLS is refused with a logged error; nothing breaks.
    let cmd = format!("SEND tls {far_addr} nope");
    assert_eq!(udp_roundtrip(&c, udp, cmd.as_bytes()).await, cmd.as_bytes());

    drop(conn);
    eventually(5, || edge.seen.lock().unwrap().closed.len() == 1).await;
    edge.ready.control.stop().await;
    edge.finished(5).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_error_names_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cfg = config(dir.path());
    cfg.server.udp = vec![addr];
    let err = switchyard::rt::serve(
        &cfg,
        |b| TestCore::new(Default::default(), b, true),
        switchyard::rt::Options::default().signals(false),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RtError::Bind { addr: a, .. } if a == addr),
        "{err}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

//! Shared scaffolding for the `edge-*` tests: a tiny core that echoes every
//! input back to its sender and follows a few text commands, plus helpers to
//! start the edge on ephemeral loopback ports.
//!
//! Commands (the first word of a datagram or stream message):
//! - `CALL` / `HANGUP`: one call more / fewer in `active_calls`;
//! - `TIMER <ms>`: send `FIRED` to the sender after that long (core timer);
//! - `CDRS <n>`: emit n CDRs;
//! - `BIND <aor> <expires_at>`: emit a SaveBinding;
//! - `SEND <tcp|tls> <addr> <text>`: send text to addr over a new connection;
//! - `BIG`: try to send a 70,000-byte datagram to the sender;
//! - `QUIET`: no echo.
//!
//! Everything but `QUIET` is echoed back to the sender.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard::config::Config;
use switchyard::rt::{self, Options, Ready, RtError, SipCore};
use switchyard::sip::transport::{ConnId, Peer, Transmit, Transport};
use switchyard::store::{Binding, CdrRecord, StoreOp};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What the test core saw, for assertions.
#[derive(Debug, Default)]
pub struct Seen {
    pub restored: Vec<Binding>,
    pub inputs: Vec<(Peer, Vec<u8>)>,
    pub closed: Vec<ConnId>,
    pub drain_began: bool,
    pub ended_all: bool,
}

pub type Shared = Arc<Mutex<Seen>>;

pub struct TestCore {
    seen: Shared,
    out: VecDeque<Transmit>,
    store: VecDeque<StoreOp>,
    timers: Vec<(Instant, Peer)>,
    active: usize,
    /// When false, `end_all_calls` leaves the calls up (answers still to come).
    pub end_clears: bool,
    next_cdr: u64,
}

impl TestCore {
    pub fn new(seen: Shared, restored: Vec<Binding>, end_clears: bool) -> TestCore {
        seen.lock().unwrap().restored = restored;
        TestCore {
            seen,
            out: VecDeque::new(),
            store: VecDeque::new(),
            timers: Vec::new(),
            active: 0,
            end_clears,
            next_cdr: 0,
        }
    }

    fn send(&mut self, dest: Peer, bytes: impl Into<Bytes>) {
        self.out.push_back(Transmit {
            dest,
            bytes: bytes.into(),
        });
    }
}

pub fn cdr(n: u64) -> CdrRecord {
    CdrRecord {
        id: format!("cdr-{n:06}"),
        a_call_id: format!("a-{n}@test"),
        b_call_id: if n % 3 == 0 {
            String::new()
        } else {
            format!("b-{n}@test")
        },
        caller: "1001".into(),
        callee: "1002".into(),
        destination: "user:1002".into(),
        start_ms: 1_700_000_000_000 + n,
        answer_ms: if n % 2 == 0 {
            Some(1_700_000_000_500 + n)
        } else {
            None
        },
        end_ms: 1_700_000_060_000 + n,
        status: if n % 2 == 0 { 200 } else { 486 },
        cause: "normal".into(),
        hangup_by: "caller".into(),
    }
}

pub fn binding(aor: &str, contact: &str, expires_at: u64) -> Binding {
    Binding {
        aor: aor.into(),
        contact: contact.into(),
        expires_at,
        q: 500,
        call_id: format!("reg-{aor}@test"),
        cseq: 7,
        transport: Transport::Tcp,
        source: "127.0.0.1:5099".parse().unwrap(),
        user_agent: "edge-test".into(),
    }
}

impl SipCore for TestCore {
    fn handle_input(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        self.seen
            .lock()
            .unwrap()
            .inputs
            .push((peer, bytes.to_vec()));
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mut words = text.split_whitespace();
        let mut echo = true;
        match words.next().unwrap_or("") {
            "CALL" => self.active += 1,
            "HANGUP" => self.active = self.active.saturating_sub(1),
            "TIMER" => {
                let ms: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                self.timers.push((now + Duration::from_millis(ms), peer));
            }
            "CDRS" => {
                let n: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                for _ in 0..n {
                    self.store.push_back(StoreOp::Cdr(cdr(self.next_cdr)));
                    self.next_cdr += 1;
                }
            }
            "BIND" => {
                let aor = words.next().unwrap_or("x");
                let exp: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let contact = format!("<sip:{aor}@127.0.0.1:5099>");
                self.store
                    .push_back(StoreOp::SaveBinding(binding(aor, &contact, exp)));
            }
            "SEND" => {
                let transport = match words.next() {
                    Some("tls") => Transport::Tls,
                    _ => Transport::Tcp,
                };
                let addr: SocketAddr = words
                    .next()
                    .and_then(|w| w.parse().ok())
                    .expect("SEND addr");
                let rest: Vec<&str> = words.collect();
                self.send(
                    Peer {
                        transport,
                        addr,
                        conn: None,
                    },
                    rest.join(" "),
                );
            }
            "BIG" => self.send(peer, vec![b'x'; 70_000]),
            "QUIET" => echo = false,
            _ => {}
        }
        if echo {
            self.send(peer, bytes.to_vec());
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = self.timers.drain(..).partition(|(t, _)| *t <= now);
        self.timers = later;
        for (_, peer) in due {
            self.send(peer, "FIRED");
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().map(|(t, _)| *t).min()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_store(&mut self) -> Option<StoreOp> {
        self.store.pop_front()
    }

    fn connection_closed(&mut self, _now: Instant, conn: ConnId) {
        self.seen.lock().unwrap().closed.push(conn);
    }

    fn begin_drain(&mut self, _now: Instant) {
        self.seen.lock().unwrap().drain_began = true;
    }

    fn active_calls(&self) -> usize {
        self.active
    }

    fn end_all_calls(&mut self, _now: Instant) {
        self.seen.lock().unwrap().ended_all = true;
        if self.end_clears {
            self.active = 0;
        }
    }
}

/// A config listening on loopback port 0 (one UDP and one TCP socket), with
/// the store in `data_dir`.
pub fn config(data_dir: &Path) -> Config {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut c = Config::default();
    c.server.udp = vec![any];
    c.server.tcp = vec![any];
    c.server.tls = Vec::new();
    c.server.data_dir = data_dir.to_owned();
    c.limits.max_header_bytes = 1024;
    c.limits.max_body_bytes = 1000;
    c.limits.tcp_idle_timeout = Duration::from_secs(10);
    c.limits.drain_timeout = Duration::from_secs(10);
    c
}

pub struct Edge {
    pub ready: Ready,
    pub task: JoinHandle<Result<(), RtError>>,
    pub seen: Shared,
}

impl Edge {
    /// Waits for `serve` to return (at most `secs`).
    pub async fn finished(self, secs: u64) -> Result<(), RtError> {
        tokio::time::timeout(Duration::from_secs(secs), self.task)
            .await
            .expect("edge did not stop in time")
            .expect("edge task panicked")
    }
}

pub async fn start(config: Config) -> Edge {
    start_with(config, true).await
}

pub async fn start_with(config: Config, end_clears: bool) -> Edge {
    start_opts(config, end_clears, Options::default().signals(false)).await
}

/// Logs go to the test's captured output (`--nocapture` shows them).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug")),
        )
        .with_test_writer()
        .try_init();
}

pub async fn start_opts(config: Config, end_clears: bool, options: Options) -> Edge {
    init_tracing();
    let seen: Shared = Arc::default();
    let s = Arc::clone(&seen);
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        rt::serve(
            &config,
            move |b| TestCore::new(s, b, end_clears),
            options.on_ready(tx),
        )
        .await
    });
    let ready = match tokio::time::timeout(Duration::from_secs(5), rx).await {
        Ok(Ok(r)) => r,
        _ => panic!("edge did not start: {:?}", task.await),
    };
    Edge { ready, task, seen }
}

/// Polls `f` until it holds (at most `secs`).
pub async fn eventually(secs: u64, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < end,
            "condition not reached in {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A loopback UDP client.
pub async fn udp_client() -> tokio::net::UdpSocket {
    tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// Sends `msg` to `to` and returns the next datagram (at most 5 s).
pub async fn udp_roundtrip(sock: &tokio::net::UdpSocket, to: SocketAddr, msg: &[u8]) -> Vec<u8> {
    sock.send_to(msg, to).await.unwrap();
    udp_recv(sock).await
}

pub async fn udp_recv(sock: &tokio::net::UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 70_000];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("no datagram within 5 s")
        .unwrap();
    buf.truncate(n);
    buf
}

/// A SIP-ish message with a correct Content-Length.
pub fn sip(first_word: &str, body: &str) -> Vec<u8> {
    format!(
        "{first_word} sip:echo@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

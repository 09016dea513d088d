//! Transaction layer tests, in virtual time: the harness starts at one
//! `Instant::now()` and from then on only adds durations, always jumping to the
//! next deadline, so a Timer B test takes microseconds.

mod client;
mod random;
mod server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::sip::build::response_to;
use crate::sip::parse;
use crate::sip::transport::{ConnId, Transport};

/// The far end: a UAS for client tests, a UAC for server tests.
fn far() -> SocketAddr {
    "192.0.2.1:5060".parse().expect("literal address")
}

fn udp() -> Peer {
    Peer::udp(far())
}

fn tcp() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: far(),
        conn: Some(ConnId(7)),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request as this switch would send it, or as a peer would send it to us.
fn request(method: &str, branch: &str, transport: Transport) -> Bytes {
    let cseq_method = method;
    Bytes::from(format!(
        "{method} sip:bob@b.example SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 10.0.0.1:5060;branch={branch};rport\r\n\
         Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKupstream\r\n\
         Max-Forwards: 69\r\n\
         Route: <sip:p1.example;lr>\r\n\
         Route: <sip:p2.example;lr>\r\n\
         From: \"Alice\" <sip:alice@a.example>;tag=fa\r\n\
         To: <sip:bob@b.example>\r\n\
         Call-ID: call-1@a.example\r\n\
         CSeq: 42 {cseq_method}\r\n\
         Contact: <sip:alice@10.0.0.1>\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

fn msg(bytes: &[u8]) -> Message {
    parse(bytes).expect("test message parses")
}

/// A response to `req` with To tag `tb`.
fn answer(req: &[u8], code: u16) -> Message {
    msg(&answer_bytes(&msg(req), code))
}

fn answer_bytes(req: &Message, code: u16) -> Bytes {
    response_to(req, code, "", Some("tb"), None).finish(None, b"")
}

/// The ACK a UAC sends for a non-2xx final to `invite` (same branch).
fn ack_for(invite: &[u8], to_tag: &str) -> Message {
    let s = String::from_utf8(invite.to_vec()).expect("ascii");
    let s = s
        .replacen("INVITE sip", "ACK sip", 1)
        .replace("CSeq: 42 INVITE", "CSeq: 42 ACK");
    let s = s.replace(
        "To: <sip:bob@b.example>",
        &format!("To: <sip:bob@b.example>;tag={to_tag}"),
    );
    msg(s.as_bytes())
}

struct Harness {
    tx: TransactionLayer,
    start: Instant,
    now: Instant,
    /// Every transmit, stamped with the virtual time since `start`.
    sent: Vec<(Duration, Transmit)>,
    events: Vec<(Duration, TxEvent)>,
}

impl Harness {
    fn new(cfg: TimerConfig) -> Harness {
        let start = Instant::now();
        Harness {
            tx: TransactionLayer::new(cfg),
            start,
            now: start,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn drain(&mut self) {
        let at = self.elapsed();
        while let Some(t) = self.tx.poll_transmit() {
            self.sent.push((at, t));
        }
        while let Some(e) = self.tx.poll_event() {
            self.events.push((at, e));
        }
    }

    /// Jumps to the next deadline and fires it; `None` when nothing is armed.
    fn step(&mut self) -> Option<Duration> {
        let next = self.tx.poll_timeout()?;
        assert!(next >= self.now, "deadline in the past");
        self.now = next;
        self.tx.handle_timeout(self.now);
        self.drain();
        Some(self.elapsed())
    }

    /// Runs every timer to the end.
    fn run(&mut self) {
        for _ in 0..1_000_000 {
            if self.step().is_none() {
                return;
            }
        }
        panic!("timers never ran out");
    }

    /// Runs the timers due up to `at` (since start), then sets the clock there.
    fn run_until(&mut self, at: Duration) {
        let end = self.start + at;
        while self.tx.poll_timeout().is_some_and(|t| t <= end) {
            self.step();
        }
        self.now = end;
    }

    fn send_request(&mut self, bytes: Bytes, dest: Peer) -> ClientTxId {
        let id = self
            .tx
            .send_request(self.now, bytes, dest)
            .expect("request accepted");
        self.drain();
        id
    }

    fn on_response(&mut self, resp: Message, peer: Peer) -> ClientInput {
        let r = self.tx.on_response(self.now, resp, peer);
        self.drain();
        r
    }

    fn on_request(&mut self, req: Message, peer: Peer) -> ServerInput {
        let r = self.tx.on_request(self.now, req, peer);
        self.drain();
        r
    }

    /// A new server transaction from `req`.
    fn new_server(&mut self, req: Message, peer: Peer) -> ServerTxId {
        match self.on_request(req, peer) {
            ServerInput::New(id, _) => id,
            other => panic!("expected a new transaction, got {other:?}"),
        }
    }

    /// The TU answers server transaction `id` with `code`.
    fn respond(&mut self, id: ServerTxId, code: u16) {
        let req = self
            .tx
            .server_request(id)
            .expect("request kept until final")
            .clone();
        self.tx
            .send_response(self.now, id, answer_bytes(&req, code))
            .expect("response accepted");
        self.drain();
    }

    /// Times at which transmits whose status or method satisfies `f` went out.
    fn times(&self, f: impl Fn(&Message) -> bool) -> Vec<Duration> {
        self.sent
            .iter()
            .filter(|(_, t)| f(&msg(&t.bytes)))
            .map(|(at, _)| *at)
            .collect()
    }

    fn take_sent(&mut self) -> Vec<Message> {
        self.sent.drain(..).map(|(_, t)| msg(&t.bytes)).collect()
    }

    fn timeouts(&self) -> Vec<(Duration, TxEvent)> {
        self.events
            .iter()
            .filter(|(_, e)| !matches!(e, TxEvent::Terminated(_)))
            .copied()
            .collect()
    }

    fn terminated(&self, id: impl Into<TxId>) -> Option<Duration> {
        let id = id.into();
        self.events
            .iter()
            .find(|(_, e)| *e == TxEvent::Terminated(id))
            .map(|(at, _)| *at)
    }

    /// The layer holds nothing once everything has run.
    fn assert_empty(&self) {
        assert!(self.tx.is_empty(), "{} transactions left", self.tx.len());
        assert!(
            self.tx.client_keys.is_empty() && self.tx.server_keys.is_empty(),
            "keys left behind"
        );
        assert_eq!(self.tx.heap.armed(), 0, "timers left armed");
        assert_eq!(self.tx.poll_timeout(), None);
    }
}

fn is_method(m: &str) -> impl Fn(&Message) -> bool + '_ {
    move |x: &Message| x.is_request() && x.method().as_str() == m
}

fn is_status(code: u16) -> impl Fn(&Message) -> bool {
    move |x: &Message| x.status() == Some(code)
}

/// Cumulative sums of `steps` milliseconds: an expected send schedule.
fn schedule(steps: &[u64]) -> Vec<Duration> {
    steps
        .iter()
        .scan(0, |acc, s| {
            *acc += s;
            Some(ms(*acc))
        })
        .collect()
}

#[test]
fn status_line_reader() {
    assert_eq!(status_of(b"SIP/2.0 486 Busy Here\r\n"), Some(486));
    assert_eq!(status_of(b"SIP/2.0 180\r\n"), Some(180));
    assert_eq!(status_of(b"SIP/2.0 099 x\r\n"), None);
    assert_eq!(status_of(b"SIP/2.0 4861 x\r\n"), None);
    assert_eq!(status_of(b"INVITE sip:a@b SIP/2.0\r\n"), None);
    assert_eq!(status_of(b"SIP/2.0 4"), None);
}

#[test]
fn api_misuse_is_reported() {
    let mut h = Harness::new(TimerConfig::default());
    let now = h.now;
    let e = |r: Result<ClientTxId, TransactionError>| r.expect_err("must fail");
    assert!(matches!(
        e(h.tx.send_request(now, Bytes::from_static(b"garbage"), udp())),
        TransactionError::Unparsable(_)
    ));
    let resp = answer_bytes(&msg(&request("OPTIONS", "z9hG4bKo", Transport::Udp)), 200);
    assert_eq!(
        e(h.tx.send_request(now, resp.clone(), udp())),
        TransactionError::NotARequest
    );
    let ack = Bytes::from(
        ack_for(&request("INVITE", "z9hG4bKa", Transport::Udp), "t")
            .bytes()
            .to_vec(),
    );
    assert_eq!(
        e(h.tx.send_request(now, ack, udp())),
        TransactionError::AckNotTransactional
    );
    let no_branch = String::from_utf8(request("OPTIONS", "x", Transport::Udp).to_vec())
        .unwrap()
        .replace(";branch=x", "");
    assert_eq!(
        e(h.tx.send_request(now, Bytes::from(no_branch), udp())),
        TransactionError::MissingBranch
    );
    h.send_request(request("OPTIONS", "z9hG4bKdup", Transport::Udp), udp());
    assert_eq!(
        e(h.tx.send_request(now, request("OPTIONS", "z9hG4bKdup", Transport::Udp), udp())),
        TransactionError::BranchInUse
    );

    let id = h.new_server(msg(&request("OPTIONS", "z9hG4bKs", Transport::Udp)), udp());
    assert_eq!(
        h.tx.send_response(now, id, request("OPTIONS", "z9hG4bKs", Transport::Udp)),
        Err(TransactionError::NotAResponse)
    );
    h.respond(id, 200);
    assert_eq!(
        h.tx.send_response(now, id, resp.clone()),
        Err(TransactionError::AlreadyFinal)
    );
    h.run();
    assert_eq!(
        h.tx.send_response(h.now, id, resp),
        Err(TransactionError::UnknownTransaction)
    );
    h.assert_empty();
}

#[test]
fn heap_stays_bounded_under_cancellation() {
    // Every answered INVITE leaves a cancelled Timer B behind; compaction keeps
    // the heap proportional to the armed timers.
    let mut h = Harness::new(TimerConfig::default());
    // A live timer at the top keeps the stale ones from being popped off it.
    h.send_request(request("OPTIONS", "z9hG4bKfirst", Transport::Udp), udp());
    for i in 0..5000 {
        let req = request("INVITE", &format!("z9hG4bKload{i}"), Transport::Udp);
        h.send_request(req.clone(), udp());
        assert!(matches!(
            h.on_response(answer(&req, 180), udp()),
            ClientInput::Response(..)
        ));
    }
    assert_eq!(h.tx.len(), 5001);
    assert_eq!(
        h.tx.heap.armed(),
        2,
        "only the OPTIONS has timers; Proceeding arms nothing"
    );
    assert!(
        h.tx.heap.len() <= 2 * 2 + 1024 + 2,
        "heap holds {} entries",
        h.tx.heap.len()
    );
    assert_eq!(h.tx.poll_timeout(), Some(h.start + ms(500)));
}

/// Hundreds of thousands of live transactions: every input stays cheap (no
/// scan over live transactions), and everything drains. Ignored by default
/// because it takes about a minute in a debug build; run with `--ignored`.
#[test]
#[ignore]
fn hundreds_of_thousands_live() {
    const N: usize = 200_000;
    let mut h = Harness::new(TimerConfig::default());
    let started = std::time::Instant::now();
    for i in 0..N {
        let inv = request("INVITE", &format!("z9hG4bKs{i}"), Transport::Udp);
        let id = h.new_server(msg(&inv), udp());
        h.respond(id, 486);
        h.send_request(
            request("OPTIONS", &format!("z9hG4bKc{i}"), Transport::Udp),
            udp(),
        );
        let next = h.elapsed() + Duration::from_micros(50);
        h.run_until(next);
        h.sent.clear();
        h.events.clear();
    }
    assert_eq!(h.tx.len(), 2 * N);
    let built = started.elapsed();
    let mut steps = 0;
    while h.step().is_some() {
        h.sent.clear();
        h.events.clear();
        steps += 1;
    }
    h.assert_empty();
    eprintln!(
        "{} transactions set up in {built:?}, then {steps} wake-ups in {:?}",
        2 * N,
        started.elapsed() - built
    );
}

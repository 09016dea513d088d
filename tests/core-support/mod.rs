//! Shared harness for the sans-IO core scenario tests (`tests/core-*.rs`).
//!
//! A [`Net`] wraps one [`Engine`] and a virtual clock: time starts at one
//! `Instant::now()` read when the net is built and only moves when a test calls
//! [`Net::advance`], which fires `handle_timeout` at every deadline on the way.
//! Nothing here sleeps; a Timer B test finishes in microseconds.
//!
//! Peers are plain socket addresses. What the engine sends is kept, parsed with
//! `switchyard::sip::parse`, with its destination and the virtual time it left
//! at, until [`Net::take`] drains it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchyard::config::Config;
use switchyard::engine::{Engine, LocalAddrs};
use switchyard::sip::auth::{self, Challenge, Credentials};
use switchyard::sip::transport::Peer;
use switchyard::sip::{HeaderName, Message, Method};
use switchyard::store::{CdrRecord, StoreOp};

/// The switch's own address in every test config.
pub const SWITCH: &str = "127.0.0.1:5060";
/// The switch's Contact as it writes it.
pub const SWITCH_CONTACT: &str = "<sip:switchyard@127.0.0.1:5060>";
/// The carrier that sends calls in (inside trunk `in`'s ACL).
pub const CARRIER: &str = "127.0.0.1:5061";
/// Trunk `out` (with credentials).
pub const OUT: &str = "127.0.0.2:5080";
/// Trunk `out2` (route "9", primary).
pub const OUT2: &str = "127.0.0.3:5080";
/// Trunk `out3` (route "9", fallback).
pub const OUT3: &str = "127.0.0.4:5080";

pub const SDP_A: &str =
    "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\na=sendrecv\r\n";
pub const SDP_B: &str =
    "v=0\r\no=b 7 7 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0\r\na=sendrecv\r\n";
pub const SDP_HOLD: &str =
    "v=0\r\no=a 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\na=sendonly\r\n";

/// The configuration most tests use.
pub const CONFIG: &str = r#"
[server]
udp = ["127.0.0.1:5060"]
tcp = ["127.0.0.1:5060"]
domain = "switchyard.test"

# Signalling only: media anchoring has its own tests (core-media.rs).
[media]
anchor = false

# Both algorithms, so the core tests cover RFC 8760 SHA-256 as well as MD5.
[registrar]
digest_algorithms = ["MD5", "SHA-256"]

[[users]]
name = "1001"
password = "pw-1001"

[[users]]
name = "1002"
password = "pw-1002"

[[trunks]]
name = "in"
proxy = "127.0.0.1:5061"
inbound_acl = ["127.0.0.1/32"]

[[trunks]]
name = "out"
proxy = "127.0.0.2:5080"
username = "sy-out"
password = "trunk-secret"

[[trunks]]
name = "out2"
proxy = "127.0.0.3:5080"

[[trunks]]
name = "out3"
proxy = "127.0.0.4:5080"

[[routes]]
prefix = "9"
trunk = "out2"
fallback = ["out3"]

[[routes]]
prefix = "8"
trunk = "out"
"#;

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

pub fn config(text: &str) -> Config {
    switchyard::config::parse(text, "test.toml").unwrap_or_else(|e| panic!("test config: {e}"))
}

/// One message the engine sent.
#[derive(Clone)]
pub struct Sent {
    pub to: SocketAddr,
    pub msg: Message,
    /// Virtual time since the net was built.
    pub at: Duration,
}

impl std::fmt::Debug for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n--- to {} at {:?} ---\n{}",
            self.to,
            self.at,
            String::from_utf8_lossy(self.msg.as_bytes())
        )
    }
}

impl Sent {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.msg.as_bytes()).into_owned()
    }
    pub fn h(&self, name: HeaderName) -> &str {
        self.msg.header(name).unwrap_or_else(|| panic!("no {name} in {self:?}"))
    }
    pub fn is_req(&self, m: &str) -> bool {
        self.msg.is_request() && self.msg.method().as_str() == m
    }
    pub fn is_resp(&self, code: u16) -> bool {
        self.msg.status() == Some(code)
    }
    pub fn cseq(&self) -> String {
        self.h(HeaderName::CSeq).to_owned()
    }
    pub fn branch(&self) -> String {
        self.msg.top_via().and_then(|v| v.branch().map(str::to_owned)).unwrap_or_default()
    }
    pub fn body(&self) -> &str {
        std::str::from_utf8(self.msg.body()).expect("utf-8 body")
    }
}

/// What one [`Net::take`] drained.
#[derive(Debug, Default)]
pub struct Out {
    pub msgs: Vec<Sent>,
    pub store: Vec<StoreOp>,
    /// What the engine sent that does not parse (destination, text); a 400
    /// copies a malformed Via verbatim (RFC 3261 §8.2.6.2), for example.
    pub unparsed: Vec<(SocketAddr, String)>,
}

impl Out {
    pub fn to(&self, a: &str) -> Vec<&Sent> {
        let a = addr(a);
        self.msgs.iter().filter(|m| m.to == a).collect()
    }
    /// The one message to `a`; fails listing everything sent otherwise.
    pub fn one_to(&self, a: &str) -> &Sent {
        let v = self.to(a);
        assert_eq!(v.len(), 1, "expected exactly one message to {a}, got: {:?}", self.msgs);
        v[0]
    }
    pub fn none_to(&self, a: &str) {
        assert!(self.to(a).is_empty(), "expected nothing to {a}, got: {:?}", self.to(a));
    }
    pub fn nothing(&self) {
        assert!(
            self.msgs.is_empty() && self.unparsed.is_empty(),
            "expected no output, got: {:?} {:?}",
            self.msgs,
            self.unparsed
        );
    }
    /// Requests to `a` that start a transaction (retransmissions, same branch, dropped).
    pub fn new_requests_to(&self, a: &str) -> Vec<&Sent> {
        let mut seen = std::collections::HashSet::new();
        self.to(a)
            .into_iter()
            .filter(|m| m.msg.is_request() && seen.insert(m.branch()))
            .collect()
    }
    /// The one response with `code` to `a`.
    pub fn resp(&self, a: &str, code: u16) -> &Sent {
        let v: Vec<_> = self.to(a).into_iter().filter(|m| m.is_resp(code)).collect();
        assert_eq!(v.len(), 1, "expected one {code} to {a}, got: {:?}", self.msgs);
        v[0]
    }
    /// The one request `method` to `a`.
    pub fn req(&self, a: &str, method: &str) -> &Sent {
        let v: Vec<_> = self.to(a).into_iter().filter(|m| m.is_req(method)).collect();
        assert_eq!(v.len(), 1, "expected one {method} to {a}, got: {:?}", self.msgs);
        v[0]
    }
    /// Statuses of the responses sent to `a`, in order.
    pub fn codes_to(&self, a: &str) -> Vec<u16> {
        self.to(a).iter().filter_map(|m| m.msg.status()).collect()
    }
    pub fn cdrs(&self) -> Vec<&CdrRecord> {
        self.store
            .iter()
            .filter_map(|op| match op {
                StoreOp::Cdr(c) => Some(c),
                _ => None,
            })
            .collect()
    }
    pub fn cdr(&self) -> &CdrRecord {
        let c = self.cdrs();
        assert_eq!(c.len(), 1, "expected one CDR, store ops: {:?}", self.store);
        c[0]
    }
}

/// One engine on a virtual clock.
pub struct Net {
    pub engine: Engine,
    pub start: Instant,
    pub now: Instant,
    pub cfg: Arc<Config>,
    sent: Vec<Sent>,
    store: Vec<StoreOp>,
    unparsed: Vec<(SocketAddr, String)>,
    /// Commands for the media plane, in order.
    pub media: Vec<switchyard::media::MediaCommand>,
}

impl Net {
    pub fn new(toml: &str) -> Net {
        let cfg = Arc::new(config(toml));
        let start = Instant::now();
        let trunk_addrs: HashMap<String, SocketAddr> = cfg
            .trunks
            .iter()
            .map(|t| {
                let ip = t.host.parse().unwrap_or_else(|_| panic!("test trunk {} must use an IP", t.name));
                (t.name.clone(), SocketAddr::new(ip, t.port))
            })
            .collect();
        let engine = Engine::new(
            cfg.clone(),
            LocalAddrs::from_config(&cfg),
            start,
            SystemTime::now(),
            Vec::new(),
            trunk_addrs,
        )
        .expect("engine");
        let mut net = Net {
            engine,
            start,
            now: start,
            cfg,
            sent: Vec::new(),
            store: Vec::new(),
            unparsed: Vec::new(),
            media: Vec::new(),
        };
        net.fire_due();
        net
    }

    pub fn standard() -> Net {
        Net::new(CONFIG)
    }

    /// Virtual time since start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn collect(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            match switchyard::sip::parse(&t.bytes) {
                Ok(msg) => self.sent.push(Sent {
                    to: t.dest.addr,
                    msg,
                    at: self.now - self.start,
                }),
                Err(_) => self.unparsed.push((t.dest.addr, String::from_utf8_lossy(&t.bytes).into_owned())),
            }
        }
        while let Some(op) = self.engine.poll_store() {
            self.store.push(op);
        }
        while let Some(c) = self.engine.poll_media() {
            self.media.push(c);
        }
    }

    /// Media commands since the last call.
    pub fn take_media(&mut self) -> Vec<switchyard::media::MediaCommand> {
        std::mem::take(&mut self.media)
    }

    /// Runs `handle_timeout` while a deadline is due at the current time (an
    /// edge does the same after every input).
    fn fire_due(&mut self) {
        self.collect();
        let mut guard = 0;
        while let Some(t) = self.engine.poll_timeout() {
            if t > self.now {
                break;
            }
            self.engine.handle_timeout(self.now);
            self.collect();
            guard += 1;
            assert!(guard < 10_000, "engine keeps asking for a timeout in the past");
        }
    }

    /// Feeds a datagram from `from` (UDP).
    pub fn send(&mut self, from: &str, text: &str) {
        self.send_bytes(from, text.as_bytes());
    }

    pub fn send_bytes(&mut self, from: &str, bytes: &[u8]) {
        self.engine.handle_input(self.now, Peer::udp(addr(from)), bytes);
        self.fire_due();
    }

    /// Moves time forward by `d`, firing every deadline passed on the way, at
    /// its own instant.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        let mut guard = 0;
        while let Some(t) = self.engine.poll_timeout() {
            if t > target {
                break;
            }
            if t > self.now {
                self.now = t;
            }
            self.engine.handle_timeout(self.now);
            self.collect();
            guard += 1;
            assert!(guard < 1_000_000, "timer loop");
        }
        self.now = target;
        self.fire_due();
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.advance(Duration::from_millis(ms));
    }

    /// Everything sent and stored since the last take; everything sent must parse.
    pub fn take(&mut self) -> Out {
        let out = self.take_raw();
        assert!(
            out.unparsed.is_empty(),
            "the engine sent something that does not parse: {:?}",
            out.unparsed
        );
        out
    }

    /// As [`Net::take`], keeping what does not parse in `Out::unparsed`.
    pub fn take_raw(&mut self) -> Out {
        Out {
            msgs: std::mem::take(&mut self.sent),
            store: std::mem::take(&mut self.store),
            unparsed: std::mem::take(&mut self.unparsed),
        }
    }
}

// ---------------------------------------------------------------- messages

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub fn uniq(prefix: &str) -> String {
    format!("{prefix}{}", COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

pub fn branch() -> String {
    uniq("z9hG4bK-t")
}

/// A message being built by a test peer: start line, headers in order, body.
#[derive(Clone, Debug)]
pub struct Msg {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Msg {
    pub fn request(method: &str, ruri: &str) -> Msg {
        Msg {
            start: format!("{method} {ruri} SIP/2.0"),
            headers: Vec::new(),
            body: String::new(),
        }
    }
    pub fn response(code: u16, reason: &str) -> Msg {
        Msg {
            start: format!("SIP/2.0 {code} {reason}"),
            headers: Vec::new(),
            body: String::new(),
        }
    }
    pub fn h(mut self, name: &str, value: impl Into<String>) -> Msg {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Replaces the first header `name` (or appends it).
    pub fn set(mut self, name: &str, value: impl Into<String>) -> Msg {
        let value = value.into();
        match self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(h) => h.1 = value,
            None => self.headers.push((name.to_owned(), value)),
        }
        self
    }
    pub fn remove(mut self, name: &str) -> Msg {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }
    pub fn sdp(mut self, body: &str) -> Msg {
        self = self.set("Content-Type", "application/sdp");
        self.body = body.to_owned();
        self
    }
    pub fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or("")
    }
    pub fn ruri(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or("")
    }
    pub fn cseq_num(&self) -> u32 {
        self.get("CSeq")
            .and_then(|c| c.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
    pub fn branch(&self) -> String {
        let via = self.get("Via").unwrap_or("");
        via.split(';')
            .find_map(|p| p.trim().strip_prefix("branch="))
            .unwrap_or("")
            .to_owned()
    }
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&self.start);
        s.push_str("\r\n");
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        s.push_str(&self.body);
        s
    }
}

/// A new INVITE from `src`, From `<sip:from_user@host>`, to `sip:to_user@switch`.
pub fn invite(src: &str, from_user: &str, to_user: &str) -> Msg {
    Msg::request("INVITE", &format!("sip:{to_user}@127.0.0.1:5060"))
        .h("Via", format!("SIP/2.0/UDP {src};branch={};rport", branch()))
        .h("Max-Forwards", "70")
        .h(
            "From",
            format!(
                "\"Caller\" <sip:{from_user}@{}>;tag={}",
                src.split(':').next().unwrap(),
                uniq("ftag")
            ),
        )
        .h("To", format!("<sip:{to_user}@127.0.0.1:5060>"))
        .h("Call-ID", uniq("a-call-"))
        .h("CSeq", "1 INVITE")
        .h("Contact", format!("<sip:{from_user}@{src}>"))
        .sdp(SDP_A)
}

/// A REGISTER for `user` from `src` with one contact at `src`.
pub fn register(src: &str, user: &str, call_id: &str, cseq: u32) -> Msg {
    Msg::request("REGISTER", "sip:switchyard.test")
        .h("Via", format!("SIP/2.0/UDP {src};branch={};rport", branch()))
        .h("Max-Forwards", "70")
        .h("From", format!("<sip:{user}@switchyard.test>;tag={}", uniq("rtag")))
        .h("To", format!("<sip:{user}@switchyard.test>"))
        .h("Call-ID", call_id)
        .h("CSeq", format!("{cseq} REGISTER"))
        .h("Contact", format!("<sip:{user}@{src}>"))
        .h("Expires", "600")
}

/// The same request as a new transaction: new branch, CSeq + 1.
pub fn next_tx(req: &Msg) -> Msg {
    let via = req.get("Via").unwrap_or("").replace(&req.branch(), &branch());
    let n = req.cseq_num() + 1;
    req.clone().set("Via", via).set("CSeq", format!("{n} {}", req.method()))
}

/// Answers a 401/407 `challenge` to `req` with `user`/`password`, picking the
/// challenge with `algorithm` ("MD5" or "SHA-256"); returns the new request
/// (new branch, CSeq + 1, Authorization or Proxy-Authorization added).
pub fn answer_challenge_alg(req: &Msg, challenge: &Message, user: &str, password: &str, algorithm: &str) -> Msg {
    let (hdr_in, hdr_out) = if challenge.status() == Some(407) {
        (HeaderName::ProxyAuthenticate, "Proxy-Authorization")
    } else {
        (HeaderName::WwwAuthenticate, "Authorization")
    };
    let chs: Vec<Challenge> = challenge
        .header_lines(hdr_in)
        .map(|v| Challenge::parse(v).expect("challenge parses"))
        .collect();
    let ch = chs
        .iter()
        .find(|c| c.algorithm.as_str().eq_ignore_ascii_case(algorithm))
        .unwrap_or_else(|| panic!("no {algorithm} challenge among {chs:?}"));
    let creds = auth::answer(ch, req.method(), req.ruri(), user, password, "testcnonce", 1);
    next_tx(req).remove(hdr_out).h(hdr_out, creds.to_header_value())
}

pub fn answer_challenge(req: &Msg, challenge: &Message, user: &str, password: &str) -> Msg {
    answer_challenge_alg(req, challenge, user, password, "MD5")
}

/// A response to `req` (something the engine sent): Via, From, To, Call-ID and
/// CSeq copied; `to_tag` added to To when it has none; Contact at `contact`.
pub fn reply(req: &Sent, code: u16, reason: &str, to_tag: &str, contact: &str) -> Msg {
    reply_msg(&req.msg, code, reason, to_tag, contact)
}

pub fn reply_msg(req: &Message, code: u16, reason: &str, to_tag: &str, contact: &str) -> Msg {
    let mut m = Msg::response(code, reason);
    for v in req.header_lines(HeaderName::Via) {
        m = m.h("Via", v);
    }
    m = m.h("From", req.header(HeaderName::From).unwrap_or(""));
    let to = req.header(HeaderName::To).unwrap_or("");
    let to = if req.to_tag().is_none() && code != 100 {
        format!("{to};tag={to_tag}")
    } else {
        to.to_owned()
    };
    m = m
        .h("To", to)
        .h("Call-ID", req.call_id())
        .h("CSeq", req.header(HeaderName::CSeq).unwrap_or(""));
    if code != 100 && *req.method() != Method::Cancel && *req.method() != Method::Bye {
        m = m.h("Contact", format!("<sip:b@{contact}>"));
    }
    m
}

/// One side's view of a dialog, for requests inside it.
#[derive(Clone, Debug)]
pub struct Dlg {
    pub call_id: String,
    /// Our From value (with our tag).
    pub local: String,
    /// Our To value (with the far tag).
    pub remote: String,
    /// Where requests go (the far Contact URI).
    pub target: String,
    pub cseq: u32,
    pub src: String,
}

impl Dlg {
    /// The caller's dialog: from its INVITE and the 2xx it got.
    pub fn uac(invite: &Msg, ok: &Sent, src: &str) -> Dlg {
        let contact = ok.h(HeaderName::Contact);
        Dlg {
            call_id: invite.get("Call-ID").unwrap().to_owned(),
            local: invite.get("From").unwrap().to_owned(),
            remote: ok.h(HeaderName::To).to_owned(),
            target: strip_angle(contact),
            cseq: invite.cseq_num(),
            src: src.to_owned(),
        }
    }

    /// A callee's dialog: from the INVITE it got and the 2xx it sent.
    pub fn uas(invite: &Sent, ok: &Msg, src: &str) -> Dlg {
        Dlg {
            call_id: invite.msg.call_id().to_owned(),
            local: ok.get("To").unwrap().to_owned(),
            remote: invite.h(HeaderName::From).to_owned(),
            target: strip_angle(invite.h(HeaderName::Contact)),
            cseq: 100,
            src: src.to_owned(),
        }
    }

    pub fn request(&mut self, method: &str) -> Msg {
        self.cseq += 1;
        self.request_cseq(method, self.cseq)
    }

    pub fn request_cseq(&self, method: &str, cseq: u32) -> Msg {
        Msg::request(method, &self.target)
            .h("Via", format!("SIP/2.0/UDP {};branch={};rport", self.src, branch()))
            .h("Max-Forwards", "70")
            .h("From", self.local.clone())
            .h("To", self.remote.clone())
            .h("Call-ID", self.call_id.clone())
            .h("CSeq", format!("{cseq} {method}"))
    }

    /// The ACK for a 2xx to the INVITE with `cseq`.
    pub fn ack(&self, cseq: u32) -> Msg {
        self.request_cseq("ACK", cseq)
    }
}

pub fn strip_angle(v: &str) -> String {
    let v = v.trim();
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].to_owned(),
        _ => v.split(';').next().unwrap_or(v).to_owned(),
    }
}

/// The ACK a UAC sends for a non-2xx final to `invite` (same branch, §17.1.1.3).
pub fn ack_non2xx(invite: &Msg, resp: &Sent) -> Msg {
    Msg::request("ACK", invite.ruri())
        .h("Via", invite.get("Via").unwrap())
        .h("Max-Forwards", "70")
        .h("From", invite.get("From").unwrap())
        .h("To", resp.h(HeaderName::To))
        .h("Call-ID", invite.get("Call-ID").unwrap())
        .h("CSeq", format!("{} ACK", invite.cseq_num()))
}

/// The CANCEL for `invite` (same branch and CSeq number, §9.1).
pub fn cancel(invite: &Msg) -> Msg {
    Msg::request("CANCEL", invite.ruri())
        .h("Via", invite.get("Via").unwrap())
        .h("Max-Forwards", "70")
        .h("From", invite.get("From").unwrap())
        .h("To", invite.get("To").unwrap())
        .h("Call-ID", invite.get("Call-ID").unwrap())
        .h("CSeq", format!("{} CANCEL", invite.cseq_num()))
}

/// The tag of a From/To value.
pub fn tag_of(v: &str) -> Option<String> {
    v.split(';').find_map(|p| p.trim().strip_prefix("tag=")).map(str::to_owned)
}

/// Checks that `creds` is a right digest for `method`/`uri` with `password`.
pub fn digest_is_right(creds: &Credentials, method: &str, password: &str) -> bool {
    let ha1 = auth::ha1(creds.algorithm, &creds.username, &creds.realm, password);
    let qop = match (creds.nc, creds.cnonce.as_deref()) {
        (Some(nc), Some(cnonce)) => Some(auth::QopAuth { cnonce, nc }),
        _ => None,
    };
    auth::response(creds.algorithm, &ha1, &creds.nonce, qop, method, &creds.uri) == creds.response
}

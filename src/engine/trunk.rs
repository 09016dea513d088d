//! Outbound registration to a carrier (RFC 3261 §10.2), sans-IO: REGISTER,
//! answer the 401/407 challenge, refresh before expiry, and back off
//! exponentially while the carrier fails. Every state change is logged, so an
//! operator can see a trunk's health in the logs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{info, warn};

use crate::config::Trunk;
use crate::sip::auth::{Challenge, answer, client_nonce, preferred_challenge};
use crate::sip::build::Writer;
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};
use crate::sip::transaction::ClientTxId;
use crate::sip::transport::{Peer, Transport};

use super::LocalAddrs;
use super::ids::Ids;

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegState {
    /// Not yet tried.
    Idle,
    /// A REGISTER is out.
    Registering,
    /// Registered until the refresh time.
    Registered,
    /// The last attempt failed; retrying after a back-off.
    Failed,
}

/// One trunk's registration.
#[derive(Debug)]
pub struct TrunkRegistration {
    name: String,
    user: String,
    auth_user: String,
    password: String,
    host: String,
    port: u16,
    transport: Transport,
    addr: SocketAddr,
    expires: u32,
    retry_min: Duration,
    retry_max: Duration,
    backoff: Duration,
    state: RegState,
    next: Instant,
    call_id: Option<String>,
    from_tag: String,
    cseq: u32,
    tx: Option<ClientTxId>,
    /// The carrier's last challenge, whether it was a 407, and the last nonce
    /// count used with it (each reuse must count up, RFC 7616 §3.4).
    auth: Option<(Challenge, bool, u32)>,
    auth_failures: u8,
}

impl TrunkRegistration {
    /// A registration for `t` (which has `register = true`), first attempt now.
    pub fn new(t: &Trunk, addr: SocketAddr, now: Instant) -> TrunkRegistration {
        let user = t.username.clone().unwrap_or_default();
        TrunkRegistration {
            name: t.name.clone(),
            auth_user: t.auth_username.clone().unwrap_or_else(|| user.clone()),
            user,
            password: t.password.clone().unwrap_or_default(),
            host: t.host.clone(),
            port: t.port,
            transport: match t.transport {
                crate::config::Transport::Udp => Transport::Udp,
                crate::config::Transport::Tcp => Transport::Tcp,
                crate::config::Transport::Tls => Transport::Tls,
            },
            addr,
            expires: t.register_expires,
            retry_min: t.register_retry_min,
            retry_max: t.register_retry_max,
            backoff: t.register_retry_min,
            state: RegState::Idle,
            next: now,
            call_id: None,
            from_tag: String::new(),
            cseq: 0,
            tx: None,
            auth: None,
            auth_failures: 0,
        }
    }

    /// The trunk's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Current state.
    pub fn state(&self) -> RegState {
        self.state
    }

    /// Where REGISTERs go.
    pub fn peer(&self) -> Peer {
        Peer { transport: self.transport, addr: self.addr, conn: None }
    }

    /// Whether `id` is this registration's transaction.
    pub fn owns(&self, id: ClientTxId) -> bool {
        self.tx == Some(id)
    }

    /// Records the transaction carrying the REGISTER just built.
    pub fn sent(&mut self, id: ClientTxId) {
        self.tx = Some(id);
        self.state = RegState::Registering;
    }

    /// Next time to act (none while a REGISTER is out).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.tx.is_some() { None } else { Some(self.next) }
    }

    /// Builds the next REGISTER when it is due.
    pub fn handle_timeout(&mut self, now: Instant, _wall: u64, local: &LocalAddrs, ids: &mut Ids) -> Option<Bytes> {
        if self.tx.is_some() || now < self.next {
            return None;
        }
        // One Call-ID for the life of the registration (RFC 3261 §10.2.4).
        let call_id = self.call_id.get_or_insert_with(|| ids.call_id()).clone();
        if self.from_tag.is_empty() {
            self.from_tag = ids.tag();
        }
        self.cseq += 1;
        let registrar = format!("sip:{}:{}", self.host, self.port);
        let aor = format!("<sip:{}@{}>", self.user, self.host);
        let mut w = Writer::request(&Method::Register, &registrar);
        w.header(HeaderName::Via, format_args!("SIP/2.0/{} {};branch={};rport", self.transport, local.sent_by(self.transport), ids.branch()));
        w.header(HeaderName::MaxForwards, 70);
        w.header(HeaderName::From, format_args!("{aor};tag={}", self.from_tag));
        w.header(HeaderName::To, &aor);
        w.header(HeaderName::CallId, &call_id);
        w.header(HeaderName::CSeq, format_args!("{} REGISTER", self.cseq));
        let contact = local.contact(self.transport);
        let contact = contact.replacen("sip:switchyard@", &format!("sip:{}@", self.user), 1);
        w.header(HeaderName::Contact, contact);
        w.header(HeaderName::Expires, self.expires);
        if let Some((ch, proxy, nc)) = &mut self.auth {
            *nc += 1;
            let creds = answer(ch, "REGISTER", &registrar, &self.auth_user, &self.password, &client_nonce(), *nc);
            let h = if *proxy { HeaderName::ProxyAuthorization } else { HeaderName::Authorization };
            w.header(h, creds.to_header_value());
        }
        w.header(HeaderName::UserAgent, "Switchyard");
        Some(w.finish(None, b""))
    }

    /// A response to our REGISTER.
    pub fn on_response(&mut self, now: Instant, _wall: u64, id: ClientTxId, resp: &Message) {
        let Some(code) = resp.status() else { return };
        if code < 200 || self.tx != Some(id) {
            return;
        }
        self.tx = None;
        match code {
            200..=299 => {
                let granted = resp
                    .contacts()
                    .iter()
                    .filter(|c| c.uri().and_then(|u| u.user).is_some_and(|u| u == self.user))
                    .filter_map(|c| c.param("expires").flatten().and_then(|v| v.parse::<u32>().ok()))
                    .next()
                    .or_else(|| resp.expires())
                    .unwrap_or(self.expires);
                // Refresh well before expiry; a short grant still gets a few
                // seconds of margin.
                let refresh = Duration::from_secs(u64::from(granted)).mul_f64(0.8).max(Duration::from_secs(1));
                self.next = now + refresh;
                self.backoff = self.retry_min;
                self.auth_failures = 0;
                if self.state != RegState::Registered {
                    info!(trunk = %self.name, expires = granted, "trunk registered");
                }
                self.state = RegState::Registered;
            }
            401 | 407 => {
                let hdr = if code == 407 { HeaderName::ProxyAuthenticate } else { HeaderName::WwwAuthenticate };
                let challenges: Vec<Challenge> = resp.header_lines(hdr).filter_map(|v| Challenge::parse(v).ok()).collect();
                let stale = challenges.iter().any(|c| c.stale);
                // A second challenge after credentials means they were wrong,
                // unless the server only says the nonce went stale.
                if self.auth.is_some() && !stale {
                    self.auth_failures += 1;
                }
                match preferred_challenge(&challenges) {
                    Some(ch) if self.auth_failures < 2 => {
                        self.auth = Some((ch.clone(), code == 407, 0));
                        self.next = now;
                    }
                    _ => self.fail(now, code, "authentication rejected"),
                }
            }
            423 => {
                if let Some(min) = resp.header(HeaderName::MinExpires).and_then(|v| v.parse::<u32>().ok()) {
                    self.expires = min.max(self.expires);
                    self.next = now;
                } else {
                    self.fail(now, code, "interval too brief");
                }
            }
            _ => self.fail(now, code, resp.reason()),
        }
    }

    /// The REGISTER got no answer (Timer F).
    pub fn on_timeout(&mut self, now: Instant, id: ClientTxId) {
        if self.tx == Some(id) {
            self.tx = None;
            self.fail(now, 408, "no answer");
        }
    }

    fn fail(&mut self, now: Instant, code: u16, why: &str) {
        warn!(trunk = %self.name, code, reason = why, retry_in_s = self.backoff.as_secs(), "trunk registration failed");
        self.state = RegState::Failed;
        self.next = now + self.backoff;
        self.backoff = (self.backoff * 2).min(self.retry_max);
        self.auth = None;
        self.auth_failures = 0;
    }
}

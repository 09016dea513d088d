//! Calls: a B2BUA glues an incoming leg (A, where the switch is UAS) to one or
//! more outgoing legs (B, where it is UAC): parallel forks to every contact of
//! a user, or trunks tried one after another on failure.
//!
//! ```text
//!   A ──INVITE──▶ switch ──INVITE──▶ B₀ … Bₙ   (own Call-ID, tags, CSeq per leg)
//!   A ◀──18x──── switch ◀──18x──── Bᵢ
//!   A ◀──200──── switch ◀──200──── Bᵢ          other forks CANCELled
//!   A ───ACK───▶ switch ───ACK───▶ Bᵢ          B's ACK waits for A's (late SDP)
//!   either side BYE ─▶ 200 here, BYE to the other; CDR when both are done
//! ```
//!
//! Signalling inside a dialog goes back to the address the leg last spoke
//! from (symmetric, like RFC 3581 for requests), which gets through NAT.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::sip::build::{Writer, response_to};
use crate::sip::dialog::{Dialog, LocalVia};
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};
use crate::sip::transaction::{ClientTxId, ServerTxId};
use crate::sip::transport::{Peer, Transmit, Transport};
use crate::store::CdrRecord;

use super::Engine;
use super::auth::Authn;

/// Handle of a call in the engine's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CallKey(pub(crate) u64);

/// Which leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    /// The caller's leg (switch is UAS).
    A,
    /// An outgoing leg (switch is UAC), by index.
    B(usize),
}

/// Call-level timers (transaction timers live in the transaction layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    /// Retransmit our 2xx to A until its ACK (RFC 3261 §13.3.1.4).
    A2xxRetransmit,
    /// No ACK for our 2xx within 64·T1: end the call.
    A2xxGiveUp,
    /// Nobody answered in time.
    NoAnswer,
}

/// What a client transaction of a call is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    /// The INVITE of B leg `i`.
    Invite(usize),
    /// A CANCEL of B leg `i`.
    Cancel(usize),
    /// A BYE towards a side.
    Bye(Side),
    /// An in-dialog request relayed from the other side; its answer goes to
    /// `server`.
    Relay { server: ServerTxId },
}

/// How long a call may ring before the switch gives up (the caller hears 480).
const NO_ANSWER: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    User { aor: String, contact: String, peer: Peer },
    Trunk { name: String, number: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BState {
    Calling,
    Early,
    Answered,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Routing and ringing.
    Setup,
    /// 2xx sent to A, waiting for its ACK.
    Answered,
    /// Both legs up.
    Confirmed,
    /// BYEs out, waiting for their answers.
    Ending,
    /// A got its final non-2xx; waiting for B legs to wind down.
    Failed,
}

struct ALeg {
    tx: ServerTxId,
    req: Message,
    peer: Peer,
    to_tag: String,
    dialog: Option<Dialog>,
    ok: Option<Bytes>,
    ok_interval: Duration,
}

struct BLeg {
    call_id: String,
    invite: Message,
    tx: Option<ClientTxId>,
    peer: Peer,
    dialog: Option<Dialog>,
    state: BState,
    target: Target,
    auth_tried: bool,
    ack: Option<Bytes>,
    provisional: bool,
    cancel_wanted: bool,
}

/// A re-INVITE relayed across, remembered until its ACK passes (glare, §14.1).
#[derive(Clone, Copy)]
struct ReInvite {
    from: Side,
    to: Side,
    server: ServerTxId,
    out_cseq: u32,
    answered: bool,
}

pub(crate) struct Call {
    cdr_id: String,
    a: ALeg,
    b: Vec<BLeg>,
    winner: Option<usize>,
    next_trunks: VecDeque<Target>,
    state: State,
    start_ms: u64,
    answer_ms: Option<u64>,
    caller: String,
    caller_display: Option<String>,
    from_trunk: Option<String>,
    callee: String,
    destination: String,
    status: u16,
    cause: &'static str,
    hangup_by: &'static str,
    best: Option<(u16, String)>,
    reinvite: Option<ReInvite>,
    byes: u8,
    client_txs: Vec<ClientTxId>,
    span: tracing::Span,
}

impl Engine {
    pub(super) fn on_invite(&mut self, now: Instant, id: ServerTxId, req: Message, peer: Peer) {
        if self.draining {
            self.reply_retry_after(now, id, &req, 503, "Shutting Down");
            return;
        }
        if req.max_forwards() == Some(0) {
            self.reply(now, id, &req, 483, "Too Many Hops");
            return;
        }
        if self.by_call_id.contains_key(req.call_id()) {
            // Same Call-ID, no To tag, new branch: a request that reached us
            // twice (RFC 3261 §8.2.2.2).
            self.reply(now, id, &req, 482, "Loop Detected");
            return;
        }
        let from_user = req.from().and_then(|f| f.uri()).and_then(|u| u.user.map(str::to_owned)).unwrap_or_default();
        let has_creds = req.header(HeaderName::ProxyAuthorization).is_some();
        let trunk = if has_creds || self.secrets.contains_key(&from_user) {
            None
        } else {
            self.cfg.trunks.iter().find(|t| t.admits(&peer.addr.ip())).map(|t| t.name.clone())
        };
        let caller = match &trunk {
            Some(_) => from_user,
            None => match self.authenticate(now, id, &req) {
                Authn::User(u) => u,
                Authn::Answered => return,
            },
        };
        if self.calls.len() >= self.cfg.limits.max_calls as usize {
            self.reply_retry_after(now, id, &req, 503, "Call Limit Reached");
            return;
        }
        let callee = req.request_uri().and_then(|u| u.user.map(str::to_owned)).unwrap_or_default();
        let tag = self.ids.tag();
        let trying = response_to(&req, 100, "", None, Some(peer.addr)).finish(None, b"");
        self.send_response(now, id, trying);

        let targets = match self.route(now, &callee, trunk.as_deref()) {
            Ok(t) => t,
            Err((code, reason)) => {
                info!(caller = %caller, callee = %callee, code, "call refused");
                let b = response_to(&req, code, reason, Some(&tag), Some(peer.addr)).finish(None, b"");
                self.send_response(now, id, b);
                let start = self.wall_ms(now);
                let cdr_id = self.ids.tag();
                self.write_cdr(CdrRecord {
                    id: cdr_id,
                    a_call_id: req.call_id().to_owned(),
                    b_call_id: String::new(),
                    caller,
                    callee,
                    destination: String::new(),
                    start_ms: start,
                    answer_ms: None,
                    end_ms: start,
                    status: code,
                    cause: cause_for(code).to_owned(),
                    hangup_by: String::new(),
                });
                return;
            }
        };
        let key = self.new_key();
        let cdr_id = self.ids.tag();
        let span = tracing::info_span!("call", id = %cdr_id);
        let caller_display = req.from().and_then(|f| f.display).map(str::to_owned);
        self.stats.calls += 1;
        let (parallel, sequential): (Vec<Target>, VecDeque<Target>) = match targets {
            Routed::Fork(t) => (t, VecDeque::new()),
            Routed::Hunt(mut t) => {
                let first = t.pop_front().into_iter().collect();
                (first, t)
            }
        };
        let call = Call {
            cdr_id,
            a: ALeg { tx: id, peer, to_tag: tag, dialog: None, ok: None, ok_interval: self.cfg.timers.t1, req },
            b: Vec::new(),
            winner: None,
            next_trunks: sequential,
            state: State::Setup,
            start_ms: self.wall_ms(now),
            answer_ms: None,
            caller,
            caller_display,
            from_trunk: trunk,
            callee,
            destination: String::new(),
            status: 0,
            cause: "",
            hangup_by: "",
            best: None,
            reinvite: None,
            byes: 0,
            client_txs: Vec::new(),
            span,
        };
        {
            let _e = call.span.enter();
            info!(caller = %call.caller, callee = %call.callee, from_trunk = ?call.from_trunk, "new call");
        }
        self.by_call_id.insert(call.a.req.call_id().into(), (key, Side::A));
        self.server_tx.insert(id, (key, Side::A));
        self.calls.insert(key, call);
        self.set_timer(now + NO_ANSWER, key, CallTimer::NoAnswer);
        for t in parallel {
            self.start_b_leg(now, key, t);
        }
    }

    fn reply_retry_after(&mut self, now: Instant, id: ServerTxId, req: &Message, code: u16, reason: &str) {
        let tag = self.ids.tag();
        let peer = self.tx.server_peer(id).unwrap_or_else(|| Peer::udp(([127, 0, 0, 1], 0).into()));
        let mut w = response_to(req, code, reason, Some(&tag), Some(peer.addr));
        w.header(HeaderName::RetryAfter, self.cfg.limits.retry_after.as_secs());
        w.header(HeaderName::Server, &self.cfg.server.user_agent);
        self.send_response(now, id, w.finish(None, b""));
    }

    /// Where a dialled number goes: a local user's contacts (all rung at
    /// once) or trunks (one after another).
    fn route(&self, now: Instant, callee: &str, from_trunk: Option<&str>) -> Result<Routed, (u16, &'static str)> {
        let mut user = callee.to_owned();
        if !self.secrets.contains_key(&user) {
            if let Some(t) = from_trunk.and_then(|t| self.cfg.trunk(t)).and_then(|t| t.inbound_to.clone()) {
                user = t;
            }
        }
        if self.secrets.contains_key(&user) {
            let contacts = self.reg.lookup(&user, self.wall_secs(now));
            if contacts.is_empty() {
                return Err((480, "Temporarily Unavailable"));
            }
            return Ok(Routed::Fork(
                contacts
                    .into_iter()
                    .map(|b| Target::User {
                        aor: user.clone(),
                        contact: b.contact.clone(),
                        peer: Peer { transport: b.transport, addr: b.source, conn: None },
                    })
                    .collect(),
            ));
        }
        let Some(route) = self.cfg.route_for(callee) else {
            return Err((404, "Not Found"));
        };
        let number = route.rewrite(callee);
        Ok(Routed::Hunt(route.trunks().map(|t| Target::Trunk { name: t.to_owned(), number: number.clone() }).collect()))
    }

    fn start_b_leg(&mut self, now: Instant, key: CallKey, target: Target) {
        let call_id = self.ids.call_id();
        let from_tag = self.ids.tag();
        let branch = self.ids.branch();
        let Some(call) = self.calls.get(&key) else { return };
        let idx = call.b.len();
        let (ruri, to, peer, dest_name) = match &target {
            Target::User { aor, contact, peer } => {
                (contact.clone(), format!("<sip:{aor}@{}>", self.cfg.server.domain), *peer, format!("user:{aor}"))
            }
            Target::Trunk { name, number } => {
                let Some(t) = self.cfg.trunk(name) else { return };
                let transport = trunk_transport(t.transport);
                let addr = self.trunk_addrs.get(name).copied().unwrap_or_else(|| ([127, 0, 0, 1], t.port).into());
                let tp = if transport == Transport::Udp { String::new() } else { format!(";transport={}", transport.as_str().to_ascii_lowercase()) };
                (
                    format!("sip:{number}@{}:{}{tp}", t.host, t.port),
                    format!("<sip:{number}@{}:{}>", t.host, t.port),
                    Peer { transport, addr, conn: None },
                    format!("trunk:{name}"),
                )
            }
        };
        let a = &call.a.req;
        let mut w = Writer::request(&Method::Invite, &ruri);
        w.header(HeaderName::Via, format_args!("SIP/2.0/{} {};branch={branch};rport", peer.transport, self.local.sent_by(peer.transport)));
        w.header(HeaderName::MaxForwards, a.max_forwards().map_or(69, |m| m.saturating_sub(1)));
        let from = self.caller_identity(call, &target);
        w.header(HeaderName::From, format_args!("{from};tag={from_tag}"));
        w.header(HeaderName::To, &to);
        w.header(HeaderName::CallId, &call_id);
        w.header(HeaderName::CSeq, "1 INVITE");
        w.header(HeaderName::Contact, self.local.contact(peer.transport));
        w.header(HeaderName::Allow, super::screen::ALLOW);
        if a.values(HeaderName::Supported).iter().any(|s| s.eq_ignore_ascii_case("timer")) {
            w.header(HeaderName::Supported, "timer");
        }
        if let Target::Trunk { name, .. } = &target {
            if let Some(t) = self.cfg.trunk(name) {
                if t.privacy == crate::config::Privacy::Id {
                    w.header(HeaderName::PAssertedIdentity, format_args!("<sip:{}@{}>", t.caller_id.as_deref().unwrap_or(&call.caller), self.cfg.server.domain));
                    w.header(HeaderName::Privacy, "id");
                }
            }
        }
        copy_passthrough(&mut w, a, false);
        w.header(HeaderName::UserAgent, &self.cfg.server.user_agent);
        let bytes = w.finish(a.content_type(), a.body());
        let invite = match crate::sip::parse_bytes(bytes.clone()) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "built an INVITE that does not parse; leg dropped");
                return;
            }
        };
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.destination.is_empty() {
            call.destination = dest_name;
        }
        {
            let _e = call.span.enter();
            debug!(leg = idx, ruri = %ruri, "placing leg");
        }
        call.b.push(BLeg {
            call_id: call_id.clone(),
            invite,
            tx: None,
            peer,
            dialog: None,
            state: BState::Calling,
            target,
            auth_tried: false,
            ack: None,
            provisional: false,
            cancel_wanted: false,
        });
        self.by_call_id.insert(call_id.into(), (key, Side::B(idx)));
        match self.tx.send_request(now, bytes, peer) {
            Ok(tx) => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.b[idx].tx = Some(tx);
                    call.client_txs.push(tx);
                }
                self.client_tx.insert(tx, (key, Purpose::Invite(idx)));
            }
            Err(e) => {
                warn!(error = %e, "INVITE not sent");
                self.b_failed(now, key, idx, 500, "Server Internal Error".into());
            }
        }
    }

    /// From header for a B leg: the authenticated user, or a trunk's presented
    /// number, or anonymous (RFC 3323) when the trunk asks for privacy.
    fn caller_identity(&self, call: &Call, target: &Target) -> String {
        let mut user = call.caller.clone();
        if let Target::Trunk { name, .. } = target {
            if let Some(t) = self.cfg.trunk(name) {
                if t.privacy == crate::config::Privacy::Id {
                    return "\"Anonymous\" <sip:anonymous@anonymous.invalid>".to_owned();
                }
                if let Some(cid) = &t.caller_id {
                    user.clone_from(cid);
                }
            }
        }
        let host = &self.cfg.server.domain;
        match &call.caller_display {
            Some(d) => format!("{d} <sip:{user}@{host}>"),
            None => format!("<sip:{user}@{host}>"),
        }
    }

    pub(super) fn call_client_response(&mut self, now: Instant, key: CallKey, purpose: Purpose, id: ClientTxId, resp: Message, peer: Peer) {
        let Some(code) = resp.status() else { return };
        match purpose {
            Purpose::Invite(i) => self.b_invite_response(now, key, i, id, resp, peer, code),
            Purpose::Cancel(_) => {}
            Purpose::Bye(_) => {
                if code >= 200 {
                    self.bye_done(now, key);
                }
            }
            Purpose::Relay { server } => self.relay_response(now, key, server, &resp, code),
        }
    }

    pub(super) fn call_client_timeout(&mut self, now: Instant, key: CallKey, purpose: Purpose, _id: ClientTxId) {
        match purpose {
            Purpose::Invite(i) => self.b_failed(now, key, i, 408, "Request Timeout".into()),
            Purpose::Cancel(_) => {}
            Purpose::Bye(_) => self.bye_done(now, key),
            Purpose::Relay { server } => {
                if let Some(req) = self.tx.server_request(server).cloned() {
                    self.reply(now, server, &req, 408, "Request Timeout");
                }
                if let Some(c) = self.calls.get_mut(&key) {
                    if c.reinvite.is_some_and(|r| r.server == server) {
                        c.reinvite = None;
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn b_invite_response(&mut self, now: Instant, key: CallKey, i: usize, id: ClientTxId, resp: Message, peer: Peer, code: u16) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(leg) = call.b.get_mut(i) else { return };
        if leg.tx != Some(id) {
            return;
        }
        leg.peer = Peer { conn: peer.conn.or(leg.peer.conn), ..leg.peer };
        if code < 200 {
            leg.provisional = true;
            if leg.cancel_wanted {
                self.send_cancel(now, key, i);
                return;
            }
            if code == 100 {
                return;
            }
            if resp.to_tag().is_some() {
                match &mut leg.dialog {
                    Some(_) => {}
                    None => leg.dialog = Dialog::uac(&leg.invite, &resp, leg.peer).ok(),
                }
            }
            if leg.state == BState::Calling {
                leg.state = BState::Early;
            }
            if call.state == State::Setup {
                let w = self.a_response_from(key, &resp, code);
                if let Some((tx, bytes)) = w {
                    self.send_response(now, tx, bytes);
                }
            }
            return;
        }
        if (200..300).contains(&code) {
            self.b_answered(now, key, i, resp);
            return;
        }
        // Trunks that challenge get one answer with the trunk's credentials.
        if (code == 401 || code == 407) && !leg.auth_tried {
            if let Target::Trunk { name, .. } = leg.target.clone() {
                if self.retry_with_auth(now, key, i, &name, &resp) {
                    return;
                }
            }
        }
        let reason = resp.reason().to_owned();
        self.b_failed(now, key, i, code, reason);
    }

    fn retry_with_auth(&mut self, now: Instant, key: CallKey, i: usize, trunk: &str, resp: &Message) -> bool {
        let Some(t) = self.cfg.trunk(trunk) else { return false };
        let (Some(user), Some(pass)) = (t.auth_username.clone().or_else(|| t.username.clone()), t.password.clone()) else {
            return false;
        };
        let hdr = if resp.status() == Some(407) { HeaderName::ProxyAuthenticate } else { HeaderName::WwwAuthenticate };
        let challenges: Vec<_> = resp.header_lines(hdr).filter_map(|v| crate::sip::auth::Challenge::parse(v).ok()).collect();
        let Some(ch) = crate::sip::auth::preferred_challenge(&challenges) else { return false };
        let Some(call) = self.calls.get_mut(&key) else { return false };
        let leg = &mut call.b[i];
        leg.auth_tried = true;
        let uri = leg.invite.request_uri_str().to_owned();
        let creds = crate::sip::auth::answer(ch, "INVITE", &uri, &user, &pass, &crate::sip::auth::client_nonce(), 1);
        let auth_hdr = if resp.status() == Some(407) { HeaderName::ProxyAuthorization } else { HeaderName::Authorization };
        let branch = self.ids.branch();
        let bytes = rewrite_request(&leg.invite, &branch, 2, &[(auth_hdr, creds.to_header_value())]);
        let Ok(invite) = crate::sip::parse_bytes(bytes.clone()) else { return false };
        leg.invite = invite;
        let peer = leg.peer;
        match self.tx.send_request(now, bytes, peer) {
            Ok(tx) => {
                let call = self.calls.get_mut(&key).map(|c| {
                    c.b[i].tx = Some(tx);
                    c.client_txs.push(tx);
                });
                let _ = call;
                self.client_tx.insert(tx, (key, Purpose::Invite(i)));
                true
            }
            Err(_) => false,
        }
    }

    /// Builds A's copy of a B response (provisional or 2xx): status, body,
    /// and the headers that describe the session.
    fn a_response_from(&mut self, key: CallKey, resp: &Message, code: u16) -> Option<(ServerTxId, Bytes)> {
        let call = self.calls.get(&key)?;
        let a = &call.a;
        let mut w = response_to(&a.req, code, resp.reason(), Some(&a.to_tag), Some(a.peer.addr));
        // RFC 3261 §12.1.1: a UAS copies Record-Route into responses that make dialogs.
        w.copy(&a.req, HeaderName::RecordRoute);
        w.header(HeaderName::Contact, self.local.contact(a.peer.transport));
        if code >= 200 {
            w.header(HeaderName::Allow, super::screen::ALLOW);
        }
        copy_passthrough(&mut w, resp, true);
        w.header(HeaderName::Server, &self.cfg.server.user_agent);
        Some((a.tx, w.finish(resp.content_type(), resp.body())))
    }

    fn b_answered(&mut self, now: Instant, key: CallKey, i: usize, resp: Message) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = &mut call.b[i];
        match &mut leg.dialog {
            Some(d) if d.remote_tag() == resp.to_tag().unwrap_or("") => {
                let _ = d.update_from_response(&resp);
            }
            _ => leg.dialog = Dialog::uac(&leg.invite, &resp, leg.peer).ok(),
        }
        if call.state != State::Setup || call.winner.is_some() || leg.dialog.is_none() {
            // Someone else won, or the call is gone already: hang this one up.
            leg.state = BState::Done;
            if leg.dialog.is_some() {
                self.ack_and_bye(now, key, i);
            } else {
                hang_up_stray(self, now, &resp, call_peer(self, key, i));
            }
            self.maybe_finish(now, key);
            return;
        }
        leg.state = BState::Answered;
        call.winner = Some(i);
        call.state = State::Answered;
        call.answer_ms = Some(self.anchor.1 + now.saturating_duration_since(self.anchor.0).as_millis() as u64);
        call.status = 200;
        call.destination = match &leg.target {
            Target::User { aor, .. } => format!("user:{aor}"),
            Target::Trunk { name, .. } => format!("trunk:{name}"),
        };
        {
            let _e = call.span.enter();
            info!(leg = i, "answered");
        }
        let others: Vec<usize> = (0..call.b.len()).filter(|&j| j != i && call.b[j].state != BState::Done).collect();
        for j in others {
            self.cancel_b(now, key, j);
        }
        let Some((tx, bytes)) = self.a_response_from(key, &resp, resp.status().unwrap_or(200)) else { return };
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.a.dialog = Dialog::uas(&call.a.req, &call.a.to_tag, &self.local.contact(call.a.peer.transport), call.a.peer).ok();
        call.a.ok = Some(bytes.clone());
        call.a.ok_interval = self.cfg.timers.t1;
        self.send_response(now, tx, bytes);
        let t1 = self.cfg.timers.t1;
        self.set_timer(now + t1, key, CallTimer::A2xxRetransmit);
        self.set_timer(now + t1 * 64, key, CallTimer::A2xxGiveUp);
    }

    fn b_failed(&mut self, now: Instant, key: CallKey, i: usize, code: u16, reason: String) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        if let Some(leg) = call.b.get_mut(i) {
            leg.state = BState::Done;
        }
        {
            let _e = call.span.enter();
            debug!(leg = i, code, "leg failed");
        }
        // Best response (RFC 3261 §16.7, simplified): a 6xx or a busy wins over
        // "nobody there"; otherwise the first failure stands.
        let better = match &call.best {
            None => true,
            Some((b, _)) => (code >= 600 && *b < 600) || (code == 486 && *b != 486 && *b < 600),
        };
        if better {
            call.best = Some((code, reason));
        }
        if call.state != State::Setup {
            self.maybe_finish(now, key);
            return;
        }
        if call.b.iter().any(|l| l.state != BState::Done) {
            return;
        }
        // Fail over to the next trunk on an outage-type answer.
        if matches!(code, 408 | 500 | 502 | 503 | 504) {
            if let Some(next) = call.next_trunks.pop_front() {
                call.best = None;
                self.start_b_leg(now, key, next);
                return;
            }
        }
        let (code, reason) = call.best.clone().unwrap_or((500, String::new()));
        // A device's own challenge means nothing to the caller.
        let code = if code == 401 || code == 407 { 403 } else { code };
        self.fail_a(now, key, code, &reason, cause_for(code));
    }

    /// Final non-2xx to the caller.
    fn fail_a(&mut self, now: Instant, key: CallKey, code: u16, reason: &str, cause: &'static str) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.state != State::Setup {
            return;
        }
        call.state = State::Failed;
        call.status = code;
        if call.cause.is_empty() {
            call.cause = cause;
        }
        let a = &call.a;
        let mut w = response_to(&a.req, code, reason, Some(&a.to_tag), Some(a.peer.addr));
        w.header(HeaderName::Server, &self.cfg.server.user_agent);
        let tx = a.tx;
        let pending: Vec<usize> = (0..call.b.len()).filter(|&j| call.b[j].state != BState::Done).collect();
        self.send_response(now, tx, w.finish(None, b""));
        for j in pending {
            self.cancel_b(now, key, j);
        }
        self.maybe_finish(now, key);
    }

    fn cancel_b(&mut self, now: Instant, key: CallKey, j: usize) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = &mut call.b[j];
        if leg.state == BState::Done || leg.state == BState::Answered {
            return;
        }
        leg.cancel_wanted = true;
        // RFC 3261 §9.1: no CANCEL before a provisional response.
        if leg.provisional {
            self.send_cancel(now, key, j);
        }
    }

    fn send_cancel(&mut self, now: Instant, key: CallKey, j: usize) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = &mut call.b[j];
        if leg.state == BState::Done {
            return;
        }
        // The CANCEL copies the INVITE's Request-URI, Call-ID, From, To, CSeq
        // number and top Via (§9.1), so it matches the INVITE transaction.
        let inv = &leg.invite;
        let mut w = Writer::request(&Method::Cancel, inv.request_uri_str());
        if let Some(v) = inv.header(HeaderName::Via) {
            w.header(HeaderName::Via, v);
        }
        w.header(HeaderName::MaxForwards, 70);
        w.copy(inv, HeaderName::From).copy(inv, HeaderName::To).copy(inv, HeaderName::CallId);
        w.header(HeaderName::CSeq, format_args!("{} CANCEL", inv.cseq_seq()));
        w.copy(inv, HeaderName::Route);
        let bytes = w.finish(None, b"");
        let peer = leg.peer;
        leg.cancel_wanted = false;
        if let Ok(tx) = self.tx.send_request(now, bytes, peer) {
            self.client_tx.insert(tx, (key, Purpose::Cancel(j)));
            if let Some(c) = self.calls.get_mut(&key) {
                c.client_txs.push(tx);
            }
        }
    }

    /// CANCEL from the caller (RFC 3261 §9.2): 200 to the CANCEL, 487 to the
    /// INVITE, CANCEL to every leg still ringing.
    pub(super) fn on_cancel(&mut self, now: Instant, id: ServerTxId, req: &Message) {
        let target = self.tx.cancel_target(req);
        let Some(&(key, Side::A)) = target.and_then(|t| self.server_tx.get(&t)) else {
            self.reply(now, id, req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        self.reply(now, id, req, 200, "OK");
        if let Some(call) = self.calls.get_mut(&key) {
            if call.state == State::Setup {
                call.hangup_by = "caller";
                call.cause = "cancelled";
            }
        }
        self.fail_a(now, key, 487, "Request Terminated", "cancelled");
    }

    /// ACK for a 2xx (the transaction layer absorbed those for non-2xx).
    pub(super) fn on_ack(&mut self, now: Instant, ack: Message, peer: Peer) {
        let Some(&(key, side)) = self.by_call_id.get(ack.call_id()) else { return };
        let Some(call) = self.calls.get_mut(&key) else { return };
        // The ACK that confirms the call: forward to the winner, carrying any
        // SDP answer (late offer).
        if side == Side::A && call.state == State::Answered && ack.cseq_seq() == call.a.req.cseq_seq() {
            call.state = State::Confirmed;
            call.a.ok = None;
            call.a.peer = Peer { conn: peer.conn.or(call.a.peer.conn), ..call.a.peer };
            let Some(w) = call.winner else { return };
            let cseq = call.b[w].invite.cseq_seq();
            self.send_b_ack(now, key, w, cseq, ack.content_type(), ack.body());
            return;
        }
        if let Some(r) = call.reinvite {
            if r.from == side && r.answered && ack.cseq_seq() == self.dialog_remote_cseq(key, side).unwrap_or(u32::MAX) {
                if let Some(c) = self.calls.get_mut(&key) {
                    c.reinvite = None;
                }
                self.send_dialog_ack(now, key, r.to, r.out_cseq, ack.content_type(), ack.body());
            }
        }
    }

    fn dialog_remote_cseq(&self, key: CallKey, side: Side) -> Option<u32> {
        let call = self.calls.get(&key)?;
        let d = match side {
            Side::A => call.a.dialog.as_ref(),
            Side::B(i) => call.b.get(i)?.dialog.as_ref(),
        }?;
        d.remote_seq()
    }

    fn send_b_ack(&mut self, now: Instant, key: CallKey, i: usize, cseq: u32, ct: Option<&str>, body: &[u8]) {
        let ct = ct.map(str::to_owned);
        let body = body.to_vec();
        let branch = self.ids.branch();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = &mut call.b[i];
        let Some(d) = &leg.dialog else { return };
        let sent_by = self.local.sent_by(leg.peer.transport);
        let via = LocalVia { transport: leg.peer.transport, sent_by: &sent_by, branch: &branch };
        let bytes = d.ack(cseq, via, &[], ct.as_deref(), &body).bytes;
        leg.ack = Some(bytes.clone());
        let _ = now;
        self.out.push_back(Transmit { dest: leg.peer, bytes });
    }

    fn send_dialog_ack(&mut self, now: Instant, key: CallKey, side: Side, cseq: u32, ct: Option<&str>, body: &[u8]) {
        match side {
            Side::B(i) => self.send_b_ack(now, key, i, cseq, ct, body),
            Side::A => {
                let branch = self.ids.branch();
                let Some(call) = self.calls.get_mut(&key) else { return };
                let Some(d) = &call.a.dialog else { return };
                let sent_by = self.local.sent_by(call.a.peer.transport);
                let via = LocalVia { transport: call.a.peer.transport, sent_by: &sent_by, branch: &branch };
                let bytes = d.ack(cseq, via, &[], ct, body).bytes;
                self.out.push_back(Transmit { dest: call.a.peer, bytes });
            }
        }
    }

    /// A retransmitted 2xx from B whose ACK we already sent: send it again.
    pub(super) fn resend_b_ack(&mut self, _now: Instant, key: CallKey, i: usize, _resp: &Message, peer: Peer) {
        let Some(call) = self.calls.get(&key) else { return };
        let Some(leg) = call.b.get(i) else { return };
        if let Some(ack) = &leg.ack {
            self.out.push_back(Transmit { dest: Peer { conn: peer.conn, ..leg.peer }, bytes: ack.clone() });
        }
    }

    /// ACK then BYE a B leg that answered but is not wanted.
    fn ack_and_bye(&mut self, now: Instant, key: CallKey, i: usize) {
        let cseq = self.calls.get(&key).map_or(1, |c| c.b[i].invite.cseq_seq());
        self.send_b_ack(now, key, i, cseq, None, b"");
        self.send_bye(now, key, Side::B(i));
    }

    fn send_bye(&mut self, now: Instant, key: CallKey, side: Side) {
        let branch = self.ids.branch();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let (dialog, peer) = match side {
            Side::A => (call.a.dialog.as_mut(), call.a.peer),
            Side::B(i) => match call.b.get_mut(i) {
                Some(l) => (l.dialog.as_mut(), l.peer),
                None => return,
            },
        };
        let Some(d) = dialog else { return };
        let sent_by = self.local.sent_by(peer.transport);
        let out = d.request(Method::Bye, LocalVia { transport: peer.transport, sent_by: &sent_by, branch: &branch }, &[], None, b"");
        call.byes += 1;
        match self.tx.send_request(now, out.bytes, peer) {
            Ok(tx) => {
                call.client_txs.push(tx);
                self.client_tx.insert(tx, (key, Purpose::Bye(side)));
            }
            Err(_) => call.byes -= 1,
        }
    }

    fn bye_done(&mut self, now: Instant, key: CallKey) {
        if let Some(call) = self.calls.get_mut(&key) {
            call.byes = call.byes.saturating_sub(1);
        }
        self.maybe_finish(now, key);
    }

    /// A request inside one of a call's dialogs.
    pub(super) fn on_in_dialog(&mut self, now: Instant, id: ServerTxId, req: Message, peer: Peer) {
        let Some(&(key, side)) = self.by_call_id.get(req.call_id()) else {
            self.reply(now, id, &req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            self.reply(now, id, &req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        let dialog = match side {
            Side::A => call.a.dialog.as_mut(),
            Side::B(i) => call.b.get_mut(i).and_then(|l| l.dialog.as_mut()),
        };
        let Some(dialog) = dialog else {
            self.reply(now, id, &req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        if req.to_tag() != Some(dialog.local_tag()) || req.from_tag() != Some(dialog.remote_tag()) {
            self.reply(now, id, &req, 481, "Call/Transaction Does Not Exist");
            return;
        }
        if dialog.on_request(&req).is_err() {
            self.reply(now, id, &req, 500, "CSeq Out of Order");
            return;
        }
        match side {
            Side::A => call.a.peer = Peer { conn: peer.conn.or(call.a.peer.conn), ..call.a.peer },
            Side::B(i) => call.b[i].peer = Peer { conn: peer.conn.or(call.b[i].peer.conn), ..call.b[i].peer },
        }
        let other = match side {
            Side::A => call.winner.map(Side::B),
            Side::B(_) => Some(Side::A),
        };
        if *req.method() == Method::Bye {
            self.reply(now, id, &req, 200, "OK");
            let Some(call) = self.calls.get_mut(&key) else { return };
            if matches!(call.state, State::Ending | State::Failed) {
                self.maybe_finish(now, key);
                return;
            }
            call.hangup_by = if side == Side::A { "caller" } else { "callee" };
            call.cause = "normal";
            call.state = State::Ending;
            {
                let _e = call.span.enter();
                info!(by = call.hangup_by, "hangup");
            }
            if let Some(o) = other {
                self.send_bye(now, key, o);
            }
            self.maybe_finish(now, key);
            return;
        }
        let Some(other) = other.filter(|_| matches!(call.state, State::Confirmed | State::Answered)) else {
            self.reply(now, id, &req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        if *req.method() == Method::Invite {
            if call.reinvite.is_some() {
                // Glare (RFC 3261 §14.2): one re-INVITE at a time per call.
                self.reply(now, id, &req, 491, "Request Pending");
                return;
            }
        }
        self.relay_request(now, key, id, &req, other);
    }

    /// Sends `req` on the other leg's dialog; its answer comes back through
    /// [`Engine::relay_response`].
    fn relay_request(&mut self, now: Instant, key: CallKey, server: ServerTxId, req: &Message, to: Side) {
        let branch = self.ids.branch();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let (dialog, peer) = match to {
            Side::A => (call.a.dialog.as_mut(), call.a.peer),
            Side::B(i) => match call.b.get_mut(i) {
                Some(l) => (l.dialog.as_mut(), l.peer),
                None => return,
            },
        };
        let Some(d) = dialog else { return };
        let extra = passthrough_list(req, true);
        let extra: Vec<(&str, &str)> = extra.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let sent_by = self.local.sent_by(peer.transport);
        let via = LocalVia { transport: peer.transport, sent_by: &sent_by, branch: &branch };
        let out = d.request(req.method().clone(), via, &extra, req.content_type(), req.body());
        let out_cseq = out.cseq;
        if *req.method() == Method::Invite {
            let from = if to == Side::A { call.winner.map_or(Side::A, Side::B) } else { Side::A };
            call.reinvite = Some(ReInvite { from, to, server, out_cseq, answered: false });
        }
        match self.tx.send_request(now, out.bytes, peer) {
            Ok(tx) => {
                call.client_txs.push(tx);
                self.client_tx.insert(tx, (key, Purpose::Relay { server }));
            }
            Err(_) => {
                self.reply(now, server, req, 500, "Server Internal Error");
            }
        }
    }

    fn relay_response(&mut self, now: Instant, key: CallKey, server: ServerTxId, resp: &Message, code: u16) {
        if code == 100 {
            return;
        }
        let Some(req) = self.tx.server_request(server).cloned() else { return };
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(&(_, side)) = self.by_call_id.get(req.call_id()) else { return };
        let peer = match side {
            Side::A => call.a.peer,
            Side::B(i) => call.b[i].peer,
        };
        let mut w = response_to(&req, code, resp.reason(), None, Some(peer.addr));
        if *req.method() == Method::Invite || *req.method() == Method::Update {
            w.header(HeaderName::Contact, self.local.contact(peer.transport));
        }
        copy_passthrough(&mut w, resp, true);
        w.header(HeaderName::Server, &self.cfg.server.user_agent);
        let bytes = w.finish(resp.content_type(), resp.body());
        if *req.method() == Method::Invite && code >= 200 {
            if let Some(r) = &mut call.reinvite {
                if (200..300).contains(&code) {
                    r.answered = true;
                    // The 2xx for the relayed re-INVITE needs an ACK on the far
                    // leg; it is sent when the near side's ACK arrives.
                } else {
                    call.reinvite = None;
                }
            }
        }
        self.send_response(now, server, bytes);
    }

    pub(super) fn call_timer(&mut self, now: Instant, key: CallKey, t: CallTimer) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        match t {
            CallTimer::A2xxRetransmit => {
                if call.state != State::Answered {
                    return;
                }
                if let Some(ok) = call.a.ok.clone() {
                    self.out.push_back(Transmit { dest: call.a.peer, bytes: ok });
                    call.a.ok_interval = (call.a.ok_interval * 2).min(self.cfg.timers.t2);
                    let next = now + call.a.ok_interval;
                    self.set_timer(next, key, CallTimer::A2xxRetransmit);
                }
            }
            CallTimer::A2xxGiveUp => {
                if call.state == State::Answered {
                    warn!(id = %call.cdr_id, "no ACK for 2xx: ending call");
                    self.end_call_by_switch(now, key, "no-ack");
                }
            }
            CallTimer::NoAnswer => {
                if call.state == State::Setup {
                    call.hangup_by = "switch";
                    self.fail_a(now, key, 480, "No Answer", "no-answer");
                }
            }
        }
    }

    /// Ends a call from the switch's side (shutdown, missing ACK).
    pub(super) fn end_call_by_switch(&mut self, now: Instant, key: CallKey, cause: &'static str) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        match call.state {
            State::Setup => {
                call.hangup_by = "switch";
                self.fail_a(now, key, 503, "Service Unavailable", cause);
            }
            State::Answered | State::Confirmed => {
                call.state = State::Ending;
                call.cause = cause;
                call.hangup_by = "switch";
                let winner = call.winner;
                self.send_bye(now, key, Side::A);
                if let Some(w) = winner {
                    let acked = self.calls.get(&key).is_some_and(|c| c.b[w].ack.is_some());
                    if acked {
                        self.send_bye(now, key, Side::B(w));
                    } else {
                        self.ack_and_bye(now, key, w);
                    }
                }
                self.maybe_finish(now, key);
            }
            State::Ending | State::Failed => {}
        }
    }

    /// Removes a call once nothing is outstanding, writing its CDR.
    fn maybe_finish(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get(&key) else { return };
        let done = match call.state {
            State::Failed => call.b.iter().all(|l| l.state == BState::Done || l.state == BState::Answered),
            State::Ending => call.byes == 0,
            _ => false,
        };
        if !done {
            return;
        }
        let Some(call) = self.calls.remove(&key) else { return };
        self.by_call_id.remove(call.a.req.call_id());
        for l in &call.b {
            self.by_call_id.remove(l.call_id.as_str());
        }
        self.server_tx.remove(&call.a.tx);
        for tx in &call.client_txs {
            self.client_tx.remove(tx);
        }
        let end = self.wall_ms(now);
        let status = if call.status == 0 { 500 } else { call.status };
        let cause = if call.cause.is_empty() { cause_for(status) } else { call.cause };
        {
            let _e = call.span.enter();
            info!(status, cause, "call ended");
        }
        self.write_cdr(CdrRecord {
            id: call.cdr_id,
            a_call_id: call.a.req.call_id().to_owned(),
            b_call_id: call.winner.or(call.b.len().checked_sub(1)).map(|i| call.b[i].call_id.clone()).unwrap_or_default(),
            caller: call.caller,
            callee: call.callee,
            destination: call.destination,
            start_ms: call.start_ms,
            answer_ms: call.answer_ms,
            end_ms: end,
            status,
            cause: cause.to_owned(),
            hangup_by: call.hangup_by.to_owned(),
        });
    }

    pub(super) fn write_cdr(&mut self, r: CdrRecord) {
        self.stats.cdrs += 1;
        self.store.push_back(crate::store::StoreOp::Cdr(r));
    }
}

enum Routed {
    Fork(Vec<Target>),
    Hunt(VecDeque<Target>),
}

fn call_peer(e: &Engine, key: CallKey, i: usize) -> Peer {
    e.calls.get(&key).map_or_else(|| Peer::udp(([127, 0, 0, 1], 0).into()), |c| c.b[i].peer)
}

fn trunk_transport(t: crate::config::Transport) -> Transport {
    match t {
        crate::config::Transport::Udp => Transport::Udp,
        crate::config::Transport::Tcp => Transport::Tcp,
        crate::config::Transport::Tls => Transport::Tls,
    }
}

/// A CDR cause for a final status.
fn cause_for(code: u16) -> &'static str {
    match code {
        200..=299 => "normal",
        404 | 604 => "unknown-number",
        480 => "unavailable",
        486 | 600 => "busy",
        487 => "cancelled",
        408 => "timeout",
        403 | 401 | 407 => "rejected",
        503 => "congestion",
        483 => "loop",
        _ => "failed",
    }
}

/// Headers a B2BUA relays between legs unchanged: everything except what
/// belongs to one hop, one transaction or one dialog, and what an untrusted
/// caller must not set (asserted identity).
fn is_passthrough(name: HeaderName, raw_name: &str, response: bool) -> bool {
    use HeaderName::*;
    match name {
        Via | From | To | CallId | CSeq | Contact | RecordRoute | Route | MaxForwards | ContentLength | ContentType
        | Authorization | ProxyAuthorization | WwwAuthenticate | ProxyAuthenticate | ProxyRequire | UserAgent | Server
        | Allow | Supported | PAssertedIdentity | Privacy | Unsupported | RetryAfter | MinExpires | Expires
        | ContentEncoding | Date => false,
        Require => true,
        SessionExpires | MinSe | Subject | Accept | Event | ReferTo => true,
        Other => {
            let l = raw_name.to_ascii_lowercase();
            // Hop-specific or identity-bearing extension headers stay behind.
            !(l.starts_with("p-") || l == "remote-party-id" || l == "diversion" && response || l == "path" || l == "service-route")
        }
    }
}

fn copy_passthrough(w: &mut Writer, from: &Message, response: bool) {
    for (name, raw, value) in from.all_headers() {
        if is_passthrough(name, raw, response) {
            if name == HeaderName::Other {
                w.header_named(raw, value);
            } else {
                w.header(name, value);
            }
        }
    }
}

fn passthrough_list(from: &Message, response: bool) -> Vec<(String, String)> {
    from.all_headers()
        .filter(|(n, raw, _)| is_passthrough(*n, raw, response))
        .map(|(n, raw, v)| (if n == HeaderName::Other { raw.to_owned() } else { n.as_str().to_owned() }, v.to_owned()))
        .collect()
}

/// The same request with a new top-Via branch, a new CSeq number and extra
/// headers (re-sending an INVITE with credentials, RFC 3261 §22.2).
fn rewrite_request(req: &Message, branch: &str, cseq: u32, extra: &[(HeaderName, String)]) -> Bytes {
    let mut w = Writer::request(req.method(), req.request_uri_str());
    let mut first_via = true;
    for (name, raw, value) in req.all_headers() {
        match name {
            HeaderName::Via if first_via => {
                first_via = false;
                let v = crate::sip::header::Via::parse(value);
                let sent = v.map(|v| (v.transport.to_owned(), v.host.to_owned(), v.port));
                match sent {
                    Some((t, h, p)) => {
                        let hp = p.map_or(h.clone(), |p| format!("{h}:{p}"));
                        w.header(HeaderName::Via, format_args!("SIP/2.0/{t} {hp};branch={branch};rport"));
                    }
                    None => {
                        w.header(HeaderName::Via, value);
                    }
                }
            }
            HeaderName::CSeq => {
                w.header(HeaderName::CSeq, format_args!("{cseq} {}", req.method()));
            }
            HeaderName::ContentLength | HeaderName::ContentType | HeaderName::Authorization | HeaderName::ProxyAuthorization => {}
            HeaderName::Other => {
                w.header_named(raw, value);
            }
            _ => {
                w.header(name, value);
            }
        }
    }
    for (n, v) in extra {
        w.header(*n, v);
    }
    w.finish(req.content_type(), req.body())
}

/// ACK and BYE a 2xx no call wants, from the response alone.
pub(super) fn hang_up_stray(e: &mut Engine, now: Instant, resp: &Message, peer: Peer) {
    let Some(target) = resp.contacts().first().map(|c| c.uri.to_owned()) else { return };
    let routes: Vec<String> = resp.values(HeaderName::RecordRoute).into_iter().rev().map(str::to_owned).collect();
    let seq = resp.cseq_seq();
    for (method, cseq) in [(Method::Ack, seq), (Method::Bye, seq.saturating_add(1))] {
        let mut w = Writer::request(&method, &target);
        let branch = e.ids.branch();
        w.header(HeaderName::Via, format_args!("SIP/2.0/{} {};branch={branch};rport", peer.transport, e.local.sent_by(peer.transport)));
        w.header(HeaderName::MaxForwards, 70);
        for r in &routes {
            w.header(HeaderName::Route, r);
        }
        w.copy(resp, HeaderName::From).copy(resp, HeaderName::To).copy(resp, HeaderName::CallId);
        w.header(HeaderName::CSeq, format_args!("{cseq} {method}"));
        let bytes = w.finish(None, b"");
        if method == Method::Ack {
            e.out.push_back(Transmit { dest: peer, bytes });
        } else {
            let _ = e.tx.send_request(now, bytes, peer);
        }
    }
}

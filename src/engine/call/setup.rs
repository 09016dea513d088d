//! Call set-up: routing an INVITE, placing B legs (forks or a trunk hunt),
//! mapping their answers back to A, CANCEL, trunk authentication.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::engine::Engine;
use crate::engine::auth::Authn;
use crate::engine::screen;
use crate::sip::build::{Writer, response_to};
use crate::sip::dialog::Dialog;
use crate::sip::dialog::session_timer::{Negotiated, SessionExpires, SessionTimer, SessionTimerError, check_request, min_se_of};
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};
use crate::sip::transaction::{ClientTxId, ServerTxId};
use crate::sip::transport::{Peer, Transport};
use crate::store::CdrRecord;

use super::headers::{copy_passthrough, rewrite_request};
use crate::engine::media::SdpRole;
use super::*;

impl Engine {
    pub(in crate::engine) fn on_invite(&mut self, now: Instant, id: ServerTxId, req: Message, peer: Peer) {
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
        if trunk.as_deref().is_some_and(|t| !self.trunk_has_room(t)) {
            self.reply_retry_after(now, id, &req, 503, "Trunk Capacity Reached");
            return;
        }
        if let Err(e) = check_request(&req, self.cfg.session_timer.min_se_s) {
            let extra = match e {
                SessionTimerError::IntervalTooSmall { min_se } => vec![(HeaderName::MinSe, min_se.to_string())],
                _ => Vec::new(),
            };
            self.answer(now, id, &req, e.status(), "", &extra);
            return;
        }
        let callee = req.request_uri().and_then(|u| u.user.map(str::to_owned)).unwrap_or_default();
        let tag = self.ids.tag();
        let trying = response_to(&req, 100, "", None, Some(peer.addr)).finish(None, b"");
        self.send_response(now, id, trying);

        let mut route_session = self.new_route_session(now, trunk.as_deref(), &caller, &callee);
        let mut ring_timeout = None;
        let mut media_step = None;
        let routed = match &mut route_session {
            Some(s) => self.plan_route(now, s, None).map(|r| match r {
                super::plan::Routing::Ring(p) => {
                    ring_timeout = Some(p.ring_timeout);
                    p.routed
                }
                super::plan::Routing::Media(step) => {
                    media_step = Some(step);
                    Routed::Fork(Vec::new())
                }
            }),
            None => self.route(now, &callee, trunk.as_deref()),
        };
        let targets = match routed {
            Ok(t) => t,
            Err((code, reason)) => {
                info!(caller = %caller, callee = %callee, code, "call refused");
                self.reply(now, id, &req, code, reason);
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
        let (anchor, b_offer) = match self.media_open(key, req.content_type(), req.body()) {
            Ok(m) => m,
            Err((code, reason)) => {
                self.reply(now, id, &req, code, reason);
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
                    cause: if code == 503 { "media-ports".to_owned() } else { "bad-sdp".to_owned() },
                    hangup_by: String::new(),
                });
                return;
            }
        };
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
            session: None,
            channels: Vec::new(),
            timers: Vec::new(),
            anchor,
            b_offer,
            span,
            route: route_session,
            ring_timeout,
            ivr: None,
        };
        {
            let _e = call.span.enter();
            info!(caller = %call.caller, callee = %call.callee, from_trunk = ?call.from_trunk, "new call");
        }
        self.by_call_id.insert(call.a.req.call_id().into(), (key, Side::A));
        self.server_tx.insert(id, (key, Side::A));
        let inbound_trunk = call.from_trunk.clone();
        self.calls.insert(key, call);
        if let Some(t) = inbound_trunk {
            self.take_channel(key, t);
        }
        self.set_timer(now + NO_ANSWER, key, CallTimer::NoAnswer);
        for t in parallel {
            self.start_b_leg(now, key, t);
        }
        if let Some(step) = media_step {
            self.ivr_exec(now, key, step);
        }
    }


    pub(in crate::engine) fn reply_retry_after(&mut self, now: Instant, id: ServerTxId, req: &Message, code: u16, reason: &str) {
        let extra = [(HeaderName::RetryAfter, self.cfg.limits.retry_after.as_secs().to_string())];
        self.answer(now, id, req, code, reason, &extra);
    }

    /// Where a dialled number goes: a local user's contacts (all rung at
    /// once) or trunks (one after another).
    pub(in crate::engine) fn route(&self, now: Instant, callee: &str, from_trunk: Option<&str>) -> Result<Routed, (u16, &'static str)> {
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
        // Full trunks are skipped; the hunt goes on with the ones that have room.
        let hunt: VecDeque<Target> = route
            .trunks()
            .filter(|t| self.trunk_has_room(t))
            .map(|t| Target::Trunk { name: t.to_owned(), number: number.clone() })
            .collect();
        if hunt.is_empty() {
            return Err((503, "Trunk Capacity Reached"));
        }
        Ok(Routed::Hunt(hunt))
    }

    /// Counts a channel on trunk `name` for call `key`, given back when the
    /// call ends.
    pub(in crate::engine) fn take_channel(&mut self, key: CallKey, name: String) {
        *self.trunk_channels.entry(name.clone()).or_insert(0) += 1;
        if let Some(c) = self.calls.get_mut(&key) {
            c.channels.push(name);
        }
    }


    pub(in crate::engine) fn start_b_leg(&mut self, now: Instant, key: CallKey, target: Target) {
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
        w.header(HeaderName::Allow, screen::ALLOW);
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
        // RFC 4028 §8.1: an intermediary may lower Session-Expires (never
        // below Min-SE); doing so bounds how long a dead call can linger.
        copy_passthrough(&mut w, a, false, &[HeaderName::SessionExpires, HeaderName::MinSe]);
        if let Ok(Some(mut se)) = SessionExpires::of(a) {
            let min_se = min_se_of(a).ok().flatten().unwrap_or(0).max(self.cfg.session_timer.min_se_s);
            se.delta = se.delta.min(self.cfg.session_timer.session_expires_s).max(min_se);
            w.header(HeaderName::SessionExpires, se);
            w.header(HeaderName::MinSe, min_se);
        }
        w.header(HeaderName::UserAgent, &self.cfg.server.user_agent);
        let bytes = match &call.b_offer {
            Some(offer) => w.finish(Some("application/sdp"), offer),
            None => w.finish(a.content_type(), a.body()),
        };
        let invite = match crate::sip::parse_bytes(bytes) {
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
            timed_out: false,
        });
        self.by_call_id.insert(call_id.into(), (key, Side::B(idx)));
        if let Some(Target::Trunk { name, .. }) = self.calls.get(&key).map(|c| c.b[idx].target.clone()) {
            self.take_channel(key, name);
        }
        let invite = self.calls.get(&key).map(|c| c.b[idx].invite.clone());
        let sent = match invite {
            Some(m) => self.tx.send_request_message(now, m, peer),
            None => return,
        };
        match sent {
            Ok(tx) => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.b[idx].tx = Some(tx);
                    call.client_txs.push(tx);
                }
                self.client_tx.insert(tx, (key, Purpose::Invite(idx)));
                self.arm_ring_timeout(now, key, idx);
            }
            Err(e) => {
                warn!(error = %e, "INVITE not sent");
                self.b_failed(now, key, idx, 500, "Server Internal Error".into());
            }
        }
    }


    /// From header for a B leg: the authenticated user, or a trunk's presented
    /// number, or anonymous (RFC 3323) when the trunk asks for privacy.
    pub(in crate::engine) fn caller_identity(&self, call: &Call, target: &Target) -> String {
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


    #[allow(clippy::too_many_arguments)]
    pub(in crate::engine) fn b_invite_response(&mut self, now: Instant, key: CallKey, i: usize, id: ClientTxId, resp: Message, peer: Peer, code: u16) {
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
                match self.a_response_from(key, i, &resp, code) {
                    Ok(Some((tx, bytes))) => self.send_response(now, tx, bytes),
                    Ok(None) => {}
                    Err(e) => {
                        // Early media we cannot use: ring on without it.
                        debug!(error = %e, "18x SDP ignored");
                    }
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


    pub(in crate::engine) fn retry_with_auth(&mut self, now: Instant, key: CallKey, i: usize, trunk: &str, resp: &Message) -> bool {
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
        let Ok(invite) = crate::sip::parse_bytes(bytes) else { return false };
        leg.invite = invite.clone();
        let peer = leg.peer;
        match self.tx.send_request_message(now, invite, peer) {
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


    /// Builds A's copy of a response from B leg `i` (provisional or 2xx):
    /// status, body (the switch's own SDP when media is anchored), and the
    /// headers that describe the session. `Err` when B's SDP cannot be used.
    pub(in crate::engine) fn a_response_from(
        &mut self,
        key: CallKey,
        i: usize,
        resp: &Message,
        code: u16,
    ) -> Result<Option<(ServerTxId, Bytes)>, crate::media::AnchorError> {
        let Some(call) = self.calls.get(&key) else { return Ok(None) };
        // A's INVITE had an offer: B's SDP is the answer. Otherwise (late
        // offer) B's 2xx carries the offer; an unreliable 18x cannot (§13.2.1).
        let role = if call.b_offer.is_some() { SdpRole::Answer } else { SdpRole::Offer };
        let late_offer_in_18x = role == SdpRole::Offer && code < 200 && call.anchor.is_some();
        let rewritten = if late_offer_in_18x {
            Some(Vec::new())
        } else {
            self.media_body(key, Side::B(i), role, resp.content_type(), resp.body())?
        };
        let Some(call) = self.calls.get(&key) else { return Ok(None) };
        let a = &call.a;
        let mut w = response_to(&a.req, code, resp.reason(), Some(&a.to_tag), Some(a.peer.addr));
        // RFC 3261 §12.1.1: a UAS copies Record-Route into responses that make dialogs.
        w.copy(&a.req, HeaderName::RecordRoute);
        w.header(HeaderName::Contact, self.local.contact(a.peer.transport));
        if code >= 200 {
            w.header(HeaderName::Allow, screen::ALLOW);
        }
        copy_passthrough(&mut w, resp, true, &[]);
        w.header(HeaderName::Server, &self.cfg.server.user_agent);
        let bytes = match &rewritten {
            Some(b) if b.is_empty() => w.finish(None, b""),
            Some(b) => w.finish(Some("application/sdp"), b),
            None => w.finish(resp.content_type(), resp.body()),
        };
        Ok(Some((a.tx, bytes)))
    }


    pub(in crate::engine) fn b_answered(&mut self, now: Instant, key: CallKey, i: usize, resp: Message) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = &mut call.b[i];
        match &mut leg.dialog {
            Some(d) if d.remote_tag() == resp.to_tag().unwrap_or("") => {
                let _ = d.update_from_response(&resp);
            }
            _ => leg.dialog = Dialog::uac(&leg.invite, &resp, leg.peer).ok(),
        }
        let bridging = call.ivr.as_ref().is_some_and(|v| v.bridging()) && call.winner.is_none();
        if bridging && leg.dialog.is_some() {
            if !self.ivr_b_answered(now, key, i, &resp) {
                self.ack_and_bye(now, key, i);
                self.b_failed(now, key, i, 488, "Not Acceptable Here".into());
            }
            return;
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
        let (tx, bytes) = match self.a_response_from(key, i, &resp, resp.status().unwrap_or(200)) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                // B answered with SDP the switch cannot carry: the leg is
                // hung up and the call fails as if it had refused.
                warn!(error = %e, "answer SDP unusable; leg hung up");
                if let Some(call) = self.calls.get_mut(&key) {
                    call.winner = None;
                    call.state = State::Setup;
                    call.answer_ms = None;
                    call.status = 0;
                }
                self.ack_and_bye(now, key, i);
                self.b_failed(now, key, i, 488, "Not Acceptable Here".into());
                return;
            }
        };
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.a.dialog = Dialog::uas(&call.a.req, &call.a.to_tag, &self.local.contact(call.a.peer.transport), call.a.peer).ok();
        call.a.ok = Some(bytes.clone());
        call.a.ok_interval = self.cfg.timers.t1;
        self.send_response(now, tx, bytes);
        if let Ok(Some(n)) = Negotiated::from_response(&resp) {
            // Expire at the full interval: the endpoints' own non-refresher
            // gives up a little earlier and its BYE is relayed as usual.
            let t = SessionTimer::new(now, n.interval() + Duration::from_secs(32), false);
            if let Some(at) = t.poll_timeout() {
                self.set_timer(at, key, CallTimer::SessionExpiry);
            }
            if let Some(c) = self.calls.get_mut(&key) {
                c.session = Some(t);
            }
        }
        let t1 = self.cfg.timers.t1;
        self.set_timer(now + t1, key, CallTimer::A2xxRetransmit);
        self.set_timer(now + t1 * 64, key, CallTimer::A2xxGiveUp);
    }


    pub(in crate::engine) fn b_failed(&mut self, now: Instant, key: CallKey, i: usize, code: u16, reason: String) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let (mut code, mut reason) = (code, reason);
        if let Some(leg) = call.b.get_mut(i) {
            leg.state = BState::Done;
            if leg.timed_out && code == 487 {
                (code, reason) = (408, "Request Timeout".to_owned());
            }
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
        let bridging = call.ivr.as_ref().is_some_and(|v| v.bridging()) && call.winner.is_none();
        if call.state != State::Setup && !bridging {
            self.maybe_finish(now, key);
            return;
        }
        if call.b.iter().any(|l| l.state != BState::Done) {
            return;
        }
        let best = call.best.clone();
        // Fail over to the next trunk that has room on an outage-type answer; a hunt over
        // users moves on after any failure short of a global one (6xx).
        let next_is_user = matches!(call.next_trunks.front(), Some(Target::User { .. }));
        if matches!(code, 408 | 500 | 502 | 503 | 504) || (next_is_user && code < 600) {
            let mut pending = std::mem::take(&mut call.next_trunks);
            pending.retain(|t| !matches!(t, Target::Trunk { name, .. } if !self.trunk_has_room(name)));
            if let Some(next) = pending.pop_front() {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.next_trunks = pending;
                    call.best = None;
                }
                self.start_b_leg(now, key, next);
                return;
            }
        }
        let (code, reason) = best.unwrap_or((500, String::new()));
        // A device's own challenge means nothing to the caller.
        let mut code = if code == 401 || code == 407 { 403 } else { code };
        let before = code;
        if self.plan_after_failure(now, key, &mut code) {
            return;
        }
        let reason = if code == before { reason } else { super::plan::reason_for(code).to_owned() };
        self.fail_a(now, key, code, &reason, cause_for(code));
    }


    /// Final non-2xx to the caller.
    pub(in crate::engine) fn fail_a(&mut self, now: Instant, key: CallKey, code: u16, reason: &str, cause: &'static str) {
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


    pub(in crate::engine) fn cancel_b(&mut self, now: Instant, key: CallKey, j: usize) {
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


    pub(in crate::engine) fn send_cancel(&mut self, now: Instant, key: CallKey, j: usize) {
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
            self.client_tx.insert(tx, (key, Purpose::Cancel));
            if let Some(c) = self.calls.get_mut(&key) {
                c.client_txs.push(tx);
            }
        }
    }


    /// CANCEL from the caller (RFC 3261 §9.2): 200 to the CANCEL, 487 to the
    /// INVITE, CANCEL to every leg still ringing.
    pub(in crate::engine) fn on_cancel(&mut self, now: Instant, id: ServerTxId, req: &Message) {
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

}

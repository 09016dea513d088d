//! Established calls: ACK relay (late SDP), in-dialog requests relayed between
//! legs (re-INVITE with glare, UPDATE, INFO, REFER...), BYE, call timers, and
//! the end of a call with its CDR.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::engine::Engine;
use crate::sip::build::response_to;
use crate::sip::dialog::LocalVia;
use crate::sip::dialog::session_timer::{Negotiated, SessionTimerAction};
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};
use crate::sip::transaction::{ClientTxId, ServerTxId};
use crate::sip::transport::{Peer, Transmit};
use crate::store::CdrRecord;

use super::headers::{copy_passthrough, passthrough_list};
use crate::engine::media::SdpRole;
use super::*;

impl Engine {
    pub(in crate::engine) fn call_client_response(&mut self, now: Instant, key: CallKey, purpose: Purpose, id: ClientTxId, resp: Message, peer: Peer) {
        let Some(code) = resp.status() else { return };
        match purpose {
            Purpose::Invite(i) => self.b_invite_response(now, key, i, id, resp, peer, code),
            Purpose::Cancel | Purpose::Notify => {}
            Purpose::Bye => {
                if code >= 200 {
                    self.bye_done(now, key);
                }
            }
            Purpose::Relay { server } => self.relay_response(now, key, server, &resp, code),
        }
    }


    pub(in crate::engine) fn call_client_timeout(&mut self, now: Instant, key: CallKey, purpose: Purpose, _id: ClientTxId) {
        match purpose {
            Purpose::Invite(i) => self.b_failed(now, key, i, 408, "Request Timeout".into()),
            Purpose::Cancel | Purpose::Notify => {}
            Purpose::Bye => self.bye_done(now, key),
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


    /// ACK for a 2xx (the transaction layer absorbed those for non-2xx).
    pub(in crate::engine) fn on_ack(&mut self, now: Instant, ack: Message, peer: Peer) {
        let Some(&(key, side)) = self.by_call_id.get(ack.call_id()) else { return };
        let Some(call) = self.calls.get_mut(&key) else { return };
        // The ACK that confirms the call: forward to the winner, carrying any
        // SDP answer (late offer).
        if side == Side::A && call.state == State::Answered && ack.cseq_seq() == call.a.req.cseq_seq() {
            call.state = State::Confirmed;
            call.a.ok = None;
            call.a.peer = Peer { conn: peer.conn.or(call.a.peer.conn), ..call.a.peer };
            if let Some(cause) = call.ivr.as_mut().and_then(|i| i.hangup_on_ack.take()) {
                self.end_call_by_switch(now, key, cause);
                return;
            }
            let Some(w) = call.winner else { return };
            let cseq = call.b[w].invite.cseq_seq();
            let late_answer = call.b_offer.is_none();
            if late_answer {
                match self.media_body(key, Side::A, SdpRole::Answer, ack.content_type(), ack.body()) {
                    Ok(Some(body)) => {
                        self.send_b_ack(now, key, w, cseq, Some("application/sdp"), &body);
                        return;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        // Too late to refuse (§13.2.1): the call goes up with
                        // no usable media and is ended.
                        warn!(error = %e, "ACK answer unusable; ending the call");
                        self.send_b_ack(now, key, w, cseq, ack.content_type(), ack.body());
                        self.end_call_by_switch(now, key, "bad-sdp");
                        return;
                    }
                }
            }
            self.send_b_ack(now, key, w, cseq, ack.content_type(), ack.body());
            return;
        }
        if let Some(r) = call.reinvite {
            if r.from == side && r.answered && ack.cseq_seq() == self.dialog_remote_cseq(key, side).unwrap_or(u32::MAX) {
                if let Some(c) = self.calls.get_mut(&key) {
                    c.reinvite = None;
                }
                if !r.offered {
                    if let Ok(Some(body)) = self.media_body(key, side, SdpRole::Answer, ack.content_type(), ack.body()) {
                        self.send_dialog_ack(now, key, r.to, r.out_cseq, Some("application/sdp"), &body);
                        return;
                    }
                }
                self.send_dialog_ack(now, key, r.to, r.out_cseq, ack.content_type(), ack.body());
            }
        }
    }


    pub(in crate::engine) fn dialog_remote_cseq(&self, key: CallKey, side: Side) -> Option<u32> {
        let call = self.calls.get(&key)?;
        let d = match side {
            Side::A => call.a.dialog.as_ref(),
            Side::B(i) => call.b.get(i)?.dialog.as_ref(),
        }?;
        d.remote_seq()
    }


    pub(in crate::engine) fn send_b_ack(&mut self, now: Instant, key: CallKey, i: usize, cseq: u32, ct: Option<&str>, body: &[u8]) {
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


    pub(in crate::engine) fn send_dialog_ack(&mut self, now: Instant, key: CallKey, side: Side, cseq: u32, ct: Option<&str>, body: &[u8]) {
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
    pub(in crate::engine) fn resend_b_ack(&mut self, _now: Instant, key: CallKey, i: usize, _resp: &Message, peer: Peer) {
        let Some(call) = self.calls.get(&key) else { return };
        let Some(leg) = call.b.get(i) else { return };
        if let Some(ack) = &leg.ack {
            self.out.push_back(Transmit { dest: Peer { conn: peer.conn, ..leg.peer }, bytes: ack.clone() });
        }
    }


    /// ACK then BYE a B leg that answered but is not wanted.
    pub(in crate::engine) fn ack_and_bye(&mut self, now: Instant, key: CallKey, i: usize) {
        let cseq = self.calls.get(&key).map_or(1, |c| c.b[i].invite.cseq_seq());
        self.send_b_ack(now, key, i, cseq, None, b"");
        self.send_bye(now, key, Side::B(i));
    }


    pub(in crate::engine) fn send_bye(&mut self, now: Instant, key: CallKey, side: Side) {
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
                self.client_tx.insert(tx, (key, Purpose::Bye));
            }
            Err(_) => call.byes -= 1,
        }
    }


    pub(in crate::engine) fn bye_done(&mut self, now: Instant, key: CallKey) {
        if let Some(call) = self.calls.get_mut(&key) {
            call.byes = call.byes.saturating_sub(1);
        }
        self.maybe_finish(now, key);
    }


    /// A request inside one of a call's dialogs.
    pub(in crate::engine) fn on_in_dialog(&mut self, now: Instant, id: ServerTxId, req: Message, peer: Peer) {
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
        if *req.method() == Method::Bye && matches!(side, Side::B(i) if call.winner != Some(i)) && call.state != State::Setup {
            // A leg that is no longer part of the call (a transferor hanging up after its
            // REFER): its dialog ends, the call goes on.
            self.reply(now, id, &req, 200, "OK");
            return;
        }
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
            self.cancel_ringing(now, key);
            self.maybe_finish(now, key);
            return;
        }
        if side == Side::A && call.winner.is_none() && call.ivr.as_ref().is_some_and(|v| v.answered()) {
            // The switch itself is A's peer (IVR, or a transfer in progress).
            self.ivr_in_dialog(now, key, id, &req);
            return;
        }
        let Some(other) = other.filter(|_| matches!(call.state, State::Confirmed | State::Answered)) else {
            self.reply(now, id, &req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        if *req.method() == Method::Invite
            && call.reinvite.is_some() {
                // Glare (RFC 3261 §14.2): one re-INVITE at a time per call.
                self.reply(now, id, &req, 491, "Request Pending");
                return;
            }
        if *req.method() == Method::Refer {
            self.on_refer(now, key, id, &req, side);
            return;
        }
        if *req.method() == Method::Info && self.media_info_dtmf(key, side, &req) {
            // Carried as RFC 4733 events on the media path instead.
            self.reply(now, id, &req, 200, "OK");
            return;
        }
        self.relay_request(now, key, id, &req, other);
    }


    /// Sends `req` on the other leg's dialog; its answer comes back through
    /// [`Engine::relay_response`].
    pub(in crate::engine) fn relay_request(&mut self, now: Instant, key: CallKey, server: ServerTxId, req: &Message, to: Side) {
        let offers = matches!(req.method(), Method::Invite | Method::Update);
        let from = match to {
            Side::A => self.calls.get(&key).and_then(|c| c.winner).map_or(Side::A, Side::B),
            Side::B(_) => Side::A,
        };
        let mut body: Option<Vec<u8>> = None;
        if offers {
            match self.media_body(key, from, SdpRole::Offer, req.content_type(), req.body()) {
                Ok(b) => body = b,
                Err(e) => {
                    let (code, reason) = e.status();
                    self.reply(now, server, req, code, reason);
                    return;
                }
            }
        }
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
        let out = match &body {
            Some(b) => d.request(req.method().clone(), via, &extra, Some("application/sdp"), b),
            None => d.request(req.method().clone(), via, &extra, req.content_type(), req.body()),
        };
        let out_cseq = out.cseq;
        if *req.method() == Method::Invite {
            let offered = !req.body().is_empty();
            call.reinvite = Some(ReInvite { from, to, server, out_cseq, answered: false, offered });
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


    pub(in crate::engine) fn relay_response(&mut self, now: Instant, key: CallKey, server: ServerTxId, resp: &Message, code: u16) {
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
        copy_passthrough(&mut w, resp, true, &[]);
        w.header(HeaderName::Server, &self.cfg.server.user_agent);
        let mut rewritten = None;
        if matches!(req.method(), Method::Invite | Method::Update) && (200..300).contains(&code) {
            // The responder is the leg the request was relayed to.
            let responder = match side {
                Side::A => call.winner.map_or(Side::A, Side::B),
                Side::B(_) => Side::A,
            };
            let role = if req.body().is_empty() { SdpRole::Offer } else { SdpRole::Answer };
            match self.media_body(key, responder, role, resp.content_type(), resp.body()) {
                Ok(b) => rewritten = b,
                Err(e) => warn!(error = %e, "SDP in a re-INVITE/UPDATE answer unusable; relayed as is"),
            }
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        let bytes = match &rewritten {
            Some(b) => w.finish(Some("application/sdp"), b),
            None => w.finish(resp.content_type(), resp.body()),
        };
        let mut session_wake = None;
        if matches!(req.method(), Method::Invite | Method::Update) && (200..300).contains(&code) {
            if let Some(t) = &mut call.session {
                match Negotiated::from_response(resp) {
                    Ok(Some(n)) => t.renegotiated(now, n.interval() + Duration::from_secs(32), false),
                    _ => t.refreshed(now),
                }
                session_wake = t.poll_timeout();
            }
        }
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
        if let Some(at) = session_wake {
            self.set_timer(at, key, CallTimer::SessionExpiry);
        }
    }


    pub(in crate::engine) fn call_timer(&mut self, now: Instant, key: CallKey, t: CallTimer) {
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
            CallTimer::SessionExpiry => {
                let Some(t) = &mut call.session else { return };
                match t.handle_timeout(now) {
                    Some(SessionTimerAction::Expired) => {
                        warn!(id = %call.cdr_id, "session timer expired without a refresh: ending call");
                        self.end_call_by_switch(now, key, "session-expired");
                    }
                    _ => {
                        if let Some(at) = t.poll_timeout() {
                            self.set_timer(at, key, CallTimer::SessionExpiry);
                        }
                    }
                }
            }
            CallTimer::NoAnswer => {
                if call.state == State::Setup {
                    call.hangup_by = "switch";
                    self.fail_a(now, key, 480, "No Answer", "no-answer");
                }
            }
            CallTimer::RingTimeout(i) => {
                if call.state == State::Setup || call.ivr.as_ref().is_some_and(|v| v.bridging()) {
                    self.ring_timeout(now, key, i);
                }
            }
            CallTimer::Ivr(g) => self.ivr_timer(now, key, g),
        }
    }


    /// Ends a call from the switch's side (shutdown, missing ACK).
    pub(in crate::engine) fn end_call_by_switch(&mut self, now: Instant, key: CallKey, cause: &'static str) {
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
                self.cancel_ringing(now, key);
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


    /// CANCELs the legs still ringing for a caller the switch answered itself (a `bridge`
    /// after the IVR), when the call ends first.
    pub(in crate::engine) fn cancel_ringing(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get(&key) else { return };
        if call.ivr.is_none() {
            return;
        }
        let ringing: Vec<usize> = (0..call.b.len()).filter(|&j| matches!(call.b[j].state, BState::Calling | BState::Early)).collect();
        for j in ringing {
            self.cancel_b(now, key, j);
        }
    }

    /// Removes a call once nothing is outstanding, writing its CDR.
    pub(in crate::engine) fn maybe_finish(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get(&key) else { return };
        let done = match call.state {
            State::Failed => call.b.iter().all(|l| l.state == BState::Done || l.state == BState::Answered),
            State::Ending => call.byes == 0,
            _ => false,
        };
        if !done {
            return;
        }
        let Some(mut call) = self.calls.remove(&key) else { return };
        if call.ivr.as_ref().is_some_and(|i| matches!(i.wait, super::ivr::Wait::Recording)) {
            // The caller hung up while being recorded (how most voicemail ends): the audio
            // so far is reported before the media closes, and kept.
            if let (Some(p), Some(a)) = (self.media.as_mut(), call.anchor.as_ref()) {
                p.push(crate::media::MediaCommand::StopRecord { id: a.id() });
            }
        } else {
            self.recordings.retain(|(m, _), _| *m != key.0);
        }
        self.media_close(call.anchor.take(), &call.cdr_id);
        for &(at, t) in &call.timers {
            self.timers.remove(&(at, key, t));
        }
        for name in &call.channels {
            if let Some(n) = self.trunk_channels.get_mut(name) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.trunk_channels.remove(name);
                }
            }
        }
        self.by_call_id.remove(call.a.req.call_id());
        for l in &call.b {
            self.by_call_id.remove(l.call_id.as_str());
            if l.state != BState::Answered || call.winner.is_none() {
                let until = now + self.cfg.timers.t1 * 64;
                self.recent_b_legs.insert(l.call_id.as_str().into(), until);
            }
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


    pub(in crate::engine) fn write_cdr(&mut self, r: CdrRecord) {
        self.stats.cdrs += 1;
        self.store.push_back(crate::store::StoreOp::Cdr(r));
    }

}

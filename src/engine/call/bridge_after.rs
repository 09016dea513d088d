//! The switch as the caller's SIP peer once it answered (IVR, or a transfer in progress):
//! bridging on to a new B leg with the switch's own offer, and the requests A sends while
//! no B leg carries its call.

use std::time::Instant;

use tracing::{info, warn};

use crate::media::MediaSide;
use crate::media::endpoint::{Source, tone_plan};
use crate::sip::build::response_to;
use crate::sip::header::HeaderName;

use super::CallKey;
use super::ivr::Wait;
use crate::engine::Engine;

impl Engine {
    /// A `bridge` after the switch answered: B legs get the switch's own offer (A's codecs
    /// first), and A hears ringback unless music or a tone was started for it.
    pub(in crate::engine) fn ivr_bridge(&mut self, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let (Some(plane), Some(anchor)) = (self.media.as_mut(), call.anchor.as_mut()) else {
            return;
        };
        call.b_offer = anchor.offer_on(&plane.local, MediaSide::B);
        let background = call.ivr.as_ref().is_some_and(|i| i.background);
        if !background {
            let src = Source::Tone {
                plan: tone_plan(crate::dialplan::ToneKind::Ringback),
                duration: None,
            };
            self.ivr_play(key, src, Wait::Bridging);
        } else {
            self.ivr_set_wait(key, Wait::Bridging);
        }
    }

    /// B leg `i` answered a bridge placed after the switch answered A: ACK it here (A has
    /// had its 200 long ago), and let B's answer move A's audio from the IVR to B.
    /// `false` when B's SDP is unusable (the leg is then hung up by the caller of this).
    pub(in crate::engine) fn ivr_b_answered(&mut self, now: Instant, key: CallKey, i: usize, resp: &crate::sip::message::Message) -> bool {
        use crate::engine::media::SdpRole;
        if let Err(e) = self.media_body(key, super::Side::B(i), SdpRole::Answer, resp.content_type(), resp.body()) {
            warn!(error = %e, "answer SDP unusable");
            return false;
        }
        let Some(call) = self.calls.get_mut(&key) else { return false };
        let cseq = call.b[i].invite.cseq_seq();
        call.winner = Some(i);
        call.b[i].state = super::BState::Answered;
        call.destination = match &call.b[i].target {
            super::Target::User { aor, .. } => format!("user:{aor}"),
            super::Target::Trunk { name, .. } => format!("trunk:{name}"),
        };
        if let Some(v) = call.ivr.as_mut() {
            v.wait = Wait::Bridged;
        }
        {
            let _e = call.span.enter();
            info!(leg = i, "answered; bridged after the IVR");
        }
        let others: Vec<usize> = (0..call.b.len())
            .filter(|&j| j != i && call.b[j].state != super::BState::Done)
            .collect();
        self.send_b_ack(now, key, i, cseq, None, b"");
        for j in others {
            self.cancel_b(now, key, j);
        }
        true
    }

    /// A request from A while the switch is its only peer: session refreshes and new offers
    /// are answered here, DTMF in SIP INFO goes to the IVR, anything else gets 200 or 501.
    pub(in crate::engine) fn ivr_in_dialog(
        &mut self,
        now: Instant,
        key: CallKey,
        id: crate::sip::transaction::ServerTxId,
        req: &crate::sip::message::Message,
    ) {
        use crate::sip::message::Method;
        match req.method() {
            Method::Invite | Method::Update => {
                let mut body = None;
                if !req.body().is_empty() && crate::engine::media::is_sdp(req.content_type()) {
                    let (Some(plane), Some(anchor)) = (self.media.as_mut(), self.calls.get_mut(&key).and_then(|c| c.anchor.as_mut()))
                    else {
                        return;
                    };
                    let answered = anchor
                        .offer(&plane.local, MediaSide::A, req.body())
                        .and_then(|_| anchor.answer_locally(&plane.local, MediaSide::A));
                    plane.drain(anchor);
                    match answered {
                        Ok(b) => body = Some(b),
                        Err(e) => {
                            let (code, reason) = e.status();
                            self.reply(now, id, req, code, reason);
                            return;
                        }
                    }
                }
                let contact = self.local.contact(
                    self.calls
                        .get(&key)
                        .map_or(crate::sip::transport::Transport::Udp, |c| c.a.peer.transport),
                );
                let source = self.tx.server_peer(id).map(|p| p.addr);
                let mut w = response_to(req, 200, "OK", None, source);
                w.header(HeaderName::Contact, &contact);
                w.header(HeaderName::Allow, crate::engine::screen::ALLOW);
                w.header(HeaderName::Server, &self.cfg.server.user_agent);
                let bytes = match &body {
                    Some(b) => w.finish(Some("application/sdp"), b),
                    None => w.finish(None, b""),
                };
                self.send_response(now, id, bytes);
            }
            Method::Info => {
                let digit = crate::engine::media::info_dtmf(req);
                self.reply(now, id, req, 200, "OK");
                if let Some((d, _)) = digit {
                    self.ivr_digit(now, key, d);
                }
            }
            Method::Options | Method::Notify => self.reply(now, id, req, 200, "OK"),
            _ => self.reply(now, id, req, 501, "Not Implemented"),
        }
    }
}

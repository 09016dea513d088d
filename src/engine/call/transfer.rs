//! Blind transfer (RFC 3515 REFER, RFC 5589 practice): the party the caller was bridged to
//! refers the caller elsewhere. The switch accepts the REFER itself rather than relaying it
//! (a carrier leg rarely takes REFER), reports the outcome to the transferor with a NOTIFY,
//! ends the transferor's leg, and runs the caller on through the dialplan at the number
//! referred to, from the call's current context: the new leg gets the switch's own offer
//! and the caller hears ringback from the switch until it answers. A is never re-INVITEd.
//!
//! Not here: attended transfer (`Replaces`, RFC 3891) and a caller transferring the called
//! party; both get 501.

use std::time::Instant;

use tracing::info;

use crate::media::MediaSide;
use crate::sip::dialog::LocalVia;
use crate::sip::header::{HeaderName, NameAddr};
use crate::sip::message::{Message, Method};
use crate::sip::transaction::ServerTxId;

use super::{BState, CallKey, Purpose, Side};
use crate::engine::Engine;

impl Engine {
    /// A REFER inside a confirmed call, from `side`.
    pub(in crate::engine) fn on_refer(&mut self, now: Instant, key: CallKey, id: ServerTxId, req: &Message, side: Side) {
        let Some(call) = self.calls.get(&key) else { return };
        let Side::B(i) = side else {
            self.reply(now, id, req, 501, "Transfer Of The Called Party Not Supported");
            return;
        };
        if call.winner != Some(i) || call.route.is_none() || call.anchor.is_none() || self.media.is_none() {
            // Without the dialplan there is nowhere to route the number; without anchored
            // media the caller could not be moved without a re-INVITE.
            self.reply(now, id, req, 501, "Transfer Needs The Dialplan And Anchored Media");
            return;
        }
        let refer_to = req.header(HeaderName::ReferTo).unwrap_or("");
        if refer_to.to_ascii_lowercase().contains("replaces=") {
            self.reply(now, id, req, 501, "Attended Transfer Not Supported");
            return;
        }
        let number = NameAddr::parse(refer_to)
            .and_then(|n| n.uri())
            .and_then(|u| u.user.map(str::to_owned))
            .unwrap_or_default();
        if number.is_empty() {
            self.reply(now, id, req, 400, "Bad Refer-To");
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        let moved = call.route.as_mut().is_some_and(|s| s.transfer(&number));
        if !moved {
            self.reply(now, id, req, 404, "Not Found");
            return;
        }
        {
            let _e = call.span.enter();
            info!(leg = i, to = %number, "blind transfer");
        }
        call.winner = None;
        call.b[i].state = BState::Done;
        call.ivr = Some(Box::new(super::ivr::Ivr::taken_over()));
        if let (Some(plane), Some(anchor)) = (self.media.as_mut(), call.anchor.as_mut()) {
            anchor.detach(MediaSide::B);
            plane.drain(anchor);
        }
        self.reply(now, id, req, 202, "Accepted");
        // The transferor's part is done once the switch has the call: the NOTIFY says so and
        // ends the implicit subscription, and its leg is hung up.
        self.send_notify(now, key, side, "SIP/2.0 200 OK\r\n");
        self.send_bye(now, key, side);
        self.plan_next(now, key, None);
    }

    fn send_notify(&mut self, now: Instant, key: CallKey, side: Side, frag: &str) {
        let branch = self.ids.branch();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Side::B(i) = side else { return };
        let Some(leg) = call.b.get_mut(i) else { return };
        let Some(d) = leg.dialog.as_mut() else { return };
        let sent_by = self.local.sent_by(leg.peer.transport);
        let extra = [("Event", "refer"), ("Subscription-State", "terminated;reason=noresource")];
        let out = d.request(
            Method::Notify,
            LocalVia {
                transport: leg.peer.transport,
                sent_by: &sent_by,
                branch: &branch,
            },
            &extra,
            Some("message/sipfrag;version=2.0"),
            frag.as_bytes(),
        );
        let peer = leg.peer;
        if let Ok(tx) = self.tx.send_request(now, out.bytes, peer) {
            call.client_txs.push(tx);
            self.client_tx.insert(tx, (key, Purpose::Notify));
        }
    }
}

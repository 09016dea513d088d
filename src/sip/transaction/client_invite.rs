//! The INVITE client transaction: RFC 3261 §17.1.1 as updated by RFC 6026 §7.2
//! and §8.4 (the Accepted state and Timer M).
//!
//! The ACK for a non-2xx final response is built here (§17.1.1.3) and re-sent on
//! every retransmission of that response. The ACK for a 2xx belongs to the
//! dialog, which is why Accepted passes 2xx responses up instead of answering
//! them.
//!
//! One addition to the RFC figure: a CANCEL sent for this INVITE re-arms Timer B
//! even in Proceeding, so that a callee who never answers the CANCEL cannot keep
//! the transaction alive forever; RFC 3261 §9.1 asks the UAC to give up on the
//! INVITE 64·T1 after its CANCEL.

use std::time::Duration;

use bytes::Bytes;

use super::key::ClientKey;
use super::machine::{ClientVerdict, Ctx};
use super::timer::{Timer, TimerTable};
use crate::sip::build::Writer;
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};
use crate::sip::transport::Peer;

/// States of the INVITE client transaction (RFC 3261 Figure 5 with RFC 6026's
/// Accepted state; transport errors are reported by the edge, not modelled).
///
/// ```text
///                               |INVITE from TU
///             Timer A fires     |INVITE sent
///             Reset A,          V
///             INVITE sent +-----------+  Timer B fires
///               +---------|           |  Timeout to TU
///               |         |  Calling  |-----------------------------------+
///               +-------->|           |                                   |
///                         +-----------+                                   |
///   300-699                 |   |   |  2xx                                |
///   ACK sent, resp. to TU   |   |   |  2xx to TU                          |
///   +-----------------------+   |   +------------------+                  |
///   |                           |1xx                   |                  |
///   |                           |1xx to TU             |                  |
///   |         1xx               V                      |                  |
///   |         1xx to TU +-----------+  2xx             |                  |
///   |         +---------|           |  2xx to TU       |                  |
///   |         |         |Proceeding |--------------+   |                  |
///   |         +-------->|           |              |   |                  |
///   |                   +-----------+              |   |                  |
///   |   300-699           |       | Timer B        |   |                  |
///   |   ACK sent,         |       | (CANCEL sent)  |   |                  |
///   |   resp. to TU       |       | Timeout to TU  |   |                  |
///   |   +-----------------+       +----------------|---|---------------+  |
///   |   |                                          |   |               |  |
///   V   V                                          V   V               |  |
/// +-----------+  300-699                       +-----------+  2xx      |  |
/// |           |  ACK sent                      |           |  2xx to TU|  |
/// | Completed |---+                            | Accepted  |---+       |  |
/// |           |<--+                            |           |<--+       |  |
/// +-----------+                                +-----------+           |  |
///       |                                            |                 |  |
///       | Timer D fires                              | Timer M fires   |  |
///       | -                                          | -               |  |
///       V                                            V                 V  V
/// +-----------------------------------------------------------------------+
/// |                              Terminated                               |
/// +-----------------------------------------------------------------------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientInviteState {
    /// INVITE sent, nothing heard yet; Timer A retransmits over UDP.
    Calling,
    /// A provisional response arrived; waiting for the final one.
    Proceeding,
    /// A non-2xx final arrived and was ACKed; absorbing its retransmissions.
    Completed,
    /// A 2xx arrived; passing further 2xx (retransmissions, forks) to the TU.
    Accepted,
    /// Done; the layer drops the transaction.
    Terminated,
}

use ClientInviteState as State;

#[derive(Debug)]
pub(crate) struct ClientInvite {
    state: State,
    key: ClientKey,
    dest: Peer,
    /// The INVITE, until a final response: Timer A retransmits it and the ACK
    /// for a non-2xx final copies from it.
    request: Option<Message>,
    /// The ACK for the non-2xx final, re-sent in Completed.
    ack: Option<Bytes>,
    /// Timer A's current interval.
    interval: Duration,
    timers: TimerTable,
}

impl ClientInvite {
    /// Sends the INVITE and enters Calling.
    pub(crate) fn start(
        ctx: &mut Ctx<'_>,
        key: ClientKey,
        request: Message,
        dest: Peer,
    ) -> ClientInvite {
        let mut tx = ClientInvite {
            state: State::Calling,
            key,
            dest,
            request: None,
            ack: None,
            interval: ctx.cfg.t1,
            timers: TimerTable::default(),
        };
        ctx.send(dest, request.bytes().clone());
        let reliable = dest.transport.is_reliable();
        if !reliable {
            ctx.arm(&mut tx.timers, Timer::A, tx.interval);
        }
        ctx.arm(
            &mut tx.timers,
            Timer::B,
            ctx.cfg.duration(Timer::B, reliable),
        );
        tx.request = Some(request);
        tx
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn key(&self) -> &ClientKey {
        &self.key
    }

    pub(crate) fn timers(&self) -> &TimerTable {
        &self.timers
    }

    pub(crate) fn timers_mut(&mut self) -> &mut TimerTable {
        &mut self.timers
    }

    pub(crate) fn on_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        resp: Message,
        peer: Peer,
    ) -> ClientVerdict {
        // A connection the edge opened for us is learned from the response, so
        // that the ACK follows the INVITE (§17.1.1.3).
        if self.dest.conn.is_none() && peer.transport == self.dest.transport {
            self.dest.conn = peer.conn;
        }
        let code = resp.status().unwrap_or(0);
        match (self.state, code) {
            (State::Calling | State::Proceeding, 100..=199) => {
                if self.state == State::Calling {
                    ctx.cancel(&mut self.timers, Timer::A);
                    ctx.cancel(&mut self.timers, Timer::B);
                    self.state = State::Proceeding;
                }
                ClientVerdict::Deliver(resp)
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                self.timers.cancel_all(ctx.heap);
                self.request = None;
                self.state = State::Accepted;
                let m = ctx.cfg.duration(Timer::M, self.reliable());
                ctx.arm(&mut self.timers, Timer::M, m);
                ClientVerdict::Deliver(resp)
            }
            (State::Calling | State::Proceeding, 300..=699) => {
                self.timers.cancel_all(ctx.heap);
                if let Some(req) = self.request.take() {
                    let ack = build_ack(&req, &resp);
                    ctx.send(self.dest, ack.clone());
                    self.ack = Some(ack);
                }
                self.state = State::Completed;
                let d = ctx.cfg.duration(Timer::D, self.reliable());
                if d.is_zero() {
                    self.terminate(ctx);
                } else {
                    ctx.arm(&mut self.timers, Timer::D, d);
                }
                ClientVerdict::Deliver(resp)
            }
            (State::Completed, 300..=699) => {
                if let Some(ack) = &self.ack {
                    ctx.send(self.dest, ack.clone());
                }
                ClientVerdict::Absorb
            }
            // A 2xx after a failure can only come from a fork behind a broken
            // proxy; no call owns it, and the TU must ACK and BYE it.
            (State::Completed, 200..=299) => ClientVerdict::Stray(resp),
            (State::Accepted, 200..=299) => ClientVerdict::Deliver(resp),
            _ => ClientVerdict::Absorb,
        }
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match (self.state, timer) {
            (State::Calling, Timer::A) => {
                if let Some(req) = &self.request {
                    ctx.send(self.dest, req.bytes().clone());
                }
                // Table 4 caps only non-INVITE retransmits at T2; Timer B ends
                // the doubling.
                self.interval = self.interval.saturating_mul(2);
                ctx.arm(&mut self.timers, Timer::A, self.interval);
            }
            (State::Calling | State::Proceeding, Timer::B) => {
                ctx.timed_out();
                self.terminate(ctx);
            }
            (State::Completed, Timer::D) | (State::Accepted, Timer::M) => self.terminate(ctx),
            _ => {}
        }
    }

    /// A CANCEL for this INVITE went out (§9.1): give the callee 64·T1 to end
    /// the INVITE with a final response.
    pub(crate) fn cancel_sent(&mut self, ctx: &mut Ctx<'_>) {
        if matches!(self.state, State::Calling | State::Proceeding)
            && self.timers.get(Timer::B).is_none()
        {
            let b = ctx.cfg.duration(Timer::B, self.reliable());
            ctx.arm(&mut self.timers, Timer::B, b);
        }
    }

    fn reliable(&self) -> bool {
        self.dest.transport.is_reliable()
    }

    fn terminate(&mut self, ctx: &mut Ctx<'_>) {
        self.timers.cancel_all(ctx.heap);
        self.request = None;
        self.ack = None;
        self.state = State::Terminated;
    }
}

/// The ACK for a non-2xx final response (§17.1.1.3): Request-URI, Call-ID,
/// From and CSeq number of the INVITE, its top Via only, its Route set, and the
/// To of the response (which carries the callee's tag).
pub(crate) fn build_ack(invite: &Message, resp: &Message) -> Bytes {
    let mut w = Writer::request(&Method::Ack, invite.request_uri_str());
    if let Some(via) = invite.values(HeaderName::Via).first() {
        w.header(HeaderName::Via, via);
    }
    w.header(HeaderName::MaxForwards, 70);
    w.copy(invite, HeaderName::Route);
    w.copy(invite, HeaderName::From);
    if let Some(to) = resp.header(HeaderName::To) {
        w.header(HeaderName::To, to);
    }
    w.copy(invite, HeaderName::CallId);
    w.header(HeaderName::CSeq, format_args!("{} ACK", invite.cseq_seq()));
    w.finish(None, b"")
}

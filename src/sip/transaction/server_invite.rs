//! The INVITE server transaction: RFC 3261 §17.2.1 as updated by RFC 6026 §7.1
//! and §8.5-§8.7 (the Accepted state and Timer L).
//!
//! The TU sends the 100 Trying itself (it knows whether it will answer within
//! 200 ms). After a 2xx the transaction neither retransmits it nor answers
//! INVITE retransmissions with it: RFC 6026 gives that job to the TU, which
//! keeps retransmitting its 2xx until the ACK, and which also receives that ACK
//! (it has its own branch, so it normally matches no transaction at all).

use std::time::Duration;

use bytes::Bytes;

use super::TransactionError;
use super::key::ServerKey;
use super::machine::{Ctx, ServerVerdict};
use super::timer::{Timer, TimerTable};
use crate::sip::message::{Message, Method};
use crate::sip::transport::Peer;

/// States of the INVITE server transaction (RFC 3261 Figure 7 with RFC 6026's
/// Accepted state; transport errors are reported by the edge, not modelled).
///
/// ```text
///                                 |INVITE
///                                 |pass INV to TU
///              INVITE             V
///              send response +------------+
///                  +---------|            |--------+ 1xx from TU
///                  |         | Proceeding |        | send response
///                  +-------->|            |<-------+
///                            +------------+
///               300-699 from TU |      | 2xx from TU
///               send response   |      | send response
///                    +----------+      +------------------+
///                    |                                    |
///    INVITE          V          Timer G                   V
///    send response +-----------+ send response      +-----------+
///          +-------|           |-------+            |           |---+ INVITE: absorbed
///          |       | Completed |       |            | Accepted  |   | 2xx from TU: sent
///          +------>|           |<------+            |           |<--+ ACK: to TU
///                  +-----------+                    +-----------+
///                    |      |                             |
///              ACK   |      +-------------+               |
///              -     |                    | Timer H       | Timer L
///                    V                    | AckTimeout    | -
///                  +-----------+          | to TU         |
///          ACK +---|           |          |               |
///          -   |   | Confirmed |          |               |
///              +-->|           |          |               |
///                  +-----------+          |               |
///                    |                    |               |
///            Timer I |                    |               |
///            -       V                    V               V
///                  +--------------------------------------------+
///                  |                 Terminated                 |
///                  +--------------------------------------------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerInviteState {
    /// The TU has the INVITE; only provisional responses sent so far.
    Proceeding,
    /// A non-2xx final sent; Timer G retransmits it until the ACK or Timer H.
    Completed,
    /// The ACK arrived; absorbing its retransmissions until Timer I.
    Confirmed,
    /// A 2xx sent; absorbing INVITE retransmissions until Timer L.
    Accepted,
    /// Done; the layer drops the transaction.
    Terminated,
}

use ServerInviteState as State;

#[derive(Debug)]
pub(crate) struct ServerInvite {
    state: State,
    key: ServerKey,
    peer: Peer,
    /// The INVITE, for the TU to build responses from until it sends a final.
    request: Option<Message>,
    /// The latest provisional (Proceeding) or the non-2xx final (Completed):
    /// what a retransmitted INVITE gets back.
    response: Option<Bytes>,
    /// RFC 2543 only: the To tag of the non-2xx final, which its ACK must carry
    /// to match (§17.2.3).
    ack_tag: Option<Box<str>>,
    /// Timer G's current interval.
    interval: Duration,
    timers: TimerTable,
}

impl ServerInvite {
    pub(crate) fn new(key: ServerKey, request: Message, peer: Peer, t1: Duration) -> ServerInvite {
        ServerInvite {
            state: State::Proceeding,
            key,
            peer,
            request: Some(request),
            response: None,
            ack_tag: None,
            interval: t1,
            timers: TimerTable::default(),
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn key(&self) -> &ServerKey {
        &self.key
    }

    pub(crate) fn peer(&self) -> Peer {
        self.peer
    }

    pub(crate) fn request(&self) -> Option<&Message> {
        self.request.as_ref()
    }

    pub(crate) fn timers(&self) -> &TimerTable {
        &self.timers
    }

    pub(crate) fn timers_mut(&mut self) -> &mut TimerTable {
        &mut self.timers
    }

    /// Whether an RFC 2543 ACK carrying `to_tag`, keyed without its To tag,
    /// belongs here: in Completed and Confirmed only if it acknowledges our
    /// final; in Accepted it is the TU's ACK for the 2xx either way.
    pub(crate) fn accepts_legacy_ack(&self, to_tag: Option<&str>) -> bool {
        match self.state {
            State::Completed | State::Confirmed => self.ack_tag.as_deref() == to_tag,
            State::Accepted => true,
            State::Proceeding | State::Terminated => false,
        }
    }

    /// A retransmitted INVITE, or an ACK, matched this transaction.
    pub(crate) fn on_request(&mut self, ctx: &mut Ctx<'_>, req: Message) -> ServerVerdict {
        let is_ack = *req.method() == Method::Ack;
        match (self.state, is_ack) {
            (State::Proceeding | State::Completed, false) => {
                if let Some(r) = &self.response {
                    ctx.send(self.peer, r.clone());
                }
            }
            (State::Completed, true) => {
                self.timers.cancel_all(ctx.heap);
                self.response = None;
                self.ack_tag = None;
                self.state = State::Confirmed;
                let d = ctx
                    .cfg
                    .duration(Timer::I, self.peer.transport.is_reliable());
                if d.is_zero() {
                    self.terminate(ctx);
                } else {
                    ctx.arm(&mut self.timers, Timer::I, d);
                }
            }
            (State::Accepted, true) => return ServerVerdict::Ack(req),
            // An ACK before any final, ACK retransmissions in Confirmed, INVITE
            // retransmissions in Accepted (RFC 6026 §8.7: the TU answers those).
            _ => {}
        }
        ServerVerdict::Absorb
    }

    /// The TU answers. `ack_tag` is the response's To tag, given only for an
    /// RFC 2543 transaction.
    pub(crate) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        status: u16,
        bytes: Bytes,
        ack_tag: Option<Box<str>>,
    ) -> Result<(), TransactionError> {
        let reliable = self.peer.transport.is_reliable();
        match (self.state, status) {
            (State::Proceeding, 100..=199) => {
                ctx.send(self.peer, bytes.clone());
                self.response = Some(bytes);
            }
            (State::Proceeding, 200..=299) => {
                ctx.send(self.peer, bytes);
                self.request = None;
                self.response = None;
                self.state = State::Accepted;
                ctx.arm(
                    &mut self.timers,
                    Timer::L,
                    ctx.cfg.duration(Timer::L, reliable),
                );
            }
            (State::Proceeding, _) => {
                ctx.send(self.peer, bytes.clone());
                self.request = None;
                self.response = Some(bytes);
                self.ack_tag = ack_tag;
                self.state = State::Completed;
                if !reliable {
                    ctx.arm(&mut self.timers, Timer::G, self.interval);
                }
                ctx.arm(
                    &mut self.timers,
                    Timer::H,
                    ctx.cfg.duration(Timer::H, reliable),
                );
            }
            // RFC 6026 §8.7: the TU's own 2xx retransmissions go out through us.
            (State::Accepted, 200..=299) => ctx.send(self.peer, bytes),
            _ => return Err(TransactionError::AlreadyFinal),
        }
        Ok(())
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match (self.state, timer) {
            (State::Completed, Timer::G) => {
                if let Some(r) = &self.response {
                    ctx.send(self.peer, r.clone());
                }
                self.interval = self.interval.saturating_mul(2).min(ctx.cfg.t2);
                ctx.arm(&mut self.timers, Timer::G, self.interval);
            }
            (State::Completed, Timer::H) => {
                ctx.timed_out();
                self.terminate(ctx);
            }
            (State::Confirmed, Timer::I) | (State::Accepted, Timer::L) => self.terminate(ctx),
            _ => {}
        }
    }

    fn terminate(&mut self, ctx: &mut Ctx<'_>) {
        self.timers.cancel_all(ctx.heap);
        self.request = None;
        self.response = None;
        self.state = State::Terminated;
    }
}

//! The non-INVITE server transaction (RFC 3261 §17.2.2), CANCEL included: a
//! CANCEL is answered by its own transaction, and the TU finds the INVITE it
//! refers to with [`super::TransactionLayer::cancel_target`].

use bytes::Bytes;

use super::TransactionError;
use super::key::ServerKey;
use super::machine::{Ctx, ServerVerdict};
use super::timer::{Timer, TimerTable};
use crate::sip::message::Message;
use crate::sip::transport::Peer;

/// States of the non-INVITE server transaction (RFC 3261 Figure 8; transport
/// errors are reported by the edge, not modelled).
///
/// ```text
///                                   |Request received
///                                   |pass to TU
///                                   V
///                             +-----------+
///                             |           |
///                             | Trying    |-------------+
///                             |           |             |
///                             +-----------+             |200-699 from TU
///                                   |                   |send response
///                                   |1xx from TU        |
///                                   |send response      |
///                                   |                   |
///                Request            V      1xx from TU  |
///                send response+-----------+send response|
///                    +--------|           |--------+    |
///                    |        | Proceeding|        |    |
///                    +------->|           |<-------+    |
///                             +-----------+             |
///                   200-699 from TU |                   |
///                   send response   |                   |
///                                   |                   |
///                 Request           V                   |
///                 send response+-----------+            |
///                    +---------|           |            |
///                    |         | Completed |<-----------+
///                    +-------->|           |
///                              +-----------+
///                                   |
///                                   |Timer J fires
///                                   |-
///                                   V
///                             +-----------+
///                             |           |
///                             | Terminated|
///                             |           |
///                             +-----------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerNonInviteState {
    /// The TU has the request and has not answered; retransmissions are dropped.
    Trying,
    /// A provisional sent; retransmissions get it again.
    Proceeding,
    /// A final sent; retransmissions get it again until Timer J.
    Completed,
    /// Done; the layer drops the transaction.
    Terminated,
}

use ServerNonInviteState as State;

#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    state: State,
    key: ServerKey,
    peer: Peer,
    /// The request, for the TU to build responses from until it sends a final.
    request: Option<Message>,
    /// The last response, for retransmitted requests.
    response: Option<Bytes>,
    timers: TimerTable,
}

impl ServerNonInvite {
    pub(crate) fn new(key: ServerKey, request: Message, peer: Peer) -> ServerNonInvite {
        ServerNonInvite {
            state: State::Trying,
            key,
            peer,
            request: Some(request),
            response: None,
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

    /// A retransmission of the request.
    pub(crate) fn on_request(&mut self, ctx: &mut Ctx<'_>) -> ServerVerdict {
        if let (State::Proceeding | State::Completed, Some(r)) = (self.state, &self.response) {
            ctx.send(self.peer, r.clone());
        }
        ServerVerdict::Absorb
    }

    pub(crate) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        status: u16,
        bytes: Bytes,
    ) -> Result<(), TransactionError> {
        match (self.state, status) {
            (State::Trying | State::Proceeding, 100..=199) => {
                ctx.send(self.peer, bytes.clone());
                self.response = Some(bytes);
                self.state = State::Proceeding;
            }
            (State::Trying | State::Proceeding, _) => {
                ctx.send(self.peer, bytes.clone());
                self.request = None;
                self.state = State::Completed;
                let d = ctx
                    .cfg
                    .duration(Timer::J, self.peer.transport.is_reliable());
                if d.is_zero() {
                    self.terminate(ctx);
                } else {
                    self.response = Some(bytes);
                    ctx.arm(&mut self.timers, Timer::J, d);
                }
            }
            _ => return Err(TransactionError::AlreadyFinal),
        }
        Ok(())
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        if let (State::Completed, Timer::J) = (self.state, timer) {
            self.terminate(ctx);
        }
    }

    fn terminate(&mut self, ctx: &mut Ctx<'_>) {
        self.timers.cancel_all(ctx.heap);
        self.request = None;
        self.response = None;
        self.state = State::Terminated;
    }
}

//! The non-INVITE client transaction (RFC 3261 §17.1.2): BYE, CANCEL, OPTIONS,
//! REGISTER, INFO and the rest.

use std::time::Duration;

use bytes::Bytes;

use super::key::ClientKey;
use super::machine::{ClientVerdict, Ctx};
use super::timer::{Timer, TimerTable};
use crate::sip::message::Message;
use crate::sip::transport::Peer;

/// States of the non-INVITE client transaction (RFC 3261 Figure 6; transport
/// errors are reported by the edge, not modelled).
///
/// ```text
///                                    |Request from TU
///                                    |send request
///                Timer E             V
///                send request  +-----------+
///                    +---------|           |-------------------+
///                    |         |  Trying   |  Timer F          |
///                    +-------->|           |  Timeout to TU    |
///                              +-----------+                   |
///                 200-699         |  |                         |
///                 resp. to TU     |  |1xx                      |
///                 +---------------+  |resp. to TU              |
///                 |                  |                         |
///                 |   Timer E        V       Timer F           |
///                 |   send req +-----------+ Timeout to TU     |
///                 |  +---------|           |----------------+  |
///                 |  |         | Proceeding|                |  |
///                 |  +-------->|           |-----+          |  |
///                 |            +-----------+ 1xx |          |  |
///                 |              |      ^        |          |  |
///                 | 200-699      |      +--------+          |  |
///                 | resp. to TU  |      resp. to TU         |  |
///                 |  +-----------+                          |  |
///                 |  |                                      |  |
///                 V  V                                      |  |
///              +-----------+                                |  |
///              |           |                                |  |
///              | Completed |                                |  |
///              |           |                                |  |
///              +-----------+                                |  |
///                ^   |                                      |  |
///                |   | Timer K                              |  |
///                +---+ -                                    |  |
///               200-699|                                    |  |
///                      V                                    |  |
///              +-----------+                                |  |
///              |           |<-------------------------------+  |
///              | Terminated|<----------------------------------+
///              |           |
///              +-----------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientNonInviteState {
    /// Request sent; Timer E retransmits over UDP with a doubling interval.
    Trying,
    /// A provisional arrived; Timer E keeps retransmitting every T2.
    Proceeding,
    /// A final arrived; absorbing its retransmissions until Timer K.
    Completed,
    /// Done; the layer drops the transaction.
    Terminated,
}

use ClientNonInviteState as State;

#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    state: State,
    key: ClientKey,
    dest: Peer,
    /// The request as sent, for Timer E; dropped on the final response.
    request: Option<Bytes>,
    /// Timer E's current interval.
    interval: Duration,
    timers: TimerTable,
}

impl ClientNonInvite {
    /// Sends the request and enters Trying.
    pub(crate) fn start(
        ctx: &mut Ctx<'_>,
        key: ClientKey,
        request: &Message,
        dest: Peer,
    ) -> ClientNonInvite {
        let bytes = request.bytes().clone();
        let mut tx = ClientNonInvite {
            state: State::Trying,
            key,
            dest,
            request: None,
            interval: ctx.cfg.t1,
            timers: TimerTable::default(),
        };
        ctx.send(dest, bytes.clone());
        let reliable = dest.transport.is_reliable();
        if !reliable {
            ctx.arm(&mut tx.timers, Timer::E, tx.interval);
            tx.request = Some(bytes);
        }
        ctx.arm(
            &mut tx.timers,
            Timer::F,
            ctx.cfg.duration(Timer::F, reliable),
        );
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

    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, resp: Message) -> ClientVerdict {
        let code = resp.status().unwrap_or(0);
        match (self.state, code) {
            (State::Trying | State::Proceeding, 100..=199) => {
                // Timer E keeps its deadline; from its next firing on it runs
                // every T2 (§17.1.2.2).
                self.state = State::Proceeding;
                ClientVerdict::Deliver(resp)
            }
            (State::Trying | State::Proceeding, 200..=699) => {
                self.timers.cancel_all(ctx.heap);
                self.request = None;
                self.state = State::Completed;
                let d = ctx
                    .cfg
                    .duration(Timer::K, self.dest.transport.is_reliable());
                if d.is_zero() {
                    self.terminate(ctx);
                } else {
                    ctx.arm(&mut self.timers, Timer::K, d);
                }
                ClientVerdict::Deliver(resp)
            }
            _ => ClientVerdict::Absorb,
        }
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match (self.state, timer) {
            (State::Trying | State::Proceeding, Timer::E) => {
                if let Some(req) = &self.request {
                    ctx.send(self.dest, req.clone());
                }
                self.interval = match self.state {
                    State::Proceeding => ctx.cfg.t2,
                    _ => self.interval.saturating_mul(2).min(ctx.cfg.t2),
                };
                ctx.arm(&mut self.timers, Timer::E, self.interval);
            }
            (State::Trying | State::Proceeding, Timer::F) => {
                ctx.timed_out();
                self.terminate(ctx);
            }
            (State::Completed, Timer::K) => self.terminate(ctx),
            _ => {}
        }
    }

    fn terminate(&mut self, ctx: &mut Ctx<'_>) {
        self.timers.cancel_all(ctx.heap);
        self.request = None;
        self.state = State::Terminated;
    }
}

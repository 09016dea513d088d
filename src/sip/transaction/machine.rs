//! How the layer drives the four state machines: the context a machine works
//! in while it handles one input, what it reports back, and the dispatch from
//! the layer's slabs to the right machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::client_invite::{ClientInvite, ClientInviteState};
use super::client_non_invite::{ClientNonInvite, ClientNonInviteState};
use super::key::{ClientKey, ServerKey};
use super::server_invite::{ServerInvite, ServerInviteState};
use super::server_non_invite::{ServerNonInvite, ServerNonInviteState};
use super::timer::{Timer, TimerConfig, TimerHeap, TimerTable};
use super::{TxEvent, TxId, TxState};
use crate::sip::message::Message;
use crate::sip::transport::{Peer, Transmit};

/// What a client transaction made of a response.
#[derive(Debug)]
pub(crate) enum ClientVerdict {
    Deliver(Message),
    Absorb,
    Stray(Message),
}

/// What a server transaction made of a request.
#[derive(Debug)]
pub(crate) enum ServerVerdict {
    Absorb,
    Ack(Message),
}

/// What a state machine may touch while it handles one input: the time, the
/// configuration, the outputs, and the heap where it arms timers.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a TimerConfig,
    pub(crate) id: TxId,
    pub(crate) heap: &'a mut TimerHeap,
    pub(crate) transmits: &'a mut VecDeque<Transmit>,
    pub(crate) events: &'a mut VecDeque<TxEvent>,
}

impl Ctx<'_> {
    pub(crate) fn send(&mut self, dest: Peer, bytes: Bytes) {
        self.transmits.push_back(Transmit { dest, bytes });
    }

    pub(crate) fn arm(&mut self, timers: &mut TimerTable, timer: Timer, d: Duration) {
        timers.arm(self.heap, self.id, self.now, timer, d);
    }

    pub(crate) fn cancel(&mut self, timers: &mut TimerTable, timer: Timer) {
        timers.cancel(self.heap, timer);
    }

    /// The transaction gave up waiting: Timer B or F for a client
    /// transaction (no final response), Timer H for a server one (no ACK).
    pub(crate) fn timed_out(&mut self) {
        let ev = match self.id {
            TxId::Client(id) => TxEvent::Timeout(id),
            TxId::Server(id) => TxEvent::AckTimeout(id),
        };
        self.events.push_back(ev);
    }
}

#[derive(Debug)]
pub(crate) enum ClientTx {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

impl ClientTx {
    pub(crate) fn key(&self) -> &ClientKey {
        match self {
            ClientTx::Invite(t) => t.key(),
            ClientTx::NonInvite(t) => t.key(),
        }
    }

    pub(crate) fn timers(&self) -> &TimerTable {
        match self {
            ClientTx::Invite(t) => t.timers(),
            ClientTx::NonInvite(t) => t.timers(),
        }
    }

    pub(crate) fn timers_mut(&mut self) -> &mut TimerTable {
        match self {
            ClientTx::Invite(t) => t.timers_mut(),
            ClientTx::NonInvite(t) => t.timers_mut(),
        }
    }

    pub(crate) fn state(&self) -> TxState {
        match self {
            ClientTx::Invite(t) => TxState::ClientInvite(t.state()),
            ClientTx::NonInvite(t) => TxState::ClientNonInvite(t.state()),
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        match self {
            ClientTx::Invite(t) => t.state() == ClientInviteState::Terminated,
            ClientTx::NonInvite(t) => t.state() == ClientNonInviteState::Terminated,
        }
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match self {
            ClientTx::Invite(t) => t.on_timer(ctx, timer),
            ClientTx::NonInvite(t) => t.on_timer(ctx, timer),
        }
    }
}

#[derive(Debug)]
pub(crate) enum ServerTx {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

impl ServerTx {
    pub(crate) fn key(&self) -> &ServerKey {
        match self {
            ServerTx::Invite(t) => t.key(),
            ServerTx::NonInvite(t) => t.key(),
        }
    }

    pub(crate) fn timers(&self) -> &TimerTable {
        match self {
            ServerTx::Invite(t) => t.timers(),
            ServerTx::NonInvite(t) => t.timers(),
        }
    }

    pub(crate) fn timers_mut(&mut self) -> &mut TimerTable {
        match self {
            ServerTx::Invite(t) => t.timers_mut(),
            ServerTx::NonInvite(t) => t.timers_mut(),
        }
    }

    pub(crate) fn state(&self) -> TxState {
        match self {
            ServerTx::Invite(t) => TxState::ServerInvite(t.state()),
            ServerTx::NonInvite(t) => TxState::ServerNonInvite(t.state()),
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        match self {
            ServerTx::Invite(t) => t.state() == ServerInviteState::Terminated,
            ServerTx::NonInvite(t) => t.state() == ServerNonInviteState::Terminated,
        }
    }

    pub(crate) fn peer(&self) -> Peer {
        match self {
            ServerTx::Invite(t) => t.peer(),
            ServerTx::NonInvite(t) => t.peer(),
        }
    }

    pub(crate) fn request(&self) -> Option<&Message> {
        match self {
            ServerTx::Invite(t) => t.request(),
            ServerTx::NonInvite(t) => t.request(),
        }
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        match self {
            ServerTx::Invite(t) => t.on_timer(ctx, timer),
            ServerTx::NonInvite(t) => t.on_timer(ctx, timer),
        }
    }
}

//! The SIP transaction layer, sans-IO: RFC 3261 §17 with the RFC 6026
//! corrections, for a B2BUA (both client and server transactions).
//!
//! Covered:
//! - §17.1.1 INVITE client transaction, with RFC 6026's Accepted state and
//!   Timer M, and the ACK for non-2xx finals built here (§17.1.1.3);
//! - §17.1.2 non-INVITE client transaction;
//! - §17.1.3 matching responses to client transactions;
//! - §17.2.1 INVITE server transaction, with RFC 6026's Accepted state and
//!   Timer L;
//! - §17.2.2 non-INVITE server transaction;
//! - §17.2.3 matching requests to server transactions, including the RFC 2543
//!   fallback for branches without the magic cookie;
//! - §9.2 finding the INVITE a CANCEL refers to, and §9.1's 64·T1 limit on an
//!   INVITE whose CANCEL is never answered.
//!
//! Out of scope, left to the layers around it: transport failures (§17.1.4,
//! §17.2.4: the edge knows when a connection fails and tells the TU), the 100
//! Trying an INVITE server transaction owes within 200 ms (the TU sends it), the
//! ACK and retransmissions of 2xx responses (the dialog's, RFC 6026), proxy
//! Timer C, DNS failover (RFC 3263), and sending over a different transport
//! when a request grows too large for UDP (§18.1.1).
//!
//! Call order, the same as every core: feed input with
//! [`TransactionLayer::on_request`], [`TransactionLayer::on_response`],
//! [`TransactionLayer::send_request`], [`TransactionLayer::send_response`] and
//! [`TransactionLayer::handle_timeout`]; then drain
//! [`TransactionLayer::poll_transmit`] and [`TransactionLayer::poll_event`]
//! until they return `None`; then sleep until
//! [`TransactionLayer::poll_timeout`].
//!
//! Scale: transactions live in a slab addressed by generation-checked ids, keys
//! in hash maps, and deadlines in one binary heap with lazy cancellation, so
//! every input costs O(log n) and [`TransactionLayer::poll_timeout`] O(1), with
//! no scan over live transactions.

mod client_invite;
mod client_non_invite;
mod key;
mod machine;
mod server_invite;
mod server_non_invite;
mod slab;
mod timer;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use tracing::trace;

pub use client_invite::ClientInviteState;
pub use client_non_invite::ClientNonInviteState;
pub use server_invite::ServerInviteState;
pub use server_non_invite::ServerNonInviteState;
pub use timer::{Timer, TimerConfig};

use client_invite::ClientInvite;
use client_non_invite::ClientNonInvite;
use key::{ClientKey, ServerKey};
use machine::{ClientTx, ClientVerdict, Ctx, ServerTx, ServerVerdict};
use server_invite::ServerInvite;
use server_non_invite::ServerNonInvite;
use slab::Slab;
use timer::{TimerHeap, Wake};

use crate::sip::message::{Message, Method};
use crate::sip::parse::{ParseError, parse_bytes};
use crate::sip::transport::{Peer, Transmit};

/// A client transaction (a request this switch sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(u64);

/// A server transaction (a request this switch received).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(u64);

/// Either kind of transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxId {
    /// A client transaction.
    Client(ClientTxId),
    /// A server transaction.
    Server(ServerTxId),
}

impl From<ClientTxId> for TxId {
    fn from(id: ClientTxId) -> TxId {
        TxId::Client(id)
    }
}

impl From<ServerTxId> for TxId {
    fn from(id: ServerTxId) -> TxId {
        TxId::Server(id)
    }
}

/// What became of a received request.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerInput {
    /// A new transaction: the TU must answer it with
    /// [`TransactionLayer::send_response`] (CANCEL included).
    New(ServerTxId, Message),
    /// A retransmission, or the ACK of a non-2xx final; any response owed has
    /// been queued.
    Absorbed,
    /// An ACK no transaction keeps: the ACK for a 2xx, which the dialog takes
    /// (RFC 3261 §17.1.1.3 gives it a branch of its own), or one matching nothing.
    Ack(Message),
}

/// What became of a received response.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientInput {
    /// For the TU: a provisional, a final, or in Accepted another 2xx
    /// (a retransmission or a fork).
    Response(ClientTxId, Message),
    /// A retransmission the transaction dealt with.
    Absorbed,
    /// Matches no transaction, for instance a 2xx retransmitted after Timer M:
    /// the TU decides (re-send its ACK, or ACK and BYE).
    Stray(Message),
}

/// Something the TU must learn of without having asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxEvent {
    /// Timer B or F fired: no final response came. The TU acts as if a 408
    /// had arrived (RFC 3261 §8.1.3.1).
    Timeout(ClientTxId),
    /// Timer H fired: the ACK for a non-2xx final never came.
    AckTimeout(ServerTxId),
    /// The transaction is gone; its id will never be returned again.
    Terminated(TxId),
}

/// The state of a live transaction, for diagnostics and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxState {
    /// An INVITE client transaction.
    ClientInvite(ClientInviteState),
    /// A non-INVITE client transaction.
    ClientNonInvite(ClientNonInviteState),
    /// An INVITE server transaction.
    ServerInvite(ServerInviteState),
    /// A non-INVITE server transaction.
    ServerNonInvite(ServerNonInviteState),
}

/// Misuse of the API by the TU. Peers cannot cause these: whatever a peer
/// sends is absorbed, passed up, or reported as stray.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The id names no live transaction (it terminated, or never existed).
    #[error("no such transaction")]
    UnknownTransaction,
    /// `send_request` was given a response.
    #[error("not a request")]
    NotARequest,
    /// `send_response` was given something without a status line.
    #[error("not a response")]
    NotAResponse,
    /// An ACK was given to `send_request`; ACKs never start a transaction.
    #[error("ACK does not start a transaction")]
    AckNotTransactional,
    /// The request has no top Via with a branch to match responses on.
    #[error("request has no Via branch")]
    MissingBranch,
    /// A client transaction with this branch and method is live already.
    #[error("branch already in use")]
    BranchInUse,
    /// The transaction has sent its final response.
    #[error("final response already sent")]
    AlreadyFinal,
    /// The bytes given to `send_request` do not parse.
    #[error("request does not parse: {0}")]
    Unparsable(#[from] ParseError),
}

/// Every client and server transaction of the switch.
///
/// Call order: inputs (`on_request`, `on_response`, `send_request`,
/// `send_response`, `handle_timeout`), then drain `poll_transmit` and
/// `poll_event`, then wait until `poll_timeout`.
#[derive(Debug)]
pub struct TransactionLayer {
    cfg: TimerConfig,
    clients: Slab<ClientTx>,
    servers: Slab<ServerTx>,
    client_keys: HashMap<ClientKey, ClientTxId>,
    server_keys: HashMap<ServerKey, ServerTxId>,
    heap: TimerHeap,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

/// Builds a [`Ctx`] from disjoint fields of the layer, so a transaction
/// borrowed from a slab can be driven while the outputs are written.
macro_rules! ctx {
    ($self:ident, $now:expr, $id:expr) => {
        Ctx {
            now: $now,
            cfg: &$self.cfg,
            id: $id,
            heap: &mut $self.heap,
            transmits: &mut $self.transmits,
            events: &mut $self.events,
        }
    };
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new(cfg: TimerConfig) -> Self {
        TransactionLayer {
            cfg,
            clients: Slab::default(),
            servers: Slab::default(),
            client_keys: HashMap::new(),
            server_keys: HashMap::new(),
            heap: TimerHeap::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The timers in use.
    pub fn config(&self) -> &TimerConfig {
        &self.cfg
    }

    /// A request arrived from `peer`. The caller has already refused requests
    /// with a [`Message::defect`].
    pub fn on_request(&mut self, now: Instant, req: Message, peer: Peer) -> ServerInput {
        let key = ServerKey::of_request(&req);
        let is_ack = *req.method() == Method::Ack;
        let mut found = self.server_keys.get(&key).copied();
        if found.is_none() && is_ack {
            // An RFC 2543 ACK for an initial INVITE carries the To tag of our
            // response, which the INVITE's key could not contain.
            let untagged = ServerKey::legacy_ack_untagged(&req);
            found = untagged.and_then(|k| self.server_keys.get(&k).copied());
            let ours = |id: &ServerTxId| match self.servers.get(id.0) {
                Some(ServerTx::Invite(t)) => t.accepts_legacy_ack(req.to_tag()),
                _ => false,
            };
            found = found.filter(ours);
        }
        if let Some(id) = found {
            let verdict = {
                let mut ctx = ctx!(self, now, TxId::Server(id));
                match self.servers.get_mut(id.0) {
                    Some(ServerTx::Invite(t)) => t.on_request(&mut ctx, req),
                    Some(ServerTx::NonInvite(t)) => t.on_request(&mut ctx),
                    // The key map and the slab change together; a miss would be
                    // a bookkeeping bug, and treating the request as stray is safe.
                    None if is_ack => ServerVerdict::Ack(req),
                    None => ServerVerdict::Absorb,
                }
            };
            self.reap_server(id);
            self.tidy();
            return match verdict {
                ServerVerdict::Absorb => ServerInput::Absorbed,
                ServerVerdict::Ack(m) => ServerInput::Ack(m),
            };
        }
        if is_ack {
            return ServerInput::Ack(req);
        }
        let id = ServerTxId(self.servers.next_key());
        let tx = if *req.method() == Method::Invite {
            ServerTx::Invite(ServerInvite::new(
                key.clone(),
                req.clone(),
                peer,
                self.cfg.t1,
            ))
        } else {
            ServerTx::NonInvite(ServerNonInvite::new(key.clone(), req.clone(), peer))
        };
        let got = self.servers.insert(tx);
        debug_assert_eq!(got, id.0);
        self.server_keys.insert(key, id);
        trace!(?id, method = %req.method(), "server transaction");
        ServerInput::New(id, req)
    }

    /// A response arrived from `peer`.
    pub fn on_response(&mut self, now: Instant, resp: Message, peer: Peer) -> ClientInput {
        if resp.is_request() {
            return ClientInput::Stray(resp);
        }
        let Some(id) =
            ClientKey::of_response(&resp).and_then(|k| self.client_keys.get(&k).copied())
        else {
            return ClientInput::Stray(resp);
        };
        let verdict = {
            let mut ctx = ctx!(self, now, TxId::Client(id));
            match self.clients.get_mut(id.0) {
                Some(ClientTx::Invite(t)) => t.on_response(&mut ctx, resp, peer),
                Some(ClientTx::NonInvite(t)) => t.on_response(&mut ctx, resp),
                None => ClientVerdict::Stray(resp),
            }
        };
        self.reap_client(id);
        self.tidy();
        match verdict {
            ClientVerdict::Deliver(m) => ClientInput::Response(id, m),
            ClientVerdict::Absorb => ClientInput::Absorbed,
            ClientVerdict::Stray(m) => ClientInput::Stray(m),
        }
    }

    /// Starts a client transaction for the serialized request `bytes` and sends
    /// it to `dest`. A CANCEL also bounds the life of the INVITE it cancels
    /// (RFC 3261 §9.1).
    pub fn send_request(
        &mut self,
        now: Instant,
        bytes: Bytes,
        dest: Peer,
    ) -> Result<ClientTxId, TransactionError> {
        self.send_request_message(now, parse_bytes(bytes)?, dest)
    }

    /// [`TransactionLayer::send_request`] for a request the caller already
    /// parsed (it keeps its own copy, e.g. to CANCEL it), saving a second parse.
    pub fn send_request_message(
        &mut self,
        now: Instant,
        req: Message,
        dest: Peer,
    ) -> Result<ClientTxId, TransactionError> {
        if !req.is_request() {
            return Err(TransactionError::NotARequest);
        }
        let method = req.method().clone();
        if method == Method::Ack {
            return Err(TransactionError::AckNotTransactional);
        }
        let key = ClientKey::of_request(&req).ok_or(TransactionError::MissingBranch)?;
        if self.client_keys.contains_key(&key) {
            return Err(TransactionError::BranchInUse);
        }
        let id = ClientTxId(self.clients.next_key());
        let tx = {
            let mut ctx = ctx!(self, now, TxId::Client(id));
            if method == Method::Invite {
                ClientTx::Invite(ClientInvite::start(&mut ctx, key.clone(), req, dest))
            } else {
                ClientTx::NonInvite(ClientNonInvite::start(&mut ctx, key.clone(), &req, dest))
            }
        };
        let got = self.clients.insert(tx);
        debug_assert_eq!(got, id.0);
        if method == Method::Cancel {
            if let Some(&inv) = self.client_keys.get(&key.with_method(Method::Invite)) {
                let mut ctx = ctx!(self, now, TxId::Client(inv));
                if let Some(ClientTx::Invite(t)) = self.clients.get_mut(inv.0) {
                    t.cancel_sent(&mut ctx);
                }
            }
        }
        self.client_keys.insert(key, id);
        trace!(?id, %method, "client transaction");
        self.tidy();
        Ok(id)
    }

    /// The TU answers server transaction `id` with the serialized response
    /// `bytes`; it goes to the peer the request came from.
    pub fn send_response(
        &mut self,
        now: Instant,
        id: ServerTxId,
        bytes: Bytes,
    ) -> Result<(), TransactionError> {
        let status = status_of(&bytes).ok_or(TransactionError::NotAResponse)?;
        let legacy_tag = match self.servers.get(id.0) {
            None => return Err(TransactionError::UnknownTransaction),
            // Only an RFC 2543 non-2xx final needs its To tag remembered; parse
            // just for that rare case.
            Some(ServerTx::Invite(t)) if t.key().is_legacy() && status >= 300 => {
                parse_bytes(bytes.clone())
                    .ok()
                    .and_then(|m| m.to_tag().map(Box::from))
            }
            Some(_) => None,
        };
        let result = {
            let mut ctx = ctx!(self, now, TxId::Server(id));
            match self.servers.get_mut(id.0) {
                Some(ServerTx::Invite(t)) => t.send_response(&mut ctx, status, bytes, legacy_tag),
                Some(ServerTx::NonInvite(t)) => t.send_response(&mut ctx, status, bytes),
                None => Err(TransactionError::UnknownTransaction),
            }
        };
        self.reap_server(id);
        self.tidy();
        result
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(w) = self.heap.peek() {
            if w.at > now {
                break;
            }
            self.heap.pop();
            match w.tx {
                TxId::Client(id) => {
                    let mut ctx = ctx!(self, now, w.tx);
                    let Some(tx) = self.clients.get_mut(id.0) else {
                        continue;
                    };
                    if tx.timers_mut().take_fired(ctx.heap, &w) {
                        trace!(?id, timer = ?w.timer, "timer fired");
                        tx.on_timer(&mut ctx, w.timer);
                        self.reap_client(id);
                    }
                }
                TxId::Server(id) => {
                    let mut ctx = ctx!(self, now, w.tx);
                    let Some(tx) = self.servers.get_mut(id.0) else {
                        continue;
                    };
                    if tx.timers_mut().take_fired(ctx.heap, &w) {
                        trace!(?id, timer = ?w.timer, "timer fired");
                        tx.on_timer(&mut ctx, w.timer);
                        self.reap_server(id);
                    }
                }
            }
        }
        self.tidy();
    }

    /// When [`TransactionLayer::handle_timeout`] next has work; `None` when
    /// no timer is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // `tidy` after every input keeps the top of the heap live, so this is
        // a real deadline and not a stale one.
        self.heap.peek().map(|w| w.at)
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// Gives back memory the tables kept from a load peak (hash maps and
    /// queues keep their largest capacity otherwise). Cheap when nothing is to
    /// be done; call it from a periodic housekeeping tick.
    pub fn shrink(&mut self) {
        shrink_map(&mut self.client_keys);
        shrink_map(&mut self.server_keys);
        self.heap.shrink();
        shrink_queue(&mut self.transmits);
        shrink_queue(&mut self.events);
    }

    /// Live transactions, client and server.
    pub fn len(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The request of a server transaction, while the TU may still answer it
    /// (dropped once a final response is sent, to save memory).
    pub fn server_request(&self, id: ServerTxId) -> Option<&Message> {
        self.servers.get(id.0)?.request()
    }

    /// Where a server transaction's responses go: the source of its request
    /// (RFC 3581 symmetric response; the same connection for streams).
    pub fn server_peer(&self, id: ServerTxId) -> Option<Peer> {
        Some(self.servers.get(id.0)?.peer())
    }

    /// The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2).
    pub fn cancel_target(&self, cancel: &Message) -> Option<ServerTxId> {
        let id = *self.server_keys.get(&ServerKey::cancel_target(cancel))?;
        matches!(self.servers.get(id.0), Some(ServerTx::Invite(_))).then_some(id)
    }

    /// The state of a live transaction.
    pub fn state(&self, id: impl Into<TxId>) -> Option<TxState> {
        match id.into() {
            TxId::Client(id) => self.clients.get(id.0).map(ClientTx::state),
            TxId::Server(id) => self.servers.get(id.0).map(ServerTx::state),
        }
    }

    fn reap_client(&mut self, id: ClientTxId) {
        if !self.clients.get(id.0).is_some_and(ClientTx::is_terminated) {
            return;
        }
        if let Some(tx) = self.clients.remove(id.0) {
            self.heap.disarmed(tx.timers().count());
            if self.client_keys.get(tx.key()) == Some(&id) {
                self.client_keys.remove(tx.key());
            }
            trace!(?id, "client transaction terminated");
            self.events.push_back(TxEvent::Terminated(TxId::Client(id)));
        }
    }

    fn reap_server(&mut self, id: ServerTxId) {
        if !self.servers.get(id.0).is_some_and(ServerTx::is_terminated) {
            return;
        }
        if let Some(tx) = self.servers.remove(id.0) {
            self.heap.disarmed(tx.timers().count());
            if self.server_keys.get(tx.key()) == Some(&id) {
                self.server_keys.remove(tx.key());
            }
            trace!(?id, "server transaction terminated");
            self.events.push_back(TxEvent::Terminated(TxId::Server(id)));
        }
    }

    /// Drops stale heap entries from the top, so that `poll_timeout` reports
    /// a real deadline, and compacts the heap when stale entries dominate.
    fn tidy(&mut self) {
        let (clients, servers) = (&self.clients, &self.servers);
        let live = |w: &Wake| match w.tx {
            TxId::Client(id) => clients.get(id.0).is_some_and(|t| t.timers().is_current(w)),
            TxId::Server(id) => servers.get(id.0).is_some_and(|t| t.timers().is_current(w)),
        };
        while let Some(w) = self.heap.peek() {
            if live(&w) {
                break;
            }
            self.heap.pop();
        }
        self.heap.compact(live);
    }
}

/// The status code of a serialized response, from its status line.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let rest = bytes.strip_prefix(b"SIP/2.0 ")?;
    let d = rest.get(..3)?;
    if !d.iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|&c| c != b' ' && c != b'\r') {
        return None;
    }
    let code = d.iter().fold(0u16, |n, &c| n * 10 + u16::from(c - b'0'));
    (100..=699).contains(&code).then_some(code)
}

/// Shrinks a queue that is using under a quarter of what it holds.
pub(crate) fn shrink_queue<T>(q: &mut VecDeque<T>) {
    if q.capacity() > 64 && q.len() < q.capacity() / 4 {
        q.shrink_to_fit();
    }
}

/// Shrinks a map that is using under a quarter of what it holds.
pub(crate) fn shrink_map<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>) {
    if m.capacity() > 64 && m.len() < m.capacity() / 4 {
        m.shrink_to_fit();
    }
}

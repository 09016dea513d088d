//! Calls: a B2BUA glues an incoming leg (A, where the switch is UAS) to one or
//! more outgoing legs (B, where it is UAC): parallel forks to every contact of
//! a user, or trunks tried one after another on failure.
//!
//! ```text
//!   A ──INVITE──▶ switch ──INVITE──▶ B₀ … Bₙ   (own Call-ID, tags, CSeq per leg)
//!   A ◀──18x──── switch ◀──18x──── Bᵢ
//!   A ◀──200──── switch ◀──200──── Bᵢ          other forks CANCELled
//!   A ───ACK───▶ switch ───ACK───▶ Bᵢ          B's ACK waits for A's (late SDP)
//!   either side BYE ─▶ 200 here, BYE to the other; CDR when both are done
//! ```
//!
//! Signalling inside a dialog goes back to the address the leg last spoke
//! from (symmetric, like RFC 3581 for requests), which gets through NAT.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use crate::sip::dialog::Dialog;
use crate::sip::message::Message;
use crate::sip::transaction::{ClientTxId, ServerTxId};
use crate::sip::transport::{Peer, Transport};

use super::Engine;

mod headers;
mod in_dialog;
mod transfer;
pub(crate) mod webhook;
pub(crate) mod ivr;
mod bridge_after;
mod plan;
mod setup;

pub(crate) use headers::hang_up_stray;

/// Handle of a call in the engine's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CallKey(pub(crate) u64);

/// Which leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    /// The caller's leg (switch is UAS).
    A,
    /// An outgoing leg (switch is UAC), by index.
    B(usize),
}

/// Call-level timers (transaction timers live in the transaction layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    /// Retransmit our 2xx to A until its ACK (RFC 3261 §13.3.1.4).
    A2xxRetransmit,
    /// No ACK for our 2xx within 64·T1: end the call.
    A2xxGiveUp,
    /// Nobody answered in time.
    NoAnswer,
    /// The RFC 4028 session may have expired without a refresh.
    SessionExpiry,
    /// B leg `i`, placed by a plan's `bridge`, rang for its `timeout`.
    RingTimeout(usize),
    /// The IVR's timer (menu and read timeouts, `wait`); stale unless its number is current.
    Ivr(u32),
}

/// What a client transaction of a call is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    /// The INVITE of B leg `i`.
    Invite(usize),
    /// A CANCEL of a B leg (its answer changes nothing: the INVITE's does).
    Cancel,
    /// A BYE towards one side.
    Bye,
    /// A NOTIFY of a transfer's progress (its answer changes nothing).
    Notify,
    /// An in-dialog request relayed from the other side; its answer goes to
    /// `server`.
    Relay { server: ServerTxId },
}

/// How long a call may ring before the switch gives up (the caller hears 480).
const NO_ANSWER: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    User { aor: String, contact: String, peer: Peer },
    Trunk { name: String, number: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BState {
    Calling,
    Early,
    Answered,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Routing and ringing.
    Setup,
    /// 2xx sent to A, waiting for its ACK.
    Answered,
    /// Both legs up.
    Confirmed,
    /// BYEs out, waiting for their answers.
    Ending,
    /// A got its final non-2xx; waiting for B legs to wind down.
    Failed,
}

struct ALeg {
    tx: ServerTxId,
    req: Message,
    peer: Peer,
    to_tag: String,
    dialog: Option<Dialog>,
    ok: Option<Bytes>,
    ok_interval: Duration,
}

struct BLeg {
    call_id: String,
    invite: Message,
    tx: Option<ClientTxId>,
    peer: Peer,
    dialog: Option<Dialog>,
    state: BState,
    target: Target,
    auth_tried: bool,
    ack: Option<Bytes>,
    provisional: bool,
    cancel_wanted: bool,
    /// Cancelled by the switch because it rang too long: its 487 counts as 408.
    timed_out: bool,
}

/// A re-INVITE relayed across, remembered until its ACK passes (glare, §14.1).
#[derive(Clone, Copy)]
struct ReInvite {
    from: Side,
    to: Side,
    server: ServerTxId,
    out_cseq: u32,
    answered: bool,
    /// The re-INVITE carried an offer (else its 2xx carries one and the ACK
    /// the answer).
    offered: bool,
}

pub(crate) struct Call {
    cdr_id: String,
    a: ALeg,
    b: Vec<BLeg>,
    winner: Option<usize>,
    next_trunks: VecDeque<Target>,
    state: State,
    start_ms: u64,
    answer_ms: Option<u64>,
    caller: String,
    caller_display: Option<String>,
    from_trunk: Option<String>,
    callee: String,
    destination: String,
    status: u16,
    cause: &'static str,
    hangup_by: &'static str,
    best: Option<(u16, String)>,
    reinvite: Option<ReInvite>,
    byes: u8,
    client_txs: Vec<ClientTxId>,
    /// Watches the endpoints' RFC 4028 refreshes when the 2xx negotiated a
    /// session timer; the switch does not refresh itself.
    session: Option<crate::sip::dialog::session_timer::SessionTimer>,
    /// Trunks this call holds a channel on (one entry per channel).
    channels: Vec<String>,
    /// This call's entries in the engine's timer set, removed with the call.
    timers: Vec<(std::time::Instant, CallTimer)>,
    /// Media anchoring state (SDP of both legs); `None` when not anchored.
    pub(in crate::engine) anchor: Option<crate::media::Anchor>,
    /// Body of the B-leg INVITEs when the switch rewrote A's offer.
    b_offer: Option<Vec<u8>>,
    pub(in crate::engine) span: tracing::Span,
    /// The call's run through the dialplan; `None` when routed by `[[routes]]`.
    route: Option<crate::dialplan::Session>,
    /// How long each leg of the current `bridge` may ring.
    ring_timeout: Option<std::time::Duration>,
    /// The switch's own side of the call (IVR), once the plan reached a media action.
    pub(in crate::engine) ivr: Option<Box<ivr::Ivr>>,
}

impl Call {
    pub(in crate::engine) fn remember_timer(&mut self, at: std::time::Instant, t: CallTimer) {
        self.timers.push((at, t));
    }

    pub(in crate::engine) fn forget_timer(&mut self, at: std::time::Instant, t: CallTimer) {
        self.timers.retain(|e| *e != (at, t));
    }
}


pub(in crate::engine) enum Routed {
    Fork(Vec<Target>),
    Hunt(VecDeque<Target>),
}

pub(in crate::engine) fn call_peer(e: &Engine, key: CallKey, i: usize) -> Peer {
    e.calls.get(&key).map_or_else(|| Peer::udp(([127, 0, 0, 1], 0).into()), |c| c.b[i].peer)
}

pub(in crate::engine) fn trunk_transport(t: crate::config::Transport) -> Transport {
    match t {
        crate::config::Transport::Udp => Transport::Udp,
        crate::config::Transport::Tcp => Transport::Tcp,
        crate::config::Transport::Tls => Transport::Tls,
    }
}

/// A CDR cause for a final status.
pub(in crate::engine) fn cause_for(code: u16) -> &'static str {
    match code {
        200..=299 => "normal",
        404 | 604 => "unknown-number",
        480 => "unavailable",
        486 | 600 => "busy",
        487 => "cancelled",
        408 => "timeout",
        403 | 401 | 407 => "rejected",
        503 => "congestion",
        483 => "loop",
        _ => "failed",
    }
}


//! The contract between the tokio edge and the sans-IO core it drives.
//!
//! The edge calls the methods in this order on every wake-up, from one task:
//!
//! 1. one of `handle_input` (a datagram or a framed stream message),
//!    `handle_timeout` (the instant from `poll_timeout` passed),
//!    `connection_closed`, `begin_drain` or `end_all_calls`;
//!    several inputs may be fed back to back before step 2 when they arrive
//!    in a burst;
//! 2. `poll_transmit` until `None`, sending each message;
//! 3. `poll_store` until `None`, queueing each write for the store thread;
//! 4. `poll_timeout` (and `active_calls` while draining) to decide how long to
//!    sleep.
//!
//! The core never reads a clock: `now` always comes from [`crate::rt::clock::Clock`].

use std::time::Instant;

use crate::media::{MediaCommand, MediaEvent};
use crate::sip::transport::{ConnId, Peer, Transmit};
use crate::store::StoreOp;

/// A sans-IO SIP core (the `Engine`) as the edge sees it.
pub trait SipCore {
    /// Bytes of one datagram or one framed stream message from `peer`.
    fn handle_input(&mut self, now: Instant, peer: Peer, bytes: &[u8]);
    /// The instant last returned by `poll_timeout` has passed (the edge may
    /// call this late or, after other input, early; the core checks `now`).
    fn handle_timeout(&mut self, now: Instant);
    /// When `handle_timeout` should next be called; `None` when nothing is due.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next message to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The next write for the store.
    fn poll_store(&mut self) -> Option<StoreOp>;
    /// A stream connection closed (by peer, idle timeout or error).
    fn connection_closed(&mut self, now: Instant, conn: ConnId);
    /// SIGTERM: stop accepting calls.
    fn begin_drain(&mut self, now: Instant);
    /// Calls still up (drain finishes when 0, or at the drain deadline).
    fn active_calls(&self) -> usize;
    /// Drain deadline passed: end every call (BYE/CANCEL), after which
    /// `active_calls()` reaches 0 once the answers arrive or time out.
    fn end_all_calls(&mut self, now: Instant);
    /// The next command for the media plane (step 2, beside `poll_transmit`).
    fn poll_media(&mut self) -> Option<MediaCommand> {
        None
    }
    /// Something happened in the media plane (an input, like `handle_input`).
    fn handle_media_event(&mut self, _now: Instant, _ev: MediaEvent) {}
    /// The next webhook request to POST (step 2, beside `poll_transmit`).
    fn poll_webhook(&mut self) -> Option<crate::engine::WebhookRequest> {
        None
    }
    /// A webhook's reply body, or why it failed (an input, like `handle_input`).
    fn handle_webhook_reply(&mut self, _now: Instant, _id: u64, _reply: Result<Vec<u8>, String>) {}
    /// A reloaded dialplan, already checked: calls that start from now on use it.
    fn replace_plan(&mut self, _plan: std::sync::Arc<crate::dialplan::Plan>) {}
}

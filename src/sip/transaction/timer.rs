//! Transaction timers (RFC 3261 §17 and Table 4, RFC 6026 §8): the closed set of
//! timers, their durations derived from T1, T2 and T4, the per-transaction
//! table of deadlines, and the layer-wide heap that orders wake-ups.
//!
//! Cancellation is lazy: cancelling or re-arming a timer only changes the
//! transaction's table, and the heap entry it leaves behind is recognised as
//! stale when it surfaces (its transaction is gone, or the table no longer holds
//! that deadline for that timer). That keeps arming and cancelling O(log n) and
//! O(1), with no search through the heap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::TxId;

/// RFC 3261 timers, named as in Table 4 (plus L and M from RFC 6026).
///
/// Deliberately exhaustive: the RFCs define this set, and every state machine
/// matches on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE request retransmit (client, unreliable transports only).
    A,
    /// INVITE transaction timeout (client).
    B,
    /// Wait for response retransmits after a non-2xx final (client INVITE).
    D,
    /// Non-INVITE request retransmit (client, unreliable only).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE non-2xx final response retransmit (server, unreliable only).
    G,
    /// Wait for the ACK to a non-2xx final (server INVITE).
    H,
    /// Wait for ACK retransmits (server INVITE, Confirmed).
    I,
    /// Wait for non-INVITE request retransmits (server).
    J,
    /// Wait for non-INVITE response retransmits (client).
    K,
    /// Wait for INVITE retransmits after a 2xx (server INVITE, Accepted).
    L,
    /// Wait for 2xx retransmits and forks (client INVITE, Accepted).
    M,
}

impl Timer {
    /// Number of timers; the size of every [`TimerTable`].
    pub const COUNT: usize = 12;

    fn index(self) -> usize {
        self as usize
    }
}

/// The three base timers every other one is derived from. Defaults are RFC 3261's
/// (500 ms, 4 s, 5 s) and match the `[timers]` section of the config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate: first retransmit interval.
    pub t1: Duration,
    /// Cap on the retransmit interval of non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// Longest time a message may linger in the network.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// Sets T1.
    pub fn with_t1(mut self, t1: Duration) -> Self {
        self.t1 = t1;
        self
    }

    /// Sets T2.
    pub fn with_t2(mut self, t2: Duration) -> Self {
        self.t2 = t2;
        self
    }

    /// Sets T4.
    pub fn with_t4(mut self, t4: Duration) -> Self {
        self.t4 = t4;
        self
    }

    /// The initial duration of `timer` over a reliable or unreliable transport
    /// (RFC 3261 Table 4, RFC 6026 §8.11). Retransmit timers (A, E, G) start at
    /// T1; their later intervals are the state machines' business.
    pub fn duration(&self, timer: Timer, reliable: bool) -> Duration {
        let t64 = self.t1.saturating_mul(64);
        let unless_reliable = |d: Duration| if reliable { Duration::ZERO } else { d };
        match timer {
            Timer::A | Timer::E | Timer::G => self.t1,
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => t64,
            // Table 4 asks for "more than 32 s"; it must also outlast the
            // server's Timer H, so a larger T1 stretches it.
            Timer::D => unless_reliable(t64.max(Duration::from_secs(32))),
            Timer::I | Timer::K => unless_reliable(self.t4),
            Timer::J => unless_reliable(t64),
        }
    }
}

/// One wake-up in the heap: ordered by deadline first, so the heap's top is the
/// next thing to do. The timer is the reason it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Wake {
    pub(crate) at: Instant,
    pub(crate) tx: TxId,
    pub(crate) timer: Timer,
}

/// Every armed deadline of the layer, with stale entries left in until they
/// surface or a compaction drops them.
#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<Wake>>,
    /// Live (armed, not cancelled) timers across all tables: lets the heap tell
    /// how much of it is stale.
    armed: usize,
}

impl TimerHeap {
    /// Gives back memory held since a load peak.
    pub(crate) fn shrink(&mut self) {
        if self.heap.capacity() > 64 && self.heap.len() < self.heap.capacity() / 4 {
            self.heap.shrink_to_fit();
        }
    }

    pub(crate) fn peek(&self) -> Option<Wake> {
        self.heap.peek().map(|r| r.0)
    }

    pub(crate) fn pop(&mut self) -> Option<Wake> {
        self.heap.pop().map(|r| r.0)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    #[cfg(test)]
    pub(crate) fn armed(&self) -> usize {
        self.armed
    }

    fn push(&mut self, w: Wake) {
        self.heap.push(Reverse(w));
    }

    /// A timer left its table without going through [`TimerTable::cancel`]
    /// (it fired, or its transaction was dropped).
    pub(crate) fn disarmed(&mut self, n: usize) {
        self.armed = self.armed.saturating_sub(n);
    }

    /// Drops stale entries once they outnumber live ones, so a long run of
    /// cancelled timers (every answered INVITE cancels Timer B) cannot grow the
    /// heap without bound. Each rebuild at least halves the heap, so its O(n)
    /// cost is paid for by the cancellations that made the entries stale.
    pub(crate) fn compact(&mut self, live: impl Fn(&Wake) -> bool) {
        if self.heap.len() > 2 * self.armed + 1024 {
            self.heap.retain(|r| live(&r.0));
        }
    }
}

/// A transaction's deadlines, indexed by [`Timer`].
#[derive(Debug, Default, Clone)]
pub(crate) struct TimerTable([Option<Instant>; Timer::COUNT]);

impl TimerTable {
    /// Arms `timer` at `now + d`, replacing any earlier deadline for it.
    pub(crate) fn arm(
        &mut self,
        heap: &mut TimerHeap,
        tx: TxId,
        now: Instant,
        timer: Timer,
        d: Duration,
    ) {
        // A deadline beyond what Instant can hold is the same as never.
        let Some(at) = now.checked_add(d) else {
            self.cancel(heap, timer);
            return;
        };
        let slot = &mut self.0[timer.index()];
        if slot.is_none() {
            heap.armed += 1;
        }
        *slot = Some(at);
        heap.push(Wake { at, tx, timer });
    }

    /// Cancels `timer`; its heap entry goes stale.
    pub(crate) fn cancel(&mut self, heap: &mut TimerHeap, timer: Timer) {
        if self.0[timer.index()].take().is_some() {
            heap.armed -= 1;
        }
    }

    /// Cancels every timer (the transaction is terminating).
    pub(crate) fn cancel_all(&mut self, heap: &mut TimerHeap) {
        for slot in &mut self.0 {
            if slot.take().is_some() {
                heap.armed -= 1;
            }
        }
    }

    /// The deadline of `timer`, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer.index()]
    }

    /// True when the heap entry `w` is this table's current deadline for its
    /// timer (not cancelled, not re-armed since).
    pub(crate) fn is_current(&self, w: &Wake) -> bool {
        self.0[w.timer.index()] == Some(w.at)
    }

    /// Clears the slot of a timer that is firing now; true when `w` was current.
    pub(crate) fn take_fired(&mut self, heap: &mut TimerHeap, w: &Wake) -> bool {
        if self.is_current(w) {
            self.0[w.timer.index()] = None;
            heap.armed -= 1;
            true
        } else {
            false
        }
    }

    /// Armed timers (for bookkeeping when a transaction is dropped).
    pub(crate) fn count(&self) -> usize {
        self.0.iter().filter(|s| s.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_table_4() {
        let c = TimerConfig::default();
        assert_eq!(c.duration(Timer::B, false), Duration::from_secs(32));
        assert_eq!(c.duration(Timer::D, false), Duration::from_secs(32));
        assert_eq!(c.duration(Timer::D, true), Duration::ZERO);
        assert_eq!(c.duration(Timer::K, false), Duration::from_secs(5));
        assert_eq!(c.duration(Timer::J, true), Duration::ZERO);
        assert_eq!(c.duration(Timer::L, true), Duration::from_secs(32));
        let c = TimerConfig::default().with_t1(Duration::from_secs(1));
        assert_eq!(c.duration(Timer::D, false), Duration::from_secs(64));
    }

    #[test]
    fn table_counts_armed_timers() {
        let mut heap = TimerHeap::default();
        let mut t = TimerTable::default();
        let now = Instant::now();
        let tx = TxId::Client(super::super::ClientTxId(0));
        t.arm(&mut heap, tx, now, Timer::A, Duration::from_secs(1));
        t.arm(&mut heap, tx, now, Timer::A, Duration::from_secs(2));
        t.arm(&mut heap, tx, now, Timer::B, Duration::from_secs(3));
        assert_eq!(heap.armed(), 2);
        assert_eq!(heap.len(), 3);
        let first = heap.pop().unwrap();
        assert!(!t.is_current(&first), "re-armed A left a stale entry");
        t.cancel(&mut heap, Timer::B);
        assert_eq!(heap.armed(), 1);
        t.cancel_all(&mut heap);
        assert_eq!(heap.armed(), 0);
        assert_eq!(t.count(), 0);
    }
}

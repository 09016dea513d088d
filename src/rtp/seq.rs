//! Sequence-number and timestamp unwrapping, and RFC 3550 source validation.
//!
//! Standards: RFC 3550 §6.4.1 (extended highest sequence number) and
//! Appendix A.1 (probation, `MAX_DROPOUT`, `MAX_MISORDER`, restart after two
//! sequential packets following a large jump).
//! Out of scope: per-payload-type probation lengths; the session uses the
//! RFC's `MIN_SEQUENTIAL` of 2 for every source.
//!
//! Extended sequence numbers here start in cycle 1, not 0 (`SEQ_HEADROOM`):
//! a packet reordered from before the first one received then still has a
//! representable `u64`, and only differences between extended values carry
//! meaning. RTCP reports subtract the headroom again.

/// Offset of every extended sequence number: one 16-bit cycle.
pub const SEQ_HEADROOM: u64 = 1 << 16;
/// RFC 3550 A.1: a forward jump up to this is loss, not a restart.
pub const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: a backward step up to this is reordering, not a restart.
pub const MAX_MISORDER: u16 = 100;
/// RFC 3550 A.1: sequential packets needed before a new source is valid.
pub const MIN_SEQUENTIAL: u8 = 2;

const SEQ_MOD: u64 = 1 << 16;

/// Extends 16-bit sequence numbers to 64 bits, choosing for each packet the
/// cycle that puts it nearest to the highest one seen so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqUnwrapper {
    highest: Option<u64>,
}

impl SeqUnwrapper {
    /// An unwrapper that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq`; the first call returns
    /// `SEQ_HEADROOM + seq`.
    pub fn unwrap(&mut self, seq: u16) -> u64 {
        let ext = match self.highest {
            None => SEQ_HEADROOM + u64::from(seq),
            Some(h) => {
                let delta = i64::from(seq.wrapping_sub(h as u16) as i16);
                // Anything more than a cycle and a half before the start is
                // nonsense; saturating keeps it at the bottom instead of wrapping.
                h.saturating_add_signed(delta)
            }
        };
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext
    }

    /// Highest extended value returned so far.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

/// Extends 32-bit RTP timestamps to `i64`, relative to the highest seen.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimestampUnwrapper {
    highest: Option<i64>,
}

impl TimestampUnwrapper {
    /// An unwrapper that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `ts`; the first call returns `ts` itself, and
    /// earlier timestamps may come out negative.
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        let ext = match self.highest {
            None => i64::from(ts),
            Some(h) => h + i64::from(ts.wrapping_sub(h as u32) as i32),
        };
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext
    }
}

/// What RFC 3550 A.1 makes of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeqVerdict {
    /// The source has not yet sent `MIN_SEQUENTIAL` packets in a row.
    Probation,
    /// Counts towards the statistics; `new_highest` is false for a packet
    /// that arrived after a later one.
    Valid {
        /// Extended sequence number (with `SEQ_HEADROOM`).
        ext: u64,
        /// It moved the highest sequence number forward.
        new_highest: bool,
        /// Packets skipped between the previous highest and this one.
        gap: u64,
    },
    /// Same sequence number as a packet seen recently.
    Duplicate {
        /// Extended sequence number (with `SEQ_HEADROOM`).
        ext: u64,
    },
    /// A jump beyond `MAX_DROPOUT` or `MAX_MISORDER`; dropped unless the
    /// next packet follows it, which then restarts the sequence.
    BadSeq,
    /// The source restarted its numbering: statistics start over.
    Restarted {
        /// Extended sequence number (with `SEQ_HEADROOM`).
        ext: u64,
    },
}

/// RFC 3550 A.1 per-source sequence state, with a 64-packet window that
/// tells duplicates from late packets (A.1 itself counts both as received).
#[derive(Debug, Clone, Copy)]
pub struct SeqValidator {
    max_seq: u16,
    cycles: u64,
    base_seq: u64,
    bad_seq: Option<u16>,
    probation: u8,
    /// Bit i: extended `highest - i` was received.
    window: u64,
}

impl SeqValidator {
    /// State for a source whose first packet carries `seq` (A.1 `init_seq`
    /// followed by `max_seq = seq - 1; probation = MIN_SEQUENTIAL`).
    pub fn new(seq: u16) -> Self {
        let mut s = Self::restart(seq);
        s.max_seq = seq.wrapping_sub(1);
        s.probation = MIN_SEQUENTIAL;
        s
    }

    fn restart(seq: u16) -> Self {
        Self {
            max_seq: seq,
            cycles: SEQ_HEADROOM,
            base_seq: SEQ_HEADROOM + u64::from(seq),
            bad_seq: None,
            probation: 0,
            window: 1,
        }
    }

    /// A.1 `update_seq`.
    pub fn update(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                // A wrap on the packet that ends probation still counts as a
                // cycle, so extended numbers continue from the first packet.
                let wrapped = seq < self.max_seq;
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    *self = Self::restart(seq);
                    if wrapped {
                        self.cycles += SEQ_MOD;
                        self.base_seq += SEQ_MOD;
                    }
                    return SeqVerdict::Valid { ext: self.highest(), new_highest: true, gap: 0 };
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        }
        if udelta < MAX_DROPOUT {
            if udelta == 0 {
                self.window |= 1;
                return SeqVerdict::Duplicate { ext: self.highest() };
            }
            if seq < self.max_seq {
                self.cycles += SEQ_MOD;
            }
            self.max_seq = seq;
            self.bad_seq = None;
            let shift = u32::from(udelta);
            self.window = self.window.checked_shl(shift).unwrap_or(0) | 1;
            return SeqVerdict::Valid { ext: self.highest(), new_highest: true, gap: u64::from(udelta - 1) };
        }
        if u32::from(udelta) <= (1 << 16) - u32::from(MAX_MISORDER) {
            if self.bad_seq == Some(seq) {
                *self = Self::restart(seq);
                return SeqVerdict::Restarted { ext: self.highest() };
            }
            self.bad_seq = Some(seq.wrapping_add(1));
            return SeqVerdict::BadSeq;
        }
        // Late: up to MAX_MISORDER behind the highest.
        let back = u64::from(self.max_seq.wrapping_sub(seq));
        let ext = self.highest().saturating_sub(back);
        if back < 64 {
            let bit = 1u64 << back;
            if self.window & bit != 0 {
                return SeqVerdict::Duplicate { ext };
            }
            self.window |= bit;
        }
        SeqVerdict::Valid { ext, new_highest: false, gap: 0 }
    }

    /// Extended highest sequence number (with `SEQ_HEADROOM`).
    pub fn highest(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    /// Extended first sequence number counted (with `SEQ_HEADROOM`).
    pub fn base(&self) -> u64 {
        self.base_seq
    }

    /// Packets expected so far: A.3 `extended_max - base_seq + 1`, zero
    /// while in probation.
    pub fn expected(&self) -> u64 {
        if self.probation > 0 { 0 } else { self.highest() + 1 - self.base_seq }
    }

    /// The 32-bit extended highest sequence number an RTCP report carries.
    pub fn report_highest(&self) -> u32 {
        (self.highest() - SEQ_HEADROOM) as u32
    }

    /// Whether the source is still in probation.
    pub fn in_probation(&self) -> bool {
        self.probation > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn in_order_stream_is_strictly_monotonic(start: u16, n in 1usize..200_000) {
            let mut u = SeqUnwrapper::new();
            let mut prev = u.unwrap(start);
            for i in 1..n {
                let ext = u.unwrap(start.wrapping_add(i as u16));
                prop_assert_eq!(ext, prev + 1);
                prev = ext;
            }
        }

        /// Packets shuffled within a window keep their true extended value.
        #[test]
        fn reordering_within_window_keeps_true_values(start: u16, len in 100usize..3000, window in 1usize..500, seed: u64) {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut order: Vec<usize> = (0..len).collect();
            for chunk in order.chunks_mut(window) {
                rng.shuffle(chunk);
            }
            let mut u = SeqUnwrapper::new();
            let first = order[0];
            let base = u.unwrap(start.wrapping_add(first as u16)) - first as u64;
            let mut highest = 0;
            for &i in &order[1..] {
                let ext = u.unwrap(start.wrapping_add(i as u16));
                prop_assert_eq!(ext, base + i as u64);
                highest = highest.max(ext);
                prop_assert_eq!(u.highest(), Some(highest.max(base + first as u64)));
            }
        }

        #[test]
        fn timestamps_across_wrap(start: u32, step in 1u32..10_000, n in 1usize..2000, back in 0u32..1_000_000) {
            let mut u = TimestampUnwrapper::new();
            let t0 = u.unwrap(start);
            prop_assert_eq!(t0, i64::from(start));
            for i in 1..n as u32 {
                let ts = start.wrapping_add(i * step);
                let ext = u.unwrap(ts);
                prop_assert_eq!(ext, t0 + i64::from(i) * i64::from(step));
                // An older timestamp comes out below, even across the wrap.
                prop_assert_eq!(u.unwrap(ts.wrapping_sub(back)), ext - i64::from(back));
            }
        }

        #[test]
        fn validator_extended_matches_unwrapper(start: u16, len in 10usize..5000, window in 1usize..60, seed: u64) {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut order: Vec<usize> = (0..len).collect();
            // Keep the first two in place so probation passes on them.
            for chunk in order[2..].chunks_mut(window) {
                rng.shuffle(chunk);
            }
            let mut v = SeqValidator::new(start);
            prop_assert_eq!(v.update(start), SeqVerdict::Probation);
            let mut valid = 0;
            for &i in &order[1..] {
                match v.update(start.wrapping_add(i as u16)) {
                    SeqVerdict::Valid { ext, .. } => {
                        valid += 1;
                        prop_assert_eq!(ext, SEQ_HEADROOM + u64::from(start) + i as u64);
                    }
                    other => prop_assert!(false, "{other:?} for {i}"),
                }
            }
            prop_assert_eq!(valid, len - 1);
            prop_assert_eq!(v.expected(), len as u64 - 1);
            prop_assert_eq!(v.report_highest(), u32::from(start) + len as u32 - 1);
        }
    }

    #[test]
    fn first_packet_before_start_stays_representable() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.unwrap(5), SEQ_HEADROOM + 5);
        assert_eq!(u.unwrap(65530), SEQ_HEADROOM - 6);
        assert_eq!(u.unwrap(6), SEQ_HEADROOM + 6);
    }

    #[test]
    fn probation_needs_two_in_a_row() {
        let mut v = SeqValidator::new(100);
        assert_eq!(v.update(100), SeqVerdict::Probation);
        assert!(v.in_probation());
        assert_eq!(v.update(105), SeqVerdict::Probation); // not sequential: probation restarts
        assert_eq!(v.update(106), SeqVerdict::Valid { ext: SEQ_HEADROOM + 106, new_highest: true, gap: 0 });
        assert_eq!(v.expected(), 1);
        assert_eq!(v.update(110), SeqVerdict::Valid { ext: SEQ_HEADROOM + 110, new_highest: true, gap: 3 });
        assert_eq!(v.expected(), 5);
    }

    #[test]
    fn duplicates_and_late_packets() {
        let mut v = SeqValidator::new(10);
        v.update(10);
        v.update(11);
        for s in [12u16, 14, 15] {
            v.update(s);
        }
        assert!(matches!(v.update(15), SeqVerdict::Duplicate { .. }));
        assert!(matches!(v.update(12), SeqVerdict::Duplicate { .. }));
        assert_eq!(v.update(13), SeqVerdict::Valid { ext: SEQ_HEADROOM + 13, new_highest: false, gap: 0 });
        assert!(matches!(v.update(13), SeqVerdict::Duplicate { .. }));
    }

    #[test]
    fn large_jump_then_sequential_restarts() {
        let mut v = SeqValidator::new(1000);
        v.update(1000);
        v.update(1001);
        // Jump of MAX_DROPOUT exactly is suspicious.
        assert_eq!(v.update(1001 + MAX_DROPOUT), SeqVerdict::BadSeq);
        // A lone jump is dropped and the old stream carries on.
        assert!(matches!(v.update(1002), SeqVerdict::Valid { new_highest: true, .. }));
        assert_eq!(v.update(40_000), SeqVerdict::BadSeq);
        assert_eq!(v.update(40_001), SeqVerdict::Restarted { ext: SEQ_HEADROOM + 40_001 });
        assert_eq!(v.expected(), 1);
        // A step back of MAX_MISORDER or more is also a bad sequence.
        assert_eq!(v.update(40_001 - MAX_MISORDER), SeqVerdict::BadSeq);
        assert!(matches!(v.update(40_001 - MAX_MISORDER + 1), SeqVerdict::Valid { new_highest: false, .. }));
    }

    #[test]
    fn wrap_counts_a_cycle() {
        let mut v = SeqValidator::new(65534);
        v.update(65534);
        v.update(65535);
        assert_eq!(v.update(0), SeqVerdict::Valid { ext: 2 * SEQ_HEADROOM, new_highest: true, gap: 0 });
        assert_eq!(v.report_highest(), 65536);
        assert_eq!(v.update(65535), SeqVerdict::Duplicate { ext: 2 * SEQ_HEADROOM - 1 });
    }
}

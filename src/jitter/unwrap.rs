//! Extends RTP's 16-bit sequence numbers and 32-bit timestamps to 64 bits
//! (RFC 3550 §A.1): a new value is placed at the shortest signed distance from
//! the highest value seen so far, so reordering across a wrap stays ordered.

/// Unwraps a counter of `BITS` bits (16 for sequence numbers, 32 for
/// timestamps).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unwrapper<const BITS: u32> {
    highest: Option<i64>,
}

impl<const BITS: u32> Unwrapper<BITS> {
    const MODULUS: i64 = 1 << BITS;
    const HALF: i64 = 1 << (BITS - 1);

    pub(crate) const fn new() -> Self {
        Unwrapper { highest: None }
    }

    /// The 64-bit value `raw` stands for, without remembering it.
    pub(crate) fn peek(&self, raw: u32) -> i64 {
        let raw = i64::from(raw) & (Self::MODULUS - 1);
        match self.highest {
            None => raw,
            Some(h) => {
                let mut delta = (raw - h).rem_euclid(Self::MODULUS);
                if delta >= Self::HALF {
                    delta -= Self::MODULUS;
                }
                h + delta
            }
        }
    }

    /// Unwraps `raw` and remembers it if it is the highest so far.
    pub(crate) fn update(&mut self, raw: u32) -> i64 {
        let v = self.peek(raw);
        if self.highest.is_none_or(|h| v > h) {
            self.highest = Some(v);
        }
        v
    }

    pub(crate) fn reset(&mut self) {
        self.highest = None;
    }
}

/// Sequence-number unwrapper.
pub(crate) type SeqUnwrapper = Unwrapper<16>;
/// Timestamp unwrapper.
pub(crate) type TsUnwrapper = Unwrapper<32>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seq_wraps_forward_and_back() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.update(65534), 65534);
        assert_eq!(u.update(65535), 65535);
        assert_eq!(u.update(0), 65536);
        assert_eq!(u.update(65535), 65535, "reordered across the wrap");
        assert_eq!(u.update(2), 65538);
    }

    #[test]
    fn timestamp_wraps() {
        let mut u = TsUnwrapper::new();
        assert_eq!(u.update(u32::MAX - 79), i64::from(u32::MAX) - 79);
        assert_eq!(u.update(80), (1i64 << 32) + 80);
    }

    proptest! {
        #[test]
        fn unwrapped_steps_match_wrapped_steps(start in any::<u16>(), steps in proptest::collection::vec(-200i32..400, 1..300)) {
            let mut u = SeqUnwrapper::new();
            let mut truth = i64::from(start);
            u.update(u32::from(start));
            for s in steps {
                truth += i64::from(s);
                let raw = truth.rem_euclid(1 << 16) as u32;
                // Within half the space of the highest seen, unwrapping is exact.
                let got = u.update(raw);
                prop_assert_eq!(got, truth);
            }
        }
    }
}

//! The 24-tap quadrature mirror filters of ITU-T G.722 §3.2 (transmit, block
//! "TRANSMIT QMF") and §4.4 (receive), in the Recommendation's integer form.
//!
//! The filter pair splits 16 kHz audio into two 8 kHz sub-bands (0–4 kHz and
//! 4–8 kHz) and puts it back together; aliasing between the bands cancels
//! because both filters come from one symmetric prototype `H`.

/// The QMF prototype coefficients `h0`..`h23` of Table 11/G.722, scaled by
/// 2^13. The filter is symmetric (`H[i] == H[23 - i]`), hence linear phase
/// with a delay of 11.5 samples per filter.
const H: [i32; 24] = [
    3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876, 3876, 951, -805, -210, 362, 32,
    -156, 12, 53, -11, -11, 3,
];

/// Splits pairs of 16 kHz samples into one lower- and one upper-band sample.
#[derive(Debug, Clone)]
pub(crate) struct Analysis {
    /// Input history, newest first: `x[m]` is the sample `m` steps ago.
    x: [i32; 24],
}

impl Analysis {
    /// A filter whose history is silence.
    pub(crate) fn new() -> Self {
        Analysis { x: [0; 24] }
    }

    /// Takes two consecutive input samples (older first) and returns the
    /// sub-band pair `(xL, xH)` at 8 kHz.
    pub(crate) fn split(&mut self, older: i16, newer: i16) -> (i32, i32) {
        self.x.copy_within(0..22, 2);
        self.x[1] = i32::from(older);
        self.x[0] = i32::from(newer);
        // Even taps act on even delays, odd taps on odd delays; the high band
        // is the same filter modulated by (-1)^m, i.e. the odd sum negated.
        let mut even = 0;
        let mut odd = 0;
        for k in 0..12 {
            even += H[2 * k] * self.x[2 * k];
            odd += H[2 * k + 1] * self.x[2 * k + 1];
        }
        ((even + odd) >> 14, (even - odd) >> 14)
    }
}

/// Recombines one lower- and one upper-band sample into two 16 kHz samples.
#[derive(Debug, Clone)]
pub(crate) struct Synthesis {
    /// History of `rL - rH`, newest first (feeds the first output sample).
    diff: [i32; 12],
    /// History of `rL + rH`, newest first (feeds the second output sample).
    sum: [i32; 12],
}

impl Synthesis {
    /// A filter whose history is silence.
    pub(crate) fn new() -> Self {
        Synthesis {
            diff: [0; 12],
            sum: [0; 12],
        }
    }

    /// Takes the reconstructed sub-band pair and returns two output samples in
    /// time order.
    pub(crate) fn merge(&mut self, rl: i32, rh: i32) -> (i16, i16) {
        self.diff.copy_within(0..11, 1);
        self.sum.copy_within(0..11, 1);
        self.diff[0] = rl - rh;
        self.sum[0] = rl + rh;
        let mut first = 0;
        let mut second = 0;
        for k in 0..12 {
            first += H[2 * k] * self.diff[k];
            second += H[2 * k + 1] * self.sum[k];
        }
        (sat16(first >> 11), sat16(second >> 11))
    }
}

fn sat16(x: i32) -> i16 {
    // Clamped into range first, so the conversion cannot fail.
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prototype_is_symmetric_with_unit_dc_gain() {
        for i in 0..12 {
            assert_eq!(H[i], H[23 - i]);
        }
        // Sum of taps is 2^13: analysis (>> 14) halves DC, synthesis (>> 11,
        // half the taps per output) doubles it back.
        assert_eq!(H.iter().sum::<i32>(), 8192);
    }

    #[test]
    fn dc_passes_through_analysis_and_synthesis() {
        let (mut a, mut s) = (Analysis::new(), Synthesis::new());
        let mut last = (0, 0);
        for _ in 0..64 {
            let (l, h) = a.split(8000, 8000);
            last = s.merge(l, h);
        }
        assert!((i32::from(last.0) - 8000).abs() <= 8, "{last:?}");
        assert!((i32::from(last.1) - 8000).abs() <= 8, "{last:?}");
    }
}

//! Time-stretching of decoded speech without changing its pitch: WSOLA
//! (waveform-similarity overlap-add), pitch-synchronous.
//!
//! *Accelerate* finds the lag `p` (2.5–15 ms, a pitch period or a multiple)
//! at which the signal best matches itself, then replaces two periods by one
//! cross-faded period: `x[0..p]` fades into `x[p..2p]`, and the rest follows
//! from `x[2p..]`. *Expand* does the opposite: after `x[0..p]` it plays a
//! period that fades from `x[p..2p]` back into `x[0..p]`, then continues
//! with `x[p..]`. Because the faded segments are a period apart and match,
//! the result has no discontinuity (no click) and keeps the pitch.
//!
//! Only unplayed samples are touched, and the fade starts from the first of
//! them, so the join with what was already played is seamless too.
//!
//! The lag search is coarse-to-fine: at rates above 8 kHz the correlation is
//! first taken on every `rate/8000`-th sample, then refined around the best
//! coarse lag, which keeps a 48 kHz search as cheap as an 8 kHz one.

/// Normalized correlation a lag must reach to be stretched (speech that is
/// not periodic enough, e.g. onsets, is left alone unless it is quiet).
const MIN_CORRELATION: f64 = 0.6;
/// Mean square below which a segment is quiet enough to cut anywhere.
const QUIET_POWER: f64 = 150.0 * 150.0;

/// WSOLA accelerate and expand for one sample rate. Holds no buffers.
#[derive(Debug, Clone, Copy)]
pub struct Stretcher {
    min_lag: usize,
    max_lag: usize,
    decim: usize,
}

impl Stretcher {
    /// A stretcher for PCM at `sample_rate` (searches pitch periods of
    /// 2.5–15 ms).
    pub fn new(sample_rate: u32) -> Self {
        let rate = sample_rate.max(1000) as usize;
        Stretcher {
            min_lag: rate / 400,
            max_lag: rate * 15 / 1000,
            decim: (rate / 8000).max(1),
        }
    }

    /// Shortens `buf[..len]` by whole periods, at most `max_remove` samples in
    /// all; returns the samples removed (the new length is `len - removed`).
    pub fn accelerate(&self, buf: &mut [i16], len: usize, max_remove: usize) -> usize {
        let len = len.min(buf.len());
        let mut off = 0;
        let mut removed = 0;
        loop {
            let avail = len - removed - off;
            let Some(p) = self.best_lag(&buf[off..off + avail], max_remove - removed) else {
                break;
            };
            let x = &mut buf[off..off + avail];
            crossfade_in_place(x, p);
            x.copy_within(2 * p.., p);
            removed += p;
            off += p;
        }
        removed
    }

    /// Lengthens `buf[..len]` by whole periods, at most `max_add` samples and
    /// no further than `buf.len()`; returns the samples added.
    pub fn expand(&self, buf: &mut [i16], len: usize, max_add: usize) -> usize {
        let len = len.min(buf.len());
        let room = buf.len() - len;
        let Some(p) = self.best_lag(&buf[..len], max_add.min(room)) else {
            return 0;
        };
        buf.copy_within(p..len, 2 * p);
        let n = p as f64 + 1.0;
        for i in 0..p {
            let w = (i as f64 + 1.0) / n;
            let v = f64::from(buf[2 * p + i]) * (1.0 - w) + f64::from(buf[i]) * w;
            buf[p + i] = saturate(v);
        }
        p
    }

    /// The best self-similarity lag of `x` not above `limit`, if the signal is
    /// periodic (or quiet) enough to stretch there. Needs two periods of `x`.
    fn best_lag(&self, x: &[i16], limit: usize) -> Option<usize> {
        let max_lag = self.max_lag.min(limit).min(x.len() / 2);
        if max_lag < self.min_lag {
            return None;
        }
        let win = (x.len() - max_lag).min(self.max_lag);
        let d = self.decim;
        let mut best = (self.min_lag, f64::MIN);
        let mut lag = self.min_lag;
        while lag <= max_lag {
            let c = correlation(x, lag, win, d);
            if c > best.1 + 1e-9 {
                best = (lag, c);
            }
            lag += d;
        }
        if d > 1 {
            let lo = best.0.saturating_sub(d - 1).max(self.min_lag);
            let hi = (best.0 + d - 1).min(max_lag);
            best.1 = f64::MIN;
            for lag in lo..=hi {
                let c = correlation(x, lag, win, 1);
                if c > best.1 + 1e-9 {
                    best = (lag, c);
                }
            }
        }
        let power = x[..win + best.0]
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum::<f64>()
            / (win + best.0) as f64;
        (best.1 >= MIN_CORRELATION || power < QUIET_POWER).then_some(best.0)
    }
}

/// Normalized cross-correlation of `x[0..win]` with `x[lag..lag+win]`, on
/// every `step`-th sample.
fn correlation(x: &[i16], lag: usize, win: usize, step: usize) -> f64 {
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < win {
        let a = f64::from(x[i]);
        let b = f64::from(x[i + lag]);
        xy += a * b;
        xx += a * a;
        yy += b * b;
        i += step;
    }
    if xx <= 0.0 || yy <= 0.0 {
        return if xx == yy { 1.0 } else { 0.0 };
    }
    xy / (xx * yy).sqrt()
}

/// `x[0..p]` becomes a linear fade from `x[0..p]` to `x[p..2p]`.
fn crossfade_in_place(x: &mut [i16], p: usize) {
    let n = p as f64 + 1.0;
    for i in 0..p {
        let w = (i as f64 + 1.0) / n;
        let v = f64::from(x[i]) * (1.0 - w) + f64::from(x[i + p]) * w;
        x[i] = saturate(v);
    }
}

fn saturate(v: f64) -> i16 {
    v.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as i16
            })
            .collect()
    }

    fn max_jump(x: &[i16]) -> i32 {
        x.windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0)
    }

    /// Period estimated from upward zero crossings (samples).
    fn period(x: &[i16]) -> f64 {
        let ups: Vec<usize> = x
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < 0 && w[1] >= 0)
            .map(|(i, _)| i)
            .collect();
        (ups[ups.len() - 1] - ups[0]) as f64 / (ups.len() - 1) as f64
    }

    #[test]
    fn accelerate_removes_periods_without_clicks() {
        for (rate, hz) in [(8000u32, 180.0), (16000, 230.0), (48000, 140.0)] {
            let played = sine(rate, hz, rate as usize / 100, 12000.0);
            let mut buf = sine(rate, hz, rate as usize * 3 / 100, 12000.0);
            // `buf` continues `played` seamlessly: shift the phase.
            let off = played.len();
            let full = sine(rate, hz, off + buf.len(), 12000.0);
            buf.copy_from_slice(&full[off..]);
            let natural = max_jump(&full);
            let len = buf.len();
            let removed = Stretcher::new(rate).accelerate(&mut buf, len, len / 2);
            assert!(removed >= rate as usize / 400, "{rate}: removed {removed}");
            let mut out = played.clone();
            out.extend_from_slice(&buf[..len - removed]);
            let jump = max_jump(&out);
            assert!(
                f64::from(jump) <= f64::from(natural) * 1.1,
                "{rate}: jump {jump} vs {natural}"
            );
            let want = f64::from(rate) / hz;
            let got = period(&out);
            assert!(
                (got - want).abs() / want < 0.02,
                "{rate}: period {got} vs {want}"
            );
        }
    }

    #[test]
    fn expand_adds_periods_without_clicks() {
        for (rate, hz) in [(8000u32, 180.0), (48000, 140.0)] {
            let full = sine(rate, hz, rate as usize / 25, 12000.0);
            let natural = max_jump(&full);
            let split = rate as usize / 100;
            let len = full.len() - split;
            let mut buf = vec![0i16; len * 2];
            buf[..len].copy_from_slice(&full[split..]);
            let added = Stretcher::new(rate).expand(&mut buf, len, len);
            assert!(added >= rate as usize / 400, "{rate}: added {added}");
            let mut out = full[..split].to_vec();
            out.extend_from_slice(&buf[..len + added]);
            let jump = max_jump(&out);
            assert!(
                f64::from(jump) <= f64::from(natural) * 1.1,
                "{rate}: jump {jump} vs {natural}"
            );
            let want = f64::from(rate) / hz;
            assert!((period(&out) - want).abs() / want < 0.02);
        }
    }

    #[test]
    fn noise_is_left_alone() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut buf: Vec<i16> = (0..480).map(|_| rng.i16(-20000..20000)).collect();
        let len = buf.len();
        assert_eq!(Stretcher::new(8000).accelerate(&mut buf, len, 240), 0);
    }

    #[test]
    fn respects_limits() {
        let mut buf = sine(8000, 200.0, 320, 8000.0);
        assert_eq!(
            Stretcher::new(8000).accelerate(&mut buf, 320, 10),
            0,
            "below the shortest lag"
        );
        let mut buf = sine(8000, 200.0, 30, 8000.0);
        assert_eq!(Stretcher::new(8000).expand(&mut buf, 30, 100), 0, "no room");
    }
}

//! Packet-loss concealment for G.711 after ITU-T G.711 Appendix I.
//!
//! Standards: ITU-T G.711 Appendix I (09/99), "A high quality low-complexity
//! algorithm for packet loss concealment with G.711". Its parameters are kept:
//! 8 kHz, pitch searched between 5 and 15 ms by normalised cross-correlation of
//! the last 20 ms against the history (coarse pass at 4 kHz, then refined at
//! full rate), one period replicated with a quarter-period overlap-add at the
//! wrap, the replicated span widened to two and then three periods at 10 and
//! 20 ms into the loss, a linear attenuation of 20 % per 10 ms from 10 ms on,
//! silence from 60 ms, and an overlap-add into the next good frame that grows by
//! 4 ms for each further 10 ms lost (at most 10 ms).
//!
//! One deliberate difference: Appendix I delays all output by a quarter of the
//! longest pitch (3.75 ms) so that, when a loss starts, it can still rewrite the
//! last real samples into a cross-fade. A switch decoding every G.711 call would
//! pay that latency on all frames for the sake of the lost ones, so here the
//! concealment starts straight after the last real sample and instead carries
//! the step between that sample and the replicated period's predecessor as an
//! offset that fades out over a quarter pitch. The replicated period itself is
//! cross-faded at its wrap exactly as in Appendix I.
//!
//! Out of scope: other rates (the media path conceals at 8 kHz, before
//! resampling), and the G.711.1/G.722 Appendix IV concealers.

/// Samples per 10 ms block, the unit in which the concealment changes course.
const BLOCK: usize = 80;
/// Shortest pitch period searched (5 ms, 200 Hz).
const PITCH_MIN: usize = 40;
/// Longest pitch period searched (15 ms, 66.7 Hz).
const PITCH_MAX: usize = 120;
const PITCH_SPAN: usize = PITCH_MAX - PITCH_MIN;
/// Longest quarter-period overlap.
const OVERLAP_MAX: usize = PITCH_MAX / 4;
/// Enough history for three of the longest periods plus their overlap.
const HISTORY: usize = PITCH_MAX * 3 + OVERLAP_MAX;
/// Window correlated in the pitch search (20 ms).
const CORR_LEN: usize = 160;
/// History the pitch search looks at.
const CORR_SPAN: usize = CORR_LEN + PITCH_MAX;
/// Decimation of the coarse pitch pass.
const DECIMATION: usize = 2;
/// Floor on the candidate energy so that near-silence does not make any lag
/// look perfectly correlated (value from Appendix I, for the decimated sums).
const MIN_POWER: f32 = 250.0;
/// Growth of the merge into the next good frame per extra 10 ms lost (4 ms).
const MERGE_STEP: usize = 32;
/// Attenuation per sample after the first 10 ms: 20 % per 10 ms.
const FADE_PER_SAMPLE: f32 = 0.2 / BLOCK as f32;
/// Blocks of synthesis before the output goes silent (60 ms).
const SILENT_AFTER_BLOCKS: usize = 6;

/// G.711 Appendix I concealer: feed it every good frame, ask it for lost ones.
///
/// All buffers are fixed arrays; nothing is allocated after [`G711Plc::new`].
#[derive(Debug, Clone)]
pub struct G711Plc {
    /// The last [`HISTORY`] output samples, oldest first.
    history: [f32; HISTORY],
    /// Snapshot of the history at the start of a loss; its tail is the
    /// replicated span.
    pitch_buf: [f32; HISTORY],
    /// The snapshot's last quarter period before the wrap cross-fade rewrote it.
    last_quarter: [f32; OVERLAP_MAX],
    /// Continuation of the previous (narrower) span, faded out over the start of
    /// the widened one.
    fade: [f32; OVERLAP_MAX],
    fade_len: usize,
    fade_pos: usize,
    /// Step at the start of the loss, faded out over `overlap` samples.
    junction: f32,
    junction_pos: usize,
    pitch: usize,
    overlap: usize,
    /// Length of the replicated span (one, two or three periods).
    span: usize,
    /// Read position inside the span.
    offset: usize,
    /// Samples concealed in the current loss (saturates once silent).
    erased: usize,
    gain: f32,
    /// Cross-fade into the good audio after a loss, possibly spanning calls.
    merge_len: usize,
    merge_pos: usize,
    merge_gain: f32,
}

impl Default for G711Plc {
    fn default() -> Self {
        Self::new()
    }
}

impl G711Plc {
    /// A concealer with silent history.
    pub fn new() -> Self {
        G711Plc {
            history: [0.0; HISTORY],
            pitch_buf: [0.0; HISTORY],
            last_quarter: [0.0; OVERLAP_MAX],
            fade: [0.0; OVERLAP_MAX],
            fade_len: 0,
            fade_pos: 0,
            junction: 0.0,
            junction_pos: 0,
            pitch: PITCH_MAX,
            overlap: OVERLAP_MAX,
            span: PITCH_MAX,
            offset: 0,
            erased: 0,
            gain: 1.0,
            merge_len: 0,
            merge_pos: 0,
            merge_gain: 0.0,
        }
    }

    /// Forgets all history, as after an SSRC change.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// The pitch period (in samples at 8 kHz) used for the current or last loss.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// Records a good frame. If it follows a loss, its start is cross-faded in
    /// place with the continuing synthetic signal.
    pub fn add_good(&mut self, pcm: &mut [i16]) {
        if self.erased > 0 {
            let blocks = self.erased.div_ceil(BLOCK);
            self.merge_len = (self.overlap + (blocks - 1) * MERGE_STEP).min(BLOCK);
            self.merge_pos = 0;
            self.merge_gain = if blocks > SILENT_AFTER_BLOCKS {
                0.0
            } else {
                self.gain
            };
            self.erased = 0;
            self.fade_len = 0;
            self.junction_pos = self.overlap;
        }
        let mut i = 0;
        while self.merge_pos < self.merge_len && i < pcm.len() {
            let real_w = (self.merge_pos + 1) as f32 / self.merge_len as f32;
            let synth = self.next_synth() * self.merge_gain * (1.0 - real_w);
            pcm[i] = saturate(synth + f32::from(pcm[i]) * real_w);
            self.merge_pos += 1;
            i += 1;
        }
        self.push_history(pcm);
    }

    /// Fills all of `out` with audio standing in for lost samples.
    pub fn conceal(&mut self, out: &mut [i16]) {
        // A loss during the merge abandons it; the history holds what was played.
        self.merge_len = 0;
        for o in out.iter_mut() {
            let block = self.erased / BLOCK;
            if block >= SILENT_AFTER_BLOCKS {
                *o = 0;
                continue;
            }
            if self.erased.is_multiple_of(BLOCK) {
                self.start_block(block);
            }
            let mut v = self.next_synth();
            if self.fade_pos < self.fade_len {
                let w = (self.fade_pos + 1) as f32 / self.fade_len as f32;
                v = v * w + self.fade[self.fade_pos] * (1.0 - w);
                self.fade_pos += 1;
            }
            if self.junction_pos < self.overlap {
                let left = (self.overlap - self.junction_pos) as f32 / (self.overlap + 1) as f32;
                v += self.junction * left;
                self.junction_pos += 1;
            }
            if block >= 1 {
                v *= self.gain;
                self.gain = (self.gain - FADE_PER_SAMPLE).max(0.0);
            }
            *o = saturate(v);
            self.erased += 1;
        }
        self.push_history(out);
    }

    /// What changes at the start of each 10 ms of a loss.
    fn start_block(&mut self, block: usize) {
        match block {
            0 => {
                self.pitch_buf = self.history;
                self.pitch = self.find_pitch();
                self.overlap = self.pitch / 4;
                self.span = self.pitch;
                self.offset = 0;
                self.gain = 1.0;
                self.fade_len = 0;
                self.last_quarter[..self.overlap]
                    .copy_from_slice(&self.pitch_buf[HISTORY - self.overlap..]);
                self.blend_wrap();
                // The replicated span starts after pitch_buf[HISTORY - span - 1];
                // carry the difference from the sample actually played last.
                self.junction = self.history[HISTORY - 1] - self.pitch_buf[HISTORY - self.span - 1];
                self.junction_pos = 0;
            }
            1 | 2 => {
                // Widen the span by one period, fading from the old pattern.
                let saved = self.offset;
                for k in 0..self.overlap {
                    self.fade[k] = self.next_synth();
                }
                self.offset = saved % self.pitch;
                self.span += self.pitch;
                self.blend_wrap();
                self.fade_len = self.overlap;
                self.fade_pos = 0;
            }
            _ => {}
        }
    }

    /// Cross-fades the span's last quarter period into the samples that precede
    /// the span's start, so that replaying it wraps without a step.
    fn blend_wrap(&mut self) {
        let n = self.overlap;
        let start = HISTORY - self.span;
        for i in 0..n {
            let w = (i + 1) as f32 / n as f32;
            self.pitch_buf[HISTORY - n + i] =
                self.last_quarter[i] * (1.0 - w) + self.pitch_buf[start - n + i] * w;
        }
    }

    fn next_synth(&mut self) -> f32 {
        let v = self.pitch_buf[HISTORY - self.span + self.offset];
        self.offset += 1;
        if self.offset == self.span {
            self.offset = 0;
        }
        v
    }

    /// The lag in 40..=120 whose earlier 20 ms best matches the last 20 ms.
    fn find_pitch(&self) -> usize {
        let h = &self.pitch_buf;
        let recent = &h[HISTORY - CORR_LEN..];
        let base = HISTORY - CORR_SPAN;
        // Candidate j compares h[base + j ..] with the recent window: lag 120 - j.
        let score = |j: usize, step: usize, floor: f32| {
            let cand = &h[base + j..base + j + CORR_LEN];
            let (mut corr, mut energy) = (0.0f32, 0.0f32);
            for i in (0..CORR_LEN).step_by(step) {
                corr += cand[i] * recent[i];
                energy += cand[i] * cand[i];
            }
            corr / energy.max(floor).sqrt()
        };
        let mut best_j = 0;
        let mut best = score(0, DECIMATION, MIN_POWER);
        for j in (DECIMATION..=PITCH_SPAN).step_by(DECIMATION) {
            let s = score(j, DECIMATION, MIN_POWER);
            // Ties go to the shorter lag, as in Appendix I.
            if s >= best {
                best = s;
                best_j = j;
            }
        }
        let lo = best_j.saturating_sub(DECIMATION - 1);
        let hi = (best_j + DECIMATION - 1).min(PITCH_SPAN);
        let full_floor = MIN_POWER * DECIMATION as f32;
        let mut fine_j = lo;
        let mut fine = score(lo, 1, full_floor);
        for j in lo + 1..=hi {
            let s = score(j, 1, full_floor);
            if s >= fine {
                fine = s;
                fine_j = j;
            }
        }
        PITCH_MAX - fine_j
    }

    fn push_history(&mut self, pcm: &[i16]) {
        let n = pcm.len().min(HISTORY);
        self.history.copy_within(n.., 0);
        for (h, &s) in self.history[HISTORY - n..]
            .iter_mut()
            .zip(&pcm[pcm.len() - n..])
        {
            *h = f32::from(s);
        }
    }
}

fn saturate(v: f32) -> i16 {
    // `as` saturates float-to-int casts; round to nearest first.
    v.round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    const FRAME: usize = 160;

    /// A voiced-like signal: harmonics of `f0` with falling amplitudes.
    fn voiced(f0: f64, len: usize) -> Vec<i16> {
        (0..len)
            .map(|n| {
                let t = n as f64 / 8000.0;
                let v: f64 = (1..=4)
                    .map(|k| 6000.0 / k as f64 * (2.0 * PI * f0 * k as f64 * t + k as f64).sin())
                    .sum();
                v.round() as i16
            })
            .collect()
    }

    fn snr_db(reference: &[i16], test: &[i16]) -> f64 {
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for (&r, &t) in reference.iter().zip(test) {
            sig += f64::from(r).powi(2);
            err += (f64::from(r) - f64::from(t)).powi(2);
        }
        10.0 * (sig / err.max(1e-9)).log10()
    }

    /// Plays `signal` in 20 ms frames, losing the frames in `lost`.
    fn play(signal: &[i16], lost: &[usize]) -> Vec<i16> {
        let mut plc = G711Plc::new();
        let mut out = signal.to_vec();
        for (i, frame) in out.chunks_mut(FRAME).enumerate() {
            if lost.contains(&i) {
                plc.conceal(frame);
            } else {
                plc.add_good(frame);
            }
        }
        out
    }

    fn max_jump(x: &[i16]) -> i32 {
        x.windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn finds_the_period_of_a_voiced_signal() {
        for (f0, want) in [(100.0, 80), (160.0, 50), (80.0, 100)] {
            let mut plc = G711Plc::new();
            let mut s = voiced(f0, 800);
            plc.add_good(&mut s);
            let mut out = [0i16; FRAME];
            plc.conceal(&mut out);
            assert_eq!(plc.pitch(), want, "f0 {f0}");
        }
    }

    #[test]
    fn one_lost_frame_of_voiced_speech_is_well_concealed() {
        for f0 in [200.0, 173.0, 120.0] {
            let signal = voiced(f0, FRAME * 16);
            let out = play(&signal, &[10]);
            let lost = FRAME * 10..FRAME * 11;
            let snr = snr_db(&signal[lost.clone()], &out[lost.clone()]);
            let silence = snr_db(&signal[lost.clone()], &[0; FRAME]);
            // Including the merge into the next frame.
            let merged = snr_db(
                &signal[lost.start..lost.end + 80],
                &out[lost.start..lost.end + 80],
            );
            println!(
                "f0 {f0} Hz: concealed SNR {snr:.1} dB (with merge {merged:.1} dB), silence {silence:.1} dB"
            );
            assert!(snr > 10.0, "f0 {f0}: SNR {snr:.1} dB");
            assert!(merged > 10.0, "f0 {f0}: SNR with merge {merged:.1} dB");
            assert!(snr > silence + 10.0);
            // No clicks: no step larger than the signal's own steepest one, with
            // a little slack for the cross-fades.
            let natural = max_jump(&signal);
            let around = max_jump(&out[lost.start - 20..lost.end + 20]);
            assert!(
                f64::from(around) <= 1.2 * f64::from(natural),
                "f0 {f0}: jump {around} vs natural {natural}"
            );
        }
    }

    #[test]
    fn long_losses_fade_to_silence() {
        let signal = voiced(150.0, FRAME * 12);
        let out = play(&signal, &[5, 6, 7, 8]);
        let energy = |x: &[i16], r: std::ops::Range<usize>| {
            x[r].iter().map(|&s| f64::from(s).powi(2)).sum::<f64>()
        };
        let start = FRAME * 5;
        // Concealed energy relative to what was lost, per 10 ms.
        let ratio: Vec<f64> = (0..8)
            .map(|b| {
                let r = start + b * BLOCK..start + (b + 1) * BLOCK;
                energy(&out, r.clone()) / energy(&signal, r)
            })
            .collect();
        println!("concealed/true energy per 10 ms of an 80 ms loss: {ratio:.3?}");
        assert!(ratio[0] > 0.7, "{ratio:?}");
        for b in 1..6 {
            assert!(ratio[b] < ratio[b - 1], "block {b}: {ratio:?}");
        }
        assert!(ratio[5] < 0.05, "{ratio:?}");
        assert_eq!(ratio[6], 0.0);
        assert_eq!(ratio[7], 0.0);
        // The good audio after the silence fades back in without a step.
        let back = FRAME * 9;
        assert!(max_jump(&out[back - 1..back + 80]) <= max_jump(&signal));
    }

    #[test]
    fn odd_frame_sizes_give_the_same_concealment() {
        let signal = voiced(190.0, FRAME * 12);
        let whole = play(&signal, &[6, 7]);
        let mut plc = G711Plc::new();
        let mut out = signal.clone();
        let (good, rest) = out.split_at_mut(FRAME * 6);
        plc.add_good(good);
        let (lost, after) = rest.split_at_mut(FRAME * 2);
        for piece in lost.chunks_mut(37) {
            plc.conceal(piece);
        }
        for piece in after.chunks_mut(13) {
            plc.add_good(piece);
        }
        assert_eq!(whole, out);
    }

    #[test]
    fn silence_history_conceals_to_silence() {
        let mut plc = G711Plc::new();
        let mut out = [7i16; FRAME];
        plc.conceal(&mut out);
        assert!(out.iter().all(|&s| s == 0));
    }
}

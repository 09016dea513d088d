//! Call-progress tones (ringback, busy) generated as PCM at any codec rate.
//!
//! Standards for the presets:
//! - North America: ANSI T1.401 / Telcordia GR-506 — audible ringing 440+480 Hz
//!   at -19 dBm0 per frequency, 2 s on 4 s off; busy 480+620 Hz at -24 dBm0,
//!   0.5 s on 0.5 s off.
//! - Europe (CEPT): ETSI TR 101 041-2 / ITU-T E.180 Supplement 2 — 425 Hz;
//!   ringing 1 s on 4 s off, busy 0.5 s on 0.5 s off; -10 dBm0 here.
//! - United Kingdom: BT SIN 350 — ringing 400+450 Hz, 0.4 s on, 0.2 s off,
//!   0.4 s on, 2 s off; -19 dBm0 per frequency here.
//!
//! Levels are in dBm0 per frequency with the G.711 A-law convention that a
//! full-scale sine (peak 32767) is +3.14 dBm0.
//!
//! Out of scope: modulated tones (the UK "number unobtainable" is a plain tone,
//! but some national tones are AM), DTMF (see `dtmf`), and ramping the on/off
//! edges (cadence edges switch at a sample boundary).

use thiserror::Error;

/// Most frequencies a plan can sum.
pub const MAX_FREQUENCIES: usize = 2;
/// Most on/off durations in one cadence cycle.
pub const MAX_CADENCE: usize = 8;
/// dBm0 of a full-scale sine (G.711 A-law puts its overload point at +3.14 dBm0).
#[allow(clippy::approx_constant)] // a level in dB that happens to read like pi
const FULL_SCALE_DBM0: f32 = 3.14;

/// Why a tone plan is invalid.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ToneError {
    /// No frequency or more than [`MAX_FREQUENCIES`].
    #[error("a tone needs 1 to {MAX_FREQUENCIES} frequencies, got {0}")]
    FrequencyCount(usize),
    /// A frequency outside (0, 4000) Hz, which 8 kHz audio cannot carry.
    #[error("tone frequency {0} Hz is outside 0-4000 Hz")]
    Frequency(f32),
    /// The level is above full scale or not a number.
    #[error("tone level {0} dBm0 is above full scale")]
    Level(f32),
    /// The cadence is not whole on/off pairs of at most [`MAX_CADENCE`]
    /// durations, or the cycle has no length.
    #[error("cadence must be 1 to {} on/off pairs with a non-zero total", MAX_CADENCE / 2)]
    Cadence,
}

/// What to play: frequencies, level, and an on/off cadence.
#[derive(Debug, Clone, PartialEq)]
pub struct TonePlan {
    frequencies: [f32; MAX_FREQUENCIES],
    frequency_count: usize,
    level_dbm0: f32,
    cadence_ms: [u32; MAX_CADENCE],
    cadence_len: usize,
}

impl TonePlan {
    /// A plan summing `frequencies` (Hz) at `level_dbm0` each, switched by
    /// `cadence_ms` (on, off, on, off, ... in milliseconds, repeating); an
    /// empty cadence plays continuously.
    pub fn new(
        frequencies: &[f32],
        level_dbm0: f32,
        cadence_ms: &[u32],
    ) -> Result<Self, ToneError> {
        if frequencies.is_empty() || frequencies.len() > MAX_FREQUENCIES {
            return Err(ToneError::FrequencyCount(frequencies.len()));
        }
        if let Some(&f) = frequencies.iter().find(|&&f| !(f > 0.0 && f < 4000.0)) {
            return Err(ToneError::Frequency(f));
        }
        if level_dbm0.is_nan() || level_dbm0 > FULL_SCALE_DBM0 {
            return Err(ToneError::Level(level_dbm0));
        }
        if !cadence_ms.len().is_multiple_of(2)
            || cadence_ms.len() > MAX_CADENCE
            || (!cadence_ms.is_empty() && cadence_ms.iter().all(|&d| d == 0))
        {
            return Err(ToneError::Cadence);
        }
        let mut plan = TonePlan {
            frequencies: [0.0; MAX_FREQUENCIES],
            frequency_count: frequencies.len(),
            level_dbm0,
            cadence_ms: [0; MAX_CADENCE],
            cadence_len: cadence_ms.len(),
        };
        plan.frequencies[..frequencies.len()].copy_from_slice(frequencies);
        plan.cadence_ms[..cadence_ms.len()].copy_from_slice(cadence_ms);
        Ok(plan)
    }

    /// Builds a preset; the values are constants known to be valid.
    fn preset(frequencies: &[f32], level_dbm0: f32, cadence_ms: &[u32]) -> Self {
        // The presets below are 1-2 frequencies under 4 kHz, levels below full
        // scale and even-length cadences, so `new` cannot refuse them.
        TonePlan::new(frequencies, level_dbm0, cadence_ms).expect("preset tone plans are valid")
    }

    /// North American ringback: 440+480 Hz at -19 dBm0, 2 s on, 4 s off.
    pub fn ringback_us() -> Self {
        Self::preset(&[440.0, 480.0], -19.0, &[2000, 4000])
    }

    /// North American busy: 480+620 Hz at -24 dBm0, 0.5 s on, 0.5 s off.
    pub fn busy_us() -> Self {
        Self::preset(&[480.0, 620.0], -24.0, &[500, 500])
    }

    /// CEPT (European) ringback: 425 Hz at -10 dBm0, 1 s on, 4 s off.
    pub fn ringback_eu() -> Self {
        Self::preset(&[425.0], -10.0, &[1000, 4000])
    }

    /// CEPT (European) busy: 425 Hz at -10 dBm0, 0.5 s on, 0.5 s off.
    pub fn busy_eu() -> Self {
        Self::preset(&[425.0], -10.0, &[500, 500])
    }

    /// UK ringback: 400+450 Hz at -19 dBm0, 0.4 on, 0.2 off, 0.4 on, 2 s off.
    pub fn ringback_uk() -> Self {
        Self::preset(&[400.0, 450.0], -19.0, &[400, 200, 400, 2000])
    }

    /// The frequencies summed, in Hz.
    pub fn frequencies(&self) -> &[f32] {
        &self.frequencies[..self.frequency_count]
    }

    /// Level of each frequency in dBm0.
    pub fn level_dbm0(&self) -> f32 {
        self.level_dbm0
    }

    /// On/off durations in ms; empty means continuous.
    pub fn cadence_ms(&self) -> &[u32] {
        &self.cadence_ms[..self.cadence_len]
    }

    /// Peak amplitude of each sine component in 16-bit PCM.
    pub fn amplitude(&self) -> f32 {
        32767.0 * 10f32.powf((self.level_dbm0 - FULL_SCALE_DBM0) / 20.0)
    }
}

/// Plays a [`TonePlan`] at one sample rate, continuing seamlessly from one
/// [`ToneGenerator::fill`] to the next.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    plan: TonePlan,
    /// Oscillator phases and increments in cycles (phase kept in [0, 1)).
    phase: [f64; MAX_FREQUENCIES],
    step: [f64; MAX_FREQUENCIES],
    amplitude: f64,
    /// Cadence durations converted to samples.
    segment_samples: [u64; MAX_CADENCE],
    segment: usize,
    into_segment: u64,
}

impl ToneGenerator {
    /// A generator for `plan` producing `sample_rate` samples per second
    /// (frequencies above half the rate would alias; the media path uses 8 kHz
    /// and up, which carries every valid plan).
    pub fn new(plan: &TonePlan, sample_rate: u32) -> Self {
        let rate = f64::from(sample_rate.max(1));
        let mut step = [0.0; MAX_FREQUENCIES];
        for (s, &f) in step.iter_mut().zip(plan.frequencies()) {
            *s = f64::from(f) / rate;
        }
        let mut segment_samples = [0; MAX_CADENCE];
        for (s, &ms) in segment_samples.iter_mut().zip(plan.cadence_ms()) {
            *s = u64::from(ms) * u64::from(sample_rate) / 1000;
        }
        ToneGenerator {
            plan: plan.clone(),
            phase: [0.0; MAX_FREQUENCIES],
            step,
            amplitude: f64::from(plan.amplitude()),
            segment_samples,
            segment: 0,
            into_segment: 0,
        }
    }

    /// Restarts the plan from the beginning of its first "on" period.
    pub fn reset(&mut self) {
        self.phase = [0.0; MAX_FREQUENCIES];
        self.segment = 0;
        self.into_segment = 0;
    }

    /// Fills `out` with the next samples of the tone.
    pub fn fill(&mut self, out: &mut [i16]) {
        let n = self.plan.frequency_count;
        for o in out.iter_mut() {
            let on = self.advance_cadence();
            let mut v = 0.0;
            for k in 0..n {
                if on {
                    v += (std::f64::consts::TAU * self.phase[k]).sin();
                }
                // Oscillators run through the off periods too, so every "on"
                // starts where a free-running tone would be.
                self.phase[k] += self.step[k];
                if self.phase[k] >= 1.0 {
                    self.phase[k] -= 1.0;
                }
            }
            *o = (v * self.amplitude).round() as i16;
        }
    }

    /// Whether the current sample is in an "on" period; moves one sample on.
    fn advance_cadence(&mut self) -> bool {
        let len = self.plan.cadence_len;
        if len == 0 {
            return true;
        }
        // Skip zero-length segments (at least one is non-zero, see `new`).
        while self.into_segment >= self.segment_samples[self.segment] {
            self.into_segment = 0;
            self.segment = (self.segment + 1) % len;
        }
        self.into_segment += 1;
        self.segment.is_multiple_of(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Amplitude of the `freq` component of `x` by the Goertzel algorithm.
    fn goertzel(x: &[i16], freq: f64, rate: f64) -> f64 {
        let w = std::f64::consts::TAU * freq / rate;
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s = f64::from(v) + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        2.0 * power.sqrt() / x.len() as f64
    }

    fn generate(plan: &TonePlan, rate: u32, seconds: f64, frame: usize) -> Vec<i16> {
        let mut g = ToneGenerator::new(plan, rate);
        let mut out = vec![0i16; (seconds * f64::from(rate)) as usize];
        for chunk in out.chunks_mut(frame) {
            g.fill(chunk);
        }
        out
    }

    /// (start, end) sample indices of the runs of sound, found with 10 ms of
    /// silence as the separator.
    fn bursts(x: &[i16], rate: usize) -> Vec<(usize, usize)> {
        let gap = rate / 100;
        let mut runs = Vec::new();
        let mut start = None;
        let mut last_on = 0;
        for (i, &s) in x.iter().enumerate() {
            if s != 0 {
                if start.is_none() {
                    start = Some(i);
                }
                last_on = i;
            } else if let Some(st) = start
                && i - last_on > gap
            {
                runs.push((st, last_on + 1));
                start = None;
            }
        }
        if let Some(st) = start {
            runs.push((st, last_on + 1));
        }
        runs
    }

    #[test]
    fn presets_contain_their_frequencies_and_nothing_else() {
        for (plan, rate) in [
            (TonePlan::ringback_us(), 8000u32),
            (TonePlan::busy_us(), 16000),
            (TonePlan::ringback_eu(), 48000),
            (TonePlan::busy_eu(), 8000),
            (TonePlan::ringback_uk(), 8000),
        ] {
            // The first 400 ms are "on" in every preset; 0.4 s gives 2.5 Hz bins.
            let x = generate(&plan, rate, 0.4, 160);
            let amp = f64::from(plan.amplitude());
            for &f in plan.frequencies() {
                let a = goertzel(&x, f64::from(f), f64::from(rate));
                assert!((a / amp - 1.0).abs() < 0.02, "{f} Hz: {a} vs {amp}");
            }
            for probe in [350.0, 500.0, 700.0, 1000.0, 1400.0, 2000.0] {
                let a = goertzel(&x, probe, f64::from(rate));
                assert!(a < amp * 0.01, "{probe} Hz leaks {a}");
            }
        }
    }

    #[test]
    fn level_follows_dbm0() {
        let plan = TonePlan::new(&[1000.0], 0.0, &[]).unwrap();
        let x = generate(&plan, 8000, 1.0, 160);
        let rms = (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
        let full_scale_rms = 32767.0 / 2f64.sqrt();
        let dbm0 = 20.0 * (rms / full_scale_rms).log10() + f64::from(FULL_SCALE_DBM0);
        assert!(dbm0.abs() < 0.05, "{dbm0} dBm0");
    }

    #[test]
    fn cadences_switch_at_the_stated_times() {
        let cases: [(TonePlan, &[(f64, f64)]); 3] = [
            (
                TonePlan::ringback_us(),
                &[(0.0, 2.0), (6.0, 8.0), (12.0, 14.0)],
            ),
            (
                TonePlan::busy_eu(),
                &[(0.0, 0.5), (1.0, 1.5), (2.0, 2.5), (3.0, 3.5)],
            ),
            (
                TonePlan::ringback_uk(),
                &[(0.0, 0.4), (0.6, 1.0), (3.0, 3.4), (3.6, 4.0)],
            ),
        ];
        let rate = 8000;
        for (plan, want) in cases {
            let seconds = want.last().unwrap().1 + 0.2;
            // An odd frame size so that edges fall inside frames.
            let x = generate(&plan, rate, seconds, 77);
            let got = bursts(&x, rate as usize);
            assert_eq!(got.len(), want.len(), "{plan:?}: {got:?}");
            for (&(s, e), &(ws, we)) in got.iter().zip(want) {
                let (ws, we) = ((ws * 8000.0) as usize, (we * 8000.0) as usize);
                // A sine can cross zero right at an edge: allow 2 samples.
                assert!(
                    s.abs_diff(ws) <= 2 && e.abs_diff(we) <= 2,
                    "{plan:?}: {s}..{e} vs {ws}..{we}"
                );
            }
        }
    }

    #[test]
    fn frames_join_without_a_phase_jump() {
        let plan = TonePlan::new(&[440.0, 1234.5], -6.0, &[]).unwrap();
        let whole = generate(&plan, 16000, 0.5, 8000);
        let pieces = generate(&plan, 16000, 0.5, 33);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn bad_plans_are_refused() {
        assert_eq!(
            TonePlan::new(&[], -10.0, &[]),
            Err(ToneError::FrequencyCount(0))
        );
        assert_eq!(
            TonePlan::new(&[1.0, 2.0, 3.0], -10.0, &[]),
            Err(ToneError::FrequencyCount(3))
        );
        assert_eq!(
            TonePlan::new(&[4000.0], -10.0, &[]),
            Err(ToneError::Frequency(4000.0))
        );
        assert!(matches!(
            TonePlan::new(&[f32::NAN], -10.0, &[]),
            Err(ToneError::Frequency(_))
        ));
        assert!(matches!(
            TonePlan::new(&[400.0], f32::NAN, &[]),
            Err(ToneError::Level(_))
        ));
        assert_eq!(
            TonePlan::new(&[400.0], 4.0, &[]),
            Err(ToneError::Level(4.0))
        );
        assert_eq!(
            TonePlan::new(&[400.0], -10.0, &[100]),
            Err(ToneError::Cadence)
        );
        assert_eq!(
            TonePlan::new(&[400.0], -10.0, &[0, 0]),
            Err(ToneError::Cadence)
        );
        assert_eq!(
            TonePlan::new(&[400.0], -10.0, &[1; 10]),
            Err(ToneError::Cadence)
        );
        assert!(TonePlan::new(&[400.0], -10.0, &[0, 100]).is_ok());
    }
}

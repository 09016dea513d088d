//! Sample-rate conversion between the rates the switch's codecs run at.
//!
//! A streaming polyphase FIR: the input is (conceptually) upsampled by `L`,
//! low-pass filtered by a Kaiser-windowed sinc, and downsampled by `M`, where
//! `L/M` is the reduced ratio `to/from`. Only the taps that meet non-zero input
//! samples, for only the outputs that are kept, are ever computed.
//!
//! Filter: passband up to 0.45 of the lower rate, stopband from 0.5 of it (its
//! Nyquist frequency, so nothing can alias or image into the audible band),
//! designed for 90 dB of stopband attenuation to keep at least 80 dB once the
//! taps are rounded to `f32`. The length follows Kaiser's estimate and is then
//! rounded up so that the group delay is a whole number of both input and
//! output samples.
//!
//! References: J. F. Kaiser, "Nonrecursive digital filter design using the
//! I0-sinh window function" (1974) for the window and its length/beta formulas;
//! R. E. Crochiere and L. R. Rabiner, "Multirate Digital Signal Processing"
//! (1983) for the polyphase structure.
//!
//! Out of scope: arbitrary or drifting ratios (44.1 kHz, clock-skew
//! compensation), which the jitter buffer handles by other means, and stereo.

use thiserror::Error;

/// Why a resampler cannot be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResampleError {
    /// One of the rates is outside 8 to 48 kHz or the ratio does not reduce to
    /// small integers (at most 12 either way), e.g. 44.1 to 48 kHz.
    #[error("unsupported conversion from {from} Hz to {to} Hz")]
    UnsupportedRatio {
        /// Input rate in Hz.
        from: u32,
        /// Output rate in Hz.
        to: u32,
    },
}

/// Largest interpolation or decimation factor accepted.
const MAX_FACTOR: u32 = 12;
/// Passband edge and stopband edge as fractions of the lower rate.
const PASS_EDGE: f64 = 0.45;
const STOP_EDGE: f64 = 0.5;
/// Stopband attenuation designed for, in dB.
const DESIGN_ATTENUATION_DB: f64 = 90.0;

/// Streaming rational-ratio resampler for mono 16-bit PCM.
///
/// Feed it consecutive blocks with [`Resampler::process`]; filter state carries
/// over between calls, so a 20 ms block in gives exactly 20 ms out once the
/// block length is a multiple of `from / gcd(from, to)` samples (true of every
/// whole millisecond at 8, 16 and 48 kHz).
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
    up: usize,
    down: usize,
    /// Taps per phase.
    taps: usize,
    /// `up` phases of `taps` coefficients each, reversed so that they line up
    /// with the delay line read oldest to newest.
    coeffs: Vec<f32>,
    /// Delay line stored twice over so that the newest `taps` samples are always
    /// one contiguous slice ending at `pos + taps`.
    line: Vec<f32>,
    pos: usize,
    /// Position of the next output on the upsampled grid, relative to the
    /// newest input sample.
    phase: usize,
    delay: usize,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz; equal rates give a pass-through.
    pub fn new(from: u32, to: u32) -> Result<Self, ResampleError> {
        let unsupported = ResampleError::UnsupportedRatio { from, to };
        if !(8000..=48000).contains(&from) || !(8000..=48000).contains(&to) {
            return Err(unsupported);
        }
        let g = gcd(from, to);
        let (up, down) = (to / g, from / g);
        if up > MAX_FACTOR || down > MAX_FACTOR {
            return Err(unsupported);
        }
        let (up, down) = (up as usize, down as usize);
        if up == 1 && down == 1 {
            return Ok(Resampler {
                from,
                to,
                up,
                down,
                taps: 1,
                coeffs: vec![1.0],
                line: vec![0.0; 2],
                pos: 0,
                phase: 0,
                delay: 0,
            });
        }
        let h = design(
            f64::from(from) * up as f64,
            f64::from(from.min(to)),
            up,
            down,
        );
        let taps = h.len().div_ceil(up);
        let mut coeffs = vec![0.0f32; up * taps];
        for (n, &c) in h.iter().enumerate() {
            let (phase, k) = (n % up, n / up);
            coeffs[phase * taps + (taps - 1 - k)] = c as f32;
        }
        Ok(Resampler {
            from,
            to,
            up,
            down,
            taps,
            coeffs,
            line: vec![0.0; 2 * taps],
            pos: 0,
            phase: 0,
            delay: (h.len() - 1) / 2 / down,
        })
    }

    /// Input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Group delay of the filter, in output samples: an input sample shows up
    /// this many samples later in the output.
    pub fn delay_samples(&self) -> usize {
        self.delay
    }

    /// Most output samples `input_len` more input samples can produce.
    pub fn max_output_len(&self, input_len: usize) -> usize {
        (input_len * self.up).div_ceil(self.down)
    }

    /// Clears the filter state, as at construction.
    pub fn reset(&mut self) {
        self.line.fill(0.0);
        self.pos = 0;
        self.phase = 0;
    }

    /// Converts `input`, continuing from the previous call, into `out`; returns
    /// the samples written. `out` should hold [`Resampler::max_output_len`]
    /// samples; output beyond its end is dropped (the state still advances).
    pub fn process(&mut self, input: &[i16], out: &mut [i16]) -> usize {
        let mut written = 0;
        let taps = self.taps;
        for &x in input {
            let v = f32::from(x);
            self.line[self.pos] = v;
            self.line[self.pos + taps] = v;
            self.pos += 1;
            if self.pos == taps {
                self.pos = 0;
            }
            let window = &self.line[self.pos..self.pos + taps];
            while self.phase < self.up {
                let c = &self.coeffs[self.phase * taps..(self.phase + 1) * taps];
                if let Some(o) = out.get_mut(written) {
                    *o = to_i16(dot(c, window));
                    written += 1;
                }
                self.phase += self.down;
            }
            self.phase -= self.up;
        }
        written
    }
}

/// The prototype low-pass at `rate` (the upsampled rate), cutting off halfway
/// through the transition band above `PASS_EDGE * low`, with a DC gain of `up`
/// to make up for the zeros the upsampling inserts.
fn design(rate: f64, low: f64, up: usize, down: usize) -> Vec<f64> {
    let transition = (STOP_EDGE - PASS_EDGE) * low / rate;
    let cutoff = (PASS_EDGE + STOP_EDGE) / 2.0 * low / rate;
    let a = DESIGN_ATTENUATION_DB;
    let beta = 0.1102 * (a - 8.7);
    let estimate = ((a - 7.95) / (14.36 * transition)).ceil() as usize + 1;
    // Odd length whose half is a multiple of up * down: the delay is then a
    // whole number of samples at both rates.
    let unit = 2 * up * down;
    let len = (estimate - 1).div_ceil(unit) * unit + 1;
    let centre = ((len - 1) / 2) as f64;
    let i0_beta = bessel_i0(beta);
    let mut h: Vec<f64> = (0..len)
        .map(|n| {
            let t = n as f64 - centre;
            let r = t / centre;
            let window = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
            2.0 * cutoff * sinc(2.0 * cutoff * t) * window
        })
        .collect();
    let sum: f64 = h.iter().sum();
    let scale = up as f64 / sum;
    for c in &mut h {
        *c *= scale;
    }
    h
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Modified Bessel function of the first kind, order zero, by its power series.
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > sum * 1e-17 {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Dot product with eight independent partial sums, which the compiler can
/// keep in vector registers (a single running sum would serialise the adds).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn to_i16(v: f32) -> i16 {
    // Float-to-int `as` saturates, which is the clipping wanted here.
    v.round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Magnitude response of the prototype, relative to its DC gain, in dB.
    fn response_db(h: &[f64], f: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &c) in h.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * f * n as f64;
            re += c * w.cos();
            im -= c * w.sin();
        }
        let dc: f64 = h.iter().sum();
        20.0 * ((re * re + im * im).sqrt() / dc).log10()
    }

    #[test]
    fn prototype_meets_the_mask() {
        for (from, to) in [
            (8000u32, 48000u32),
            (48000, 8000),
            (8000, 16000),
            (16000, 48000),
            (48000, 16000),
        ] {
            let g = gcd(from, to);
            let (up, down) = ((to / g) as usize, (from / g) as usize);
            let rate = f64::from(from) * up as f64;
            let low = f64::from(from.min(to));
            // Rounded to f32 as the resampler stores them.
            let h: Vec<f64> = design(rate, low, up, down)
                .iter()
                .map(|&c| f64::from(c as f32))
                .collect();
            let mut ripple: f64 = 0.0;
            for i in 0..=100 {
                let f = PASS_EDGE * low * f64::from(i) / 100.0 / rate;
                ripple = ripple.max(response_db(&h, f).abs());
            }
            let mut worst = f64::NEG_INFINITY;
            for i in 0..=2000 {
                let f = (STOP_EDGE * low + (rate / 2.0 - STOP_EDGE * low) * f64::from(i) / 2000.0)
                    / rate;
                worst = worst.max(response_db(&h, f));
            }
            println!(
                "{from}->{to}: {} taps, passband ripple {ripple:.4} dB, stopband {worst:.1} dB",
                h.len()
            );
            assert!(ripple < 0.01, "{from}->{to}: ripple {ripple} dB");
            assert!(worst < -80.0, "{from}->{to}: stopband {worst} dB");
        }
    }

    #[test]
    fn rejects_unsupported_ratios() {
        assert!(Resampler::new(44100, 48000).is_err());
        assert!(Resampler::new(8000, 96000).is_err());
        assert!(Resampler::new(0, 8000).is_err());
        assert!(Resampler::new(8000, 8000).is_ok());
        assert!(Resampler::new(32000, 48000).is_ok());
    }

    #[test]
    fn identity_passes_samples_through() {
        let mut r = Resampler::new(16000, 16000).unwrap();
        let input: Vec<i16> = (0..320).map(|n| (n * 97 % 65536 - 32768) as i16).collect();
        let mut out = vec![0i16; 320];
        assert_eq!(r.process(&input, &mut out), 320);
        assert_eq!(out, input);
        assert_eq!(r.delay_samples(), 0);
    }

    #[test]
    fn short_output_buffer_drops_but_does_not_panic() {
        let mut r = Resampler::new(8000, 48000).unwrap();
        let mut out = [0i16; 10];
        assert_eq!(r.max_output_len(160), 960);
        assert_eq!(r.process(&[1000; 160], &mut out), 10);
    }
}

//! G.722 wideband audio at 64 kbit/s: sub-band ADPCM over a QMF pair.
//!
//! Standards: ITU-T G.722 (09/2012) main body — 24-tap QMF analysis and
//! synthesis (§3.2, §4.4), the 6-bit lower-band and 2-bit upper-band ADPCM
//! coders with the 4-bit-truncated predictor adaptation (§3–§6), mode 1 only.
//! The ADPCM blocks are checked bit-exactly against Appendix II's digital test
//! sequences (see `adpcm.rs`); RFC 3551 §4.5.2 for the RTP packing (one octet
//! per pair of 16 kHz samples, lower-band bits in the low six).
//!
//! Out of scope: modes 2 and 3 (56/48 kbit/s with auxiliary data), Annex B/C
//! extensions, and the standardised packet-loss concealment of Appendices
//! III/IV. [`Decoder::conceal`] is a simpler scheme, described there.

mod adpcm;
mod qmf;

use crate::codec::{AudioDecoder, AudioEncoder, CodecError, CodecKind};
use adpcm::Band;
use qmf::{Analysis, Synthesis};

/// Decoded history kept for concealment: 30 ms at 16 kHz, enough for the
/// longest pitch period searched plus the correlation window.
const HIST: usize = 480;
/// Shortest pitch period searched (2.5 ms, 400 Hz).
const MIN_LAG: usize = 40;
/// Longest pitch period searched (15 ms, 67 Hz).
const MAX_LAG: usize = 240;
/// Correlation window of the pitch search (10 ms).
const WIN: usize = 160;
/// Concealed samples played at full level before the fade starts (10 ms).
const HOLD: usize = 160;
/// Concealed samples after which the output is silent (60 ms), as in G.711
/// Appendix I: longer extrapolation sounds worse than silence.
const FADE_END: usize = 960;
/// Length of the crossfade from concealment back to decoded audio (5 ms).
const XFADE: usize = 80;

/// G.722 encoder: 16 kHz PCM in, one octet per two samples out.
#[derive(Debug, Clone)]
pub struct Encoder {
    qmf: Analysis,
    lower: Band,
    upper: Band,
}

impl Encoder {
    /// An encoder in the Recommendation's reset state.
    pub fn new() -> Self {
        Encoder {
            qmf: Analysis::new(),
            lower: Band::lower(),
            upper: Band::upper(),
        }
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl AudioEncoder for Encoder {
    fn kind(&self) -> CodecKind {
        CodecKind::G722
    }

    /// Encodes an even number of samples (20 ms = 320 samples → 160 octets).
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if !pcm.len().is_multiple_of(2) {
            return Err(CodecError::FrameLength(pcm.len()));
        }
        let need = pcm.len() / 2;
        if out.len() < need {
            return Err(CodecError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        for (pair, byte) in pcm.chunks_exact(2).zip(out.iter_mut()) {
            let (xl, xh) = self.qmf.split(pair[0], pair[1]);
            let il = self.lower.encode_lower(xl);
            let ih = self.upper.encode_upper(xh);
            *byte = (ih << 6) | il;
        }
        Ok(need)
    }

    fn reset(&mut self) {
        *self = Self::new();
    }
}

/// Where the concealment stands between two decoded frames.
#[derive(Debug, Clone, Default)]
struct Erasure {
    /// Pitch period being repeated, in samples; 0 when no loss is running.
    period: usize,
    /// Samples concealed since the last decoded frame (0: none).
    elapsed: usize,
}

/// G.722 decoder: one octet in, two 16 kHz samples out.
#[derive(Debug, Clone)]
pub struct Decoder {
    lower: Band,
    upper: Band,
    qmf: Synthesis,
    /// The last `HIST` output samples, oldest first.
    hist: [i16; HIST],
    erasure: Erasure,
}

impl Decoder {
    /// A decoder in the Recommendation's reset state.
    pub fn new() -> Self {
        Decoder {
            lower: Band::lower(),
            upper: Band::upper(),
            qmf: Synthesis::new(),
            hist: [0; HIST],
            erasure: Erasure::default(),
        }
    }

    fn remember(&mut self, pcm: &[i16]) {
        if pcm.len() >= HIST {
            self.hist.copy_from_slice(&pcm[pcm.len() - HIST..]);
        } else {
            self.hist.copy_within(pcm.len().., 0);
            self.hist[HIST - pcm.len()..].copy_from_slice(pcm);
        }
    }

    /// Picks the lag in `MIN_LAG..=MAX_LAG` whose past segment best matches
    /// the most recent `WIN` samples (normalised cross-correlation).
    fn pitch_period(&self) -> usize {
        let recent = &self.hist[HIST - WIN..];
        let mut best = (MIN_LAG, f64::MIN);
        for lag in MIN_LAG..=MAX_LAG {
            let past = &self.hist[HIST - WIN - lag..HIST - lag];
            let (mut xy, mut yy) = (0.0, 0.0);
            for (&x, &y) in recent.iter().zip(past) {
                xy += f64::from(x) * f64::from(y);
                yy += f64::from(y) * f64::from(y);
            }
            let score = if yy > 0.0 { xy / yy.sqrt() } else { 0.0 };
            if score > best.1 {
                best = (lag, score);
            }
        }
        best.0
    }

    /// Concealment sample `e` of the current loss (0 = first lost sample):
    /// the last pitch period played in a loop, held for 10 ms, then faded
    /// linearly to silence at 60 ms.
    fn concealed(&self, e: usize) -> i16 {
        let period = self.erasure.period;
        if period == 0 || e >= FADE_END {
            return 0;
        }
        let sample = f64::from(self.hist[HIST - period + e % period]);
        let gain = if e < HOLD {
            1.0
        } else {
            (FADE_END - e) as f64 / (FADE_END - HOLD) as f64
        };
        (sample * gain) as i16
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl AudioDecoder for Decoder {
    fn kind(&self) -> CodecKind {
        CodecKind::G722
    }

    /// Every octet is a valid G.722 codeword, so decoding never fails on
    /// content; only a short `out` (less than two samples per octet) is refused.
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let need = payload.len() * 2;
        if out.len() < need {
            return Err(CodecError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        let out = &mut out[..need];
        for (&byte, pair) in payload.iter().zip(out.chunks_exact_mut(2)) {
            let rl = self.lower.decode_lower(byte & 0x3F);
            let rh = self.upper.decode_upper(byte >> 6);
            let (a, b) = self.qmf.merge(rl, rh);
            pair[0] = a;
            pair[1] = b;
        }
        if self.erasure.elapsed > 0 {
            // Back from a loss: blend from the continued concealment into the
            // decoded audio so neither the waveform nor its phase jumps.
            let n = XFADE.min(need);
            let start = self.erasure.elapsed;
            for (i, y) in out[..n].iter_mut().enumerate() {
                let c = f64::from(self.concealed(start + i));
                let w = i as f64 / n as f64;
                *y = (f64::from(*y) * w + c * (1.0 - w)) as i16;
            }
            self.erasure = Erasure::default();
        }
        self.remember(out);
        Ok(need)
    }

    /// Conceals a lost frame by pitch-period repetition: on the first lost
    /// frame the pitch period of the last 15 ms of output is estimated
    /// (normalised cross-correlation, 2.5–15 ms), and that last period is
    /// played in a loop, at full level for 10 ms and then fading linearly to
    /// silence at 60 ms (after G.711 Appendix I, without its overlap-adds).
    /// The first 5 ms of the next decoded frame are crossfaded from the
    /// continued concealment.
    ///
    /// ADPCM state: during a short loss it is left as the last good frame
    /// left it. The encoder's state moved on meanwhile, but for voiced,
    /// roughly stationary audio it moved little, and measured on a tone this
    /// resynchronises faster than re-quantising the concealed audio into the
    /// state (the Appendix III/IV approach, whose benefit needs their much
    /// better extrapolation). Once the loss has faded to silence the old
    /// state says nothing about the talker any more, so the ADPCM and the
    /// synthesis QMF are reset, and the decoder restarts as a fresh one would.
    fn conceal(&mut self, out: &mut [i16]) -> usize {
        let start = self.erasure.elapsed;
        if start == 0 {
            self.erasure.period = self.pitch_period();
        }
        for (i, y) in out.iter_mut().enumerate() {
            *y = self.concealed(start + i);
        }
        self.erasure.elapsed += out.len();
        if start < FADE_END && self.erasure.elapsed >= FADE_END {
            self.lower = Band::lower();
            self.upper = Band::upper();
            self.qmf = Synthesis::new();
        }
        out.len()
    }

    fn reset(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pitch_search_finds_a_periodic_signal_period() {
        let mut dec = Decoder::new();
        let period = 100;
        let pcm: Vec<i16> = (0..HIST)
            .map(|i| {
                let ph = (i % period) as f64 / period as f64 * std::f64::consts::TAU;
                (8000.0 * ph.sin() + 3000.0 * (3.0 * ph).sin()) as i16
            })
            .collect();
        dec.remember(&pcm);
        assert_eq!(dec.pitch_period(), period);
    }

    #[test]
    fn concealment_fades_to_silence() {
        let mut dec = Decoder::new();
        let pcm: Vec<i16> = (0..HIST)
            .map(|i| ((i as f64 * 0.2).sin() * 10_000.0) as i16)
            .collect();
        dec.remember(&pcm);
        let mut out = [0i16; 320];
        dec.conceal(&mut out);
        assert!(
            out.iter().any(|&s| s.abs() > 5000),
            "first lost frame carries signal"
        );
        for _ in 0..2 {
            dec.conceal(&mut out);
        }
        dec.conceal(&mut out);
        assert!(out.iter().all(|&s| s == 0), "silent after 60 ms");
    }
}

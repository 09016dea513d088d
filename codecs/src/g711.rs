//! G.711 mu-law (PCMU) and A-law (PCMA): 8-bit logarithmic PCM at 8 kHz.
//!
//! Standards:
//! - ITU-T G.711 (11/88), tables 1a/1b (A-law) and 2a/2b (mu-law): segment end
//!   points, step sizes and the reconstruction values the decode tables hold.
//! - ITU-T G.191 (Software Tool Library) for the one thing G.711 leaves open:
//!   how a two's-complement 16-bit sample becomes the sign-magnitude input of
//!   the quantiser. G.191 takes the one's complement of negative samples (so
//!   `-1` is "minus zero"), which keeps the quantiser symmetric about -1/2 over
//!   the full `i16` range; the 16-bit sample is truncated to the 14 (mu-law) or
//!   13 (A-law) bits the laws define.
//! - ITU-T G.711 Appendix I packet-loss concealment, in [`crate::plc`], used by
//!   [`Decoder::conceal`].
//! - RFC 3551 section 4.5.14: payload is one code per sample, no header.
//!
//! Out of scope: G.711.0 lossless compression, G.711.1 wideband extension, and
//! transcoding directly between the laws without going through linear PCM.
//!
//! Decoding is a 256-entry table per law built at compile time; encoding works
//! out the segment from the position of the highest set bit, so neither needs
//! the 16 KiB encode tables some implementations carry.

use crate::codec::{AudioDecoder, AudioEncoder, CodecError, CodecKind};
use crate::plc::G711Plc;

/// Which G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Law {
    /// mu-law, North America and Japan (RTP payload type 0, PCMU).
    Mu,
    /// A-law, the rest of the world (RTP payload type 8, PCMA).
    A,
}

impl Law {
    /// The codec this law is on the wire.
    pub fn kind(self) -> CodecKind {
        match self {
            Law::Mu => CodecKind::Pcmu,
            Law::A => CodecKind::Pcma,
        }
    }
}

/// Bias G.711 adds to the mu-law magnitude (33 in 14-bit units, 132 in 16-bit)
/// so that segment boundaries fall on powers of two.
const MU_BIAS: i32 = 0x84;

/// Largest biased 14-bit mu-law magnitude; louder input saturates to it.
const MU_CLIP: i32 = 0x1FFF;

static MU_DECODE: [i16; 256] = build_mu_table();
static A_DECODE: [i16; 256] = build_a_table();

const fn build_mu_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        // Every bit of a mu-law code is transmitted inverted.
        let c = !(code as u8);
        let segment = ((c >> 4) & 0x07) as i32;
        let step = (c & 0x0F) as i32;
        // Midpoint of the step within the segment, in 16-bit units (G.711
        // table 2 values times four).
        let magnitude = (((step << 3) + MU_BIAS) << segment) - MU_BIAS;
        table[code] = if c & 0x80 != 0 {
            -magnitude as i16
        } else {
            magnitude as i16
        };
        code += 1;
    }
    table
}

const fn build_a_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        // A-law inverts the even bits on the wire.
        let c = (code as u8) ^ 0x55;
        let segment = ((c >> 4) & 0x07) as i32;
        let step = (c & 0x0F) as i32;
        // Segments 0 and 1 share the finest step; above that each doubles.
        let magnitude = if segment == 0 {
            (step << 4) + 8
        } else {
            (((step + 16) << 4) + 8) << (segment - 1)
        };
        table[code] = if c & 0x80 != 0 {
            magnitude as i16
        } else {
            -magnitude as i16
        };
        code += 1;
    }
    table
}

/// Encodes one sample to mu-law.
#[inline]
pub fn encode_mu(sample: i16) -> u8 {
    let x = i32::from(sample);
    // One's complement for negatives (G.191), then drop to 14 bits.
    let (magnitude, mask) = if x < 0 {
        ((!x) >> 2, 0x7F)
    } else {
        (x >> 2, 0xFF)
    };
    let biased = (magnitude + (MU_BIAS >> 2)).min(MU_CLIP);
    // `biased` is at least 33, so its top bit is bit 5..=12: segment 0..=7.
    let segment = (31 - biased.leading_zeros() as i32) - 5;
    let step = (biased >> (segment + 1)) & 0x0F;
    (((segment << 4) | step) as u8) ^ mask
}

/// Decodes one mu-law code.
#[inline]
pub fn decode_mu(code: u8) -> i16 {
    MU_DECODE[usize::from(code)]
}

/// Encodes one sample to A-law.
#[inline]
pub fn encode_a(sample: i16) -> u8 {
    let x = i32::from(sample);
    // One's complement for negatives, then drop to the 12-bit magnitude.
    let (magnitude, sign) = if x < 0 {
        ((!x) >> 4, 0x00)
    } else {
        (x >> 4, 0x80)
    };
    let code = if magnitude < 16 {
        magnitude
    } else {
        // Top bit at 4..=10 gives segment 1..=7; the 4 bits below it are the step.
        let segment = (31 - magnitude.leading_zeros() as i32) - 3;
        (segment << 4) | ((magnitude >> (segment - 1)) & 0x0F)
    };
    ((code | sign) as u8) ^ 0x55
}

/// Decodes one A-law code.
#[inline]
pub fn decode_a(code: u8) -> i16 {
    A_DECODE[usize::from(code)]
}

/// Encodes `pcm` into `out` sample by sample; returns how many were encoded
/// (the shorter of the two lengths).
pub fn encode_slice(law: Law, pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    let encode = match law {
        Law::Mu => encode_mu,
        Law::A => encode_a,
    };
    for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
        *o = encode(s);
    }
    n
}

/// Decodes `codes` into `out`; returns how many were decoded (the shorter of the
/// two lengths).
pub fn decode_slice(law: Law, codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    let table = match law {
        Law::Mu => &MU_DECODE,
        Law::A => &A_DECODE,
    };
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = table[usize::from(c)];
    }
    n
}

/// G.711 decoder with Appendix I concealment of lost frames.
#[derive(Debug, Clone)]
pub struct Decoder {
    law: Law,
    plc: G711Plc,
}

impl Decoder {
    /// A decoder for `law`.
    pub fn new(law: Law) -> Self {
        Decoder {
            law,
            plc: G711Plc::new(),
        }
    }

    /// The law this decoder expands.
    pub fn law(&self) -> Law {
        self.law
    }
}

impl AudioDecoder for Decoder {
    fn kind(&self) -> CodecKind {
        self.law.kind()
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        if out.len() < payload.len() {
            return Err(CodecError::BufferTooSmall {
                need: payload.len(),
                have: out.len(),
            });
        }
        let n = decode_slice(self.law, payload, out);
        // The concealer keeps the history it extrapolates from, and after a loss
        // cross-fades this frame's start with its own continuation.
        self.plc.add_good(&mut out[..n]);
        Ok(n)
    }

    fn conceal(&mut self, out: &mut [i16]) -> usize {
        self.plc.conceal(out);
        out.len()
    }

    fn reset(&mut self) {
        self.plc.reset();
    }
}

/// G.711 encoder; stateless apart from the law.
#[derive(Debug, Clone)]
pub struct Encoder {
    law: Law,
}

impl Encoder {
    /// An encoder for `law`.
    pub fn new(law: Law) -> Self {
        Encoder { law }
    }

    /// The law this encoder compands with.
    pub fn law(&self) -> Law {
        self.law
    }
}

impl AudioEncoder for Encoder {
    fn kind(&self) -> CodecKind {
        self.law.kind()
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if out.len() < pcm.len() {
            return Err(CodecError::BufferTooSmall {
                need: pcm.len(),
                have: out.len(),
            });
        }
        Ok(encode_slice(self.law, pcm, out))
    }

    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_codes() {
        // Silence, the loudest codes and the smallest steps of each law.
        assert_eq!(decode_mu(0xFF), 0);
        assert_eq!(decode_mu(0x7F), 0);
        assert_eq!(decode_mu(0x80), 32124);
        assert_eq!(decode_mu(0x00), -32124);
        assert_eq!(decode_mu(0xFE), 8);
        assert_eq!(decode_a(0xD5), 8);
        assert_eq!(decode_a(0x55), -8);
        assert_eq!(decode_a(0xAA), 32256);
        assert_eq!(decode_a(0x2A), -32256);
        assert_eq!(encode_mu(0), 0xFF);
        assert_eq!(encode_mu(-1), 0x7F);
        assert_eq!(encode_mu(i16::MAX), 0x80);
        assert_eq!(encode_mu(i16::MIN), 0x00);
        assert_eq!(encode_a(0), 0xD5);
        assert_eq!(encode_a(-1), 0x55);
        assert_eq!(encode_a(i16::MAX), 0xAA);
        assert_eq!(encode_a(i16::MIN), 0x2A);
    }

    #[test]
    fn decoder_checks_buffer_and_passes_audio() {
        let mut d = Decoder::new(Law::A);
        let mut out = [0i16; 4];
        assert_eq!(
            d.decode(&[0xD5; 5], &mut out),
            Err(CodecError::BufferTooSmall { need: 5, have: 4 })
        );
        assert_eq!(d.decode(&[0xD5, 0x55, 0xAA], &mut out), Ok(3));
        assert_eq!(&out[..3], &[8, -8, 32256]);
        let mut e = Encoder::new(Law::A);
        let mut bytes = [0u8; 3];
        assert_eq!(e.encode(&out[..3], &mut bytes), Ok(3));
        assert_eq!(bytes, [0xD5, 0x55, 0xAA]);
        assert_eq!(d.kind(), CodecKind::Pcma);
        assert_eq!(Encoder::new(Law::Mu).kind(), CodecKind::Pcmu);
    }

    #[test]
    fn slices_stop_at_the_shorter_buffer() {
        let mut out = [0u8; 2];
        assert_eq!(encode_slice(Law::Mu, &[0, 0, 0], &mut out), 2);
        let mut pcm = [1i16; 3];
        assert_eq!(decode_slice(Law::Mu, &[0xFF, 0xFF], &mut pcm), 2);
        assert_eq!(pcm, [0, 0, 1]);
    }
}

//! L16: uncompressed 16-bit linear PCM, big-endian (network byte order).
//!
//! Standards: RFC 3551 section 4.5.11 (L16, two's complement, most significant
//! byte first) and RFC 2586 (the audio/L16 media type with a `rate` parameter).
//!
//! Out of scope: more than one channel (RFC 3551 interleaves channels sample by
//! sample; this switch is mono throughout) and the L8/L20/L24 variants. L16 has
//! no concealment of its own, so lost frames are replaced with silence.

use crate::codec::{AudioDecoder, AudioEncoder, CodecError, CodecKind};

/// L16 decoder for one sample rate.
#[derive(Debug, Clone)]
pub struct Decoder {
    rate: u32,
}

impl Decoder {
    /// A decoder for mono L16 at `rate` samples per second.
    pub fn new(rate: u32) -> Self {
        Decoder { rate }
    }
}

impl AudioDecoder for Decoder {
    fn kind(&self) -> CodecKind {
        CodecKind::L16 { rate: self.rate }
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        if !payload.len().is_multiple_of(2) {
            return Err(CodecError::Malformed(
                "L16 payload has an odd number of bytes",
            ));
        }
        let n = payload.len() / 2;
        if out.len() < n {
            return Err(CodecError::BufferTooSmall {
                need: n,
                have: out.len(),
            });
        }
        for (o, b) in out.iter_mut().zip(payload.chunks_exact(2)) {
            *o = i16::from_be_bytes([b[0], b[1]]);
        }
        Ok(n)
    }

    fn conceal(&mut self, out: &mut [i16]) -> usize {
        out.fill(0);
        out.len()
    }

    fn reset(&mut self) {}
}

/// L16 encoder for one sample rate.
#[derive(Debug, Clone)]
pub struct Encoder {
    rate: u32,
}

impl Encoder {
    /// An encoder for mono L16 at `rate` samples per second.
    pub fn new(rate: u32) -> Self {
        Encoder { rate }
    }
}

impl AudioEncoder for Encoder {
    fn kind(&self) -> CodecKind {
        CodecKind::L16 { rate: self.rate }
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let need = pcm.len() * 2;
        if out.len() < need {
            return Err(CodecError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        for (o, &s) in out.chunks_exact_mut(2).zip(pcm) {
            o.copy_from_slice(&s.to_be_bytes());
        }
        Ok(need)
    }

    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn samples_are_big_endian() {
        let mut enc = Encoder::new(16000);
        let mut bytes = [0u8; 6];
        assert_eq!(enc.encode(&[0x0102, -2, i16::MIN], &mut bytes), Ok(6));
        assert_eq!(bytes, [0x01, 0x02, 0xFF, 0xFE, 0x80, 0x00]);
        let mut dec = Decoder::new(16000);
        let mut pcm = [0i16; 3];
        assert_eq!(dec.decode(&bytes, &mut pcm), Ok(3));
        assert_eq!(pcm, [0x0102, -2, i16::MIN]);
        assert_eq!(dec.kind(), CodecKind::L16 { rate: 16000 });
        assert_eq!(dec.sample_rate(), 16000);
        assert_eq!(enc.sample_rate(), 16000);
    }

    #[test]
    fn rejects_odd_payloads_and_small_buffers() {
        let mut dec = Decoder::new(8000);
        let mut pcm = [0i16; 1];
        assert!(matches!(
            dec.decode(&[1, 2, 3], &mut pcm),
            Err(CodecError::Malformed(_))
        ));
        assert_eq!(
            dec.decode(&[1, 2, 3, 4], &mut pcm),
            Err(CodecError::BufferTooSmall { need: 2, have: 1 })
        );
        let mut bytes = [0u8; 3];
        assert_eq!(
            Encoder::new(8000).encode(&[1, 2], &mut bytes),
            Err(CodecError::BufferTooSmall { need: 4, have: 3 })
        );
        let mut out = [5i16; 4];
        assert_eq!(dec.conceal(&mut out), 4);
        assert_eq!(out, [0; 4]);
    }

    proptest! {
        #[test]
        fn arbitrary_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut dec = Decoder::new(8000);
            let mut pcm = [0i16; 160];
            match dec.decode(&payload, &mut pcm) {
                Ok(n) => {
                    prop_assert_eq!(n * 2, payload.len());
                    let mut back = vec![0u8; payload.len()];
                    prop_assert_eq!(Encoder::new(8000).encode(&pcm[..n], &mut back), Ok(payload.len()));
                    prop_assert_eq!(back, payload);
                }
                Err(_) => prop_assert!(payload.len() % 2 == 1 || payload.len() > 320),
            }
        }
    }
}

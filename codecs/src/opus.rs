//! Opus through libopus (the `opus` crate), fixed at 48 kHz mono.
//!
//! Standards: RFC 6716 (the codec; libopus is its reference implementation),
//! RFC 7587 (RTP payload: one Opus packet per RTP packet, clock always 48 kHz,
//! a mono receiver may decode stereo packets) and RFC 6716 section 2.1.7 /
//! libopus' in-band FEC (LBRR): a packet may carry a low-rate copy of the frame
//! before it, which the receiver can decode when that frame was lost.
//!
//! Allocation: the `opus` crate's `Decoder::decode` and `Encoder::encode` take
//! caller slices and call `opus_decode` / `opus_encode` directly; only the
//! `*_vec` variants (not used) and the error path's message allocate. libopus
//! allocates its state once, at construction.
//!
//! Out of scope: stereo output, other output rates (the resampler converts),
//! DTX and the `OPUS_APPLICATION_AUDIO` tuning, multistream (Ogg/surround),
//! and telling a packet with LBRR data from one without: libopus falls back
//! to its ordinary concealment when asked for FEC a packet does not carry.

use ::opus as libopus;

use crate::codec::{AudioDecoder, AudioEncoder, CodecError, CodecKind};

/// Sample rate of everything here.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in 20 ms, the frame size the encoder is meant for.
pub const FRAME_20MS: usize = 960;
/// Largest packet libopus emits for one frame (RFC 6716 section 3.2.1); an
/// encode buffer this big never limits the bitrate.
pub const MAX_PACKET: usize = 1275;
/// Default encoder bitrate in bit/s.
pub const DEFAULT_BITRATE: i32 = 32_000;
/// Longest frame libopus decodes (120 ms at 48 kHz).
const MAX_FRAME: usize = 5760;

fn library_error(e: libopus::Error) -> CodecError {
    match e.code() {
        libopus::ErrorCode::InvalidPacket => CodecError::Malformed("invalid Opus packet"),
        _ => CodecError::Library(e.to_string()),
    }
}

/// Opus decoder producing 48 kHz mono (stereo packets are mixed down by
/// libopus), with libopus' concealment and in-band FEC recovery.
pub struct Decoder {
    inner: libopus::Decoder,
    /// Output rate (8, 12, 16, 24 or 48 kHz).
    rate: u32,
    /// Samples in the last frame decoded or concealed: the size assumed for a
    /// lost frame.
    last_frame: usize,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("opus::Decoder")
            .field("last_frame", &self.last_frame)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A 48 kHz mono decoder.
    pub fn new() -> Result<Self, CodecError> {
        Self::with_rate(SAMPLE_RATE)
    }

    /// A mono decoder producing `rate` samples per second (8000, 12000,
    /// 16000, 24000 or 48000): libopus decodes straight to a narrower rate
    /// for less work than decoding at 48 kHz and resampling.
    pub fn with_rate(rate: u32) -> Result<Self, CodecError> {
        let inner = libopus::Decoder::new(rate, libopus::Channels::Mono).map_err(library_error)?;
        Ok(Decoder {
            inner,
            rate,
            last_frame: frame_20ms(rate),
        })
    }

    /// Samples per channel `payload` decodes to at 48 kHz, without decoding it.
    pub fn samples_in(payload: &[u8]) -> Result<usize, CodecError> {
        Self::samples_at(payload, SAMPLE_RATE)
    }

    fn samples_at(payload: &[u8], rate: u32) -> Result<usize, CodecError> {
        if payload.is_empty() {
            return Err(CodecError::Malformed("empty Opus payload"));
        }
        libopus::packet::get_nb_samples(payload, rate).map_err(library_error)
    }
}

/// Samples in 20 ms at `rate`.
fn frame_20ms(rate: u32) -> usize {
    (rate / 50) as usize
}

/// libopus works in multiples of 2.5 ms.
fn quantum(rate: u32) -> usize {
    (rate / 400) as usize
}

impl AudioDecoder for Decoder {
    fn kind(&self) -> CodecKind {
        CodecKind::Opus
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        // libopus treats an empty payload as a loss; here that is `conceal`.
        let need = Self::samples_at(payload, self.rate)?;
        if need == 0 {
            return Err(CodecError::Malformed("Opus packet without frames"));
        }
        if need > out.len() {
            return Err(CodecError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        let n = self
            .inner
            .decode(payload, &mut out[..need], false)
            .map_err(library_error)?;
        self.last_frame = n;
        Ok(n)
    }

    fn conceal(&mut self, out: &mut [i16]) -> usize {
        let mut pos = 0;
        while pos < out.len() {
            // libopus conceals whole multiples of 2.5 ms; the frame size of the
            // last packet keeps its concealment in step with the stream.
            let q = quantum(self.rate);
            let chunk = (out.len() - pos).min(self.last_frame) / q * q;
            if chunk == 0 {
                break;
            }
            match self.inner.decode(&[], &mut out[pos..pos + chunk], false) {
                Ok(n) if n > 0 => pos += n,
                _ => break,
            }
        }
        out[pos..].fill(0);
        out.len()
    }

    fn decode_fec(&mut self, payload: &[u8], out: &mut [i16]) -> Option<usize> {
        let lost = Self::samples_at(payload, self.rate).ok()?;
        // The lost frame is assumed to be as long as the packet after it; the
        // FEC copy describes exactly one frame of that size.
        let q = quantum(self.rate);
        let n = lost.min(out.len()) / q * q;
        if n == 0 || n > MAX_FRAME * self.rate as usize / SAMPLE_RATE as usize {
            return None;
        }
        let got = self.inner.decode(payload, &mut out[..n], true).ok()?;
        self.last_frame = got;
        Some(got)
    }

    fn reset(&mut self) {
        // Only fails for an invalid decoder handle, which `new` rules out.
        let _ = self.inner.reset_state();
        self.last_frame = frame_20ms(self.rate);
    }
}

/// Opus encoder: 48 kHz mono, VoIP application, in-band FEC for 10 % expected
/// loss, 32 kbit/s unless changed.
pub struct Encoder {
    inner: libopus::Encoder,
    /// Input rate (8, 12, 16, 24 or 48 kHz).
    rate: u32,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("opus::Encoder").finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder at `complexity` (0 = cheapest ... 10 = best).
    pub fn new(complexity: i32) -> Result<Self, CodecError> {
        Self::with_rate(SAMPLE_RATE, complexity)
    }

    /// An encoder taking `rate` samples per second (8000, 12000, 16000,
    /// 24000 or 48000); narrowband input is coded as narrowband Opus, which
    /// saves the upsampling and most of the encoder's work.
    pub fn with_rate(rate: u32, complexity: i32) -> Result<Self, CodecError> {
        let mut inner = libopus::Encoder::new(
            rate,
            libopus::Channels::Mono,
            libopus::Application::Voip,
        )
        .map_err(library_error)?;
        inner.set_complexity(complexity).map_err(library_error)?;
        inner.set_inband_fec(true).map_err(library_error)?;
        inner.set_packet_loss_perc(10).map_err(library_error)?;
        inner
            .set_bitrate(libopus::Bitrate::Bits(DEFAULT_BITRATE))
            .map_err(library_error)?;
        Ok(Encoder { inner, rate })
    }

    /// Sets the target bitrate in bit/s (libopus accepts 500 to 512 000).
    pub fn set_bitrate(&mut self, bits_per_second: i32) -> Result<(), CodecError> {
        self.inner
            .set_bitrate(libopus::Bitrate::Bits(bits_per_second))
            .map_err(library_error)
    }

    /// Sets the expected packet loss in percent (0-100), which decides how much
    /// of the bitrate goes to FEC.
    pub fn set_packet_loss_percent(&mut self, percent: i32) -> Result<(), CodecError> {
        self.inner
            .set_packet_loss_perc(percent)
            .map_err(library_error)
    }

    /// Samples of look-ahead: how far the decoded output lags the input.
    pub fn lookahead(&mut self) -> Result<usize, CodecError> {
        let n = self.inner.get_lookahead().map_err(library_error)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

impl AudioEncoder for Encoder {
    fn kind(&self) -> CodecKind {
        CodecKind::Opus
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        // 2.5, 5, 10, 20, 40, 60, 80, 100 or 120 ms.
        const FRAME_SIZES: [usize; 9] = [120, 240, 480, 960, 1920, 2880, 3840, 4800, 5760];
        let at_48k = pcm.len() * SAMPLE_RATE as usize / self.rate.max(1) as usize;
        if !FRAME_SIZES.contains(&at_48k) {
            return Err(CodecError::FrameLength(pcm.len()));
        }
        if out.is_empty() {
            return Err(CodecError::BufferTooSmall { need: 1, have: 0 });
        }
        self.inner.encode(pcm, out).map_err(library_error)
    }

    fn reset(&mut self) {
        // Keeps the settings; only fails for an invalid handle, which `new` rules out.
        let _ = self.inner.reset_state();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_refuses_odd_frame_lengths() {
        let mut enc = Encoder::new(5).unwrap();
        let mut out = [0u8; MAX_PACKET];
        assert_eq!(
            enc.encode(&[0; 100], &mut out),
            Err(CodecError::FrameLength(100))
        );
        assert!(enc.encode(&[0; FRAME_20MS], &mut out).unwrap() > 0);
        assert_eq!(enc.kind(), CodecKind::Opus);
        assert!(Encoder::new(11).is_err());
        assert!(enc.set_bitrate(16_000).is_ok());
    }

    #[test]
    fn decoder_checks_the_output_buffer() {
        let mut enc = Encoder::new(5).unwrap();
        let mut packet = [0u8; MAX_PACKET];
        let len = enc.encode(&[0; FRAME_20MS], &mut packet).unwrap();
        let mut dec = Decoder::new().unwrap();
        let mut small = [0i16; 480];
        assert_eq!(
            dec.decode(&packet[..len], &mut small),
            Err(CodecError::BufferTooSmall {
                need: 960,
                have: 480
            })
        );
        assert!(matches!(
            dec.decode(&[], &mut small),
            Err(CodecError::Malformed(_))
        ));
        assert_eq!(dec.sample_rate(), 48_000);
    }
}

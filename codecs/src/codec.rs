//! What every codec offers the media path: a decoder and an encoder working on
//! caller-owned buffers of 16-bit mono PCM at the codec's own rate.

use thiserror::Error;

/// The codecs the switch can decode and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecKind {
    /// G.711 mu-law (RTP/AVP 0), 8 kHz.
    Pcmu,
    /// G.711 A-law (RTP/AVP 8), 8 kHz.
    Pcma,
    /// G.722 at 64 kbit/s, 16 kHz audio (RTP clock 8000 by RFC 3551's erratum).
    G722,
    /// Opus, decoded and encoded at 48 kHz mono here.
    Opus,
    /// Linear 16-bit big-endian PCM at the given rate, mono.
    L16 {
        /// Samples per second.
        rate: u32,
    },
}

impl CodecKind {
    /// Sample rate of the PCM this codec decodes to and encodes from.
    pub fn sample_rate(self) -> u32 {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma => 8000,
            CodecKind::G722 => 16000,
            CodecKind::Opus => 48000,
            CodecKind::L16 { rate } => rate,
        }
    }

    /// RTP timestamp units per second (differs from the sample rate for G.722).
    pub fn rtp_clock_rate(self) -> u32 {
        match self {
            CodecKind::G722 => 8000,
            other => other.sample_rate(),
        }
    }
}

/// Why a codec refused a frame.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The output buffer cannot hold what the frame decodes or encodes to.
    #[error("output buffer too small: need {need}, have {have}")]
    BufferTooSmall {
        /// Elements needed.
        need: usize,
        /// Elements available.
        have: usize,
    },
    /// The payload is not a valid frame for this codec (peer fault).
    #[error("malformed payload: {0}")]
    Malformed(&'static str),
    /// The input length is not one this codec can encode.
    #[error("unsupported frame length {0}")]
    FrameLength(usize),
    /// The codec library itself failed.
    #[error("codec library error: {0}")]
    Library(String),
}

/// Turns RTP payloads into PCM.
pub trait AudioDecoder: Send {
    /// Which codec this is.
    fn kind(&self) -> CodecKind;
    /// PCM samples per second of the output.
    fn sample_rate(&self) -> u32 {
        self.kind().sample_rate()
    }
    /// Decodes one payload into `out`; returns the samples written.
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError>;
    /// Fills `out` (whole length) with audio standing in for a lost frame, using
    /// the codec's own concealment when it has one; returns the samples written.
    fn conceal(&mut self, out: &mut [i16]) -> usize;
    /// Recovers the frame *before* `payload` from in-band FEC when the codec
    /// carries it (Opus); `None` when it does not.
    fn decode_fec(&mut self, _payload: &[u8], _out: &mut [i16]) -> Option<usize> {
        None
    }
    /// Forgets history (after an SSRC change or a long gap).
    fn reset(&mut self);
}

/// Turns PCM into RTP payloads.
pub trait AudioEncoder: Send {
    /// Which codec this is.
    fn kind(&self) -> CodecKind;
    /// PCM samples per second of the input.
    fn sample_rate(&self) -> u32 {
        self.kind().sample_rate()
    }
    /// Encodes one frame of `pcm` into `out`; returns the bytes written.
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError>;
    /// Forgets history.
    fn reset(&mut self);
}

/// A decoder for `kind` (Opus decodes to mono at 48 kHz).
pub fn decoder(kind: CodecKind) -> Result<Box<dyn AudioDecoder>, CodecError> {
    Ok(match kind {
        CodecKind::Pcmu => Box::new(crate::g711::Decoder::new(crate::g711::Law::Mu)),
        CodecKind::Pcma => Box::new(crate::g711::Decoder::new(crate::g711::Law::A)),
        CodecKind::G722 => Box::new(crate::g722::Decoder::new()),
        CodecKind::Opus => Box::new(crate::opus::Decoder::new()?),
        CodecKind::L16 { rate } => Box::new(crate::l16::Decoder::new(rate)),
    })
}

/// An encoder for `kind`; `opus_complexity` (0–10) applies to Opus only.
pub fn encoder(kind: CodecKind, opus_complexity: i32) -> Result<Box<dyn AudioEncoder>, CodecError> {
    Ok(match kind {
        CodecKind::Pcmu => Box::new(crate::g711::Encoder::new(crate::g711::Law::Mu)),
        CodecKind::Pcma => Box::new(crate::g711::Encoder::new(crate::g711::Law::A)),
        CodecKind::G722 => Box::new(crate::g722::Encoder::new()),
        CodecKind::Opus => Box::new(crate::opus::Encoder::new(opus_complexity)?),
        CodecKind::L16 { rate } => Box::new(crate::l16::Encoder::new(rate)),
    })
}

/// Like [`decoder`], with Opus decoding straight to `opus_rate` (8000, 16000
/// or 48000) so that a narrowband leg needs no resampling of Opus audio.
pub fn decoder_at(kind: CodecKind, opus_rate: u32) -> Result<Box<dyn AudioDecoder>, CodecError> {
    match kind {
        CodecKind::Opus => Ok(Box::new(crate::opus::Decoder::with_rate(opus_rate)?)),
        other => decoder(other),
    }
}

/// Like [`encoder`], with Opus taking `opus_rate` input.
pub fn encoder_at(kind: CodecKind, opus_rate: u32, opus_complexity: i32) -> Result<Box<dyn AudioEncoder>, CodecError> {
    match kind {
        CodecKind::Opus => Ok(Box::new(crate::opus::Encoder::with_rate(opus_rate, opus_complexity)?)),
        other => encoder(other, opus_complexity),
    }
}

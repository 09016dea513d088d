//! Audio codecs for Switchyard, kept free of I/O and of any async runtime so that
//! they can be benchmarked and fuzzed on their own.
//!
//! Every codec works on 16-bit linear PCM, mono, at its own sample rate
//! ([`AudioDecoder::sample_rate`]); converting rates is [`resample`]'s job, and
//! the switch's media path strings the pieces together. Buffers always belong to
//! the caller, so a steady call allocates nothing per frame.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod l16;
pub mod opus;
pub mod plc;
pub mod resample;
pub mod telephone_event;
pub mod tone;

pub use codec::{AudioDecoder, AudioEncoder, CodecError, CodecKind};

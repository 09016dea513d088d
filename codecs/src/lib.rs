//! Audio codecs for Switchyard, kept free of I/O and of any async runtime so that
//! they can be benchmarked and fuzzed on their own.
//!
//! This crate is filled by the media-engine work (G.711, G.722, Opus, L16,
//! resampling, RFC 4733 events). Until then the switch passes SDP and RTP through
//! untouched and links nothing from here.
#![forbid(unsafe_code)]

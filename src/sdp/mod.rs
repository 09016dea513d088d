//! Session Description Protocol: the model, a tolerant parser, a canonical
//! writer and the offer/answer helpers the B2BUA uses to anchor media.
//!
//! Standards:
//! - RFC 8866 (SDP, obsoletes RFC 4566): line grammar, field order (§5).
//! - RFC 3264: offer/answer model, hold (§8.4), version bump on change (§8).
//! - RFC 3551: static payload types; RFC 3389: comfort noise (CN);
//!   RFC 4733: telephone-event; RFC 7587: opus rtpmap (`opus/48000/2`).
//! - RFC 3605: `a=rtcp`; RFC 5761: `a=rtcp-mux`.
//!
//! Tolerance, decided once here:
//! - accepted: LF-only or mixed line endings, trailing spaces/tabs, blank
//!   lines, a missing `s=` (becomes `-`), a missing `t=` (becomes `t=0 0`),
//!   lines with a type letter we do not know (skipped, although RFC 8866 §5
//!   says to drop the whole SDP), unknown attributes (kept verbatim, in
//!   order), `rtpmap`s for payload types not on the m-line, an attribute
//!   repeated with the same value, `a=ptime:20.0`, a host name in `o=`.
//! - refused, because meaning would be lost: a first line other than `v=0`, no
//!   `o=`, a session-only line (`o=`, `s=`, `t=`, ...) after the first `m=`,
//!   a repeated `v=`/`o=`/`s=`/`c=` (at one level), conflicting direction
//!   attributes, `a=ptime`/`a=maxptime`/`a=rtcp` repeated with another value,
//!   a second rtpmap or fmtp for one payload type, an `m=` payload type above
//!   127 on an RTP profile, an m-line with no format, a `c=` holding a host
//!   name (media cannot be anchored to it) or an address of the other family
//!   than its `IP4`/`IP6` tag, a network type other than `IN`.
//!
//! Out of scope: SRTP/DTLS keying (`a=crypto`, `a=fingerprint`; such m-lines
//! are kept but refused by the offer/answer helpers), ICE, bundling, simulcast,
//! and media other than audio (always answered with port 0).

mod codec;
mod media;
mod offer_answer;
mod parse;
mod session;
mod write;

pub use codec::{Codec, static_codec};
pub use media::{Direction, Fmtp, Format, MediaDescription, MediaType, Proto, Rtcp, Rtpmap};
pub use offer_answer::{
    LocalCaps, Negotiated, OfferAnswerError, answer, apply_answer, is_hold, offer,
};
pub use parse::{SdpError, SdpErrorKind, parse};
pub use session::{
    AddrType, Attribute, Bandwidth, BandwidthType, Connection, Origin, SessionDescription, Timing,
};
pub use write::write;

#[cfg(test)]
mod tests;

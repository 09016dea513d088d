//! RTP and RTCP for one call leg, sans-IO: packets are parsed in place,
//! statistics and reports are kept per source, time is passed in.
//!
//! Standards: RFC 3550 (RTP/RTCP: header, A.1 validation, A.3 loss, A.8
//! jitter, SR/RR/SDES/BYE, report timing), RFC 5761 (rtcp-mux
//! demultiplexing), ITU-T G.107 / G.113 (E-model quality estimate).
//! Out of scope: SRTP/SRTCP, RTCP feedback (RFC 4585) and XR (RFC 3611),
//! RFC 8285 header extension elements (skipped, not read), mixing (CSRC
//! lists are read but never written), bandwidth-scaled RTCP intervals.
//!
//! - `packet`: zero-copy header view, in-place rewrites, header writer.
//! - `seq`: sequence and timestamp unwrapping, A.1 source validation.
//! - `receiver`: per-SSRC receive statistics.
//! - `sender`: what we sent, NTP wall-clock base.
//! - `rtcp`: compound report writers, incoming report parsing, RTT.
//! - `quality`: E-model R factor and MOS.
//! - `session`: `RtpSession`, the per-leg state machine over all of these.

pub mod packet;
pub mod quality;
pub mod receiver;
pub mod rtcp;
pub mod sender;
pub mod seq;
pub mod session;

pub use packet::{HeaderFields, RtpHeaderView, RtpParseError, is_rtcp, write_header};
pub use quality::{QualityCodec, mos};
pub use sender::NtpBase;
pub use session::{Quality, RtpInput, RtpSession, SessionConfig};

/// Any fixed instant will do for tests; they only move forward from it.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn t0() -> std::time::Instant {
    std::time::Instant::now()
}

//! What we sent, for the sender info of our SRs, and the wall clock that
//! gives them their NTP timestamps.
//!
//! Standards: RFC 3550 §6.4.1 (sender info: NTP and RTP timestamps of the
//! same instant, packet and octet counts mod 2^32), RFC 5905 §6 (NTP
//! timestamp format, era 0).
//! Out of scope: NTP era rollover in 2036 (the 32-bit seconds just wrap,
//! which LSR arithmetic tolerates), clock-drift correction.

use std::time::{Duration, Instant};

use super::rtcp::SenderInfo;

/// Seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Ties the monotonic clock to wall time: `instant` happened at `unix`
/// (since 1970). Read once at the edge and passed into each session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtpBase {
    /// A monotonic instant.
    pub instant: Instant,
    /// Wall time at that instant, since the Unix epoch.
    pub unix: Duration,
}

impl NtpBase {
    /// Wall time at `now`, since the Unix epoch.
    pub fn unix_at(&self, now: Instant) -> Duration {
        match now.checked_duration_since(self.instant) {
            Some(ahead) => self.unix + ahead,
            None => self.unix.saturating_sub(self.instant.duration_since(now)),
        }
    }

    /// 64-bit NTP timestamp (32.32 seconds since 1900) at `now`.
    pub fn ntp(&self, now: Instant) -> u64 {
        let t = self.unix_at(now);
        let secs = (t.as_secs() + NTP_UNIX_OFFSET) & 0xffff_ffff;
        let frac = (u64::from(t.subsec_nanos()) << 32) / 1_000_000_000;
        (secs << 32) | frac
    }
}

/// Counters of the media we sent.
#[derive(Debug, Clone, Default)]
pub struct SenderStats {
    packets: u64,
    octets: u64,
    last: Option<(u32, Instant)>,
    sent_since_report: bool,
}

impl SenderStats {
    /// Nothing sent yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accounts one RTP packet with `payload_len` payload octets and
    /// timestamp `ts`, sent at `now`.
    pub fn on_sent(&mut self, now: Instant, ts: u32, payload_len: usize) {
        self.packets += 1;
        self.octets += payload_len as u64;
        self.last = Some((ts, now));
        self.sent_since_report = true;
    }

    /// Packets sent.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Payload octets sent.
    pub fn octets(&self) -> u64 {
        self.octets
    }

    /// The last RTP timestamp sent and when.
    pub fn last_sent(&self) -> Option<(u32, Instant)> {
        self.last
    }

    /// Whether we sent since the last report (RFC 3550 §6.4: then the
    /// report is an SR).
    pub fn sent_since_report(&self) -> bool {
        self.sent_since_report
    }

    /// Sender info for an SR at `now`, the RTP timestamp extrapolated from
    /// the last packet at `clock_rate`; `None` if nothing was ever sent.
    /// Starts a new reporting interval.
    pub fn sender_info(&mut self, now: Instant, clock_rate: u32, base: &NtpBase) -> Option<SenderInfo> {
        let (ts, at) = self.last?;
        self.sent_since_report = false;
        let elapsed = now.saturating_duration_since(at);
        let ticks = elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
        Some(SenderInfo {
            ntp: base.ntp(now),
            rtp_timestamp: ts.wrapping_add(ticks as u32),
            packets: self.packets as u32,
            octets: self.octets as u32,
        })
    }

    /// Starts a new reporting interval without an SR (an RR went out).
    pub fn mark_reported(&mut self) {
        self.sent_since_report = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_of_known_wall_times() {
        let t = crate::rtp::t0();
        let base = NtpBase { instant: t, unix: Duration::from_secs(1_700_000_000) };
        let ntp = base.ntp(t + Duration::from_millis(500));
        assert_eq!(ntp >> 32, 1_700_000_000 + NTP_UNIX_OFFSET);
        assert_eq!(ntp & 0xffff_ffff, 1 << 31);
        // Before the base instant: earlier wall time.
        let base = NtpBase { instant: t + Duration::from_secs(10), unix: Duration::from_secs(100) };
        assert_eq!(base.ntp(t) >> 32, 90 + NTP_UNIX_OFFSET);
    }

    #[test]
    fn sender_info_extrapolates_rtp_time() {
        let t = crate::rtp::t0();
        let base = NtpBase { instant: t, unix: Duration::from_secs(1_000) };
        let mut s = SenderStats::new();
        assert!(s.sender_info(t, 8000, &base).is_none());
        for i in 0..50u32 {
            s.on_sent(t + Duration::from_millis(20 * u64::from(i)), (u32::MAX - 1000).wrapping_add(160 * i), 160);
        }
        assert!(s.sent_since_report());
        let info = s.sender_info(t + Duration::from_millis(1000), 8000, &base).unwrap();
        // Last packet at 980 ms with ts MAX-1000+7840; 20 ms later is +160.
        assert_eq!(info.rtp_timestamp, (u32::MAX - 1000).wrapping_add(8000));
        assert_eq!((info.packets, info.octets), (50, 8000));
        assert!(!s.sent_since_report());
        assert_eq!(info.ntp >> 32, 1_001 + NTP_UNIX_OFFSET);
    }
}

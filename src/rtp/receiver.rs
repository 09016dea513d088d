//! Receive statistics for one remote source (one SSRC).
//!
//! Standards: RFC 3550 §6.4.1 (report block fields), Appendix A.1
//! (validation, via `seq::SeqValidator`), A.3 (expected, cumulative and
//! interval loss), A.8 (interarrival jitter); ITU-T G.107 §3.4 burst ratio
//! (`BurstR`) for the quality estimate.
//! Out of scope: RTCP XR statistics (RFC 3611), per-CSRC statistics.
//!
//! Duplicates are counted apart and not as received: RFC 3550 counts them,
//! which lets a duplicating path hide loss. The cumulative loss reported is
//! then never below zero in practice, but it is still clamped to the signed
//! 24-bit field.

use std::time::{Duration, Instant};

use super::rtcp::ReportBlock;
use super::seq::{SeqValidator, SeqVerdict};

/// Statistics for one remote synchronisation source.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    ssrc: u32,
    clock_rate: u32,
    seq: SeqValidator,
    received: u64,
    duplicates: u64,
    bytes: u64,
    expected_prior: u64,
    received_prior: u64,
    /// A.8 `jitter`, in timestamp units, kept as a float so that the
    /// 1/16 gain does not round small jitter away.
    jitter: f64,
    last_transit: Option<u32>,
    /// Time origin for arrival times in timestamp units.
    epoch: Instant,
    last_arrival: Instant,
    bursts: u64,
    burst_lost: u64,
    last_sr: Option<(u32, Instant)>,
    heard_since_report: bool,
}

impl ReceiverStats {
    /// Starts statistics for a source whose first packet is `seq`, arriving
    /// at `now`; feed that packet to `on_packet` as well.
    pub fn new(ssrc: u32, clock_rate: u32, seq: u16, now: Instant) -> Self {
        Self {
            ssrc,
            clock_rate: clock_rate.max(1),
            seq: SeqValidator::new(seq),
            received: 0,
            duplicates: 0,
            bytes: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter: 0.0,
            last_transit: None,
            epoch: now,
            last_arrival: now,
            bursts: 0,
            burst_lost: 0,
            last_sr: None,
            heard_since_report: false,
        }
    }

    /// Accounts one packet of this source.
    pub fn on_packet(&mut self, now: Instant, seq: u16, timestamp: u32, wire_len: usize) -> SeqVerdict {
        let verdict = self.seq.update(seq);
        self.last_arrival = now;
        match verdict {
            SeqVerdict::Probation | SeqVerdict::BadSeq => {}
            SeqVerdict::Duplicate { .. } => self.duplicates += 1,
            SeqVerdict::Restarted { .. } => {
                // A.1 init_seq: counting starts over; the old transit means
                // nothing against the new timestamps.
                self.received = 1;
                self.expected_prior = 0;
                self.received_prior = 0;
                self.bursts = 0;
                self.burst_lost = 0;
                self.last_transit = None;
                self.account(now, timestamp, wire_len);
            }
            SeqVerdict::Valid { gap, .. } => {
                self.received += 1;
                if gap > 0 {
                    self.bursts += 1;
                    self.burst_lost += gap;
                }
                self.account(now, timestamp, wire_len);
            }
        }
        verdict
    }

    fn account(&mut self, now: Instant, timestamp: u32, wire_len: usize) {
        self.bytes += wire_len as u64;
        self.heard_since_report = true;
        let since = now.saturating_duration_since(self.epoch);
        let arrival = (since.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        // Wrapping arithmetic: only differences of transit times matter.
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(last) = self.last_transit {
            let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// The source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Whether the source is still in A.1 probation.
    pub fn in_probation(&self) -> bool {
        self.seq.in_probation()
    }

    /// Packets counted (after probation, without duplicates).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Duplicate packets seen.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Bytes on the wire of the packets counted.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// A.3 packets expected.
    pub fn expected(&self) -> u64 {
        self.seq.expected()
    }

    /// A.3 cumulative loss (may go negative after a restart race).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Lost fraction of all expected packets, 0 before any.
    pub fn loss_ratio(&self) -> f64 {
        match self.expected() {
            0 => 0.0,
            e => self.lost().max(0) as f64 / e as f64,
        }
    }

    /// G.107 `BurstR`: mean observed loss-burst length over the mean length
    /// random loss of the same rate would give (`1 / (1 - Ppl)`); 1 when
    /// nothing was lost.
    pub fn burst_ratio(&self) -> f64 {
        if self.bursts == 0 {
            return 1.0;
        }
        let mean = self.burst_lost as f64 / self.bursts as f64;
        mean * (1.0 - self.loss_ratio())
    }

    /// A.8 interarrival jitter in timestamp units.
    pub fn jitter_rtp(&self) -> f64 {
        self.jitter
    }

    /// Interarrival jitter as a duration.
    pub fn jitter(&self) -> Duration {
        Duration::from_secs_f64(self.jitter / f64::from(self.clock_rate))
    }

    /// Extended highest sequence number as RTCP reports it.
    pub fn extended_highest(&self) -> u32 {
        self.seq.report_highest()
    }

    /// When the last packet (of any verdict) arrived.
    pub fn last_arrival(&self) -> Instant {
        self.last_arrival
    }

    /// Records a sender report from this source: `lsr` is the middle 32 bits
    /// of its NTP timestamp, `now` its arrival for the DLSR.
    pub fn on_sender_report(&mut self, lsr: u32, now: Instant) {
        self.last_sr = Some((lsr, now));
    }

    /// The last sender report: LSR and its arrival.
    pub fn last_sr(&self) -> Option<(u32, Instant)> {
        self.last_sr
    }

    /// Whether a counted packet arrived since the last report block.
    pub fn heard_since_report(&self) -> bool {
        self.heard_since_report
    }

    /// Builds the report block about this source and starts a new A.3
    /// interval.
    pub fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        self.heard_since_report = false;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            // lost_interval <= expected_interval, so the quotient is < 256.
            ((lost_interval as u64) << 8).checked_div(expected_interval).unwrap_or(0).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => (lsr, to_ntp_short(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: self.extended_highest(),
            jitter: self.jitter.min(f64::from(u32::MAX)) as u32,
            lsr,
            dlsr,
        }
    }
}

/// A duration in the 16.16 fixed-point seconds of LSR/DLSR, saturating.
pub(crate) fn to_ntp_short(d: Duration) -> u32 {
    let units = d.as_nanos() * 65_536 / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// 16.16 fixed-point seconds back to a duration.
pub(crate) fn from_ntp_short(units: u32) -> Duration {
    Duration::from_nanos(u64::from(units) * 1_000_000_000 / 65_536)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PTIME: Duration = Duration::from_millis(20);

    /// Feeds `n` packets of 20 ms at 8 kHz with arrival offsets from `offset`,
    /// skipping those `drop` says are lost.
    fn stream(n: u16, offset: impl Fn(u16) -> i64, drop: impl Fn(u16) -> bool) -> (ReceiverStats, Instant) {
        let t0 = crate::rtp::t0();
        let first = 60_000u16;
        let mut s = ReceiverStats::new(7, 8000, first, t0);
        let mut now = t0;
        for i in 0..n {
            if drop(i) {
                continue;
            }
            let nominal = t0 + PTIME * u32::from(i) + Duration::from_millis(50);
            now = nominal.checked_add_signed_ms(offset(i));
            s.on_packet(now, first.wrapping_add(i), 1_000u32.wrapping_mul(7).wrapping_add(160 * u32::from(i)), 172);
        }
        (s, now)
    }

    trait AddMs {
        fn checked_add_signed_ms(self, ms: i64) -> Instant;
    }
    impl AddMs for Instant {
        fn checked_add_signed_ms(self, ms: i64) -> Instant {
            if ms >= 0 {
                self + Duration::from_millis(ms as u64)
            } else {
                self - Duration::from_millis(ms.unsigned_abs())
            }
        }
    }

    #[test]
    fn constant_delay_has_no_jitter() {
        let (s, _) = stream(500, |_| 0, |_| false);
        assert!(s.jitter_rtp() < 0.01, "{}", s.jitter_rtp());
        assert_eq!(s.received(), 499); // the first packet was probation
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn alternating_ten_ms_offsets_give_twenty_ms_jitter() {
        // Transit alternates +10/−10 ms: |D| is 20 ms (160 units) on every
        // packet, and J → 160 with the 1/16 gain.
        let (s, _) = stream(500, |i| if i % 2 == 0 { 10 } else { -10 }, |_| false);
        assert!((s.jitter_rtp() - 160.0).abs() < 0.5, "{}", s.jitter_rtp());
        let ms = s.jitter().as_secs_f64() * 1000.0;
        assert!((ms - 20.0).abs() < 0.1, "{ms}");
    }

    #[test]
    fn known_drop_pattern_gives_loss_fraction() {
        // Every 10th packet lost (never the first two): 10 % loss.
        let (mut s, now) = stream(1002, |_| 0, |i| i >= 2 && i % 10 == 5);
        let block = s.report_block(now);
        // Expected 1..=1001 (base is packet 1) = 1001, lost 100.
        assert_eq!(s.expected(), 1001);
        assert_eq!(block.cumulative_lost, 100);
        assert_eq!(block.fraction_lost, (100u32 * 256 / 1001) as u8);
        assert!((s.loss_ratio() - 0.0999).abs() < 0.001);
        assert!((s.burst_ratio() - 0.9).abs() < 0.01, "{}", s.burst_ratio());
        // Next interval with no packets: nothing lost in it.
        assert_eq!(s.report_block(now).fraction_lost, 0);
        assert_eq!(block.highest_seq, 60_000 + 1001);
    }

    #[test]
    fn bursty_loss_has_burst_ratio_above_one() {
        // Bursts of 5 every 100 packets: 5 % loss, BurstR = 5 * 0.95.
        let (s, _) = stream(10_002, |_| 0, |i| i >= 2 && i % 100 < 5);
        assert!((s.burst_ratio() - 4.75).abs() < 0.05, "{}", s.burst_ratio());
    }

    #[test]
    fn duplicates_are_counted_apart() {
        let t = crate::rtp::t0();
        let mut s = ReceiverStats::new(1, 8000, 0, t);
        for seq in [0u16, 1, 2, 2, 3, 1] {
            s.on_packet(t, seq, u32::from(seq) * 160, 100);
        }
        assert_eq!(s.duplicates(), 2);
        assert_eq!(s.received(), 3);
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn dlsr_counts_from_sr_arrival() {
        let t = crate::rtp::t0();
        let mut s = ReceiverStats::new(1, 8000, 0, t);
        s.on_sender_report(0xABCD_1234, t);
        let b = s.report_block(t + Duration::from_millis(1500));
        assert_eq!(b.lsr, 0xABCD_1234);
        assert_eq!(b.dlsr, 98_304); // 1.5 * 65536
        assert_eq!(from_ntp_short(b.dlsr), Duration::from_millis(1500));
    }

    #[test]
    fn cumulative_loss_clamps_to_24_bits() {
        let t = crate::rtp::t0();
        let mut s = ReceiverStats::new(1, 8000, 0, t);
        s.on_packet(t, 0, 0, 10);
        s.on_packet(t, 1, 0, 10);
        // Walk forward in steps under MAX_DROPOUT, one packet per step.
        let mut seq = 1u16;
        for _ in 0..20_000u32 {
            seq = seq.wrapping_add(2999);
            s.on_packet(t, seq, 0, 10);
        }
        assert!(s.lost() > 0x7f_ffff);
        assert_eq!(s.report_block(t).cumulative_lost, 0x7f_ffff);
        assert_eq!(s.report_block(t).fraction_lost, 0);
    }
}

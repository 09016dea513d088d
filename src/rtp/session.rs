//! One call leg's RTP/RTCP session: receive and send statistics, RTCP
//! timing and reports, round-trip time and a quality estimate.
//!
//! Standards: RFC 3550 §6.2 (report interval, randomised 0.5–1.5×, first
//! report after half the interval), §6.4 (SR when we sent since the last
//! report, else RR; one block per source heard since), §6.5.1 (CNAME in
//! every compound), §6.6 (BYE), §8.2 (a new SSRC is a new source).
//! Out of scope: the bandwidth-scaled interval and timer reconsideration of
//! §6.3 (a two-party call's RTCP share is tiny; the interval is configured),
//! SSRC collision detection (§8.2: we never pick the peer's SSRC, the edge
//! draws ours at random), RTCP feedback.

use std::time::{Duration, Instant};

use super::packet::RtpHeaderView;
use super::quality::{self, QualityCodec};
use super::receiver::ReceiverStats;
use super::rtcp::{self, ReportBlock, RtcpError, RtcpSummary};
use super::sender::{NtpBase, SenderStats};
use super::seq::SeqVerdict;

/// Remote sources tracked at once; a new one beyond this replaces the one
/// heard from least recently.
pub const MAX_SOURCES: usize = 4;
/// A buffer this long holds any compound packet the session writes (SR with
/// `MAX_SOURCES` blocks, SDES with a 255-byte CNAME, BYE).
pub const RTCP_BUF_LEN: usize = 28 + 24 * MAX_SOURCES + 268 + 8;

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// RTP clock rate of the media (8000 for G.711, 48000 for Opus).
    pub clock_rate: u32,
    /// Our SSRC.
    pub local_ssrc: u32,
    /// Our CNAME (RFC 7022: random per call is fine); cut to 255 bytes.
    pub cname: String,
    /// Mean RTCP report interval; RFC 3550's minimum is 5 s.
    pub rtcp_interval: Duration,
    /// Wall clock base for SR timestamps.
    pub ntp_base: NtpBase,
    /// Seed of the interval randomisation (deterministic for tests).
    pub seed: u64,
    /// Codec for the quality estimate.
    pub codec: QualityCodec,
    /// Delay added after the network (jitter buffer, packetisation) for
    /// the quality estimate; `RtpSession::set_playout_delay` updates it.
    pub playout_delay: Duration,
}

impl SessionConfig {
    /// Defaults: 5 s interval, seed from the SSRC, G.711, 40 ms playout.
    pub fn new(clock_rate: u32, local_ssrc: u32, cname: impl Into<String>, ntp_base: NtpBase) -> Self {
        Self {
            clock_rate,
            local_ssrc,
            cname: cname.into(),
            rtcp_interval: Duration::from_secs(5),
            ntp_base,
            seed: u64::from(local_ssrc),
            codec: QualityCodec::G711,
            playout_delay: Duration::from_millis(40),
        }
    }
}

/// What `on_rtp` made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpInput {
    /// Counted; `in_order` is false for a late (reordered) packet.
    Accepted {
        /// Extended sequence number (see `seq::SEQ_HEADROOM`).
        extended_seq: u64,
        /// It is the newest packet so far.
        in_order: bool,
    },
    /// Seen before.
    Duplicate,
    /// First packet of an SSRC not heard before: fresh statistics, in
    /// probation.
    NewSource {
        /// The new source.
        ssrc: u32,
        /// A tracked source dropped to make room.
        replaced: Option<u32>,
    },
    /// The source has not sent enough sequential packets yet.
    Probation,
    /// A sequence jump; a following packet confirms a restart.
    BadSequence,
    /// The source restarted its numbering; statistics start over.
    Restarted {
        /// Extended sequence number.
        extended_seq: u64,
    },
}

/// A snapshot of how the call sounds, for logs, CDRs and media timeouts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Interarrival jitter of the current source.
    pub jitter: Duration,
    /// Lost fraction of the packets expected from it.
    pub loss_ratio: f64,
    /// Packets lost.
    pub lost: u64,
    /// Packets received (no duplicates).
    pub received: u64,
    /// Round-trip time from the peer's last report.
    pub rtt: Option<Duration>,
    /// E-model MOS (G.107) of what we receive.
    pub mos: f64,
}

/// The RTP session of one call leg, sans-IO.
///
/// Order of calls from the edge: every datagram goes to `on_rtp` (after
/// `RtpHeaderView::parse`) or `on_rtcp` (after `packet::is_rtcp`); every
/// packet sent goes to `on_sent`; then `poll_rtcp` sends what is due and
/// `poll_timeout` says when to come back. `bye` ends the session.
#[derive(Debug)]
pub struct RtpSession {
    cfg: SessionConfig,
    sources: [Option<ReceiverStats>; MAX_SOURCES],
    current: Option<usize>,
    new_sources: u32,
    sender: SenderStats,
    rng: fastrand::Rng,
    next_rtcp: Option<Instant>,
    last_received: Option<Instant>,
    rtt: Option<Duration>,
    remote_report: Option<ReportBlock>,
    bye: Option<u32>,
    closed: bool,
}

impl RtpSession {
    /// A session that has neither sent nor received; RTCP starts with the
    /// first packet either way.
    pub fn new(mut cfg: SessionConfig) -> Self {
        if cfg.cname.len() > 255 {
            let mut end = 255;
            while !cfg.cname.is_char_boundary(end) {
                end -= 1;
            }
            cfg.cname.truncate(end);
        }
        cfg.clock_rate = cfg.clock_rate.max(1);
        let rng = fastrand::Rng::with_seed(cfg.seed);
        Self {
            cfg,
            sources: Default::default(),
            current: None,
            new_sources: 0,
            sender: SenderStats::new(),
            rng,
            next_rtcp: None,
            last_received: None,
            rtt: None,
            remote_report: None,
            bye: None,
            closed: false,
        }
    }

    fn schedule(&mut self, now: Instant, first: bool) {
        let mean = if first { self.cfg.rtcp_interval / 2 } else { self.cfg.rtcp_interval };
        self.next_rtcp = Some(now + mean.mul_f64(0.5 + self.rng.f64()));
    }

    fn start(&mut self, now: Instant) {
        if self.next_rtcp.is_none() && !self.closed {
            self.schedule(now, true);
        }
    }

    /// Accounts a received RTP packet of `wire_len` bytes. Never allocates.
    pub fn on_rtp(&mut self, now: Instant, pkt: &RtpHeaderView<'_>, wire_len: usize) -> RtpInput {
        self.start(now);
        self.last_received = Some(now);
        let ssrc = pkt.ssrc();
        let found = self
            .sources
            .iter_mut()
            .enumerate()
            .find_map(|(i, slot)| slot.as_mut().filter(|s| s.ssrc() == ssrc).map(|s| (i, s)));
        let Some((idx, stats)) = found else {
            return self.new_source(now, pkt, wire_len);
        };
        match stats.on_packet(now, pkt.seq(), pkt.timestamp(), wire_len) {
            SeqVerdict::Valid { ext, new_highest, .. } => {
                self.current = Some(idx);
                RtpInput::Accepted { extended_seq: ext, in_order: new_highest }
            }
            SeqVerdict::Restarted { ext } => {
                self.current = Some(idx);
                RtpInput::Restarted { extended_seq: ext }
            }
            SeqVerdict::Duplicate { .. } => RtpInput::Duplicate,
            SeqVerdict::BadSeq => RtpInput::BadSequence,
            SeqVerdict::Probation => RtpInput::Probation,
        }
    }

    fn new_source(&mut self, now: Instant, pkt: &RtpHeaderView<'_>, wire_len: usize) -> RtpInput {
        let slot = match self.sources.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                let oldest = self.sources.iter().enumerate().min_by_key(|(_, s)| s.as_ref().map(ReceiverStats::last_arrival));
                oldest.map_or(0, |(i, _)| i)
            }
        };
        let replaced = self.sources[slot].as_ref().map(ReceiverStats::ssrc);
        if self.current == Some(slot) {
            self.current = None;
        }
        let mut stats = ReceiverStats::new(pkt.ssrc(), self.cfg.clock_rate, pkt.seq(), now);
        stats.on_packet(now, pkt.seq(), pkt.timestamp(), wire_len);
        self.sources[slot] = Some(stats);
        self.new_sources += 1;
        RtpInput::NewSource { ssrc: pkt.ssrc(), replaced }
    }

    /// Accounts an RTP packet we sent. Never allocates.
    pub fn on_sent(&mut self, now: Instant, _seq: u16, timestamp: u32, payload_len: usize) {
        self.start(now);
        self.sender.on_sent(now, timestamp, payload_len);
    }

    /// Takes in an RTCP datagram: the peer's SR feeds our next report's
    /// LSR/DLSR, its block about us gives loss and round-trip time.
    pub fn on_rtcp(&mut self, now: Instant, buf: &[u8]) -> Result<RtcpSummary, RtcpError> {
        let mut summary = rtcp::parse_compound(buf, self.cfg.local_ssrc)?;
        if let Some((ssrc, info)) = summary.sender_report
            && let Some(stats) = self.sources.iter_mut().flatten().find(|s| s.ssrc() == ssrc)
        {
            stats.on_sender_report(rtcp::ntp_middle(info.ntp), now);
        }
        if let Some(block) = summary.report_about_us {
            let arrival = rtcp::ntp_middle(self.cfg.ntp_base.ntp(now));
            summary.rtt = rtcp::round_trip(arrival, block.lsr, block.dlsr);
            if summary.rtt.is_some() {
                self.rtt = summary.rtt;
            }
            self.remote_report = Some(block);
        }
        if summary.bye.is_some() {
            self.bye = summary.bye;
        }
        Ok(summary)
    }

    /// When `poll_rtcp` next has a report to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_rtcp
    }

    /// Writes the compound report (SR or RR, then SDES CNAME) into `buf`
    /// if one is due at `now`. A buffer shorter than `RTCP_BUF_LEN` may
    /// make the report be skipped.
    pub fn poll_rtcp(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.next_rtcp.is_none_or(|due| now < due) {
            return None;
        }
        self.schedule(now, false);
        self.write_report(now, buf)
    }

    fn write_report(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let mut blocks = [ReportBlock::default(); MAX_SOURCES];
        let mut count = 0;
        for stats in self.sources.iter_mut().flatten() {
            if stats.heard_since_report() && !stats.in_probation() {
                blocks[count] = stats.report_block(now);
                count += 1;
            }
        }
        let blocks = &blocks[..count];
        let ssrc = self.cfg.local_ssrc;
        let info = if self.sender.sent_since_report() {
            self.sender.sender_info(now, self.cfg.clock_rate, &self.cfg.ntp_base)
        } else {
            None
        };
        let mut n = match info {
            Some(info) => rtcp::write_sr(buf, ssrc, &info, blocks).ok()?,
            None => {
                self.sender.mark_reported();
                rtcp::write_rr(buf, ssrc, blocks).ok()?
            }
        };
        n += rtcp::write_sdes_cname(buf.get_mut(n..)?, ssrc, self.cfg.cname.as_bytes()).ok()?;
        Some(n)
    }

    /// Writes a final report followed by BYE and stops RTCP timing.
    pub fn bye(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.next_rtcp = None;
        self.closed = true;
        let n = self.write_report(now, buf)?;
        let m = rtcp::write_bye(buf.get_mut(n..)?, self.cfg.local_ssrc, None).ok()?;
        Some(n + m)
    }

    /// Updates the playout delay used by the quality estimate.
    pub fn set_playout_delay(&mut self, delay: Duration) {
        self.cfg.playout_delay = delay;
    }

    /// Quality of what we receive from the current source, with the MOS at
    /// a one-way delay of RTT/2 plus the playout delay.
    pub fn quality(&self) -> Quality {
        let one_way = self.rtt.map_or(Duration::ZERO, |r| r / 2) + self.cfg.playout_delay;
        match self.current_source() {
            Some(s) => Quality {
                jitter: s.jitter(),
                loss_ratio: s.loss_ratio(),
                lost: s.lost().max(0) as u64,
                received: s.received(),
                rtt: self.rtt,
                mos: quality::mos(self.cfg.codec, one_way, s.loss_ratio(), s.burst_ratio()),
            },
            None => Quality {
                jitter: Duration::ZERO,
                loss_ratio: 0.0,
                lost: 0,
                received: 0,
                rtt: self.rtt,
                mos: quality::mos(self.cfg.codec, one_way, 0.0, 1.0),
            },
        }
    }

    /// When the last RTP packet arrived, for media timeouts.
    pub fn last_received(&self) -> Option<Instant> {
        self.last_received
    }

    /// Statistics of the source heard from most recently.
    pub fn current_source(&self) -> Option<&ReceiverStats> {
        self.current.and_then(|i| self.sources[i].as_ref())
    }

    /// Statistics of a given source.
    pub fn source(&self, ssrc: u32) -> Option<&ReceiverStats> {
        self.sources.iter().flatten().find(|s| s.ssrc() == ssrc)
    }

    /// How many distinct sources (SSRC changes included) were seen.
    pub fn new_sources(&self) -> u32 {
        self.new_sources
    }

    /// What we sent.
    pub fn sender(&self) -> &SenderStats {
        &self.sender
    }

    /// The peer's last report block about our stream.
    pub fn remote_report(&self) -> Option<ReportBlock> {
        self.remote_report
    }

    /// The SSRC of a BYE received, if any.
    pub fn bye_received(&self) -> Option<u32> {
        self.bye
    }

    /// Our SSRC.
    pub fn local_ssrc(&self) -> u32 {
        self.cfg.local_ssrc
    }
}

#[cfg(test)]
mod tests;

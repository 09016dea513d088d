//! Session tests in virtual time: two sessions exchange RTP and RTCP over an
//! emulated path, and the clock always jumps to the next deadline.

use super::*;
use crate::rtp::packet::{HeaderFields, is_rtcp, write_header};
use proptest::prelude::*;

const PTIME: Duration = Duration::from_millis(20);

fn cfg(ssrc: u32, t0: Instant, unix_secs: u64) -> SessionConfig {
    SessionConfig::new(8000, ssrc, format!("leg-{ssrc:x}@test"), NtpBase { instant: t0, unix: Duration::from_secs(unix_secs) })
}

fn rtp(ssrc: u32, seq: u16, ts: u32) -> Vec<u8> {
    let mut b = vec![0u8; 172];
    write_header(&mut b, &HeaderFields { marker: false, payload_type: 0, seq, timestamp: ts, ssrc }).unwrap();
    b
}

/// Two legs sending 20 ms packets to each other over a path of `delay` each
/// way; `drop_a_to_b(i)` loses A's `i`th packet.
struct Pair {
    t: Instant,
    s: [RtpSession; 2],
    /// (deliver at, to, bytes)
    wire: Vec<(Instant, usize, Vec<u8>)>,
    next_media: Instant,
    sent: [u32; 2],
    delay: Duration,
    drop_a_to_b: fn(u32) -> bool,
    rtcp_seen: [u32; 2],
}

impl Pair {
    fn new(delay: Duration, drop_a_to_b: fn(u32) -> bool) -> Self {
        let t = crate::rtp::t0();
        // Different wall clocks on purpose: RTT must not depend on them.
        Self {
            t,
            s: [RtpSession::new(cfg(0xA, t, 1_700_000_000)), RtpSession::new(cfg(0xB, t, 1_600_000_123))],
            wire: Vec::new(),
            next_media: t,
            sent: [0; 2],
            delay,
            drop_a_to_b,
            rtcp_seen: [0; 2],
        }
    }

    fn run(&mut self, for_: Duration) {
        let end = self.t + for_;
        let mut buf = [0u8; RTCP_BUF_LEN];
        loop {
            let next = [Some(self.next_media), self.s[0].poll_timeout(), self.s[1].poll_timeout(), self.wire.iter().map(|w| w.0).min()]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            if next > end {
                break;
            }
            self.t = next;
            let now = self.t;
            let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|w| w.0 <= now);
            self.wire = later;
            for (_, to, bytes) in due {
                if is_rtcp(&bytes) {
                    self.rtcp_seen[to] += 1;
                    self.s[to].on_rtcp(now, &bytes).unwrap();
                } else {
                    let view = RtpHeaderView::parse(&bytes).unwrap();
                    self.s[to].on_rtp(now, &view, bytes.len());
                }
            }
            if self.next_media <= now {
                for from in 0..2 {
                    let i = self.sent[from];
                    self.sent[from] += 1;
                    let (seq, ts) = (65_000u16.wrapping_add(i as u16), 4_294_000_000u32.wrapping_add(160 * i));
                    self.s[from].on_sent(now, seq, ts, 160);
                    if from == 0 && (self.drop_a_to_b)(i) {
                        continue;
                    }
                    self.wire.push((now + self.delay, 1 - from, rtp(self.s[from].local_ssrc(), seq, ts)));
                }
                self.next_media += PTIME;
            }
            for from in 0..2 {
                if let Some(n) = self.s[from].poll_rtcp(now, &mut buf) {
                    self.wire.push((now + self.delay, 1 - from, buf[..n].to_vec()));
                }
            }
        }
    }
}

#[test]
fn rtt_between_two_sessions_equals_path_delay() {
    let mut p = Pair::new(Duration::from_millis(35), |_| false);
    p.run(Duration::from_secs(30));
    assert!(p.rtcp_seen[0] >= 3 && p.rtcp_seen[1] >= 3, "{:?}", p.rtcp_seen);
    for s in &p.s {
        let rtt = s.quality().rtt.expect("rtt after reports");
        let err = rtt.as_secs_f64() - 0.070;
        assert!(err.abs() < 0.000_1, "rtt {rtt:?}");
        let q = s.quality();
        assert_eq!(q.lost, 0);
        assert!(q.received > 1400, "{}", q.received);
        assert!(q.jitter < Duration::from_micros(200), "{:?}", q.jitter);
        // G.711, 35 + 40 ms one way: R = 93.2 − 1.8 → MOS ≈ 4.372.
        assert!((q.mos - 4.372).abs() < 0.005, "{}", q.mos);
        let remote = s.remote_report().unwrap();
        assert_eq!(remote.cumulative_lost, 0);
    }
}

#[test]
fn known_loss_is_reported_both_ways() {
    // A→B loses every 10th packet after the first few.
    let mut p = Pair::new(Duration::from_millis(10), |i| i >= 5 && i % 10 == 0);
    p.run(Duration::from_secs(60));
    let q = p.s[1].quality();
    assert!((q.loss_ratio - 0.1).abs() < 0.003, "{}", q.loss_ratio);
    // B's last RR told A: fraction near 25/256, cumulative near 10 %.
    let r = p.s[0].remote_report().unwrap();
    assert!((24..=27).contains(&r.fraction_lost), "{}", r.fraction_lost);
    let expected = f64::from(r.highest_seq - 65_000);
    let ratio = f64::from(r.cumulative_lost) / expected;
    assert!((ratio - 0.1).abs() < 0.005, "{} of {expected}", r.cumulative_lost);
    // Loss costs MOS: 10 % random loss on G.711+PLC, R ≈ 93.2 − 1.2 − 26.2.
    assert!(q.mos < 3.6 && q.mos > 3.2, "{}", q.mos);
    assert!(p.s[0].quality().mos > 4.3);
}

#[test]
fn report_timing_is_randomised_within_rfc_bounds() {
    let t = crate::rtp::t0();
    let mut s = RtpSession::new(cfg(1, t, 1_000));
    assert_eq!(s.poll_timeout(), None);
    s.on_sent(t, 0, 0, 160);
    let first = s.poll_timeout().unwrap() - t;
    assert!(first >= Duration::from_millis(1250) && first <= Duration::from_millis(3750), "{first:?}");
    let mut buf = [0u8; RTCP_BUF_LEN];
    let mut now = t + first;
    assert_eq!(s.poll_rtcp(now - Duration::from_millis(1), &mut buf), None);
    let mut gaps = Vec::new();
    for _ in 0..200 {
        assert!(s.poll_rtcp(now, &mut buf).is_some());
        let next = s.poll_timeout().unwrap();
        gaps.push(next - now);
        now = next;
    }
    let min = gaps.iter().min().unwrap().as_secs_f64();
    let max = gaps.iter().max().unwrap().as_secs_f64();
    let mean = gaps.iter().map(Duration::as_secs_f64).sum::<f64>() / gaps.len() as f64;
    assert!(min >= 2.5 && max <= 7.5, "{min} {max}");
    assert!(max - min > 3.0, "not randomised: {min} {max}");
    assert!((mean - 5.0).abs() < 0.3, "{mean}");
    // Same seed, same schedule.
    let mut again = RtpSession::new(cfg(1, t, 1_000));
    again.on_sent(t, 0, 0, 160);
    assert_eq!(again.poll_timeout().unwrap() - t, first);
}

#[test]
fn sr_only_after_sending() {
    let t = crate::rtp::t0();
    let mut s = RtpSession::new(cfg(1, t, 1_000));
    let pkt = rtp(9, 1, 0);
    let view = RtpHeaderView::parse(&pkt).unwrap();
    s.on_rtp(t, &view, pkt.len());
    let mut buf = [0u8; RTCP_BUF_LEN];
    let due = s.poll_timeout().unwrap();
    let n = s.poll_rtcp(due, &mut buf).unwrap();
    assert_eq!(buf[1], 201, "receive-only: RR");
    // The source is still in probation: no block yet; CNAME follows.
    assert_eq!(buf[0] & 0x1f, 0);
    assert_eq!(buf[8 + 9], b"leg-1@test".len() as u8);
    assert!(n > 8);
    s.on_sent(due, 0, 0, 160);
    let due = s.poll_timeout().unwrap();
    s.poll_rtcp(due, &mut buf).unwrap();
    assert_eq!(buf[1], 200, "sent since last report: SR");
    let due = s.poll_timeout().unwrap();
    s.poll_rtcp(due, &mut buf).unwrap();
    assert_eq!(buf[1], 201, "nothing sent since: RR again");
}

#[test]
fn ssrc_change_starts_fresh_statistics() {
    let t = crate::rtp::t0();
    let mut s = RtpSession::new(cfg(1, t, 1_000));
    let feed = |s: &mut RtpSession, ssrc: u32, seq: u16, at: Duration| {
        let pkt = rtp(ssrc, seq, u32::from(seq) * 160);
        s.on_rtp(t + at, &RtpHeaderView::parse(&pkt).unwrap(), pkt.len())
    };
    assert_eq!(feed(&mut s, 0x111, 10, PTIME), RtpInput::NewSource { ssrc: 0x111, replaced: None });
    assert!(matches!(feed(&mut s, 0x111, 11, PTIME * 2), RtpInput::Accepted { in_order: true, .. }));
    for i in 12..110 {
        feed(&mut s, 0x111, i, PTIME * u32::from(i));
    }
    assert_eq!(s.quality().received, 99);
    assert_eq!(feed(&mut s, 0x111, 50, PTIME * 111), RtpInput::Duplicate);
    // The far end switched media server: new SSRC, new numbering.
    assert_eq!(feed(&mut s, 0x222, 40_000, PTIME * 112), RtpInput::NewSource { ssrc: 0x222, replaced: None });
    assert_eq!(feed(&mut s, 0x222, 40_001, PTIME * 113), RtpInput::Accepted { extended_seq: (1 << 16) + 40_001, in_order: true });
    assert_eq!(s.new_sources(), 2);
    assert_eq!(s.current_source().unwrap().ssrc(), 0x222);
    assert_eq!(s.quality().received, 1);
    assert_eq!(s.source(0x111).unwrap().received(), 99);
    // Beyond MAX_SOURCES the least recently heard goes.
    for (k, ssrc) in [0x333u32, 0x444, 0x555].into_iter().enumerate() {
        let r = feed(&mut s, ssrc, 1, PTIME * (120 + k as u32));
        let want = if ssrc == 0x555 { Some(0x111) } else { None };
        assert_eq!(r, RtpInput::NewSource { ssrc, replaced: want });
    }
    assert!(s.source(0x111).is_none());
    assert_eq!(s.last_received(), Some(t + PTIME * 122));
}

#[test]
fn bye_is_a_compound_ending_in_bye() {
    let t = crate::rtp::t0();
    let mut s = RtpSession::new(cfg(7, t, 1_000));
    s.on_sent(t, 0, 0, 160);
    let mut buf = [0u8; RTCP_BUF_LEN];
    let n = s.bye(t + Duration::from_secs(1), &mut buf).unwrap();
    assert_eq!(s.poll_timeout(), None);
    let mut peer = RtpSession::new(cfg(8, t, 1_000));
    let summary = peer.on_rtcp(t, &buf[..n]).unwrap();
    assert_eq!(summary.bye, Some(7));
    assert_eq!(summary.reporter, Some(7));
    assert!(summary.sender_report.is_some());
    assert_eq!(peer.bye_received(), Some(7));
    // A closed session does not start reporting again.
    s.on_sent(t + Duration::from_secs(2), 1, 160, 160);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn long_cname_is_cut_to_255_bytes() {
    let t = crate::rtp::t0();
    let mut c = cfg(1, t, 1_000);
    c.cname = "é".repeat(200);
    let mut s = RtpSession::new(c);
    let mut buf = [0u8; RTCP_BUF_LEN];
    let n = s.bye(t, &mut buf).unwrap();
    assert!(n <= RTCP_BUF_LEN);
    assert_eq!(buf[8 + 9], 254, "cut at a char boundary");
}

proptest! {
    #[test]
    fn garbage_rtcp_is_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let t = crate::rtp::t0();
        let mut s = RtpSession::new(cfg(1, t, 1_000));
        let _ = s.on_rtcp(t, &bytes);
        prop_assert!(s.remote_report().is_none() || bytes.len() >= 32);
    }

    #[test]
    fn corrupted_reports_never_panic(flip in 0usize..200, val: u8, cut in 0usize..200) {
        let t = crate::rtp::t0();
        let mut a = RtpSession::new(cfg(1, t, 1_000));
        let pkt = rtp(2, 1, 0);
        a.on_sent(t, 0, 0, 160);
        a.on_rtp(t, &RtpHeaderView::parse(&pkt).unwrap(), 172);
        let mut buf = [0u8; RTCP_BUF_LEN];
        let n = a.bye(t, &mut buf).unwrap();
        buf[flip % n] = val;
        let mut b = RtpSession::new(cfg(2, t, 1_000));
        let _ = b.on_rtcp(t, &buf[..n.min(cut.max(1))]);
        let _ = b.on_rtcp(t, &buf[..n]);
    }
}

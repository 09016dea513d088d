//! RTP per-packet path: header parse, header write and rewrite, session
//! statistics update; and, before the timings, an allocation count proving
//! the per-packet path allocates nothing (a counting global allocator, which
//! needs `unsafe` and so cannot live in the `forbid(unsafe_code)` library).
//!
//! Run: `cargo bench --bench rtp`; `cargo test --bench rtp` runs the
//! allocation checks and each bench once.
//!
//! The `rtp` crate's `Header::unmarshal` (design card) is measured beside our
//! borrowed view on the same packets: why the media path parses with its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::rtp::packet::{self, HeaderFields, RtpHeaderView};
use switchyard::rtp::session::RTCP_BUF_LEN;
use switchyard::rtp::{NtpBase, RtpSession, SessionConfig};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is the only addition.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// A fixed start; benches only add durations to it.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

/// G.711 20 ms packet: 12-byte header + 160 bytes.
fn plain_packet() -> [u8; 172] {
    let mut b = [0u8; 172];
    let fields = HeaderFields { marker: false, payload_type: 0, seq: 1, timestamp: 160, ssrc: 0x5157_0001 };
    let _ = packet::write_header(&mut b, &fields);
    b
}

/// The same with two CSRCs and a one-word extension.
fn rich_packet() -> Vec<u8> {
    let mut b = plain_packet()[..12].to_vec();
    b[0] |= 0x10 | 2;
    b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
    b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]);
    b.extend_from_slice(&[0u8; 160]);
    b
}

fn session(t: Instant) -> RtpSession {
    RtpSession::new(SessionConfig::new(8000, 0xA, "bench@switchyard", NtpBase { instant: t, unix: Duration::from_secs(1_700_000_000) }))
}

/// Asserts the per-packet path is allocation-free once a call is steady.
fn allocation_checks() {
    let plain = plain_packet();
    let rich = rich_packet();
    let parse = allocations_during(|| {
        for _ in 0..1000 {
            black_box(RtpHeaderView::parse(black_box(&plain)).map(|v| v.payload().len()).ok());
            black_box(RtpHeaderView::parse(black_box(&rich)).map(|v| v.csrc(1)).ok());
        }
    });

    let t = t0();
    let mut s = session(t);
    let mut pkt = plain_packet();
    let mut out = [0u8; 172];
    let mut rtcp = [0u8; RTCP_BUF_LEN];
    let mut now = t;
    let mut step = |s: &mut RtpSession, i: u32, now: Instant| {
        let seq = i as u16;
        let _ = packet::set_seq(&mut pkt, seq);
        let _ = packet::set_timestamp(&mut pkt, i * 160);
        if let Ok(v) = RtpHeaderView::parse(&pkt) {
            black_box(s.on_rtp(now, &v, pkt.len()));
        }
        let fields = HeaderFields { marker: false, payload_type: 8, seq, timestamp: i * 160, ssrc: 0xA };
        let _ = packet::write_header(&mut out, &fields);
        s.on_sent(now, seq, i * 160, 160);
        black_box(s.poll_rtcp(now, &mut rtcp));
    };
    // Warm-up: first packets, first reports.
    for i in 0..500 {
        step(&mut s, i, now);
        now += Duration::from_millis(20);
    }
    let mut i = 500;
    let steady = allocations_during(|| {
        // 100 s of call, including about 20 RTCP reports written.
        for _ in 0..5000 {
            step(&mut s, i, now);
            i += 1;
            now += Duration::from_millis(20);
        }
    });
    let quality = allocations_during(|| {
        black_box(s.quality());
    });
    // Incoming RTCP goes through the rtcp crate, which allocates; shown,
    // not asserted (a few per 5 s).
    let mut peer = session(t);
    let n = s.bye(now, &mut rtcp).unwrap_or(0);
    let on_rtcp = allocations_during(|| {
        black_box(peer.on_rtcp(now, &rtcp[..n]).is_ok());
    });
    println!(
        "allocations: parse x2000 = {parse}; on_rtp+on_sent+write_header+poll_rtcp over 5000 packets = {steady}; quality = {quality}; one incoming compound RTCP = {on_rtcp}"
    );
    assert_eq!(parse, 0, "header parse allocated");
    assert_eq!(steady, 0, "steady-state packet path allocated");
    assert_eq!(quality, 0, "quality() allocated");
}

fn bench(c: &mut Criterion) {
    allocation_checks();
    let plain = plain_packet();
    let rich = rich_packet();
    c.bench_function("rtp/parse_view_plain", |b| {
        b.iter(|| RtpHeaderView::parse(black_box(&plain)).map(|v| (v.seq(), v.timestamp(), v.payload().len())).ok())
    });
    c.bench_function("rtp/rtp_crate_unmarshal_plain", |b| {
        use webrtc_util::marshal::Unmarshal;
        b.iter(|| {
            let mut r: &[u8] = black_box(&plain);
            rtp::header::Header::unmarshal(&mut r).map(|h| (h.sequence_number, h.timestamp, r.len())).ok()
        })
    });
    c.bench_function("rtp/rtp_crate_unmarshal_csrc_ext", |b| {
        use webrtc_util::marshal::Unmarshal;
        b.iter(|| {
            let mut r: &[u8] = black_box(&rich);
            rtp::header::Header::unmarshal(&mut r).map(|h| (h.sequence_number, h.csrc.len(), r.len())).ok()
        })
    });
    c.bench_function("rtp/parse_view_csrc_ext", |b| {
        b.iter(|| RtpHeaderView::parse(black_box(&rich)).map(|v| (v.seq(), v.csrc(1), v.payload().len())).ok())
    });
    let mut buf = [0u8; 172];
    let mut seq = 0u16;
    c.bench_function("rtp/write_header", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let fields = HeaderFields { marker: false, payload_type: 0, seq, timestamp: u32::from(seq) * 160, ssrc: 7 };
            packet::write_header(black_box(&mut buf), &fields).ok()
        })
    });
    let mut relay = plain_packet();
    c.bench_function("rtp/rewrite_pt_seq_ts_ssrc", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let pkt = black_box(&mut relay);
            let _ = packet::set_payload_type(pkt, 8);
            let _ = packet::set_seq(pkt, seq);
            let _ = packet::set_timestamp(pkt, u32::from(seq) * 160);
            packet::set_ssrc(pkt, 0xB).ok()
        })
    });
    let t = t0();
    let mut s = session(t);
    let mut pkt = plain_packet();
    let mut i = 0u32;
    c.bench_function("rtp/session_on_rtp", |b| {
        b.iter(|| {
            i += 1;
            let _ = packet::set_seq(&mut pkt, i as u16);
            let _ = packet::set_timestamp(&mut pkt, i.wrapping_mul(160));
            let now = t + Duration::from_millis(20) * i;
            RtpHeaderView::parse(black_box(&pkt)).map(|v| s.on_rtp(now, &v, 172)).ok()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

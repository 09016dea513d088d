//! `rtp_load`: the media load tool of `benches/media-load.sh` (not a criterion bench).
//!
//! * `echo --flows N --base-port P [--seconds S] [--recv recvfrom|mmsg]`: the floor an RTP relay
//!   is compared with: one thread, epoll (mio), N UDP sockets on 127.0.0.1:P.., every datagram
//!   sent back to its source from the socket it came in on. Runs until killed, or for S seconds.
//!   `mmsg` reads with `recvmmsg` instead of `recv_from` until EAGAIN (an experiment: is batched
//!   receive worth it with one socket per flow?).
//! * `gen --echo-base P --flows N`: G.711-sized RTP (12 + 160 bytes, PT 0) at 50 packets/s per
//!   flow to echo socket P+i, counting what comes back.
//! * `gen --switch IP:PORT --calls N [--uas-port 5090] [--uac-port 5091] [--codec pcmu|opus]`:
//!   N calls through the switch over hand-written SIP/UDP (RFC 3261: INVITE, ACK, BYE, with
//!   retransmission of INVITE, BYE and the callee's 200). The tool is the caller (UAC on
//!   --uac-port, dialling `<--prefix><i>`) and the callee the switch routes to (UAS on
//!   --uas-port). Each call then sends RTP (RFC 3550) both ways at 50 packets/s per direction to
//!   the addresses the SDP (RFC 8866) gave.
//!
//! Every flow sends on one 20 ms grid with the flows spread evenly across the period. The
//! generator must stay cheaper than what it measures, so its RTP side is batched: all callers
//! share one socket and all callees another (each with its RTCP socket on the odd port above),
//! packets that fell due go out every millisecond in `sendmmsg` batches, and replies are drained
//! with `recvmmsg` at the same tick and told apart by their source port (the switch's port of that
//! leg, or the echo socket). The RTP sockets are not in epoll: nobody sleeps on them, so the
//! process sending to them never has to wake this one (on a VM such cross-CPU wake-ups cost as
//! much as the packet itself). The switch sees one peer address per side, as behind a media
//! gateway; it still sends every leg from and to its own port. Phases of `gen`: set-up (INVITEs paced at --rate calls/s)
//! -> --warmup s -> a measuring window of --seconds s -> sending stops, 1 s grace -> BYE for
//! every call (paced) -> --settle s. With --watch-pid the CPU (utime+stime of all threads, from
//! /proc) of that process is read at the window's edges, and its resident size before set-up,
//! at the window's end, 2 s after the BYEs and after --settle. One JSON line on stdout sums it
//! up; progress goes to stderr ("window starts" marks the steady state for profilers).
//!
//! Out of scope: sending RTCP (what the switch sends is counted apart), SIP over TCP, authentication (the
//! bench's trunk admits 127.0.0.1 by ACL), CANCEL, forking, jitter measurement.

// A load tool reads clocks by nature: it paces packets in real time and measures CPU over
// wall-clock windows. The clippy ban protects the sans-IO library, not this standalone tool.
#![allow(clippy::disallowed_methods)]
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::str::FromStr;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg, setsockopt, sockopt};

/// Packetisation period: 20 ms, 50 packets/s per flow.
const PERIOD_NS: u64 = 20_000_000;
/// RFC 3261's T1, the first retransmission interval.
const T1: Duration = Duration::from_millis(500);
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const UAC: Token = Token(0);
const UAS: Token = Token(1);
/// Datagrams per `sendmmsg` / `recvmmsg`.
const BATCH: usize = 64;
/// Datagrams per `recvmmsg` of the echo loop's `--recv mmsg` variant.
const ECHO_VLEN: usize = 8;
/// Largest RTP packet sent (Opus frames of the speech-like signal are far below).
const PACKET: usize = 1500;
/// How often due packets are sent and replies drained.
const TICK: Duration = Duration::from_millis(1);
/// Receive buffer of the shared sockets: a few 10 ms of 200,000 packets/s if this process is
/// descheduled (capped by net.core.rmem_max unless run as root).
const RCVBUF: usize = 16 << 20;

type Res<T> = Result<T, String>;

fn main() {
    let r = Args::parse().and_then(|a| match a.mode.as_str() {
        "echo" => echo(&a),
        "gen" => Gen::new(&a).and_then(Gen::run),
        m => Err(format!("unknown mode {m:?}: echo or gen (see the module docs)")),
    });
    if let Err(e) = r {
        eprintln!("rtp_load: {e}");
        std::process::exit(1);
    }
}

/// `mode --key value ...`; a bare `--bench` (added by `cargo bench`) is ignored.
struct Args {
    mode: String,
    kv: HashMap<String, String>,
}

impl Args {
    fn parse() -> Res<Args> {
        let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
        let mode = it.next().ok_or("usage: rtp_load echo|gen --key value ...")?;
        let mut kv = HashMap::new();
        while let Some(k) = it.next() {
            let key = k.strip_prefix("--").ok_or_else(|| format!("expected --key, got {k:?}"))?;
            kv.insert(key.to_owned(), it.next().ok_or_else(|| format!("--{key} needs a value"))?);
        }
        Ok(Args { mode, kv })
    }
    fn opt(&self, k: &str) -> Option<&str> {
        self.kv.get(k).map(String::as_str)
    }
    fn get<T: FromStr>(&self, k: &str, default: T) -> Res<T> {
        self.opt(k).map_or(Ok(default), |v| v.parse().map_err(|_| format!("--{k}: cannot parse {v:?}")))
    }
    fn secs(&self, k: &str, default: f64) -> Res<Duration> {
        self.get(k, default).map(Duration::from_secs_f64)
    }
}

/// One side's shared RTP socket on an even ephemeral port and its RTCP socket on the odd port
/// above (RFC 3550 11), both non-blocking and outside epoll (drained at every tick).
struct Side {
    rtp: std::net::UdpSocket,
    rtcp: std::net::UdpSocket,
    port: u16,
}

impl Side {
    fn bind() -> Res<Side> {
        let nb = |s: std::net::UdpSocket| s.set_nonblocking(true).map(|_| s).map_err(|e| format!("nonblocking: {e}"));
        for _ in 0..1000 {
            let rtp = std::net::UdpSocket::bind(SocketAddr::new(LOCAL, 0)).map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
            let port = rtp.local_addr().map_err(|e| format!("local_addr: {e}"))?.port();
            if port % 2 == 1 || port == u16::MAX {
                continue;
            }
            if let Ok(rtcp) = std::net::UdpSocket::bind(SocketAddr::new(LOCAL, port + 1)) {
                // Root may exceed net.core.rmem_max (SO_RCVBUFFORCE); others get what it allows.
                if setsockopt(rtp.as_raw_fd(), sockopt::RcvBufForce, &RCVBUF).is_err() {
                    let _ = setsockopt(rtp.as_raw_fd(), sockopt::RcvBuf, &RCVBUF);
                }
                return Ok(Side { rtp: nb(rtp)?, rtcp: nb(rtcp)?, port });
            }
        }
        Err("no free even/odd port pair for RTP/RTCP".into())
    }
}

/// Packets of one side waiting for the next `sendmmsg`.
struct Batch {
    bufs: Vec<[u8; PACKET]>,
    lens: [usize; BATCH],
    dests: [Option<SockaddrIn>; BATCH],
    flows: [usize; BATCH],
    n: usize,
    hdrs: MultiHeaders<SockaddrIn>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            bufs: vec![[0u8; PACKET]; BATCH],
            lens: [0; BATCH],
            dests: [None; BATCH],
            flows: [0; BATCH],
            n: 0,
            hdrs: MultiHeaders::preallocate(BATCH, None),
        }
    }
}

fn sockaddr(a: SocketAddr) -> Option<SockaddrIn> {
    match a {
        SocketAddr::V4(v4) => Some(SockaddrIn::from(v4)),
        SocketAddr::V6(_) => None,
    }
}

fn reg(poll: &Poll, mut s: UdpSocket, token: Token) -> Res<UdpSocket> {
    poll.registry().register(&mut s, token, Interest::READABLE).map_err(|e| format!("epoll: {e}"))?;
    Ok(s)
}

fn bind(poll: &Poll, port: u16, token: Token) -> Res<UdpSocket> {
    reg(poll, UdpSocket::bind(SocketAddr::new(LOCAL, port)).map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?, token)
}

/// The bare echo loop: the smallest relay there is, as the cost floor.
fn echo(a: &Args) -> Res<()> {
    let flows: u16 = a.get("flows", 1)?;
    let base: u16 = a.get("base-port", 20000)?;
    let seconds = a.secs("seconds", 0.0)?;
    let mut poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
    let end = Instant::now() + seconds;
    let socks = (0..flows).map(|i| bind(&poll, base.saturating_add(i), Token(i.into()))).collect::<Res<Vec<_>>>()?;
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 2048];
    let mmsg = match a.opt("recv").unwrap_or("recvfrom") {
        "recvfrom" => false,
        "mmsg" => true,
        r => return Err(format!("--recv {r}: recvfrom or mmsg")),
    };
    let (mut mbuf, mut hdrs) = (vec![0u8; ECHO_VLEN * 2048], MultiHeaders::<SockaddrIn>::preallocate(ECHO_VLEN, None));
    let (mut echoed, mut dropped) = (0u64, 0u64);
    while seconds.is_zero() || Instant::now() < end {
        let timeout = (!seconds.is_zero()).then(|| end.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, timeout) {
            Err(e) if e.kind() != ErrorKind::Interrupted => return Err(format!("poll: {e}")),
            _ => {}
        }
        for s in events.iter().filter_map(|ev| socks.get(ev.token().0)) {
            if !mmsg {
                // mio is edge-triggered: drain the socket (the extra EAGAIN read is part of the cost).
                while let Ok((n, src)) = s.recv_from(&mut buf) {
                    match s.send_to(&buf[..n], src) {
                        Ok(_) => echoed += 1,
                        Err(_) => dropped += 1,
                    }
                }
                continue;
            }
            // One recvmmsg reads what is queued and finds the socket empty in the same call:
            // fewer datagrams than asked for means drained, without the EAGAIN read.
            loop {
                let mut got = [(0usize, None::<SockaddrIn>); ECHO_VLEN];
                let n = {
                    let mut chunks = mbuf.chunks_mut(2048);
                    let iov: [[IoSliceMut; 1]; ECHO_VLEN] = std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
                    let Ok(r) = recvmmsg(s.as_raw_fd(), &mut hdrs, &iov, MsgFlags::MSG_DONTWAIT, None) else { break };
                    let mut n = 0;
                    for m in r {
                        (got[n], n) = ((m.bytes, m.address), n + 1);
                    }
                    n
                };
                for (k, &(len, src)) in got[..n].iter().enumerate() {
                    let sent = src.map(|a| SocketAddr::V4(SocketAddrV4::new(a.ip().into(), a.port())));
                    match sent.map(|a| s.send_to(&mbuf[k * 2048..k * 2048 + len], a)) {
                        Some(Ok(_)) => echoed += 1,
                        _ => dropped += 1,
                    }
                }
                if n < ECHO_VLEN {
                    break;
                }
            }
        }
    }
    println!("{{\"mode\":\"echo-server\",\"flows\":{flows},\"echoed\":{echoed},\"dropped\":{dropped}}}");
    Ok(())
}

/// One direction of a call (or one echo flow): sends on the 20 ms grid once active, counts what
/// arrives for it.
struct Flow {
    /// Where to send; from the SDP in switch mode.
    dest: Option<SocketAddr>,
    active: bool,
    /// The caller's side of a call (and every echo flow): sends from `sides[0]`, else `sides[1]`.
    a_side: bool,
    opus: bool,
    ssrc: u32,
    seq: u16,
    ts0: u32,
    n: Counts,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    sent: u64,
    recv: u64,
    last_seq: Option<u16>,
    /// Packets whose sequence number did not follow the previous one (loss or reordering).
    seq_errors: u64,
    /// Packets missing in those forward jumps: loss inside a stream, as opposed to loss at
    /// its start or end (set-up races, the last packets not relayed).
    gap_packets: u64,
    /// 20 ms frames missing by timestamp though the sequence numbers are consecutive: the sender
    /// skipped them (a transcoding switch behind its clock, or this generator: see `skipped`).
    ts_skipped: u64,
    last_ts: u32,
    send_errors: u64,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum CallState {
    #[default]
    Pending,
    Inviting,
    Up,
    Failed,
    Byeing,
    Done,
}

/// The caller's view of one call, plus what the callee side saw of it. Times are offsets from
/// the generator's start.
#[derive(Default)]
struct Call {
    state: CallState,
    call_id: String,
    from_tag: String,
    branch: String,
    to_tag: String,
    /// Remote target (Contact of the 200) and route set (reversed Record-Route).
    target: String,
    route: Vec<String>,
    /// The INVITE or BYE retransmitted until answered.
    request: Vec<u8>,
    last_tx: Duration,
    interval: Duration,
    started: Duration,
    provisional: bool,
    status: u16,
    /// The 200's SDP named an address other than the callee's: the switch anchors media.
    anchored: bool,
    /// The switch sent BYE to either side before the tool hung up.
    dropped: bool,
    uas_up: bool,
    uas_bye: bool,
}

/// The callee's side of one B-leg dialog, keyed by the switch's Call-ID.
struct UasDialog {
    call: usize,
    ok: Vec<u8>,
    dest: SocketAddr,
    acked: bool,
    last_tx: Duration,
    interval: Duration,
}

/// The counters at one edge of the measuring window.
#[derive(Default, Clone, Copy)]
struct Sample {
    at: Duration,
    cpu_ticks: u64,
    own_ticks: u64,
    recv: u64,
}

struct Gen {
    poll: Poll,
    epoch: Instant,
    flows: Vec<Flow>,
    /// Callers' and callees' shared sockets (echo mode: only the first is used).
    sides: [Side; 2],
    /// Flow by the port of the far end it sends to, which is where its replies come from.
    by_port: Vec<u32>,
    batches: [Batch; 2],
    rx_hdrs: MultiHeaders<SockaddrIn>,
    rx_bufs: Vec<u8>,
    rtcp: u64,
    last_tick: Duration,
    calls: Vec<Call>,
    uas: HashMap<String, UasDialog>,
    sip: Option<(UdpSocket, UdpSocket)>,
    switch: SocketAddr,
    uac_port: u16,
    uas_port: u16,
    prefix: String,
    run_id: u32,
    rate: f64,
    warmup: Duration,
    window: Duration,
    settle: Duration,
    timeout: Duration,
    watch: Option<u32>,
    clk_tck: u64,
    pcmu: [u8; 160],
    opus: Vec<Vec<u8>>,
    /// Send scheduler: the next flow and round of the 20 ms grid; `grid0` is round 0's start.
    next_flow: usize,
    round: u64,
    grid0: Duration,
    sending: bool,
    max_lag: Duration,
    /// Packets not sent because the generator fell more than 100 ms behind (overloaded).
    skipped: u64,
}

impl Gen {
    fn new(a: &Args) -> Res<Gen> {
        let opus = match a.opt("codec").unwrap_or("pcmu").to_ascii_lowercase().as_str() {
            "pcmu" => Vec::new(),
            "opus" => opus_frames()?,
            c => return Err(format!("--codec {c}: pcmu or opus")),
        };
        let switch = a.opt("switch").map(|s| s.parse::<SocketAddr>().map_err(|_| format!("--switch {s}: want IP:PORT"))).transpose()?;
        let echo_base: Option<u16> = a.opt("echo-base").map(|_| a.get("echo-base", 0)).transpose()?;
        let nflows = match (switch, echo_base) {
            (Some(_), None) => 2 * a.get::<usize>("calls", 1)?,
            (None, Some(_)) => a.get("flows", 1)?,
            _ => return Err("gen needs either --switch IP:PORT --calls N or --echo-base P --flows N".into()),
        };
        let poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
        let mut flows = Vec::with_capacity(nflows);
        let mut by_port = vec![u32::MAX; 1 << 16];
        for f in 0..nflows {
            let a_side = switch.is_none() || f % 2 == 0;
            let dest = echo_base.map(|b| SocketAddr::new(LOCAL, b.wrapping_add(f as u16)));
            if let Some(d) = dest {
                by_port[usize::from(d.port())] = f as u32;
            }
            flows.push(Flow {
                dest,
                active: switch.is_none(),
                a_side,
                opus: a_side && !opus.is_empty() && switch.is_some(),
                ssrc: fastrand::u32(..),
                seq: fastrand::u16(..),
                ts0: fastrand::u32(..),
                n: Counts::default(),
            });
        }
        let (uac_port, uas_port) = (a.get("uac-port", 5091)?, a.get("uas-port", 5090)?);
        let sip = match switch {
            Some(_) => Some((bind(&poll, uac_port, UAC)?, bind(&poll, uas_port, UAS)?)),
            None => None,
        };
        let run_id = fastrand::u32(..);
        let calls = (0..if switch.is_some() { nflows / 2 } else { 0 })
            .map(|i| Call {
                call_id: format!("{run_id:08x}-{i}@rtp-load"),
                from_tag: format!("{:016x}", fastrand::u64(..)),
                branch: format!("z9hG4bK-{:016x}", fastrand::u64(..)),
                ..Call::default()
            })
            .collect();
        let mut pcmu = [0u8; 160];
        fastrand::fill(&mut pcmu);
        Ok(Gen {
            poll,
            epoch: Instant::now(),
            flows,
            sides: [Side::bind()?, Side::bind()?],
            by_port,
            batches: [Batch::new(), Batch::new()],
            rx_hdrs: MultiHeaders::preallocate(BATCH, None),
            rx_bufs: vec![0u8; BATCH * 2048],
            rtcp: 0,
            last_tick: Duration::ZERO,
            calls,
            uas: HashMap::new(),
            sip,
            switch: switch.unwrap_or(SocketAddr::new(LOCAL, 5060)),
            uac_port,
            uas_port,
            prefix: a.opt("prefix").unwrap_or("9").to_owned(),
            run_id,
            rate: a.get("rate", 200.0)?,
            warmup: a.secs("warmup", 2.0)?,
            window: a.secs("seconds", 20.0)?,
            settle: a.secs("settle", 3.0)?,
            timeout: a.secs("setup-timeout", 15.0)?,
            watch: a.opt("watch-pid").map(|_| a.get("watch-pid", 0)).transpose()?,
            clk_tck: a.get("clk-tck", 100)?,
            pcmu,
            opus,
            next_flow: 0,
            round: 0,
            grid0: Duration::ZERO,
            sending: true,
            max_lag: Duration::ZERO,
            skipped: 0,
        })
    }

    fn run(mut self) -> Res<()> {
        self.epoch = Instant::now();
        let rss_before = self.watch.and_then(rss_kb);
        let mut events = Events::with_capacity(4096);
        let n = self.calls.len();
        let pace = |n: usize, rate: f64| Duration::from_secs_f64(n as f64 / rate);
        let mut phase_end = self.timeout + pace(n, self.rate);
        let (mut w0, mut w1, mut totals) = (Sample::default(), Sample::default(), (0, 0, 0, 0));
        let (mut rss_up, mut rss_bye, mut bye_sample, mut calls_up) = (None, None, None, 0);
        // 0 set-up, 1 warm-up, 2 window, 3 grace, 4 hang-up, 5 settle.
        let (mut phase, mut launched, mut pace_start) = (0, 0usize, Duration::ZERO);
        let (mut last_scan, mut last_report) = (Duration::ZERO, Duration::ZERO);
        loop {
            let now = self.epoch.elapsed();
            if self.sending && now >= self.last_tick + TICK {
                self.last_tick = now;
                self.send_due(now, phase == 2);
            }
            self.drain();
            if phase == 0 || phase == 4 {
                let due = ((now - pace_start).as_secs_f64() * self.rate) as usize + 1;
                for i in launched..due.min(n) {
                    if phase == 0 { self.send_invite(i, now) } else { self.send_bye(i, now) }
                }
                launched = launched.max(due.min(n));
            }
            if now - last_scan >= Duration::from_millis(20) {
                last_scan = now;
                self.retransmit(now);
            }
            let done = match phase {
                0 => launched == n && self.calls.iter().all(|c| !matches!(c.state, CallState::Pending | CallState::Inviting)),
                4 => launched == n && self.calls.iter().all(|c| c.state != CallState::Byeing && (!c.uas_up || c.uas_bye || c.state == CallState::Failed)),
                _ => false,
            };
            if done || now >= phase_end {
                phase += 1;
                phase_end = now;
                match phase {
                    1 => {
                        calls_up = self.calls.iter().filter(|c| c.state == CallState::Up).count();
                        eprintln!("rtp_load: set-up done in {:.1} s: {calls_up}/{n} calls up", now.as_secs_f64());
                        phase_end += self.warmup;
                    }
                    2 => {
                        w0 = self.sample(now);
                        eprintln!("rtp_load: window starts");
                        phase_end += self.window;
                    }
                    3 => {
                        (w1, rss_up, self.sending) = (self.sample(now), self.watch.and_then(rss_kb), false);
                        phase_end += Duration::from_secs(1);
                    }
                    4 => {
                        totals = self.totals();
                        eprintln!("rtp_load: window over, hanging up");
                        (launched, pace_start) = (0, now);
                        phase_end += Duration::from_secs(10) + pace(n, self.rate);
                    }
                    5 if n > 0 => {
                        phase_end += self.settle;
                        bye_sample = Some(now + self.settle.min(Duration::from_secs(2)));
                    }
                    _ => break,
                }
            }
            if bye_sample.is_some_and(|t| now >= t) {
                (bye_sample, rss_bye) = (None, self.watch.and_then(rss_kb));
            }
            if now - last_report >= Duration::from_secs(5) {
                last_report = now;
                let (sa, ra, sb, rb) = self.totals();
                eprintln!("rtp_load: phase {phase}: sent {} received {} max lag {:?}", sa + sb, ra + rb, self.max_lag);
            }
            // Replies are drained at every tick, sending or not.
            let wake = if self.sending && !self.flows.is_empty() { self.due(self.next_flow, self.round).max(self.last_tick + TICK) } else { now + TICK };
            let timeout = wake.min(phase_end).min(now + TICK).saturating_sub(self.epoch.elapsed());
            match self.poll.poll(&mut events, Some(timeout)) {
                Err(e) if e.kind() != ErrorKind::Interrupted => return Err(format!("poll: {e}")),
                _ => {}
            }
            for ev in &events {
                if matches!(ev.token(), UAC | UAS) {
                    self.read_sip(ev.token() == UAS);
                }
            }
        }
        let rss_after = self.watch.and_then(rss_kb);
        self.report(calls_up, w0, w1, totals, [rss_before, rss_up, rss_bye.or(rss_after), rss_after]);
        Ok(())
    }

    /// When flow `f` sends in round `r`: the flows sit evenly across the 20 ms period.
    fn due(&self, f: usize, r: u64) -> Duration {
        self.grid0 + Duration::from_nanos(r * PERIOD_NS + f as u64 * PERIOD_NS / self.flows.len().max(1) as u64)
    }

    /// Sends what the grid says is due, in `sendmmsg` batches per side; slots more than 100 ms
    /// late are skipped (and counted) rather than sent in a burst.
    fn send_due(&mut self, now: Duration, in_window: bool) {
        while !self.flows.is_empty() {
            let due = self.due(self.next_flow, self.round);
            if due > now {
                break;
            }
            if in_window {
                self.max_lag = self.max_lag.max(now - due);
            }
            let (f, round) = (self.next_flow, self.round);
            let fl = &mut self.flows[f];
            if now - due > Duration::from_millis(100) {
                self.skipped += u64::from(fl.active);
            } else if let (true, Some(dest)) = (fl.active, fl.dest.and_then(sockaddr)) {
                let (pt, step, payload): (u8, u32, &[u8]) =
                    if fl.opus { (111, 960, &self.opus[(round % self.opus.len() as u64) as usize]) } else { (0, 160, &self.pcmu) };
                let side = usize::from(!fl.a_side);
                let batch = &mut self.batches[side];
                let (i, len) = (batch.n, 12 + payload.len());
                let b = &mut batch.bufs[i];
                b[..2].copy_from_slice(&[0x80, pt]);
                b[2..4].copy_from_slice(&fl.seq.to_be_bytes());
                b[4..8].copy_from_slice(&fl.ts0.wrapping_add((round as u32).wrapping_mul(step)).to_be_bytes());
                b[8..12].copy_from_slice(&fl.ssrc.to_be_bytes());
                b[12..len].copy_from_slice(payload);
                fl.seq = fl.seq.wrapping_add(1);
                (batch.lens[i], batch.dests[i], batch.flows[i], batch.n) = (len, Some(dest), f, i + 1);
                if batch.n == BATCH {
                    self.flush(side);
                }
            }
            self.next_flow += 1;
            if self.next_flow == self.flows.len() {
                (self.next_flow, self.round) = (0, self.round + 1);
            }
        }
        self.flush(0);
        self.flush(1);
    }

    /// One `sendmmsg` for a side's queued packets (a second for what a short write left).
    fn flush(&mut self, side: usize) {
        let fd = self.sides[side].rtp.as_raw_fd();
        let batch = &mut self.batches[side];
        let mut start = 0;
        for _ in 0..2 {
            if start >= batch.n {
                break;
            }
            let iov: [[IoSlice; 1]; BATCH] = std::array::from_fn(|i| [IoSlice::new(&batch.bufs[i][..batch.lens[i]])]);
            match sendmmsg(fd, &mut batch.hdrs, &iov[start..batch.n], &batch.dests[start..batch.n], [], MsgFlags::empty()) {
                Ok(r) => {
                    let sent = r.count();
                    for &f in &batch.flows[start..start + sent] {
                        self.flows[f].n.sent += 1;
                    }
                    start += sent.max(1);
                }
                Err(_) => break,
            }
        }
        for &f in &batch.flows[start.min(batch.n)..batch.n] {
            self.flows[f].n.send_errors += 1;
        }
        batch.n = 0;
    }

    /// Reads every reply queued on the shared sockets; RTCP (on the odd port, or multiplexed:
    /// packet types 200-204, RFC 5761 4) is only counted.
    fn drain(&mut self) {
        for side in 0..2 {
            while self.sides[side].rtcp.recv_from(&mut self.rx_bufs[..2048]).is_ok() {
                self.rtcp += 1;
            }
            loop {
                let fd = self.sides[side].rtp.as_raw_fd();
                let mut got = [(0usize, 0u16); BATCH];
                let n = {
                    let mut chunks = self.rx_bufs.chunks_mut(2048);
                    let iov: [[IoSliceMut; 1]; BATCH] = std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
                    let Ok(r) = recvmmsg(fd, &mut self.rx_hdrs, &iov, MsgFlags::MSG_DONTWAIT, None) else { break };
                    let mut n = 0;
                    for m in r {
                        got[n] = (m.bytes, m.address.map_or(0, |a: SockaddrIn| a.port()));
                        n += 1;
                    }
                    n
                };
                for (k, &(len, port)) in got[..n].iter().enumerate() {
                    let pkt = &self.rx_bufs[k * 2048..k * 2048 + len];
                    let f = self.by_port[usize::from(port)] as usize;
                    if len >= 2 && (200..=204).contains(&pkt[1]) {
                        self.rtcp += 1;
                    } else if let (Some(fl), true) = (self.flows.get_mut(f), len >= 12 && pkt[0] >> 6 == 2) {
                        count_rtp(&mut fl.n, pkt);
                    }
                }
                if n < BATCH {
                    break;
                }
            }
        }
    }

    /// Packets (sent by A sides, received by A sides, sent by B sides, received by B sides).
    fn totals(&self) -> (u64, u64, u64, u64) {
        self.flows.iter().fold((0, 0, 0, 0), |t, f| {
            if f.a_side { (t.0 + f.n.sent, t.1 + f.n.recv, t.2, t.3) } else { (t.0, t.1, t.2 + f.n.sent, t.3 + f.n.recv) }
        })
    }

    fn sample(&self, at: Duration) -> Sample {
        let (_, ra, _, rb) = self.totals();
        let own = cpu_ticks(std::process::id()).unwrap_or(0);
        Sample { at, cpu_ticks: self.watch.and_then(cpu_ticks).unwrap_or(0), own_ticks: own, recv: ra + rb }
    }

    fn send_sip(&self, uas: bool, msg: &[u8], to: SocketAddr) {
        if let Some((uac_sock, uas_sock)) = &self.sip {
            let _ = if uas { uas_sock } else { uac_sock }.send_to(msg, to); // lost: retransmitted
        }
    }

    /// The SDP of flow `f` (call `f / 2`): PCMU + telephone-event, or Opus only (caller, opus).
    fn sdp(&self, f: usize) -> String {
        let port = self.sides[usize::from(!self.flows[f].a_side)].port;
        let media = if self.flows[f].opus {
            format!("m=audio {port} RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n")
        } else {
            format!("m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")
        };
        let sdp = format!("v=0\r\no=load {f} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{media}a=ptime:20\r\na=sendrecv\r\n");
        let port = if f % 2 == 0 { self.uac_port } else { self.uas_port };
        format!("Contact: <sip:load@127.0.0.1:{port}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len())
    }

    /// A request of the caller's: the INVITE, or ACK/BYE in its dialog (Request-URI = the 200's
    /// Contact, RFC 3261 12.2.1.1).
    fn uac_request(&self, i: usize, method: &str) -> Vec<u8> {
        let (c, sw, local) = (&self.calls[i], self.switch, self.uac_port);
        let num = format!("{}{i}", self.prefix);
        let routes: String = c.route.iter().map(|r| format!("Route: {r}\r\n")).collect();
        let (ruri, to_tag, cseq, branch) = match method {
            "INVITE" => (format!("sip:{num}@{sw}"), String::new(), 1, c.branch.clone()),
            _ => (c.target.clone(), format!(";tag={}", c.to_tag), if method == "BYE" { 2 } else { 1 }, format!("z9hG4bK-{:016x}", fastrand::u64(..))),
        };
        let tail = if method == "INVITE" { self.sdp(2 * i) } else { "Content-Length: 0\r\n\r\n".to_owned() };
        format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch={branch};rport\r\nMax-Forwards: 70\r\n{routes}\
             From: <sip:load@127.0.0.1>;tag={}\r\nTo: <sip:{num}@{sw}>{to_tag}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n{tail}",
            c.from_tag, c.call_id
        )
        .into_bytes()
    }

    fn send_invite(&mut self, i: usize, now: Duration) {
        let invite = self.uac_request(i, "INVITE");
        self.send_sip(false, &invite, self.switch);
        let c = &mut self.calls[i];
        (c.request, c.state, c.started, c.last_tx, c.interval) = (invite, CallState::Inviting, now, now, T1);
    }

    fn send_bye(&mut self, i: usize, now: Duration) {
        if self.calls[i].state == CallState::Up {
            let bye = self.uac_request(i, "BYE");
            self.send_sip(false, &bye, self.switch);
            let c = &mut self.calls[i];
            (c.request, c.state, c.started, c.last_tx, c.interval) = (bye, CallState::Byeing, now, now, T1);
        }
    }

    /// RFC 3261 timers, simplified: INVITE (until a provisional) and BYE are resent at T1
    /// doubling to 4 s and given up after --setup-timeout; the callee's 200 until its ACK.
    fn retransmit(&mut self, now: Duration) {
        let mut resend = Vec::new();
        for c in self.calls.iter_mut().filter(|c| matches!(c.state, CallState::Inviting | CallState::Byeing)) {
            if now - c.started > self.timeout {
                (c.state, c.status) = (if c.state == CallState::Inviting { CallState::Failed } else { CallState::Done }, 408);
            } else if now - c.last_tx >= c.interval && !(c.state == CallState::Inviting && c.provisional) {
                (c.last_tx, c.interval) = (now, (c.interval * 2).min(Duration::from_secs(4)));
                resend.push((false, c.request.clone(), self.switch));
            }
        }
        for d in self.uas.values_mut().filter(|d| !d.acked && d.interval < Duration::from_secs(32) && now - d.last_tx >= d.interval) {
            (d.last_tx, d.interval) = (now, d.interval * 2);
            resend.push((true, d.ok.clone(), d.dest));
        }
        for (uas, m, to) in resend {
            self.send_sip(uas, &m, to);
        }
    }

    fn read_sip(&mut self, uas: bool) {
        let mut buf = [0u8; 8192];
        loop {
            let Some(sock) = self.sip.as_ref().map(|s| if uas { &s.1 } else { &s.0 }) else { return };
            let Ok((len, src)) = sock.recv_from(&mut buf) else { return };
            let Some(m) = Msg::parse(&buf[..len]) else { continue };
            // The caller's Call-IDs carry the call's index.
            let i = m.hdr("call-id", "i").and_then(|c| c.split(['-', '@']).nth(1)?.parse::<usize>().ok()).filter(|&i| i < self.calls.len());
            match (m.status(), uas, i) {
                (Some(code), false, Some(i)) if m.hdr("call-id", "i") == Some(&self.calls[i].call_id) => self.uac_response(&m, code, i),
                (None, true, _) => self.uas_request(&m, src),
                (None, false, Some(i)) => self.in_dialog(false, i, &m, src),
                _ => {}
            }
        }
    }

    fn uac_response(&mut self, m: &Msg, code: u16, i: usize) {
        let c = &mut self.calls[i];
        if !m.hdr("cseq", "").is_some_and(|c| c.ends_with("INVITE")) {
            if c.state == CallState::Byeing && code >= 200 {
                (c.state, c.status) = (CallState::Done, code);
            }
            return;
        }
        if code < 200 {
            c.provisional = true;
        } else if code >= 300 {
            if c.state == CallState::Inviting {
                (c.state, c.status) = (CallState::Failed, code);
            }
            // The ACK of a non-2xx final is hop-by-hop: the INVITE's branch (RFC 3261 17.1.1.3).
            let to = m.hdr("to", "t").unwrap_or("");
            let ack = format!(
                "ACK sip:{}{i}@{sw} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch={};rport\r\nMax-Forwards: 70\r\nFrom: <sip:load@127.0.0.1>;tag={}\r\n\
                 To: {to}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                self.prefix, self.uac_port, c.branch, c.from_tag, c.call_id, sw = self.switch
            );
            self.send_sip(false, ack.as_bytes(), self.switch);
        } else {
            if c.state == CallState::Inviting {
                let remote = sdp_addr(m.body);
                c.to_tag = m.hdr("to", "t").and_then(tag).unwrap_or("").to_owned();
                c.target = m.hdr("contact", "m").map(uri).unwrap_or("").to_owned();
                c.route = m.all("record-route", "").rev().map(str::to_owned).collect();
                (c.state, c.status) = (CallState::Up, code);
                c.anchored = remote.is_some_and(|r| r != SocketAddr::new(LOCAL, self.sides[1].port));
                (self.flows[2 * i].dest, self.flows[2 * i].active) = (remote, remote.is_some());
                if let Some(r) = remote {
                    self.by_port[usize::from(r.port())] = (2 * i) as u32;
                }
            }
            if self.calls[i].state == CallState::Up {
                let ack = self.uac_request(i, "ACK"); // also for a resent 200: its ACK was lost
                self.send_sip(false, &ack, self.switch);
            }
        }
    }

    /// The callee: answers a new INVITE at once (100, then 200 with PCMU).
    fn uas_request(&mut self, m: &Msg, src: SocketAddr) {
        let cid = m.hdr("call-id", "i").unwrap_or("");
        if let Some(d) = self.uas.get(cid) {
            let (i, ok) = (d.call, d.ok.clone());
            if m.method() == "INVITE" && m.hdr("to", "t").and_then(tag).is_none() {
                self.send_sip(true, &ok, src); // the INVITE retransmitted
            } else {
                self.in_dialog(true, i, m, src);
            }
            return;
        }
        if m.method() != "INVITE" {
            if m.method() != "ACK" {
                self.send_sip(true, &response(m, 481, "Call/Transaction Does Not Exist", None, ""), src);
            }
            return;
        }
        let user = m.first.split(' ').nth(1).and_then(|u| u.strip_prefix("sip:")?.split('@').next()).unwrap_or("");
        let idx = user.strip_prefix(self.prefix.as_str()).and_then(|n| n.parse::<usize>().ok()).filter(|&i| i < self.calls.len());
        let (Some(i), Some(remote)) = (idx, sdp_addr(m.body)) else {
            self.send_sip(true, &response(m, 488, "Not Acceptable Here", Some("x"), ""), src);
            return;
        };
        self.send_sip(true, &response(m, 100, "Trying", None, ""), src);
        self.flows[2 * i + 1].dest = Some(remote);
        self.by_port[usize::from(remote.port())] = (2 * i + 1) as u32;
        let ok = response(m, 200, "OK", Some(&format!("{:x}-{i}", self.run_id)), &self.sdp(2 * i + 1));
        self.send_sip(true, &ok, src);
        let last_tx = self.epoch.elapsed();
        self.uas.insert(cid.to_owned(), UasDialog { call: i, ok, dest: src, acked: false, last_tx, interval: T1 });
    }

    /// A request from the switch inside call `i`'s dialog on the caller's (`b` false) or the
    /// callee's side: ACK starts the callee's RTP, BYE stops that side's, a re-INVITE or UPDATE
    /// gets the same SDP again.
    fn in_dialog(&mut self, b: bool, i: usize, m: &Msg, src: SocketAddr) {
        let f = 2 * i + usize::from(b);
        let c = &mut self.calls[i];
        let reply = match m.method() {
            "ACK" => {
                if let Some(d) = self.uas.get_mut(m.hdr("call-id", "i").unwrap_or("")).filter(|_| b) {
                    (d.acked, c.uas_up, self.flows[f].active) = (true, true, self.flows[f].dest.is_some());
                }
                return;
            }
            "BYE" => {
                c.dropped |= c.state == CallState::Up;
                if b {
                    c.uas_bye = true;
                } else if c.state == CallState::Up {
                    c.state = CallState::Done;
                }
                self.flows[f].active = false;
                response(m, 200, "OK", None, "")
            }
            "INVITE" | "UPDATE" => response(m, 200, "OK", None, &self.sdp(f)),
            _ => response(m, 200, "OK", None, ""),
        };
        self.send_sip(b, &reply, src);
    }

    fn report(&self, calls_up: usize, w0: Sample, w1: Sample, t: (u64, u64, u64, u64), rss: [Option<u64>; 4]) {
        let count = |p: &dyn Fn(&Call) -> bool| self.calls.iter().filter(|c| p(c)).count();
        let mut codes: Vec<(u16, usize)> = Vec::new();
        for c in self.calls.iter().filter(|c| c.state == CallState::Failed) {
            match codes.iter_mut().find(|(k, _)| *k == c.status) {
                Some(e) => e.1 += 1,
                None => codes.push((c.status, 1)),
            }
        }
        let codes: Vec<String> = codes.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let echo = self.calls.is_empty();
        let (sent_ab, recv_ab, sent_ba, recv_ba) = if echo { (t.0, t.1, 0, 0) } else { (t.0, t.3, t.2, t.1) };
        let loss = |s: u64, r: u64| if s == 0 { 0.0 } else { 100.0 * (s as f64 - r as f64) / s as f64 };
        let win = (w1.at.saturating_sub(w0.at)).as_secs_f64().max(1e-9);
        let pkts = w1.recv.saturating_sub(w0.recv);
        let us = |a: u64, b: u64| b.saturating_sub(a) as f64 * 1e6 / self.clk_tck as f64;
        let (cpu_us, own_us) = (us(w0.cpu_ticks, w1.cpu_ticks), us(w0.own_ticks, w1.own_ticks));
        let pct = |us: f64| us / win / 1e4;
        let opt = |v: Option<u64>| v.map_or("null".to_owned(), |v| v.to_string());
        let kb_per_call = match (rss[0], rss[1]) {
            (Some(a), Some(b)) if calls_up > 0 => format!("{:.2}", (b as f64 - a as f64) / calls_up as f64),
            _ => "null".to_owned(),
        };
        let sum = |g: fn(&Counts) -> u64| self.flows.iter().map(|f| g(&f.n)).sum::<u64>();
        let fields = [
            ("mode", format!("\"{}\"", if echo { "echo" } else { "switch" })),
            ("codec", format!("\"{}\"", if self.opus.is_empty() { "pcmu" } else { "opus" })),
            ("calls", self.calls.len().to_string()),
            ("flows", self.flows.len().to_string()),
            ("calls_up", calls_up.to_string()),
            ("calls_failed", count(&|c| c.state == CallState::Failed).to_string()),
            ("fail_codes", format!("{{{}}}", codes.join(","))),
            ("anchored", count(&|c| c.anchored).to_string()),
            ("dropped_by_switch", count(&|c| c.dropped).to_string()),
            ("byes_ok", count(&|c| c.state == CallState::Done && (200..300).contains(&c.status)).to_string()),
            ("uas_byes", count(&|c| c.uas_bye).to_string()),
            ("window_s", format!("{win:.2}")),
            ("pps_nominal", (self.flows.len() * 50).to_string()),
            ("pps", format!("{:.0}", pkts as f64 / win)),
            ("cpu_pct", format!("{:.2}", pct(cpu_us))),
            ("us_per_pkt", format!("{:.3}", if pkts > 0 { cpu_us / pkts as f64 } else { 0.0 })),
            ("cpu_pct_per_call", format!("{:.5}", if calls_up > 0 { pct(cpu_us) / calls_up as f64 } else { 0.0 })),
            ("gen_cpu_pct", format!("{:.1}", pct(own_us))),
            ("max_lag_ms", format!("{:.2}", self.max_lag.as_secs_f64() * 1e3)),
            ("skipped", self.skipped.to_string()),
            ("sent_ab", sent_ab.to_string()),
            ("recv_ab", recv_ab.to_string()),
            ("sent_ba", sent_ba.to_string()),
            ("recv_ba", recv_ba.to_string()),
            ("loss_pct", format!("{:.4}", loss(sent_ab + sent_ba, recv_ab + recv_ba))),
            ("loss_ab_pct", format!("{:.4}", loss(sent_ab, recv_ab))),
            ("loss_ba_pct", format!("{:.4}", loss(sent_ba, recv_ba))),
            ("seq_errors", sum(|n| n.seq_errors).to_string()),
            ("gap_lost", sum(|n| n.gap_packets).to_string()),
            ("gap_loss_pct", format!("{:.4}", loss(recv_ab + recv_ba + sum(|n| n.gap_packets), recv_ab + recv_ba))),
            ("send_errors", sum(|n| n.send_errors).to_string()),
            ("rtcp_recv", self.rtcp.to_string()),
            ("ts_skipped", sum(|n| n.ts_skipped).to_string()),
            ("rss_before_kb", opt(rss[0])),
            ("rss_up_kb", opt(rss[1])),
            ("rss_bye_kb", opt(rss[2])),
            ("rss_after_kb", opt(rss[3])),
            ("kb_per_call", kb_per_call),
            ("duration_s", format!("{:.1}", self.epoch.elapsed().as_secs_f64())),
        ];
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        println!("{{{}}}", body.join(","));
    }
}

/// Sequence and timestamp accounting of one received RTP packet of a flow.
fn count_rtp(n: &mut Counts, pkt: &[u8]) {
    let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
    let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
    match n.last_seq.map(|l| seq.wrapping_sub(l.wrapping_add(1))) {
        Some(0) => {
            let (step, d) = (if pkt[1] & 0x7f == 111 { 960 } else { 160 }, ts.wrapping_sub(n.last_ts));
            n.ts_skipped += if d > step && d < 1 << 31 { u64::from(d / step - 1) } else { 0 };
        }
        Some(gap) => {
            n.seq_errors += 1;
            n.gap_packets += if gap < 0x8000 { u64::from(gap) } else { 0 }; // else: reordered
        }
        None => {}
    }
    n.last_ts = ts;
    (n.recv, n.last_seq) = (n.recv + 1, Some(seq));
}

/// A SIP message viewed in place: start line, header fields, body (RFC 3261 7). Folded header
/// lines are not joined; the switch does not send them.
struct Msg<'a> {
    first: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

impl<'a> Msg<'a> {
    fn parse(b: &'a [u8]) -> Option<Msg<'a>> {
        let end = b.windows(4).position(|w| w == b"\r\n\r\n")?;
        let mut lines = std::str::from_utf8(&b[..end]).ok()?.split("\r\n");
        let first = lines.next()?;
        let headers = lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim(), v.trim())).collect();
        Some(Msg { first, headers, body: &b[end + 4..] })
    }
    fn status(&self) -> Option<u16> {
        self.first.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }
    fn method(&self) -> &'a str {
        self.first.split(' ').next().unwrap_or("")
    }
    /// Values of header `name` (or its compact form), in order.
    fn all(&self, name: &'a str, compact: &'a str) -> impl DoubleEndedIterator<Item = &'a str> + '_ {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name) || (!compact.is_empty() && n.eq_ignore_ascii_case(compact))).map(|(_, v)| *v)
    }
    fn hdr(&self, name: &'a str, compact: &'a str) -> Option<&'a str> {
        self.all(name, compact).next()
    }
}

fn tag(v: &str) -> Option<&str> {
    let t = &v[v.find(";tag=")? + 5..];
    Some(&t[..t.find([';', '>', ' ']).unwrap_or(t.len())])
}

fn uri(v: &str) -> &str {
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}

/// A response to `req` (RFC 3261 8.2.6): Via, From, To (+ tag), Call-ID, CSeq, Record-Route
/// copied; `tail` holds further headers, the blank line and the body (empty: no body).
fn response(req: &Msg, code: u16, reason: &str, to_tag: Option<&str>, tail: &str) -> Vec<u8> {
    let mut s = format!("SIP/2.0 {code} {reason}\r\n");
    for (n, v) in &req.headers {
        match n.to_ascii_lowercase().as_str() {
            "to" | "t" => match to_tag {
                Some(t) if tag(v).is_none() => s.push_str(&format!("To: {v};tag={t}\r\n")),
                _ => s.push_str(&format!("To: {v}\r\n")),
            },
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" | "record-route" => s.push_str(&format!("{n}: {v}\r\n")),
            _ => {}
        }
    }
    s.push_str(if tail.is_empty() { "Content-Length: 0\r\n\r\n" } else { tail });
    s.into_bytes()
}

/// The first audio stream's address in an SDP body (session-level c= before m=audio).
fn sdp_addr(body: &[u8]) -> Option<SocketAddr> {
    let mut ip = None;
    for l in std::str::from_utf8(body).ok()?.lines() {
        if let Some(a) = l.strip_prefix("c=IN IP4 ") {
            ip = a.trim().parse::<IpAddr>().ok();
        } else if let Some(m) = l.strip_prefix("m=audio ") {
            return Some(SocketAddr::new(ip?, m.split(' ').next()?.parse().ok()?));
        }
    }
    None
}

/// utime + stime of every thread of `pid`, in clock ticks (proc(5) stat fields 14 and 15).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut f = s.get(s.rfind(')')? + 2..)?.split(' ').skip(11);
    Some(f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?)
}

fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()
}

/// 1 s of a speech-like signal at 48 kHz: a voice gliding between 110 and 220 Hz with six
/// harmonics, its loudness following a 4 Hz syllable envelope, so the encoder does real work.
fn speech_like(n: usize) -> Vec<i16> {
    let tau = 2.0 * std::f64::consts::PI;
    let mut phase = 0.0f64;
    (0..n)
        .map(|k| {
            let t = k as f64 / 48_000.0;
            phase += tau * (165.0 + 55.0 * (tau * 0.7 * t).sin()) / 48_000.0;
            let env = 0.5 - 0.5 * (tau * 4.0 * t).cos();
            let v: f64 = (1..=6).map(|h| (phase * f64::from(h)).sin() / f64::from(h)).sum();
            (v * env * 8000.0) as i16
        })
        .collect()
}

/// The caller's packets for `--codec opus`: `speech_like` encoded once at complexity 5, 20 ms
/// (960 samples at 48 kHz) each, mono as the switch's own encoder produces.
fn opus_frames() -> Res<Vec<Vec<u8>>> {
    let mut enc = switchyard_codecs::codec::encoder(switchyard_codecs::CodecKind::Opus, 5).map_err(|e| format!("opus encoder: {e}"))?;
    let mut out = [0u8; 1500];
    speech_like(48_000)
        .chunks(960)
        .map(|f| enc.encode(f, &mut out).map(|n| out[..n].to_vec()).map_err(|e| format!("opus encode: {e}")))
        .collect()
}

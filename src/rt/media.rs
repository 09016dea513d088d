//! The media plane's threads: each worker owns a share of the calls' RTP and
//! RTCP sockets and drives their [`CallMedia`] cores from one mio (epoll)
//! loop, so that a relayed packet costs one `recvfrom`, a header rewrite and
//! one `sendto`, with no task wake-ups, channel hops or allocations between.
//!
//! The signalling core sends [`MediaCommand`]s over a bounded channel and
//! wakes the worker; workers report [`MediaEvent`]s on a bounded tokio
//! channel the core's task selects on. A call lives on worker `id % n` for
//! its whole life, so nothing about a call is shared between threads.

use std::collections::{BinaryHeap, HashMap};
use std::cmp::Reverse;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::clock::Clock;
use crate::config::Config;
use crate::media::{CallMedia, MediaCommand, MediaConfig, MediaEvent, MediaId, MediaSide, Outgoing};

/// Commands queued per worker before the signalling core waits.
const COMMAND_QUEUE: usize = 8192;
/// Events queued towards the signalling core.
pub const EVENT_QUEUE: usize = 4096;
/// Largest datagram handled (RTP over UDP on Ethernet never comes close).
const DATAGRAM: usize = 2048;
const WAKER: Token = Token(usize::MAX);
/// Datagrams read from one socket before others get a turn.
const READ_BURST: usize = 32;

enum Control {
    Media(MediaCommand),
    Stop,
}

struct Worker {
    tx: SyncSender<Control>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

/// Handle on the media threads.
pub struct MediaRuntime {
    workers: Vec<Worker>,
}

impl MediaRuntime {
    /// Starts `media.workers` threads (one per CPU when 0).
    pub fn start(config: &Config, events: mpsc::Sender<MediaEvent>) -> io::Result<MediaRuntime> {
        let n = match config.media.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let cfg = MediaConfig {
            timeout: (config.media.timeout_s > 0).then(|| Duration::from_secs(u64::from(config.media.timeout_s))),
            opus_complexity: i32::from(config.media.opus_complexity),
            ntp_base: crate::rtp::NtpBase {
                instant: Clock::now(),
                unix: Clock::wall().duration_since(std::time::UNIX_EPOCH).unwrap_or_default(),
            },
        };
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let (tx, rx) = sync_channel(COMMAND_QUEUE);
            let events = events.clone();
            let cfg = cfg.clone();
            let thread = std::thread::Builder::new()
                .name(format!("media-{i}"))
                .spawn(move || Loop::new(poll, rx, events, cfg).run())?;
            workers.push(Worker { tx, waker, thread: Some(thread) });
        }
        info!(workers = n, "media plane started");
        Ok(MediaRuntime { workers })
    }

    /// Hands a command to the worker that owns its call.
    pub fn send(&self, cmd: MediaCommand) {
        let id = match &cmd {
            MediaCommand::Open { id, .. }
            | MediaCommand::Update { id, .. }
            | MediaCommand::Dtmf { id, .. }
            | MediaCommand::Play { id, .. }
            | MediaCommand::Record { id, .. }
            | MediaCommand::StopRecord { id }
            | MediaCommand::Detach { id, .. }
            | MediaCommand::Close { id, .. } => *id,
            #[allow(unreachable_patterns)]
            _ => return,
        };
        let w = &self.workers[(id.0 % self.workers.len() as u64) as usize];
        match w.tx.try_send(Control::Media(cmd)) {
            Ok(()) => {}
            // A worker that far behind is overloaded; waiting is still better
            // than losing a call's Close (its sockets would leak).
            Err(TrySendError::Full(c)) => {
                let _ = w.tx.send(c);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
        let _ = w.waker.wake();
    }

    /// Stops every worker (closing every socket) and waits for them.
    pub fn shutdown(mut self) {
        for w in &self.workers {
            let _ = w.tx.send(Control::Stop);
            let _ = w.waker.wake();
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// One call on a worker: its core and its four sockets.
struct Session {
    id: MediaId,
    core: CallMedia,
    /// RTP facing A, RTCP facing A, RTP facing B, RTCP facing B.
    sockets: [UdpSocket; 4],
    wake: Option<Instant>,
}

struct Loop {
    poll: Poll,
    rx: Receiver<Control>,
    events: mpsc::Sender<MediaEvent>,
    cfg: MediaConfig,
    /// Boxed so that the table left after a load peak costs a pointer per slot.
    slots: Vec<Option<Box<Session>>>,
    free: Vec<usize>,
    by_id: HashMap<MediaId, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    buf: Box<[u8; DATAGRAM]>,
    out: Box<[u8; DATAGRAM]>,
    dropped_events: u64,
}

fn token(slot: usize, sock: usize) -> Token {
    Token(slot * 4 + sock)
}

impl Loop {
    fn new(poll: Poll, rx: Receiver<Control>, events: mpsc::Sender<MediaEvent>, cfg: MediaConfig) -> Loop {
        Loop {
            poll,
            rx,
            events,
            cfg,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            timers: BinaryHeap::new(),
            buf: Box::new([0; DATAGRAM]),
            out: Box::new([0; DATAGRAM]),
            dropped_events: 0,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Clock::now();
            let timeout = self.timers.peek().map(|Reverse((at, _))| at.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!(error = %e, "media poll failed");
                }
                continue;
            }
            let now = Clock::now();
            for ev in &events {
                if ev.token() == WAKER {
                    if !self.commands(now) {
                        self.close_all(now);
                        return;
                    }
                    continue;
                }
                let (slot, sock) = (ev.token().0 / 4, ev.token().0 % 4);
                self.readable(now, slot, sock);
            }
            self.run_timers(now);
        }
    }

    /// Applies queued commands; false once told to stop.
    fn commands(&mut self, now: Instant) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(Control::Media(cmd)) => self.command(now, cmd),
                Ok(Control::Stop) => return false,
                Err(std::sync::mpsc::TryRecvError::Empty) => return true,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn command(&mut self, now: Instant, cmd: MediaCommand) {
        match cmd {
            MediaCommand::Open { id, addr, ports } => self.open(now, id, addr, ports),
            MediaCommand::Update { id, side, params } => {
                if let Some(&slot) = self.by_id.get(&id) {
                    if let Some(s) = self.slots[slot].as_mut() {
                        s.core.update(now, side, params);
                    }
                    self.after(now, slot);
                }
            }
            MediaCommand::Dtmf { id, side, digit, duration_ms } => {
                if let Some(&slot) = self.by_id.get(&id) {
                    if let Some(s) = self.slots[slot].as_mut() {
                        s.core.send_dtmf(now, side, digit, duration_ms);
                    }
                    self.after(now, slot);
                }
            }
            MediaCommand::Play { id, seq, source } => self.with(now, id, |s, now| s.play(now, seq, source)),
            MediaCommand::Record { id, seq, max, silence } => self.with(now, id, |s, now| s.record(now, seq, max, silence)),
            MediaCommand::StopRecord { id } => self.with(now, id, |s, _| s.stop_record()),
            MediaCommand::Detach { id, side } => self.with(now, id, |s, now| s.detach(now, side)),
            MediaCommand::Close { id, cdr_id } => {
                let Some(slot) = self.by_id.remove(&id) else { return };
                if let Some(mut s) = self.slots[slot].take() {
                    for sock in &mut s.sockets {
                        let _ = self.poll.registry().deregister(sock);
                    }
                    let quality = s.core.quality();
                    self.emit(MediaEvent::Closed { cdr_id, quality });
                    self.free.push(slot);
                    match s.core.jitter_stats() {
                        Some(j) => debug!(id = s.id.0, from_a = ?j[0], from_b = ?j[1], "media closed"),
                        None => debug!(id = s.id.0, "media closed"),
                    }
                }
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    /// Runs `f` on the session `id`, then sends and reports what it produced.
    fn with(&mut self, now: Instant, id: MediaId, f: impl FnOnce(&mut CallMedia, Instant)) {
        if let Some(&slot) = self.by_id.get(&id) {
            if let Some(s) = self.slots[slot].as_mut() {
                f(&mut s.core, now);
            }
            self.after(now, slot);
        }
    }

    fn open(&mut self, now: Instant, id: MediaId, addr: IpAddr, ports: [u16; 2]) {
        let bind = |port: u16| UdpSocket::bind(SocketAddr::new(addr, port));
        let sockets = (|| -> io::Result<[UdpSocket; 4]> {
            Ok([bind(ports[0])?, bind(ports[0] + 1)?, bind(ports[1])?, bind(ports[1] + 1)?])
        })();
        let mut sockets = match sockets {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, ?ports, "media ports could not be bound");
                self.emit(MediaEvent::BindFailed { id });
                return;
            }
        };
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        for (i, sock) in sockets.iter_mut().enumerate() {
            if let Err(e) = self.poll.registry().register(sock, token(slot, i), Interest::READABLE) {
                warn!(error = %e, "media socket could not be registered");
                self.emit(MediaEvent::BindFailed { id });
                self.free.push(slot);
                return;
            }
        }
        let core = CallMedia::new(id, self.cfg.clone(), now);
        self.slots[slot] = Some(Box::new(Session { id, core, sockets, wake: None }));
        self.by_id.insert(id, slot);
        self.after(now, slot);
    }

    fn readable(&mut self, now: Instant, slot: usize, sock: usize) {
        let side = if sock < 2 { MediaSide::A } else { MediaSide::B };
        let rtcp = sock % 2 == 1;
        for _ in 0..READ_BURST {
            let Some(s) = self.slots.get_mut(slot).and_then(Option::as_mut) else { return };
            let (len, src) = match s.sockets[sock].recv_from(&mut self.buf[..]) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP port unreachable from a peer that went away shows
                    // up here on Linux; nothing to do but read on.
                    debug!(error = %e, "media receive error");
                    continue;
                }
            };
            let out = if rtcp {
                s.core.handle_rtcp(now, side, src, &mut self.buf[..len])
            } else {
                s.core.handle_rtp(now, side, src, &mut self.buf[..len])
            };
            if let Some(o) = out {
                send(&s.sockets, &o, &self.buf[..o.len]);
            }
        }
        self.after(now, slot);
    }

    /// After a session did something: send what it queued, pass its events
    /// on, and re-arm its timer.
    fn after(&mut self, now: Instant, slot: usize) {
        let Some(s) = self.slots.get_mut(slot).and_then(Option::as_mut) else { return };
        while let Some(o) = s.core.poll_transmit(now, &mut self.out[..]) {
            send(&s.sockets, &o, &self.out[..o.len]);
        }
        let mut evs = Vec::new();
        while let Some(ev) = s.core.poll_event() {
            evs.push(ev);
        }
        let wake = s.core.poll_timeout();
        if wake != s.wake {
            s.wake = wake;
            if let Some(at) = wake {
                self.timers.push(Reverse((at, slot)));
            }
        }
        for ev in evs {
            self.emit(ev);
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(s) = self.slots.get_mut(slot).and_then(Option::as_mut) else { continue };
            // Stale entries (the session re-armed, or the slot was reused)
            // are skipped: only the recorded wake-up counts.
            if s.wake != Some(at) {
                continue;
            }
            s.wake = None;
            s.core.handle_timeout(now);
            self.after(now, slot);
        }
    }

    fn emit(&mut self, ev: MediaEvent) {
        if self.events.try_send(ev).is_err() {
            self.dropped_events += 1;
            if self.dropped_events.is_power_of_two() {
                warn!(dropped = self.dropped_events, "media events dropped: the signalling core is not keeping up");
            }
        }
    }

    fn close_all(&mut self, _now: Instant) {
        for slot in 0..self.slots.len() {
            if let Some(mut s) = self.slots[slot].take() {
                for sock in &mut s.sockets {
                    let _ = self.poll.registry().deregister(sock);
                }
            }
        }
    }
}

fn send(sockets: &[UdpSocket; 4], o: &Outgoing, bytes: &[u8]) {
    let i = o.from.index() * 2 + usize::from(o.rtcp);
    // A full socket buffer drops the packet, as the network would.
    let _ = sockets[i].send_to(bytes, o.dst);
}

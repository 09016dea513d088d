//! The core task: owns the [`SipCore`], feeds it every input and carries out
//! its outputs. It waits on the primary UDP socket directly, on the bounded
//! queue of inbound frames from every other socket and connection, on the
//! core's next timeout, and on the control channel (signals, shutdown).
//!
//! Shutdown phases: `Running` → (`Terminate`/`Interrupt`) `Draining` until
//! no call is up or `drain_timeout` passes → `Ending` (after `end_all_calls`)
//! until no call is up or [`END_GRACE`] passes → done. `Stop`, or a second
//! `Interrupt`, ends the loop at once. The store is flushed by the caller
//! after this task returns, in every case.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tracing::{debug, error, info, warn};

use super::clock::Clock;
use super::core::SipCore;
use super::ratelimit::RateLimit;
use super::store::StoreSender;
use super::stream::{self, OUTBOUND_QUEUE, StreamEnv};
use super::udp::{self, RECV_BATCH, RECV_BUF, UdpSockets};
use crate::sip::transport::{ConnId, Peer, Transmit, Transport};

/// After `end_all_calls`, how long the BYEs and CANCELs get to be answered.
pub const END_GRACE: Duration = Duration::from_secs(5);
/// Inbound events taken back to back before the core's output is flushed.
const INBOUND_BATCH: usize = 64;

/// Something for the core task from another task.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A datagram from a secondary UDP socket, or one framed stream message.
    Frame(Peer, Bytes),
    /// A stream connection exists (sent before any of its frames).
    Opened { peer: Peer, tx: mpsc::Sender<Bytes> },
    /// A stream connection ended.
    Closed(ConnId),
}

/// Control of the core task.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// SIGTERM: drain.
    Terminate,
    /// SIGINT: drain the first time, stop at once the second.
    Interrupt,
    /// Stop at once (the store is still flushed).
    Stop,
    /// A new dialplan, read and checked: new calls use it.
    Reload(std::sync::Arc<crate::dialplan::Plan>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Draining { deadline: Instant },
    Ending { deadline: Instant },
    Done,
}

struct Conn {
    peer: Peer,
    tx: mpsc::Sender<Bytes>,
}

/// Rate limits for per-message failures.
struct Limits {
    udp_send: RateLimit,
    udp_recv: RateLimit,
    stream_send: RateLimit,
    store: RateLimit,
}

pub(crate) struct Driver<C> {
    pub(crate) core: C,
    pub(crate) udp: UdpSockets,
    pub(crate) inbound: mpsc::Receiver<Inbound>,
    pub(crate) control: mpsc::Receiver<Command>,
    pub(crate) env: StreamEnv,
    pub(crate) store: StoreSender,
    pub(crate) drain_timeout: Duration,
    /// The media threads and their events; `None` when media is not anchored.
    pub(crate) media: Option<(super::media::MediaRuntime, mpsc::Receiver<crate::media::MediaEvent>)>,
}

struct State {
    conns: HashMap<ConnId, Conn>,
    by_addr: HashMap<(Transport, SocketAddr), ConnId>,
    phase: Phase,
    limits: Limits,
    store_open: bool,
}

impl<C: SipCore> Driver<C> {
    /// Runs until drained or stopped.
    pub(crate) async fn run(self) {
        let Driver {
            mut core,
            udp,
            mut inbound,
            mut control,
            env,
            store,
            drain_timeout,
            media,
        } = self;
        let (media, mut media_events) = match media {
            Some((rt, rx)) => (Some(rt), Some(rx)),
            None => (None, None),
        };
        let primary: Option<Arc<UdpSocket>> = udp.primary();
        let mut st = State {
            conns: HashMap::new(),
            by_addr: HashMap::new(),
            phase: Phase::Running,
            limits: Limits {
                udp_send: RateLimit::new(),
                udp_recv: RateLimit::new(),
                stream_send: RateLimit::new(),
                store: RateLimit::new(),
            },
            store_open: true,
        };
        // Webhook replies come back on this channel; bounded by the calls waiting on one.
        let (hook_tx, mut hook_rx) = mpsc::channel::<(u64, Result<Vec<u8>, String>)>(HOOK_REPLIES);
        let mut io = Io {
            udp: &udp,
            env: &env,
            store: &store,
            media: media.as_ref(),
            hooks: &hook_tx,
        };
        let mut buf = vec![0u8; RECV_BUF];
        let mut control_open = true;
        let sleep = Clock::sleep(Duration::ZERO);
        tokio::pin!(sleep);

        while st.phase != Phase::Done {
            let wake = next_wake(&core, st.phase);
            if let Some(at) = wake {
                Clock::reset(sleep.as_mut(), at);
            }
            tokio::select! {
                c = control.recv(), if control_open => match c {
                    Some(cmd) => command(&mut core, &mut st, cmd, drain_timeout),
                    None => control_open = false,
                },
                r = udp::recv_primary(primary.as_deref(), &mut buf) => {
                    let now = Clock::now();
                    let mut next = Some(r);
                    let mut n = 0;
                    while let Some(r) = next.take() {
                        match r {
                            Ok((len, from)) => core.handle_input(now, Peer::udp(from), &buf[..len]),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                if let Some(suppressed) = st.limits.udp_recv.allow(now) {
                                    warn!(error = %e, suppressed, "UDP receive failed");
                                }
                                break;
                            }
                        }
                        n += 1;
                        if n < RECV_BATCH {
                            next = primary.as_deref().map(|s| s.try_recv_from(&mut buf));
                        }
                    }
                },
                m = inbound.recv() => {
                    let now = Clock::now();
                    let mut next = m;
                    let mut n = 0;
                    while let Some(ev) = next.take() {
                        on_inbound(&mut core, &mut st, now, ev);
                        n += 1;
                        if n < INBOUND_BATCH {
                            next = inbound.try_recv().ok();
                        }
                    }
                },
                r = hook_rx.recv() => {
                    if let Some((id, reply)) = r {
                        core.handle_webhook_reply(Clock::now(), id, reply);
                    }
                },
                ev = async { media_events.as_mut()?.recv().await }, if media_events.is_some() => {
                    let now = Clock::now();
                    match ev {
                        Some(ev) => core.handle_media_event(now, ev),
                        None => media_events = None,
                    }
                },
                () = &mut sleep, if wake.is_some() => {},
            }
            let now = Clock::now();
            if core.poll_timeout().is_some_and(|t| t <= now) {
                core.handle_timeout(now);
            }
            advance_phase(&mut core, &mut st, now);
            flush(&mut core, &mut st, &mut io).await;
        }
        if let Some(rt) = media {
            rt.shutdown();
        }
        // Whatever the last step produced is already flushed; say why we stop.
        info!(
            calls = core.active_calls(),
            connections = st.conns.len(),
            "edge stopped"
        );
    }
}

struct Io<'a> {
    udp: &'a UdpSockets,
    env: &'a StreamEnv,
    store: &'a StoreSender,
    media: Option<&'a super::media::MediaRuntime>,
    hooks: &'a mpsc::Sender<(u64, Result<Vec<u8>, String>)>,
}

/// Webhook replies queued for the core at most.
const HOOK_REPLIES: usize = 256;

fn next_wake<C: SipCore>(core: &C, phase: Phase) -> Option<Instant> {
    let core_at = core.poll_timeout();
    let phase_at = match phase {
        Phase::Draining { deadline } | Phase::Ending { deadline } => Some(deadline),
        Phase::Running | Phase::Done => None,
    };
    match (core_at, phase_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn command<C: SipCore>(core: &mut C, st: &mut State, cmd: Command, drain_timeout: Duration) {
    let now = Clock::now();
    match (cmd, st.phase) {
        (Command::Reload(plan), _) => core.replace_plan(plan),
        (Command::Stop, _) => {
            info!(calls = core.active_calls(), "stopping now");
            st.phase = Phase::Done;
        }
        (Command::Terminate | Command::Interrupt, Phase::Running) => {
            core.begin_drain(now);
            info!("draining: {} calls up", core.active_calls());
            st.phase = Phase::Draining {
                deadline: now + drain_timeout,
            };
        }
        (Command::Interrupt, _) => {
            info!(
                calls = core.active_calls(),
                "second interrupt: stopping now"
            );
            st.phase = Phase::Done;
        }
        (Command::Terminate, _) => info!(calls = core.active_calls(), "already draining"),
    }
}

fn advance_phase<C: SipCore>(core: &mut C, st: &mut State, now: Instant) {
    match st.phase {
        Phase::Running | Phase::Done => {}
        Phase::Draining { deadline } => {
            if core.active_calls() == 0 {
                info!("drained: no calls up");
                st.phase = Phase::Done;
            } else if now >= deadline {
                info!("drain timeout: ending {} calls", core.active_calls());
                core.end_all_calls(now);
                st.phase = if core.active_calls() == 0 {
                    info!("all calls ended");
                    Phase::Done
                } else {
                    Phase::Ending {
                        deadline: now + END_GRACE,
                    }
                };
            }
        }
        Phase::Ending { deadline } => {
            let left = core.active_calls();
            if left == 0 {
                info!("all calls ended");
                st.phase = Phase::Done;
            } else if now >= deadline {
                warn!(
                    calls = left,
                    "calls still up after ending them; stopping anyway"
                );
                st.phase = Phase::Done;
            }
        }
    }
}

fn on_inbound<C: SipCore>(core: &mut C, st: &mut State, now: Instant, ev: Inbound) {
    match ev {
        Inbound::Frame(peer, bytes) => core.handle_input(now, peer, &bytes),
        Inbound::Opened { peer, tx } => {
            let Some(id) = peer.conn else { return };
            st.by_addr.insert((peer.transport, peer.addr), id);
            st.conns.insert(id, Conn { peer, tx });
        }
        Inbound::Closed(id) => {
            forget(st, id);
            core.connection_closed(now, id);
        }
    }
}

/// Drops the core task's side of a connection (which also makes its task end,
/// if it is still running).
fn forget(st: &mut State, id: ConnId) {
    if let Some(c) = st.conns.remove(&id) {
        let key = (c.peer.transport, c.peer.addr);
        if st.by_addr.get(&key) == Some(&id) {
            st.by_addr.remove(&key);
        }
    }
}

async fn flush<C: SipCore>(core: &mut C, st: &mut State, io: &mut Io<'_>) {
    while let Some(t) = core.poll_transmit() {
        match t.dest.transport {
            Transport::Udp => {
                if let Err(e) = io.udp.send(&t.bytes, t.dest.addr).await {
                    if let Some(suppressed) = st.limits.udp_send.allow(Clock::now()) {
                        warn!(error = %e, dest = %t.dest.addr, suppressed, "UDP send failed; dropped");
                    }
                }
            }
            _ => send_stream(st, io.env, t),
        }
    }
    while let Some(req) = core.poll_webhook() {
        // Off the core: the application server's pace must never hold signalling.
        let tx = io.hooks.clone();
        tokio::spawn(async move {
            let reply = super::webhook::post_json(&req.url, &req.body, req.timeout).await.map_err(|e| e.to_string());
            let _ = tx.send((req.id, reply)).await;
        });
    }
    while let Some(cmd) = core.poll_media() {
        if let Some(m) = io.media {
            m.send(cmd);
        }
    }
    while let Some(op) = core.poll_store() {
        if !st.store_open {
            continue;
        }
        if io.store.send(op).is_err() {
            st.store_open = false;
            if st.limits.store.allow(Clock::now()).is_some() {
                error!("the store thread has stopped; writes are being lost");
            }
        }
    }
}

/// Routes a stream message: to its connection, else to an existing connection
/// to the address, else over a new outbound TCP connection.
fn send_stream(st: &mut State, env: &StreamEnv, t: Transmit) {
    let Transmit { dest, bytes } = t;
    let id = dest
        .conn
        .filter(|id| st.conns.contains_key(id))
        .or_else(|| st.by_addr.get(&(dest.transport, dest.addr)).copied());
    if let Some(id) = id {
        push(st, id, bytes);
        return;
    }
    if let Some(gone) = dest.conn {
        debug!(conn = gone.0, dest = %dest.addr, "connection gone; opening a new one");
    }
    match dest.transport {
        Transport::Tcp => open_tcp(st, env, dest.addr, bytes),
        _ => {
            if let Some(suppressed) = st.limits.stream_send.allow(Clock::now()) {
                error!(
                    dest = %dest.addr,
                    transport = %dest.transport,
                    suppressed,
                    "outbound TLS is not supported (no trust anchors can be configured yet); message dropped"
                );
            }
        }
    }
}

fn push(st: &mut State, id: ConnId, bytes: Bytes) {
    let Some(conn) = st.conns.get(&id) else {
        return;
    };
    match conn.tx.try_send(bytes) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            if let Some(suppressed) = st.limits.stream_send.allow(Clock::now()) {
                warn!(
                    conn = id.0,
                    peer = %conn.peer.addr,
                    queued = OUTBOUND_QUEUE,
                    suppressed,
                    "peer is not reading; closing the connection"
                );
            }
            forget(st, id);
        }
        // The task ended; its Closed event is on the way.
        Err(mpsc::error::TrySendError::Closed(_)) => forget(st, id),
    }
}

fn open_tcp(st: &mut State, env: &StreamEnv, addr: SocketAddr, bytes: Bytes) {
    let Some(permit): Option<OwnedSemaphorePermit> = env.permit() else {
        if let Some(suppressed) = st.limits.stream_send.allow(Clock::now()) {
            warn!(dest = %addr, suppressed, limit = stream::MAX_CONNECTIONS, "too many connections; message dropped");
        }
        return;
    };
    let id = env.new_id();
    let peer = Peer {
        transport: Transport::Tcp,
        addr,
        conn: Some(id),
    };
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    // A fresh queue with room for OUTBOUND_QUEUE messages cannot be full.
    let _ = tx.try_send(bytes);
    st.by_addr.insert((Transport::Tcp, addr), id);
    st.conns.insert(id, Conn { peer, tx });
    stream::spawn_outbound(peer, id, rx, env.clone(), permit);
}

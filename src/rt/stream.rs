//! Stream connections (TCP and TLS) through one generic driver over
//! `AsyncRead + AsyncWrite`: one task per connection, framing with
//! [`next_frame`], RFC 5626 keep-alive pongs, an idle timeout, and a bounded
//! queue of outbound messages from the core task.
//!
//! Life of a connection: the accept loop (or the core task, for outbound
//! connections) allocates a [`ConnId`] and the outbound queue, tells the core
//! task with [`Inbound::Opened`] *before* the connection task can deliver any
//! frame, and the task reports [`Inbound::Closed`] when it ends for any reason.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info, info_span, warn};

use super::clock::Clock;
use super::driver::Inbound;
use super::ratelimit::RateLimit;
use crate::sip::frame::{Frame, FrameError, next_frame};
use crate::sip::transport::{ConnId, Peer, Transport};

/// Concurrent stream connections, inbound and outbound together; more are
/// refused (inbound) or not opened (outbound).
pub const MAX_CONNECTIONS: usize = 10_000;
/// Messages queued towards one connection before it is deemed stuck.
pub(crate) const OUTBOUND_QUEUE: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
const READ_RESERVE: usize = 4096;
/// Outbound messages written back to back before one flush.
const WRITE_BATCH: usize = 32;

/// What every connection task shares.
#[derive(Debug, Clone)]
pub(crate) struct StreamEnv {
    pub(crate) inbound: mpsc::Sender<Inbound>,
    pub(crate) max_header: usize,
    pub(crate) max_body: usize,
    pub(crate) idle: Duration,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) next_id: Arc<AtomicU64>,
    pub(crate) shutdown: watch::Receiver<()>,
}

impl StreamEnv {
    pub(crate) fn new_id(&self) -> ConnId {
        ConnId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// A slot under [`MAX_CONNECTIONS`], if one is free.
    pub(crate) fn permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum Close {
    PeerClosed,
    Idle,
    Framing(FrameError),
    Io(io::Error),
    WriteTimeout,
    /// The core task dropped the outbound queue (stuck peer or shutdown).
    Dropped,
    Shutdown,
    Handshake(io::Error),
    HandshakeTimeout,
    Connect(io::Error),
    ConnectTimeout,
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Close::PeerClosed => f.write_str("closed by peer"),
            Close::Idle => f.write_str("idle timeout"),
            Close::Framing(e) => write!(f, "cannot frame the stream: {e}"),
            Close::Io(e) => write!(f, "I/O error: {e}"),
            Close::WriteTimeout => f.write_str("write timed out"),
            Close::Dropped => f.write_str("closed by the switch"),
            Close::Shutdown => f.write_str("shutting down"),
            Close::Handshake(e) => write!(f, "TLS handshake failed: {e}"),
            Close::HandshakeTimeout => f.write_str("TLS handshake timed out"),
            Close::Connect(e) => write!(f, "connect failed: {e}"),
            Close::ConnectTimeout => f.write_str("connect timed out"),
        }
    }
}

/// Accepts connections on one TCP or TLS listener until shutdown.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    transport: Transport,
    tls: Option<TlsAcceptor>,
    env: StreamEnv,
) {
    let mut shutdown = env.shutdown.clone();
    let mut refused = RateLimit::new();
    let mut errors = RateLimit::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                if let Some(suppressed) = errors.allow(Clock::now()) {
                    warn!(error = %e, suppressed, %transport, "accept failed");
                }
                // Out of file descriptors and the like: do not spin.
                Clock::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(permit) = env.permit() else {
            if let Some(suppressed) = refused.allow(Clock::now()) {
                warn!(peer = %addr, suppressed, limit = MAX_CONNECTIONS, "connection refused: too many connections");
            }
            continue;
        };
        let id = env.new_id();
        let peer = Peer {
            transport,
            addr,
            conn: Some(id),
        };
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        if env
            .inbound
            .send(Inbound::Opened { peer, tx })
            .await
            .is_err()
        {
            return;
        }
        let span = info_span!("conn", id = id.0, peer = %addr, %transport);
        let env = env.clone();
        let tls = tls.clone();
        tokio::spawn(
            async move {
                let _ = stream.set_nodelay(true);
                let why = match tls {
                    None => drive(stream, peer, rx, &env).await,
                    Some(acceptor) => {
                        match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => drive(s, peer, rx, &env).await,
                            Ok(Err(e)) => Close::Handshake(e),
                            Err(_) => Close::HandshakeTimeout,
                        }
                    }
                };
                finish(id, why, &env, permit).await;
            }
            .instrument(span),
        );
    }
}

/// Opens an outbound TCP connection for the core task, which has already
/// registered `id` with `rx` as its queue.
pub(crate) fn spawn_outbound(
    peer: Peer,
    id: ConnId,
    rx: mpsc::Receiver<Bytes>,
    env: StreamEnv,
    permit: OwnedSemaphorePermit,
) {
    let span = info_span!("conn", id = id.0, peer = %peer.addr, transport = %peer.transport, outbound = true);
    tokio::spawn(
        async move {
            let why = match timeout(CONNECT_TIMEOUT, TcpStream::connect(peer.addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    debug!("connected");
                    drive(stream, peer, rx, &env).await
                }
                Ok(Err(e)) => Close::Connect(e),
                Err(_) => Close::ConnectTimeout,
            };
            finish(id, why, &env, permit).await;
        }
        .instrument(span),
    );
}

async fn finish(id: ConnId, why: Close, env: &StreamEnv, permit: OwnedSemaphorePermit) {
    match &why {
        Close::PeerClosed | Close::Dropped | Close::Shutdown | Close::Idle => {
            debug!(reason = %why, "connection closed");
        }
        _ => info!(reason = %why, "connection closed"),
    }
    drop(permit);
    // The core task may already be gone at shutdown; nothing left to tell then.
    let _ = env.inbound.send(Inbound::Closed(id)).await;
}

/// Runs one established connection until it closes.
async fn drive<S>(mut io: S, peer: Peer, mut out: mpsc::Receiver<Bytes>, env: &StreamEnv) -> Close
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut shutdown = env.shutdown.clone();
    let mut buf = BytesMut::with_capacity(READ_RESERVE);
    let mut crlf = 0usize;
    let idle = Clock::sleep(env.idle);
    tokio::pin!(idle);
    let why = loop {
        if let Err(why) = deliver(&mut io, &mut buf, &mut crlf, peer, env).await {
            break why;
        }
        if buf.capacity() - buf.len() < READ_RESERVE / 4 {
            buf.reserve(READ_RESERVE);
        }
        tokio::select! {
            r = io.read_buf(&mut buf) => match r {
                Ok(0) => break Close::PeerClosed,
                Ok(_) => Clock::reset(idle.as_mut(), Clock::now() + env.idle),
                Err(e) => break Close::Io(e),
            },
            m = out.recv() => match m {
                Some(first) => {
                    if let Err(why) = write_batch(&mut io, first, &mut out).await {
                        break why;
                    }
                    Clock::reset(idle.as_mut(), Clock::now() + env.idle);
                }
                None => break Close::Dropped,
            },
            _ = &mut idle => break Close::Idle,
            _ = shutdown.changed() => break Close::Shutdown,
        }
    };
    if !matches!(why, Close::Io(_) | Close::WriteTimeout) {
        // Polite close (TLS close_notify, TCP FIN), bounded so a dead peer cannot hold us.
        let _ = timeout(CLOSE_TIMEOUT, io.shutdown()).await;
    }
    why
}

/// Splits every complete message off `buf` and hands it to the core task;
/// answers CRLFCRLF pings (RFC 5626 §3.5.1) with CRLF. `crlf` counts keep-alive
/// bytes seen since the last message, so a ping split across reads still counts.
async fn deliver<S>(
    io: &mut S,
    buf: &mut BytesMut,
    crlf: &mut usize,
    peer: Peer,
    env: &StreamEnv,
) -> Result<(), Close>
where
    S: AsyncWrite + Unpin,
{
    loop {
        match next_frame(buf, env.max_header, env.max_body) {
            Ok(Frame::Partial) => return Ok(()),
            Ok(Frame::KeepAlive { skip, ping: _ }) => {
                buf.advance(skip);
                *crlf += skip;
                if *crlf >= 4 {
                    *crlf = 0;
                    write_timed(io, b"\r\n").await?;
                    flush_timed(io).await?;
                }
            }
            Ok(Frame::Message { start, end }) => {
                *crlf = 0;
                let mut msg = buf.split_to(end);
                msg.advance(start);
                if env
                    .inbound
                    .send(Inbound::Frame(peer, msg.freeze()))
                    .await
                    .is_err()
                {
                    return Err(Close::Shutdown);
                }
            }
            Err(e) => return Err(Close::Framing(e)),
        }
    }
}

async fn write_batch<S>(
    io: &mut S,
    first: Bytes,
    out: &mut mpsc::Receiver<Bytes>,
) -> Result<(), Close>
where
    S: AsyncWrite + Unpin,
{
    write_timed(io, &first).await?;
    for _ in 1..WRITE_BATCH {
        match out.try_recv() {
            Ok(next) => write_timed(io, &next).await?,
            Err(_) => break,
        }
    }
    flush_timed(io).await
}

async fn write_timed<S: AsyncWrite + Unpin>(io: &mut S, bytes: &[u8]) -> Result<(), Close> {
    match timeout(WRITE_TIMEOUT, io.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Close::Io(e)),
        Err(_) => Err(Close::WriteTimeout),
    }
}

async fn flush_timed<S: AsyncWrite + Unpin>(io: &mut S) -> Result<(), Close> {
    match timeout(WRITE_TIMEOUT, io.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Close::Io(e)),
        Err(_) => Err(Close::WriteTimeout),
    }
}

/// The address a listener actually bound (for port 0 in the config).
pub(crate) fn local_addr(l: &TcpListener, configured: SocketAddr) -> SocketAddr {
    l.local_addr().unwrap_or(configured)
}

//! UDP sockets: the reader task for every socket but the primary one (which
//! the core task reads itself) and the send path.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::warn;

use super::clock::Clock;
use super::driver::Inbound;
use super::ratelimit::RateLimit;
use crate::sip::transport::Peer;

/// Receive buffer: larger than any UDP payload, so nothing is truncated.
pub(crate) const RECV_BUF: usize = 64 * 1024;
/// Largest datagram the edge tries to send.
pub(crate) const MAX_DATAGRAM: usize = 65_535;
/// Datagrams read back to back before the core's output is flushed.
pub(crate) const RECV_BATCH: usize = 64;

/// Why a datagram was not sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("datagram of {0} bytes exceeds {MAX_DATAGRAM}")]
    TooLarge(usize),
    #[error("no UDP socket of the destination's address family")]
    NoSocket,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The bound UDP sockets with their local addresses, the first being the
/// primary one.
#[derive(Debug, Clone, Default)]
pub(crate) struct UdpSockets {
    entries: Vec<(SocketAddr, Arc<UdpSocket>)>,
}

impl UdpSockets {
    pub(crate) fn push(&mut self, local: SocketAddr, sock: Arc<UdpSocket>) {
        self.entries.push((local, sock));
    }

    /// The socket the core task reads itself.
    pub(crate) fn primary(&self) -> Option<Arc<UdpSocket>> {
        self.entries.first().map(|(_, s)| Arc::clone(s))
    }

    /// Every socket but the primary one, for reader tasks.
    pub(crate) fn secondary(&self) -> impl Iterator<Item = &Arc<UdpSocket>> {
        self.entries.iter().skip(1).map(|(_, s)| s)
    }

    /// The first socket of `dest`'s address family.
    fn for_dest(&self, dest: &SocketAddr) -> Option<&UdpSocket> {
        self.entries
            .iter()
            .find(|(local, _)| local.is_ipv4() == dest.is_ipv4())
            .map(|(_, s)| &**s)
    }

    /// Sends one datagram: `try_send_to` first, awaiting only when the socket
    /// buffer is full.
    pub(crate) async fn send(&self, bytes: &[u8], dest: SocketAddr) -> Result<(), SendError> {
        if bytes.len() > MAX_DATAGRAM {
            return Err(SendError::TooLarge(bytes.len()));
        }
        let sock = self.for_dest(&dest).ok_or(SendError::NoSocket)?;
        match sock.try_send_to(bytes, dest) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                sock.send_to(bytes, dest).await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads a secondary socket and forwards each datagram to the core task.
pub(crate) async fn reader(
    sock: Arc<UdpSocket>,
    tx: mpsc::Sender<Inbound>,
    mut shutdown: watch::Receiver<()>,
) {
    let mut buf = vec![0u8; RECV_BUF];
    let mut errors = RateLimit::new();
    loop {
        let r = tokio::select! {
            r = sock.recv_from(&mut buf) => r,
            _ = shutdown.changed() => return,
        };
        match r {
            Ok((n, from)) => {
                let bytes = Bytes::copy_from_slice(&buf[..n]);
                if tx
                    .send(Inbound::Frame(Peer::udp(from), bytes))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => {
                if let Some(suppressed) = errors.allow(Clock::now()) {
                    warn!(error = %e, suppressed, "UDP receive failed");
                }
            }
        }
    }
}

/// Waits for a datagram on the primary socket, or forever when there is none.
pub(crate) async fn recv_primary(
    sock: Option<&UdpSocket>,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// Binds a UDP socket with large kernel buffers. Signalling arrives in bursts
/// (thousands of datagrams while the core is busy with the previous batch);
/// with the kernel's default ~208 KB receive buffer those bursts overflow,
/// responses are lost and both sides retransmit. The kernel caps the size at
/// `net.core.rmem_max`/`wmem_max`; what it granted is logged.
pub(crate) fn bind(addr: std::net::SocketAddr, buffer: usize) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    // A refused size is not fatal: the socket works, only bursts suffer.
    let _ = sock.set_recv_buffer_size(buffer);
    let _ = sock.set_send_buffer_size(buffer);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    let granted = sock.recv_buffer_size().unwrap_or(0);
    if granted < buffer {
        tracing::warn!(
            addr = %addr,
            asked = buffer,
            granted,
            "UDP receive buffer smaller than configured; raise net.core.rmem_max"
        );
    }
    UdpSocket::from_std(sock.into())
}

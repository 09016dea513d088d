//! The tokio edge: sockets, timers, signals and the store thread around one
//! sans-IO [`SipCore`].
//!
//! Layout of the running switch:
//!
//! ```text
//!  primary UDP socket ─────────────────────────────┐
//!  other UDP sockets ── reader tasks ─┐            │
//!  TCP/TLS listeners ── accept loops ─┤ inbound    ▼
//!        connection tasks (1 each) ───┴─ queue ─▶ core task ──▶ store thread
//!              ▲                                  (owns the     (SQLite, batched)
//!              └──── bounded outbound queues ◀──── SipCore)
//!  SIGTERM/SIGINT/SIGHUP ── signal task ── control ──┘
//! ```
//!
//! Every queue is bounded. Only `clock.rs` reads a clock. The core never
//! waits on a socket or the disk, except that a full store queue blocks the
//! core task (see [`store`] for why that is acceptable).

pub mod clock;
pub mod core;
mod driver;
pub mod media;
mod ratelimit;
pub mod reload;
mod signals;
pub mod store;
mod stream;
pub mod tls;
mod udp;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, info, info_span};

pub use self::clock::Clock;
pub use self::core::SipCore;
pub use self::driver::END_GRACE;
pub use self::store::{Store, StoreError, StoreSender, StoreStats};
pub use self::stream::MAX_CONNECTIONS;
pub use self::tls::TlsError;

use self::driver::{Command, Driver};
use self::stream::StreamEnv;
use self::udp::UdpSockets;
use crate::config::Config;
use crate::sip::transport::Transport;
use crate::store::Binding;

/// Frames and events queued towards the core task before senders wait.
const INBOUND_QUEUE: usize = 4096;
const CONTROL_QUEUE: usize = 16;

/// Why the edge could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RtError {
    /// A listen address could not be bound.
    #[error("cannot listen on {transport} {addr}: {source}")]
    Bind {
        /// Transport of the listener.
        transport: Transport,
        /// The configured address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The store could not be opened or closed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The tokio runtime could not be built.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The media threads could not be started.
    #[error("cannot start the media plane: {0}")]
    Media(std::io::Error),
    /// The core panicked; the store was still flushed.
    #[error("the core task panicked")]
    CorePanicked,
}

/// How [`serve`] runs. The default handles signals and reports nothing.
#[derive(Debug)]
pub struct Options {
    signals: bool,
    ready: Option<oneshot::Sender<Ready>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            signals: true,
            ready: None,
        }
    }
}

impl Options {
    /// Whether SIGTERM/SIGINT/SIGHUP are handled (default true). Tests turn
    /// this off and use [`Control`] instead.
    pub fn signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// Where to report the bound addresses and a [`Control`] once listening.
    pub fn on_ready(mut self, tx: oneshot::Sender<Ready>) -> Self {
        self.ready = Some(tx);
        self
    }
}

/// What [`serve`] is listening on (with ports chosen by the OS where the
/// config said 0), and a handle to shut it down.
#[derive(Debug)]
#[non_exhaustive]
pub struct Ready {
    /// Bound UDP addresses, in config order.
    pub udp: Vec<SocketAddr>,
    /// Bound TCP addresses, in config order.
    pub tcp: Vec<SocketAddr>,
    /// Bound TLS addresses, in config order.
    pub tls: Vec<SocketAddr>,
    /// Shutdown control, equivalent to the signals.
    pub control: Control,
}

/// Sends the core task what the signals would. Each method returns false when
/// the edge has already stopped.
#[derive(Debug, Clone)]
pub struct Control {
    tx: mpsc::Sender<Command>,
}

impl Control {
    /// Like SIGTERM: drain, then stop.
    pub async fn drain(&self) -> bool {
        self.tx.send(Command::Terminate).await.is_ok()
    }

    /// Like SIGINT: drain the first time, stop at once when already draining.
    pub async fn interrupt(&self) -> bool {
        self.tx.send(Command::Interrupt).await.is_ok()
    }

    /// Stop at once (the store is still flushed).
    pub async fn stop(&self) -> bool {
        self.tx.send(Command::Stop).await.is_ok()
    }
}

/// Builds a single-threaded runtime and runs [`serve`] on it with signal
/// handling, until drained. Returns once the store has committed everything.
pub fn run<C, F>(config: &Config, core_factory: F) -> Result<(), RtError>
where
    C: SipCore + Send + 'static,
    F: FnOnce(Vec<Binding>) -> C,
{
    // One thread: the core is single-threaded by design, and keeping every
    // socket task beside it avoids cross-thread wake-ups per datagram and
    // keeps allocations and frees on one thread, so the allocator can give
    // memory back after a load peak. SQLite has its own thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("switchyard")
        .build()
        .map_err(RtError::Runtime)?;
    runtime.block_on(serve(config, core_factory, Options::default()))
}

/// Runs the edge inside the current runtime: opens the store (its live
/// bindings go to `core_factory`), binds every configured socket, then drives
/// the core until drained or stopped, and flushes the store.
///
/// Prefer a multi-threaded runtime: a full store queue then blocks only the
/// core task's worker (`block_in_place`), not the whole runtime.
pub async fn serve<C, F>(config: &Config, core_factory: F, options: Options) -> Result<(), RtError>
where
    C: SipCore + Send + 'static,
    F: FnOnce(Vec<Binding>) -> C,
{
    let data_dir = config.server.data_dir.clone();
    let now_unix = Clock::unix_secs();
    let (store, bindings) = tokio::task::spawn_blocking(move || Store::open(&data_dir, now_unix))
        .await
        .map_err(|_| StoreError::Panicked)??;
    let core = core_factory(bindings);

    let bound = match bind(config).await {
        Ok(b) => b,
        Err(e) => {
            close_store(store).await?;
            return Err(e);
        }
    };
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let mut signal_task = None;
    let mut reload_task = None;
    let mut hup_tx = None;
    if let Some(crate::config::DialplanSource::Path(path)) = &config.server.dialplan {
        let (tx, rx) = mpsc::channel(1);
        hup_tx = Some(tx);
        let trunks = config.trunks.iter().map(|t| t.name.clone()).collect();
        reload_task = Some(reload::spawn(path.clone(), trunks, control_tx.clone(), rx));
    }
    if options.signals {
        match signals::spawn(control_tx.clone(), hup_tx) {
            Ok(t) => signal_task = Some(t),
            Err(e) => {
                close_store(store).await?;
                return Err(RtError::Signals(e));
            }
        }
    }

    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
    let (shutdown_tx, shutdown_rx) = watch::channel(());
    let env = StreamEnv {
        inbound: inbound_tx,
        max_header: config.limits.max_header_bytes,
        max_body: config.limits.max_body_bytes,
        idle: config.limits.tcp_idle_timeout,
        permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        next_id: Arc::new(AtomicU64::new(1)),
        shutdown: shutdown_rx.clone(),
    };
    let mut tasks = JoinSet::new();
    for sock in bound.udp.secondary() {
        tasks.spawn(udp::reader(
            Arc::clone(sock),
            env.inbound.clone(),
            shutdown_rx.clone(),
        ));
    }
    for (listener, _) in bound.tcp {
        tasks.spawn(stream::accept_loop(
            listener,
            Transport::Tcp,
            None,
            env.clone(),
        ));
    }
    for (listener, _) in bound.tls {
        tasks.spawn(stream::accept_loop(
            listener,
            Transport::Tls,
            bound.acceptor.clone(),
            env.clone(),
        ));
    }
    if let Some(tx) = options.ready {
        let _ = tx.send(Ready {
            udp: bound.udp_addrs,
            tcp: bound.tcp_addrs,
            tls: bound.tls_addrs,
            control: Control {
                tx: control_tx.clone(),
            },
        });
    }
    drop(control_tx);

    let media = if config.media.anchor {
        let (tx, rx) = mpsc::channel(media::EVENT_QUEUE);
        match media::MediaRuntime::start(config, tx) {
            Ok(rt) => Some((rt, rx)),
            Err(e) => {
                close_store(store).await?;
                return Err(RtError::Media(e));
            }
        }
    } else {
        None
    };
    let driver = Driver {
        core,
        udp: bound.udp,
        inbound: inbound_rx,
        control: control_rx,
        env,
        store: store.sender(),
        drain_timeout: config.limits.drain_timeout,
        media,
    };
    let outcome = tokio::spawn(driver.run().instrument(info_span!("edge"))).await;

    // Stop listeners and connections, then let the store finish.
    drop(shutdown_tx);
    while tasks.join_next().await.is_some() {}
    if let Some(t) = signal_task {
        t.abort();
    }
    if let Some(t) = reload_task {
        t.abort();
    }
    close_store(store).await?;
    match outcome {
        Ok(()) => Ok(()),
        Err(_) => Err(RtError::CorePanicked),
    }
}

async fn close_store(store: Store) -> Result<StoreStats, StoreError> {
    tokio::task::spawn_blocking(move || store.close())
        .await
        .map_err(|_| StoreError::Panicked)?
}

/// Everything bound, in config order.
struct Bound {
    udp: UdpSockets,
    udp_addrs: Vec<SocketAddr>,
    tcp: Vec<(TcpListener, SocketAddr)>,
    tcp_addrs: Vec<SocketAddr>,
    tls: Vec<(TcpListener, SocketAddr)>,
    tls_addrs: Vec<SocketAddr>,
    acceptor: Option<TlsAcceptor>,
}

async fn bind(config: &Config) -> Result<Bound, RtError> {
    let server = &config.server;
    let acceptor = if server.tls.is_empty() {
        None
    } else {
        let (Some(cert), Some(key)) = (&server.tls_cert, &server.tls_key) else {
            return Err(TlsError::MissingFiles.into());
        };
        Some(TlsAcceptor::from(tls::server_config(cert, key)?))
    };
    let mut bound = Bound {
        udp: UdpSockets::default(),
        udp_addrs: Vec::new(),
        tcp: Vec::new(),
        tcp_addrs: Vec::new(),
        tls: Vec::new(),
        tls_addrs: Vec::new(),
        acceptor,
    };
    for &addr in &server.udp {
        let sock = udp::bind(addr, config.limits.udp_buffer_bytes).map_err(|source| RtError::Bind {
            transport: Transport::Udp,
            addr,
            source,
        })?;
        let local = sock.local_addr().unwrap_or(addr);
        info!(transport = %Transport::Udp, addr = %local, "listening");
        bound.udp.push(local, Arc::new(sock));
        bound.udp_addrs.push(local);
    }
    for (transport, addrs) in [(Transport::Tcp, &server.tcp), (Transport::Tls, &server.tls)] {
        for &addr in addrs {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| RtError::Bind {
                    transport,
                    addr,
                    source,
                })?;
            let local = stream::local_addr(&listener, addr);
            info!(%transport, addr = %local, "listening");
            let (list, addrs) = match transport {
                Transport::Tls => (&mut bound.tls, &mut bound.tls_addrs),
                _ => (&mut bound.tcp, &mut bound.tcp_addrs),
            };
            list.push((listener, local));
            addrs.push(local);
        }
    }
    Ok(bound)
}

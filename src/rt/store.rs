//! The store thread: one std thread owns the SQLite connection at
//! `data_dir/switchyard.db` and applies the [`StoreOp`]s the core emits.
//!
//! Ops arrive on a bounded `sync_channel` and are applied in batches: the
//! thread blocks for one op, takes whatever else is queued (up to
//! [`MAX_BATCH`]) and applies them in one transaction, so a burst of thousands
//! of CDRs costs one WAL commit rather than thousands of fsyncs.
//!
//! Shutdown loses nothing: [`Store::close`] waits until every
//! [`StoreSender`] is gone, by which time the thread has drained the queue
//! and committed it.
//!
//! Back-pressure: when the queue is full, [`StoreSender::send`] blocks the
//! caller (the core task). That is acceptable because SQLite in WAL mode with
//! `synchronous=NORMAL` applies tens of thousands of small rows per second in
//! batches, far more than calls can end or registrations arrive, so the queue
//! only fills if the disk stalls; and a stalled disk must slow the switch
//! rather than silently drop CDRs or let memory grow without bound. On a
//! multi-threaded runtime the wait goes through `block_in_place`, so the
//! other tasks (connection readers and writers) keep running on other
//! workers; on a current-thread runtime (tests) it blocks that thread, which
//! cannot deadlock because the store thread needs nothing from the runtime.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tracing::{debug, error, info, warn};

use crate::sip::transport::Transport;
use crate::store::{Binding, CdrRecord, StoreOp};

/// File name of the database inside `data_dir`.
pub const DB_FILE: &str = "switchyard.db";
/// `PRAGMA user_version` written by this build; bump with a migration step.
pub const SCHEMA_VERSION: i64 = 3;
/// Ops that may wait in the queue before senders block.
pub const QUEUE_CAPACITY: usize = 65_536;
/// Most ops applied in one transaction.
pub const MAX_BATCH: usize = 4_096;

/// Why the store could not be opened or closed cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `data_dir` could not be created.
    #[error("cannot create data directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// SQLite could not open or set up the database.
    #[error("cannot open store {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// The database was written by a newer Switchyard.
    #[error("store {} has schema version {found}; this build knows up to {SCHEMA_VERSION}", path.display())]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
    },
    /// The store thread could not be started.
    #[error("cannot start the store thread: {0}")]
    Spawn(std::io::Error),
    /// The store thread panicked; queued ops may be lost.
    #[error("the store thread panicked")]
    Panicked,
}

/// The store thread has stopped; the op was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the store thread has stopped")]
pub struct StoreClosed;

/// What the store thread did over its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Ops applied and committed.
    pub applied: u64,
    /// Ops that failed (logged one by one) or whose transaction failed.
    pub failed: u64,
    /// Transactions committed.
    pub batches: u64,
}

/// The open store: the thread and the first sender.
#[derive(Debug)]
pub struct Store {
    sender: StoreSender,
    thread: JoinHandle<StoreStats>,
    path: PathBuf,
}

/// Queues ops for the store thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreSender {
    tx: SyncSender<StoreOp>,
    /// Times a send found the queue full, shared by all clones; logged at
    /// 1, 2, 4, 8, ... so a stalled disk cannot flood the log.
    full: Arc<AtomicU64>,
}

impl Store {
    /// Opens (creating if needed) `data_dir/switchyard.db`, drops bindings that
    /// expired by `now_unix` (seconds since the Unix epoch), starts the thread,
    /// and returns the bindings still valid, for the core to start from.
    pub fn open(data_dir: &Path, now_unix: u64) -> Result<(Store, Vec<Binding>), StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        setup(&conn).map_err(open_err)?;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { path, found });
        }
        migrate(&mut conn, found).map_err(open_err)?;
        let bindings = load_bindings(&conn, now_unix).map_err(open_err)?;

        let (tx, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("switchyard-store".into())
            .spawn(move || writer(conn, rx))
            .map_err(StoreError::Spawn)?;
        info!(path = %path.display(), bindings = bindings.len(), "store open");
        Ok((
            Store {
                sender: StoreSender {
                    tx,
                    full: Arc::default(),
                },
                thread,
                path,
            },
            bindings,
        ))
    }

    /// A sender for the core task.
    pub fn sender(&self) -> StoreSender {
        self.sender.clone()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until every [`StoreSender`] is dropped and the thread has applied
    /// and committed everything queued. Blocks: call it from a plain thread or
    /// `spawn_blocking`, after the senders' owners have finished.
    pub fn close(self) -> Result<StoreStats, StoreError> {
        drop(self.sender);
        let stats = self.thread.join().map_err(|_| StoreError::Panicked)?;
        info!(
            applied = stats.applied,
            failed = stats.failed,
            batches = stats.batches,
            "store closed"
        );
        Ok(stats)
    }
}

impl StoreSender {
    /// Queues one op, blocking while the queue is full (see the module docs
    /// for why that back-pressure is acceptable).
    pub fn send(&self, op: StoreOp) -> Result<(), StoreClosed> {
        match self.tx.try_send(op) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(StoreClosed),
            Err(TrySendError::Full(op)) => {
                let n = self.full.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    warn!(times = n, "store queue full; waiting for the store thread");
                }
                let send = || self.tx.send(op).map_err(|_| StoreClosed);
                let multi = tokio::runtime::Handle::try_current().is_ok_and(|h| {
                    h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
                });
                if multi {
                    tokio::task::block_in_place(send)
                } else {
                    send()
                }
            }
        }
    }
}

fn setup(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        warn!(mode, "SQLite refused WAL mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Brings the schema from `from` up to [`SCHEMA_VERSION`]; each step runs in
/// its own transaction.
fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    if from < 1 {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS bindings (
                 aor TEXT NOT NULL,
                 contact TEXT NOT NULL,
                 expires_at INTEGER NOT NULL,
                 q INTEGER NOT NULL,
                 call_id TEXT NOT NULL,
                 cseq INTEGER NOT NULL,
                 transport TEXT NOT NULL,
                 source TEXT NOT NULL,
                 user_agent TEXT NOT NULL,
                 PRIMARY KEY (aor, contact)
             );
             CREATE TABLE IF NOT EXISTS cdr (
                 id TEXT PRIMARY KEY,
                 a_call_id TEXT NOT NULL,
                 b_call_id TEXT NOT NULL,
                 caller TEXT NOT NULL,
                 callee TEXT NOT NULL,
                 destination TEXT NOT NULL,
                 start_ms INTEGER NOT NULL,
                 answer_ms INTEGER,
                 end_ms INTEGER NOT NULL,
                 status INTEGER NOT NULL,
                 cause TEXT NOT NULL,
                 hangup_by TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS cdr_start_ms ON cdr (start_ms);
             PRAGMA user_version = 1;",
        )?;
        tx.commit()?;
    }
    if from < 2 {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS cdr_quality (
                 cdr_id TEXT NOT NULL,
                 leg TEXT NOT NULL,
                 packets INTEGER NOT NULL,
                 lost INTEGER NOT NULL,
                 jitter_ms REAL NOT NULL,
                 rtt_ms REAL,
                 mos REAL NOT NULL,
                 PRIMARY KEY (cdr_id, leg)
             );
             PRAGMA user_version = 2;",
        )?;
        tx.commit()?;
    }
    if from < 3 {
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS recordings (
                 path TEXT PRIMARY KEY,
                 cdr_id TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 mailbox TEXT NOT NULL,
                 caller TEXT NOT NULL,
                 at_ms INTEGER NOT NULL,
                 duration_ms INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS recordings_cdr ON recordings (cdr_id);
             PRAGMA user_version = 3;",
        )?;
        tx.commit()?;
    }
    Ok(())
}

fn load_bindings(conn: &Connection, now_unix: u64) -> rusqlite::Result<Vec<Binding>> {
    let now = to_i64(now_unix);
    let dropped = conn.execute("DELETE FROM bindings WHERE expires_at <= ?1", [now])?;
    if dropped > 0 {
        debug!(dropped, "expired bindings removed");
    }
    let mut stmt = conn.prepare(
        "SELECT aor, contact, expires_at, q, call_id, cseq, transport, source, user_agent
         FROM bindings WHERE expires_at > ?1 ORDER BY aor, contact",
    )?;
    let rows = stmt.query_map([now], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (aor, contact, expires_at, q, call_id, cseq, transport, source, user_agent) = row?;
        let parsed = (
            u64::try_from(expires_at).ok(),
            u16::try_from(q).ok(),
            u32::try_from(cseq).ok(),
            Transport::from_name(&transport),
            source.parse::<SocketAddr>().ok(),
        );
        let (Some(expires_at), Some(q), Some(cseq), Some(transport), Some(source)) = parsed else {
            warn!(aor, contact, "skipping unreadable binding row");
            continue;
        };
        out.push(Binding {
            aor,
            contact,
            expires_at,
            q,
            call_id,
            cseq,
            transport,
            source,
            user_agent,
        });
    }
    Ok(out)
}

/// The thread body: batches until every sender is gone.
fn writer(mut conn: Connection, rx: Receiver<StoreOp>) -> StoreStats {
    let mut stats = StoreStats::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        apply_batch(&mut conn, &mut batch, &mut stats);
    }
    stats
}

fn apply_batch(conn: &mut Connection, batch: &mut Vec<StoreOp>, stats: &mut StoreStats) {
    let n = batch.len() as u64;
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            error!(error = %e, lost = n, "store: cannot begin a transaction");
            stats.failed += n;
            batch.clear();
            return;
        }
    };
    let mut failed = 0;
    for op in batch.drain(..) {
        if let Err(e) = apply(&tx, &op) {
            error!(error = %e, op = op_name(&op), "store: write failed");
            failed += 1;
        }
    }
    match tx.commit() {
        Ok(()) => {
            stats.applied += n - failed;
            stats.failed += failed;
            stats.batches += 1;
        }
        Err(e) => {
            error!(error = %e, lost = n, "store: commit failed");
            stats.failed += n;
        }
    }
}

fn apply(tx: &Transaction<'_>, op: &StoreOp) -> rusqlite::Result<()> {
    match op {
        StoreOp::SaveBinding(b) => save_binding(tx, b),
        StoreOp::RemoveBinding { aor, contact } => {
            tx.prepare_cached("DELETE FROM bindings WHERE aor = ?1 AND contact = ?2")?
                .execute(params![aor, contact])?;
            Ok(())
        }
        StoreOp::RemoveAll { aor } => {
            tx.prepare_cached("DELETE FROM bindings WHERE aor = ?1")?
                .execute([aor])?;
            Ok(())
        }
        StoreOp::Cdr(c) => insert_cdr(tx, c),
        StoreOp::CdrQuality { id, quality } => {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO cdr_quality (cdr_id, leg, packets, lost, jitter_ms, rtt_ms, mos)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (leg, q) in ["a", "b"].iter().zip(quality) {
                stmt.execute(params![id, leg, to_i64(q.packets), to_i64(q.lost), q.jitter_ms, q.rtt_ms, q.mos])?;
            }
            Ok(())
        }
        StoreOp::Recording(r) => {
            // The file first: a row must never point at audio that is not there.
            if let Err(e) = crate::media::wav::write(&r.path, &r.pcm, r.rate) {
                tracing::error!(path = %r.path.display(), error = %e, "recording not written");
                return Ok(());
            }
            let duration_ms = r.pcm.len() as u64 * 1000 / u64::from(r.rate.max(1));
            tx.prepare_cached(
                "INSERT OR REPLACE INTO recordings (path, cdr_id, kind, mailbox, caller, at_ms, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![r.path.to_string_lossy(), r.cdr_id, r.kind, r.mailbox, r.caller, to_i64(r.at_ms), to_i64(duration_ms)])?;
            Ok(())
        }
        // A newer op this thread does not know yet: say so rather than lose it silently.
        #[allow(unreachable_patterns)]
        _ => Err(rusqlite::Error::InvalidQuery),
    }
}

fn save_binding(tx: &Transaction<'_>, b: &Binding) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO bindings
         (aor, contact, expires_at, q, call_id, cseq, transport, source, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        b.aor,
        b.contact,
        to_i64(b.expires_at),
        b.q,
        b.call_id,
        b.cseq,
        b.transport.as_str(),
        b.source.to_string(),
        b.user_agent,
    ])?;
    Ok(())
}

fn insert_cdr(tx: &Transaction<'_>, c: &CdrRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO cdr
         (id, a_call_id, b_call_id, caller, callee, destination,
          start_ms, answer_ms, end_ms, status, cause, hangup_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        c.id,
        c.a_call_id,
        c.b_call_id,
        c.caller,
        c.callee,
        c.destination,
        to_i64(c.start_ms),
        c.answer_ms.map(to_i64),
        to_i64(c.end_ms),
        c.status,
        c.cause,
        c.hangup_by,
    ])?;
    Ok(())
}

fn op_name(op: &StoreOp) -> &'static str {
    match op {
        StoreOp::SaveBinding(_) => "save-binding",
        StoreOp::RemoveBinding { .. } => "remove-binding",
        StoreOp::RemoveAll { .. } => "remove-all",
        StoreOp::Cdr(_) => "cdr",
        StoreOp::CdrQuality { .. } => "cdr-quality",
        StoreOp::Recording(_) => "recording",
        #[allow(unreachable_patterns)]
        _ => "unknown",
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Reads every CDR, oldest first (for operators' tools and tests; not used on
/// the call path).
pub fn read_cdrs(data_dir: &Path) -> Result<Vec<CdrRecord>, StoreError> {
    let path = data_dir.join(DB_FILE);
    let err = |source| StoreError::Open {
        path: path.clone(),
        source,
    };
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(err)?;
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'cdr'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare(
            "SELECT id, a_call_id, b_call_id, caller, callee, destination,
                    start_ms, answer_ms, end_ms, status, cause, hangup_by
             FROM cdr ORDER BY start_ms, id",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(CdrRecord {
                id: r.get(0)?,
                a_call_id: r.get(1)?,
                b_call_id: r.get(2)?,
                caller: r.get(3)?,
                callee: r.get(4)?,
                destination: r.get(5)?,
                start_ms: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                answer_ms: r
                    .get::<_, Option<i64>>(7)?
                    .map(|v| u64::try_from(v).unwrap_or(0)),
                end_ms: u64::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
                status: r.get(9)?,
                cause: r.get(10)?,
                hangup_by: r.get(11)?,
            })
        })
        .map_err(err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(err)
}

/// Media quality per CDR and leg (`"a"`/`"b"`), in CDR id order.
pub fn read_cdr_quality(data_dir: &Path) -> Result<Vec<(String, String, crate::media::LegQuality)>, StoreError> {
    let path = data_dir.join(DB_FILE);
    let err = |source| StoreError::Open { path: path.clone(), source };
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
    let mut stmt = conn
        .prepare("SELECT cdr_id, leg, packets, lost, jitter_ms, rtt_ms, mos FROM cdr_quality ORDER BY cdr_id, leg")
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                crate::media::LegQuality {
                    packets: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    lost: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                    jitter_ms: r.get(4)?,
                    rtt_ms: r.get(5)?,
                    mos: r.get(6)?,
                },
            ))
        })
        .map_err(err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(err)
}

/// A recording and the CDR it belongs to, as `recordings` keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRow {
    /// The WAV file.
    pub path: String,
    /// The call's CDR id.
    pub cdr_id: String,
    /// `record` or `voicemail`.
    pub kind: String,
    /// The box for voicemail.
    pub mailbox: String,
    /// Who was recorded.
    pub caller: String,
    /// When it started (ms since the Unix epoch).
    pub at_ms: i64,
    /// Its length.
    pub duration_ms: i64,
}

/// Every recording, oldest first; `mailbox` limits it to one voicemail box.
pub fn read_recordings(data_dir: &Path, mailbox: Option<&str>) -> Result<Vec<RecordingRow>, StoreError> {
    let path = data_dir.join(DB_FILE);
    let err = |source| StoreError::Open { path: path.clone(), source };
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
    let mut stmt = conn
        .prepare(
            "SELECT path, cdr_id, kind, mailbox, caller, at_ms, duration_ms FROM recordings
             WHERE ?1 IS NULL OR (kind = 'voicemail' AND mailbox = ?1) ORDER BY at_ms, path",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([mailbox], |r| {
            Ok(RecordingRow {
                path: r.get(0)?,
                cdr_id: r.get(1)?,
                kind: r.get(2)?,
                mailbox: r.get(3)?,
                caller: r.get(4)?,
                at_ms: r.get(5)?,
                duration_ms: r.get(6)?,
            })
        })
        .map_err(err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(err)
}

//! What the cores ask the embedded store to keep: registrar bindings and call
//! detail records. The cores only emit [`StoreOp`] values; `rt::store` applies
//! them to SQLite on its own thread, so no core ever waits on disk.

use std::net::SocketAddr;

use crate::sip::transport::Transport;

/// One registered contact of a user (RFC 3261 §10.3).
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// Address-of-record user part (the configured user name).
    pub aor: String,
    /// The Contact URI as registered.
    pub contact: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
    /// `q` preference from 0 to 1000 (q × 1000), default 1000.
    pub q: u16,
    /// Call-ID of the REGISTER that made it (RFC 3261 §10.3 step 7 ordering).
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// Transport the REGISTER came over.
    pub transport: Transport,
    /// Source address of the REGISTER: where requests for this contact are
    /// sent, which also gets through NAT (RFC 3581 symmetry).
    pub source: SocketAddr,
    /// `User-Agent` of the registering device, for operators.
    pub user_agent: String,
}

/// One call attempt, written when it ends (RFC-neutral; times in ms since the
/// Unix epoch).
#[derive(Clone, Debug, PartialEq)]
pub struct CdrRecord {
    /// Switch-wide call identifier (also in logs).
    pub id: String,
    /// Call-ID of the caller's leg.
    pub a_call_id: String,
    /// Call-ID of the callee's leg ("" when no leg was placed).
    pub b_call_id: String,
    /// Caller as presented (From user).
    pub caller: String,
    /// Dialled number / Request-URI user.
    pub callee: String,
    /// Where the call was sent: `user:1002`, `trunk:carrier`, or "".
    pub destination: String,
    /// When the INVITE arrived.
    pub start_ms: u64,
    /// When the callee answered.
    pub answer_ms: Option<u64>,
    /// When the call ended.
    pub end_ms: u64,
    /// Final SIP status of the attempt (200 for answered calls).
    pub status: u16,
    /// Why it ended: `normal`, `busy`, `no-answer`, `cancelled`, `rejected`,
    /// `timeout`, `shutdown`, ...
    pub cause: String,
    /// Which side hung up: `caller`, `callee`, `switch`, or "".
    pub hangup_by: String,
}

/// A recording a call made (`record` or `voicemail`): the store thread writes the WAV file
/// and links it from the call's CDR (table `recordings`).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordingRecord {
    /// The CDR it belongs to.
    pub cdr_id: String,
    /// `record` or `voicemail`.
    pub kind: String,
    /// The voicemail box, or "" for `record`.
    pub mailbox: String,
    /// Where the WAV file goes (absolute, inside `data_dir`).
    pub path: std::path::PathBuf,
    /// Who was recorded.
    pub caller: String,
    /// When it started, ms since the Unix epoch.
    pub at_ms: u64,
    /// Sample rate.
    pub rate: u32,
    /// 16-bit mono samples.
    pub pcm: Vec<i16>,
}

/// A write for the store thread.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StoreOp {
    /// Insert or replace the binding of (aor, contact).
    SaveBinding(Binding),
    /// Remove one binding.
    RemoveBinding {
        /// User.
        aor: String,
        /// Contact URI.
        contact: String,
    },
    /// Remove every binding of a user (`Contact: *`).
    RemoveAll {
        /// User.
        aor: String,
    },
    /// Append a call detail record.
    Cdr(CdrRecord),
    /// Media quality of a call's legs (A then B), written when its media closes.
    CdrQuality {
        /// The CDR's id.
        id: String,
        /// Leg A, leg B.
        quality: [crate::media::LegQuality; 2],
    },
    /// Write a recording and link it from its CDR.
    Recording(RecordingRecord),
}

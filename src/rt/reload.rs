//! Dialplan hot reload: on SIGHUP, and when a `.dialplan` file changes, the plan is read and
//! checked off the core task; a good plan is handed to the core (new calls use it, calls in
//! progress finish on theirs), a bad one is refused with every `file:line:col` problem logged
//! and the running plan kept.
//!
//! Files are polled (size and modification time, once a second) rather than watched, so
//! editors that replace files, network file systems and bind mounts behave the same. A
//! change is loaded only once it has stayed the same for one poll, so a file caught half
//! written is not reported as broken.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tracing::{error, info};

use super::clock::Clock;
use super::driver::Command;
use crate::dialplan::{DialplanError, Plan};

/// How often the plan's files are looked at.
pub(crate) const POLL: Duration = Duration::from_secs(1);

type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

fn fingerprint(path: &Path) -> Fingerprint {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "dialplan"))
            .collect(),
        Err(_) => vec![path.to_path_buf()],
    };
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let (mtime, len) = m.map_or((None, 0), |m| (m.modified().ok(), m.len()));
            (p, mtime, len)
        })
        .collect()
}

/// Reads and checks the plan the way `switchyard check` does.
pub fn load_checked(path: &Path, trunks: &HashSet<String>) -> Result<Plan, DialplanError> {
    let mut plan = Plan::load(path)?;
    // Decoded first, so that the check of the prompts the plan names reuses them.
    for e in plan.load_audio() {
        tracing::warn!("{e}");
    }
    let missing = plan.check_refs(&|t| trunks.contains(t));
    if missing.is_empty() {
        Ok(plan)
    } else {
        Err(DialplanError::Invalid(missing))
    }
}

/// Spawns the reload task; it ends when the core's control channel closes.
pub(crate) fn spawn(
    path: PathBuf,
    trunks: HashSet<String>,
    control: mpsc::Sender<Command>,
    mut hup: mpsc::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = fingerprint(&path);
        let mut pending: Option<Fingerprint> = None;
        let mut hup_open = true;
        loop {
            let why = tokio::select! {
                h = hup.recv(), if hup_open => match h {
                    Some(()) => "SIGHUP",
                    None => {
                        hup_open = false;
                        continue;
                    }
                },
                () = Clock::sleep(POLL) => {
                    let p = path.clone();
                    let now = tokio::task::spawn_blocking(move || fingerprint(&p)).await.unwrap_or_default();
                    if now == seen {
                        pending = None;
                        continue;
                    }
                    if pending.as_ref() != Some(&now) {
                        pending = Some(now);
                        continue;
                    }
                    "file change"
                }
                () = control.closed() => return,
            };
            pending = None;
            let (p, t) = (path.clone(), trunks.clone());
            let loaded = tokio::task::spawn_blocking(move || (fingerprint(&p), load_checked(&p, &t))).await;
            match loaded {
                Ok((fp, Ok(plan))) => {
                    seen = fp;
                    info!(
                        trigger = why,
                        files = plan.files.len(),
                        contexts = plan.contexts_len(),
                        "dialplan reloaded"
                    );
                    if control.send(Command::Reload(Arc::new(plan))).await.is_err() {
                        return;
                    }
                }
                Ok((fp, Err(e))) => {
                    seen = fp;
                    for line in e.to_string().lines() {
                        error!(trigger = why, "dialplan reload refused, the running plan stays: {line}");
                    }
                }
                Err(_) => error!(trigger = why, "dialplan reload failed: the loader panicked; the running plan stays"),
            }
        }
    })
}

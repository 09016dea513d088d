//! Unix signals turned into commands for the core task: SIGTERM drains,
//! SIGINT drains and a second SIGINT stops at once, SIGHUP reloads the
//! dialplan (`reload.rs`; the rest of the configuration needs a restart).

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::driver::Command;

/// Installs the handlers (inside the runtime) and spawns the task that
/// forwards them; it ends when the core task is gone.
pub(crate) fn spawn(
    control: mpsc::Sender<Command>,
    hup_tx: Option<mpsc::Sender<()>>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        loop {
            let cmd = tokio::select! {
                _ = term.recv() => {
                    info!("SIGTERM: draining");
                    Command::Terminate
                }
                _ = int.recv() => {
                    info!("SIGINT: draining (again to stop at once)");
                    Command::Interrupt
                }
                _ = hup.recv() => {
                    match &hup_tx {
                        // Full means a reload is already pending: one is enough.
                        Some(tx) => {
                            let _ = tx.try_send(());
                        }
                        None => warn!("SIGHUP: nothing to reload (no dialplan files: server.dialplan is unset or embedded); the rest of the configuration needs a restart"),
                    }
                    continue;
                }
                () = control.closed() => return,
            };
            if control.send(cmd).await.is_err() {
                return;
            }
        }
    }))
}

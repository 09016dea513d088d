//! Unix signals turned into commands for the core task: SIGTERM drains,
//! SIGINT drains and a second SIGINT stops at once, SIGHUP is logged (config
//! reload comes with dialplan reload, later).

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::driver::Command;

/// Installs the handlers (inside the runtime) and spawns the task that
/// forwards them; it ends when the core task is gone.
pub(crate) fn spawn(
    control: mpsc::Sender<Command>,
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
                    warn!("SIGHUP: configuration reload is not implemented yet; ignored");
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

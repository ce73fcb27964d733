//! Process signals: SIGTERM/SIGINT end the process, SIGHUP asks for a reload. The handlers are
//! installed when [`Signals::install`] is called, which `app` does before it announces its
//! listener: a signal that arrives after "listening on" is always handled, never the default
//! action (which would kill the process on SIGHUP).

use tokio::signal::unix::{signal, Signal, SignalKind};

/// The installed handlers. A handler that could not be installed is `None`.
pub struct Signals {
    term: Option<Signal>,
    int: Option<Signal>,
    /// Taken by the reload loop.
    pub hangups: Option<Signal>,
}

impl Signals {
    /// Installs the SIGTERM, SIGINT and SIGHUP handlers now.
    pub fn install() -> Self {
        Self {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
            hangups: signal(SignalKind::hangup()).ok(),
        }
    }

    /// Resolves on the first SIGTERM or SIGINT.
    pub async fn shutdown(&mut self) -> &'static str {
        match (&mut self.term, &mut self.int) {
            (Some(term), Some(int)) => {
                tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                }
            }
            (Some(term), None) => {
                term.recv().await;
                "SIGTERM"
            }
            _ => {
                // Without a SIGTERM handler there is nothing to wait for but Ctrl-C.
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
}

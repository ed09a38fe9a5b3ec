//! How every ankmq daemon learns it should stop: SIGTERM (systemd, podman, a test harness) or
//! SIGINT (Ctrl+C).
//!
//! The handlers are installed by [`Shutdown::install`], before the daemon starts listening or
//! says it is up. A future that installed them only when first polled left a window after start
//! in which SIGTERM still had its default action and killed the process without a clean stop
//! (the broker's `sigterm_stops_the_broker_cleanly_and_frees_the_port` lost that race under load).
//! `ank-broker` does not link this crate (it needs no MQTT client) and follows the same order in
//! its `main.rs`.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Installed SIGTERM and SIGINT handlers; [`Shutdown::wait`] completes on the first of them.
pub struct Shutdown {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl Shutdown {
    /// Installs the handlers now. Must run inside a tokio runtime. A handler that cannot be
    /// installed is logged and never fires (the process then ends the hard way on that signal).
    pub fn install() -> Self {
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("cannot watch {name} ({e}); it will not stop this process cleanly");
                None
            }
        };
        Self {
            term: watch(SignalKind::terminate(), "SIGTERM"),
            int: watch(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Completes on SIGTERM or SIGINT and names the signal.
    pub async fn wait(mut self) -> &'static str {
        async fn next(signal: &mut Option<Signal>) {
            match signal {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let name = tokio::select! {
            _ = next(&mut self.term) => "SIGTERM",
            _ = next(&mut self.int) => "SIGINT",
        };
        tracing::info!("{name}: shutting down");
        name
    }
}

//! Tells the user when a live command (a wait, `--watch`, `get events`) loses the broker and
//! when it is back, so a wait without `--timeout` never hangs silently while the broker is down
//! (issue 14). The watch reconnects by itself; this only keeps the time it broke.

use std::time::{Instant, SystemTime};

use crate::ui::Ui;

/// The broker outage a live command is in, if any.
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<(Instant, SystemTime)>,
}

impl Outage {
    /// The watch's connection broke: warns once per outage, with the time it began.
    pub fn lost(&mut self, ui: &mut Ui, reason: &str) -> std::io::Result<()> {
        if self.since.is_some() {
            return Ok(());
        }
        let now = SystemTime::now();
        self.since = Some((Instant::now(), now));
        ui.warning(format!(
            "lost the broker at {} ({reason}); reconnecting, still waiting (Ctrl+C to stop)",
            humantime::format_rfc3339_seconds(now)
        ))
    }

    /// A fresh snapshot arrived: if it ends an outage, says how long it lasted.
    pub fn snapshot(&mut self, ui: &mut Ui) -> std::io::Result<()> {
        let Some((began, at)) = self.since.take() else {
            return Ok(());
        };
        ui.status(format!(
            "reconnected to the broker (lost since {}, for {}s)",
            humantime::format_rfc3339_seconds(at),
            began.elapsed().as_secs()
        ))
    }
}

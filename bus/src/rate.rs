//! The one way to bound a rate that outside input controls: at most `burst` events per fixed
//! `window` (issue 14: "every size, count and rate that outside input controls has a bound").
//!
//! A fixed window is enough for these bounds: they protect a component from floods (log lines
//! about hostile payloads, processes started for log requests), not meter fair shares, and a fixed
//! window costs one timestamp and two counters, never an allocation per event. Callers pass the
//! time in, so the rule is tested without a clock.

use std::time::Duration;

use tokio::time::Instant;

/// At most `burst` admitted events per `window`; the rest are refused and counted.
#[derive(Debug, Clone, Copy)]
pub struct RateWindow {
    burst: u32,
    window: Duration,
    started: Option<Instant>,
    admitted: u32,
    refused: u64,
}

/// What [`RateWindow::admit`] decided for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Go ahead. `refused_before` events were refused in the window that just ended (0 when this
    /// event is in the same window as the last one).
    Admitted {
        /// Events refused in the previous window.
        refused_before: u64,
    },
    /// Refused: the window's burst is used up; it ends after `retry_after`.
    Refused {
        /// How long until the window ends and events are admitted again.
        retry_after: Duration,
    },
}

impl RateWindow {
    /// A window admitting `burst` events per `window`.
    pub const fn new(burst: u32, window: Duration) -> Self {
        Self {
            burst,
            window,
            started: None,
            admitted: 0,
            refused: 0,
        }
    }

    /// The number of events admitted per window.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The length of one window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Decides one event at `now`.
    pub fn admit(&mut self, now: Instant) -> Rate {
        self.admit_many(now, 1)
    }

    /// Decides `events` events at `now` as one: all are admitted, or none (and the refusal
    /// counts once).
    pub fn admit_many(&mut self, now: Instant, events: u32) -> Rate {
        let mut refused_before = 0;
        let started = match self.started {
            Some(started) if now.saturating_duration_since(started) < self.window => started,
            _ => {
                refused_before = std::mem::take(&mut self.refused);
                self.admitted = 0;
                self.started = Some(now);
                now
            }
        };
        if self.admitted.saturating_add(events) <= self.burst {
            self.admitted += events;
            Rate::Admitted { refused_before }
        } else {
            self.refused = self.refused.saturating_add(1);
            Rate::Refused {
                retry_after: self
                    .window
                    .saturating_sub(now.saturating_duration_since(started)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_window_then_refusals_counted_into_the_next_window() {
        let t0 = Instant::now();
        let mut rate = RateWindow::new(2, Duration::from_secs(10));
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(rate.admit(at(0)), Rate::Admitted { refused_before: 0 });
        assert_eq!(rate.admit(at(1)), Rate::Admitted { refused_before: 0 });
        assert_eq!(
            rate.admit(at(4)),
            Rate::Refused {
                retry_after: Duration::from_secs(6)
            }
        );
        assert_eq!(
            rate.admit(at(9)),
            Rate::Refused {
                retry_after: Duration::from_secs(1)
            }
        );
        // The window that started at 0 ended at 10: a new one starts with this event.
        assert_eq!(rate.admit(at(10)), Rate::Admitted { refused_before: 2 });
        assert_eq!(rate.admit(at(11)), Rate::Admitted { refused_before: 0 });
        assert!(matches!(rate.admit(at(12)), Rate::Refused { .. }));
    }

    #[test]
    fn many_events_are_admitted_together_or_not_at_all() {
        let t0 = Instant::now();
        let mut rate = RateWindow::new(5, Duration::from_secs(10));
        assert!(matches!(rate.admit_many(t0, 3), Rate::Admitted { .. }));
        assert!(matches!(rate.admit_many(t0, 3), Rate::Refused { .. }));
        assert!(matches!(rate.admit_many(t0, 2), Rate::Admitted { .. }));
        assert!(matches!(rate.admit(t0), Rate::Refused { .. }));
        assert!(matches!(
            rate.admit_many(t0, u32::MAX),
            Rate::Refused { .. }
        ));
    }

    #[test]
    fn a_zero_burst_refuses_everything() {
        let mut rate = RateWindow::new(0, Duration::from_secs(1));
        assert!(matches!(rate.admit(Instant::now()), Rate::Refused { .. }));
    }
}

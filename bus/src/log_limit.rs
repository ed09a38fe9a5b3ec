//! Bounded logging of outside input: what a component writes to its log about a payload, a topic
//! or an error caused by either must not let a bus client fill the disk (issue 14 point 5: 2,600
//! malformed payloads grew the controller's and agent's logs by 39 MB and 55 MB, with 900 KB
//! single lines).
//!
//! Two tools, used by every binary (controller, agent, CLI) and by `ank-bus` itself:
//! - [`excerpt`] / [`excerpt_bytes`]: at most [`EXCERPT_CHARS`] characters of a value, escaped
//!   (no newline or control character reaches the log), then `… (N bytes)` when it was cut. serde
//!   errors quote the offending input, so errors are excerpted too, not only payloads.
//! - [`WarnLimiter`] and the [`warn_limited!`](crate::warn_limited) macro: per kind of warning, the
//!   first [`WARN_BURST`] in a [`WARN_WINDOW`] are logged, the rest only counted; the next warning
//!   of that kind after the window logs one summary "suppressed N similar warnings".
//!
//! Neither allocates per message: an excerpt is written straight into the formatter, a suppressed
//! warning is one counter increment. This module decides nothing about what is logged, only how
//! much of it.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::rate::{Rate, RateWindow};

/// How many characters of outside input one log field shows at most.
pub const EXCERPT_CHARS: usize = 200;

/// How many warnings of one kind are logged per [`WARN_WINDOW`] before the rest are counted.
pub const WARN_BURST: u32 = 10;

/// The window of [`WARN_BURST`].
pub const WARN_WINDOW: Duration = Duration::from_secs(10);

/// A `Display` of at most [`EXCERPT_CHARS`] escaped characters of `value`'s own `Display`, then
/// `… (N bytes)` (N = the length of the whole text) when it was cut. For topics, ids and errors
/// whose text quotes outside input (serde's "unknown variant `…`").
pub fn excerpt<T: fmt::Display + ?Sized>(value: &T) -> Excerpt<'_, T> {
    Excerpt(value)
}

/// A `Display` of a payload: at most [`EXCERPT_CHARS`] escaped characters of it (invalid UTF-8
/// shown as `\u{fffd}`), then `… (N bytes)` when it was cut.
pub fn excerpt_bytes(payload: &[u8]) -> BytesExcerpt<'_> {
    BytesExcerpt(payload)
}

/// See [`excerpt`].
pub struct Excerpt<'a, T: ?Sized>(&'a T);

/// See [`excerpt_bytes`].
pub struct BytesExcerpt<'a>(&'a [u8]);

impl<T: fmt::Display + ?Sized> fmt::Display for Excerpt<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Bounded::new(f);
        // `Bounded` never fails: it stops writing at the bound and keeps counting.
        let _ = write!(out, "{}", self.0);
        out.finish()
    }
}

impl fmt::Display for BytesExcerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Bounded::new(f);
        for chunk in self.0.utf8_chunks() {
            if out.is_full() {
                break;
            }
            let _ = out.write_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                let _ = out.write_char(char::REPLACEMENT_CHARACTER);
            }
        }
        out.total = self.0.len();
        out.finish()
    }
}

impl<T: fmt::Debug + ?Sized> fmt::Debug for Excerpt<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Bounded::new(f);
        let _ = write!(out, "{:?}", self.0);
        out.finish()
    }
}

impl fmt::Debug for BytesExcerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Escapes and writes into `f` until [`EXCERPT_CHARS`] output characters, then only counts.
struct Bounded<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    /// Output characters written so far (escapes count with their full length).
    written: usize,
    /// Bytes of input seen so far, written or not.
    total: usize,
    cut: bool,
    error: fmt::Result,
}

impl<'a, 'b> Bounded<'a, 'b> {
    fn new(f: &'a mut fmt::Formatter<'b>) -> Self {
        Self {
            f,
            written: 0,
            total: 0,
            cut: false,
            error: Ok(()),
        }
    }

    fn is_full(&self) -> bool {
        self.cut
    }

    fn finish(self) -> fmt::Result {
        self.error?;
        if self.cut {
            write!(self.f, "… ({} bytes)", self.total)?;
        }
        Ok(())
    }
}

impl fmt::Write for Bounded<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.total += s.len();
        if self.cut {
            return Ok(());
        }
        for c in s.chars() {
            // `escape_debug` keeps printable text (any script) and escapes newlines, control
            // characters and quotes, so one log line stays one line.
            let escaped = c.escape_debug();
            let len = escaped.len();
            if self.written + len > EXCERPT_CHARS {
                self.cut = true;
                return Ok(());
            }
            self.written += len;
            if let Err(e) = write!(self.f, "{escaped}") {
                self.error = Err(e);
                self.cut = true;
                return Ok(());
            }
        }
        Ok(())
    }
}

/// What [`WarnLimiter::admit`] decided for one warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Log it. `suppressed_before` warnings of this kind were dropped in the window that just
    /// ended: log a summary of them first when it is not 0.
    Log {
        /// Warnings of this kind suppressed in the previous window.
        suppressed_before: u64,
    },
    /// Drop it: this kind already logged [`WarnLimiter`]'s burst in the current window.
    Suppress,
}

/// Per kind of warning: the first `burst` in each `window` are admitted, the rest counted.
///
/// Kinds are `&'static str` written in the code, so the map is bounded by the code, not by
/// outside input. A `std::sync::Mutex` is enough: the critical section is a lookup and an add,
/// never held across an `.await`.
#[derive(Debug)]
pub struct WarnLimiter {
    burst: u32,
    window: Duration,
    kinds: Mutex<HashMap<&'static str, RateWindow>>,
}

impl WarnLimiter {
    /// A limiter admitting `burst` warnings per kind and `window`.
    pub fn new(burst: u32, window: Duration) -> Self {
        Self {
            burst,
            window,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// The window this limiter counts in.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Decides whether one warning of `kind` is logged now.
    pub fn admit(&self, kind: &'static str) -> Admission {
        let now = Instant::now();
        // A poisoned lock only means another thread panicked while counting: keep counting.
        let mut kinds = self
            .kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = kinds
            .entry(kind)
            .or_insert_with(|| RateWindow::new(self.burst, self.window));
        match window.admit(now) {
            Rate::Admitted { refused_before } => Admission::Log {
                suppressed_before: refused_before,
            },
            Rate::Refused { .. } => Admission::Suppress,
        }
    }
}

impl Default for WarnLimiter {
    /// [`WARN_BURST`] per [`WARN_WINDOW`].
    fn default() -> Self {
        Self::new(WARN_BURST, WARN_WINDOW)
    }
}

/// The process-wide limiter behind [`warn_limited!`](crate::warn_limited).
pub fn warn_limiter() -> &'static WarnLimiter {
    static LIMITER: OnceLock<WarnLimiter> = OnceLock::new();
    LIMITER.get_or_init(WarnLimiter::default)
}

/// `tracing::warn!` behind the process-wide [`WarnLimiter`]:
/// `warn_limited!("agent status", topic = %excerpt(&topic), "ignored agent status")`.
///
/// The first argument is the kind (a string literal); the rest is what `tracing::warn!` takes.
/// Put outside input only through [`excerpt`] / [`excerpt_bytes`].
#[macro_export]
macro_rules! warn_limited {
    ($kind:literal, $($rest:tt)+) => {
        $crate::__log_limited!(warn, $kind, $($rest)+)
    };
}

/// [`warn_limited!`](crate::warn_limited) at `info` level, for routine outcomes an outside client
/// can trigger at will (a refused request).
#[macro_export]
macro_rules! info_limited {
    ($kind:literal, $($rest:tt)+) => {
        $crate::__log_limited!(info, $kind, $($rest)+)
    };
}

/// The body of [`warn_limited!`](crate::warn_limited) and [`info_limited!`](crate::info_limited).
#[doc(hidden)]
#[macro_export]
macro_rules! __log_limited {
    ($level:ident, $kind:literal, $($rest:tt)+) => {
        match $crate::log_limit::warn_limiter().admit($kind) {
            $crate::log_limit::Admission::Log { suppressed_before } => {
                if suppressed_before > 0 {
                    $crate::__tracing::$level!(
                        kind = $kind,
                        "suppressed {} similar warnings in the last {} s",
                        suppressed_before,
                        $crate::log_limit::warn_limiter().window().as_secs()
                    );
                }
                $crate::__tracing::$level!($($rest)+);
            }
            $crate::log_limit::Admission::Suppress => {}
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_shown_whole_and_escaped() {
        assert_eq!(excerpt("plain").to_string(), "plain");
        assert_eq!(excerpt("a\nb\u{1b}[31m").to_string(), r"a\nb\u{1b}[31m");
        assert_eq!(excerpt_bytes(b"{\"a\":1}").to_string(), r#"{\"a\":1}"#);
    }

    #[test]
    fn long_text_is_cut_at_the_bound_and_names_its_length() {
        let long = "x".repeat(900_000);
        let shown = excerpt(&long).to_string();
        assert_eq!(
            shown,
            format!("{}… (900000 bytes)", "x".repeat(EXCERPT_CHARS))
        );
        let shown = excerpt_bytes(long.as_bytes()).to_string();
        assert_eq!(
            shown,
            format!("{}… (900000 bytes)", "x".repeat(EXCERPT_CHARS))
        );
    }

    #[test]
    fn a_text_of_exactly_the_bound_is_not_cut_and_one_more_is() {
        let exact = "y".repeat(EXCERPT_CHARS);
        assert_eq!(excerpt(&exact).to_string(), exact);
        let more = "y".repeat(EXCERPT_CHARS + 1);
        assert_eq!(
            excerpt(&more).to_string(),
            format!("{exact}… ({} bytes)", EXCERPT_CHARS + 1)
        );
    }

    #[test]
    fn escapes_count_against_the_bound() {
        let newlines = "\n".repeat(1000);
        let shown = excerpt(&newlines).to_string();
        assert_eq!(
            shown,
            format!("{}… (1000 bytes)", r"\n".repeat(EXCERPT_CHARS / 2))
        );
        assert!(!shown.contains('\n'));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_trusted() {
        let shown = excerpt_bytes(&[b'a', 0xff, 0xfe, b'b', 0]).to_string();
        assert_eq!(shown, "a\u{fffd}\u{fffd}b\\0");
        let random: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let shown = excerpt_bytes(&random).to_string();
        assert!(shown.ends_with("… (100000 bytes)"), "{shown}");
        assert!(shown.chars().count() <= EXCERPT_CHARS + 20, "{shown}");
        assert!(!shown.contains(['\n', '\r', '\0']));
    }

    #[test]
    fn a_serde_error_quoting_a_huge_input_is_cut() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Status {
            epoch: u64,
        }
        let payload = format!(r#"{{"epoch": "{}"}}"#, "z".repeat(500_000));
        let error = serde_json::from_str::<Status>(&payload).unwrap_err();
        assert!(error.to_string().len() > 500_000, "serde quotes the input");
        let shown = excerpt(&error).to_string();
        assert!(shown.len() < EXCERPT_CHARS + 40, "{shown}");
        assert!(shown.starts_with("invalid type: string \\\"zzz"), "{shown}");
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_admits_the_burst_then_counts_then_summarises() {
        let limiter = WarnLimiter::new(3, Duration::from_secs(10));
        for _ in 0..3 {
            assert_eq!(
                limiter.admit("x"),
                Admission::Log {
                    suppressed_before: 0
                }
            );
        }
        for _ in 0..1000 {
            assert_eq!(limiter.admit("x"), Admission::Suppress);
        }
        // Another kind has a budget of its own.
        assert_eq!(
            limiter.admit("y"),
            Admission::Log {
                suppressed_before: 0
            }
        );
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(limiter.admit("x"), Admission::Suppress);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            limiter.admit("x"),
            Admission::Log {
                suppressed_before: 1001
            }
        );
        // The new window starts with a fresh count and nothing suppressed.
        assert_eq!(
            limiter.admit("x"),
            Admission::Log {
                suppressed_before: 0
            }
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(
            limiter.admit("x"),
            Admission::Log {
                suppressed_before: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_is_bounded_by_its_burst_per_window() {
        let limiter = WarnLimiter::new(10, Duration::from_secs(10));
        let mut logged = 0;
        // 100 warnings a second for a minute: 10 logged per window, 6 windows.
        for _ in 0..60 {
            for _ in 0..100 {
                if matches!(limiter.admit("flood"), Admission::Log { .. }) {
                    logged += 1;
                }
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(logged, 60);
    }
}

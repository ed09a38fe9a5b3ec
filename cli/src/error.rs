//! Every way `ank` can fail, mapped to an exit code and printed in one place.
//!
//! Exit codes: 0 ok; 1 any error found after the arguments were parsed (refused request,
//! connection error, timeout, a bad name, mask or config file: Ankaios 1.0.1 exits 1 for all of
//! these); 2 only clap's own argument errors; 3 the change was
//! applied but a workload ended `Failed(*)` or `Pending(StartingFailed)` (Ankaios exits 0 there,
//! §11.6: a deliberate difference, so scripts can tell). A closed stdout pipe (`ank … | head`)
//! ends quietly with 0, as ripgrep does. Messages go to stderr as `error: …`, then each cause,
//! then `hint: …` (jj's `command_error.rs`).

use std::io::{self, Write};
use std::time::Duration;

use ank_bus::BusError;
use ank_schemas::ValidationError;

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments parsed but make no sense (a bad name, mask or config file); clap catches
    /// the rest itself and exits 2. Exits 1, as Ankaios does for these.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// The broker could not be reached or the session broke.
    #[error("{context}")]
    Bus {
        /// What ank was doing.
        context: String,
        /// The bus error.
        #[source]
        source: BusError,
        /// The broker URL, for the hint.
        broker: String,
    },
    /// A change was asked for while the controller is not online.
    #[error("controller offline{} ({reason})", since.as_ref().map(|s| format!(" since {s}")).unwrap_or_default())]
    ControllerOffline {
        /// Why: shut down, connection lost, never connected.
        reason: String,
        /// When it went away, if known.
        since: Option<String>,
    },
    /// The controller or the broker went away after the request was sent and before it was
    /// answered: the change may or may not have been saved (issue 14).
    #[error(
        "no answer from the controller: {reason}; the change may or may not have been applied"
    )]
    Unanswered {
        /// What went away.
        reason: String,
    },
    /// The controller refused the request; nothing changed.
    #[error("the controller refused the request: {message}")]
    Refused {
        /// The controller's one-line reason.
        message: String,
        /// Every validation error it listed.
        errors: Vec<ValidationError>,
    },
    /// A manifest or state file is not usable.
    #[error("{context}")]
    Invalid {
        /// Which file and what.
        context: String,
        /// Every problem found.
        errors: Vec<ValidationError>,
    },
    /// Waiting for something took too long.
    #[error("{what} within {}", humantime::format_duration(*after))]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: Duration,
    },
    /// The change was applied, but some workloads failed.
    #[error("applied, but {} failed: {}", if .0.len() == 1 { "a workload" } else { "workloads" }, .0.join(", "))]
    WorkloadsFailed(Vec<String>),
    /// Ctrl+C while waiting for a change; the change itself stays applied.
    #[error("interrupted; the change was applied and goes on without ank watching it")]
    Interrupted,
    /// Anything else, with its context chain.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::Other(e.into())
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        if self.is_broken_pipe() {
            return 0;
        }
        match self {
            CliError::WorkloadsFailed(_) => 3,
            CliError::Interrupted => 130,
            _ => 1,
        }
    }

    /// Whether this is only stdout having been closed by the reader.
    pub fn is_broken_pipe(&self) -> bool {
        let CliError::Other(e) = self else {
            return false;
        };
        e.chain().any(|c| {
            c.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
        })
    }

    /// What to try next, if we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Usage { hint, .. } => hint.clone(),
            CliError::Bus { broker, source, .. } => match source {
                BusError::Unreachable { .. } => Some(format!(
                    "is the broker running at {broker}? Set it with --broker or ANK_BROKER"
                )),
                // CONNACK 3: the broker is up but cannot serve; our embedded broker says this when
                // its storage's disk is full (docs/broker.md), never for bad credentials.
                BusError::Rejected { reason, .. } if reason == "ServiceUnavailable" => Some(
                    "the broker cannot take clients right now; its log says why (e.g. no space left on device for its storage)"
                        .into(),
                ),
                BusError::Rejected { .. } => {
                    Some("check --username/--password or the TLS client certificate".into())
                }
                BusError::TooLarge { .. } => Some(
                    "nothing was sent; apply the manifest in smaller parts (one file per apply)"
                        .into(),
                ),
                BusError::ClientCertificateRefused { .. } => Some(
                    "give a certificate and key the broker trusts with --cert-file/--key-file"
                        .into(),
                ),
                BusError::BrokerCertificateRefused { .. } => {
                    Some("--ca-file must name the CA that signed the broker's certificate".into())
                }
                BusError::Timeout { .. } => Some(
                    "the broker is slow or the topic prefix is wrong; try --response-timeout 10s"
                        .into(),
                ),
                _ => None,
            },
            CliError::Unanswered { .. } => {
                Some("`ank get state` shows what was saved once the controller is back".into())
            }
            CliError::ControllerOffline { .. } => Some(
                "reads (`ank get …`) still work; start ank-controller, or check --topic-prefix"
                    .into(),
            ),
            CliError::Timeout { what, .. } if what.contains("controller") => Some(
                "is ank-controller running with this --topic-prefix? Or raise --response-timeout"
                    .into(),
            ),
            CliError::Timeout { what, .. } if what.contains("workloads") => Some(
                "the change itself was applied; `ank get workloads` shows where it stands".into(),
            ),
            CliError::WorkloadsFailed(_) => {
                Some("`ank get workloads` shows the ADDITIONAL INFO of each failure".into())
            }
            _ => None,
        }
    }

    /// Prints `error: …`, the causes and the hint.
    pub fn print(&self, err: &mut impl Write) -> io::Result<()> {
        writeln!(err, "error: {self}")?;
        match self {
            CliError::Refused { errors, .. } | CliError::Invalid { errors, .. } => {
                for e in errors {
                    writeln!(err, "  {e}")?;
                }
            }
            CliError::Bus { source, .. } => write_causes(err, source)?,
            CliError::Other(e) => {
                for cause in e.chain().skip(1) {
                    writeln!(err, "caused by: {cause}")?;
                }
            }
            _ => {}
        }
        if let Some(hint) = self.hint() {
            writeln!(err, "hint: {hint}")?;
        }
        Ok(())
    }
}

fn write_causes(err: &mut impl Write, e: &(dyn std::error::Error + 'static)) -> io::Result<()> {
    writeln!(err, "caused by: {e}")?;
    let mut source = e.source();
    while let Some(cause) = source {
        writeln!(err, "caused by: {cause}")?;
        source = cause.source();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: a broker with a full disk refuses with "server unavailable", which is not a
    /// credentials problem.
    #[test]
    fn issue_14_server_unavailable_gets_no_credentials_hint() {
        let rejected = |reason: &str| CliError::Bus {
            context: "cannot connect to the MQTT broker".into(),
            source: BusError::Rejected {
                url: "mqtt://127.0.0.1:1883".into(),
                reason: reason.into(),
            },
            broker: "mqtt://127.0.0.1:1883".into(),
        };
        let unavailable = rejected("ServiceUnavailable").hint().unwrap_or_default();
        assert!(!unavailable.contains("password"), "{unavailable}");
        assert!(
            unavailable.contains("no space left on device"),
            "{unavailable}"
        );
        let bad_login = rejected("BadUserNamePassword").hint().unwrap_or_default();
        assert!(bad_login.contains("--username/--password"), "{bad_login}");
    }

    #[test]
    fn each_kind_of_error_has_its_exit_code() {
        let pipe = CliError::Other(
            anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("printing"),
        );
        let cases = [
            (
                CliError::Usage {
                    message: "x".into(),
                    hint: None,
                },
                1,
            ),
            (
                CliError::ControllerOffline {
                    reason: "lost".into(),
                    since: None,
                },
                1,
            ),
            (
                CliError::Refused {
                    message: "x".into(),
                    errors: vec![],
                },
                1,
            ),
            (
                CliError::Timeout {
                    what: "x".into(),
                    after: Duration::from_secs(1),
                },
                1,
            ),
            (CliError::WorkloadsFailed(vec!["w".into()]), 3),
            (CliError::Interrupted, 130),
            (CliError::Other(anyhow::anyhow!("x")), 1),
            (pipe, 0),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error}");
        }
    }

    #[test]
    fn the_offline_error_says_since_when() {
        let e = CliError::ControllerOffline {
            reason: "connection lost".into(),
            since: Some("2025-01-01T00:00:00Z".into()),
        };
        let mut out = Vec::new();
        e.print(&mut out).expect("in memory");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.starts_with(
                "error: controller offline since 2025-01-01T00:00:00Z (connection lost)\nhint: "
            ),
            "{text}"
        );
    }
}

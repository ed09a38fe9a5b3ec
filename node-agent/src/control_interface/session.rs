//! One workload's control-interface session: reads frames from its `output` FIFO, answers on its
//! `input` FIFO, with Ankaios' protocol (Hello first, then requests answered by request id).
//!
//! Everything from the FIFO is hostile. A frame is bounded ([`MAX_FRAME_LEN`]); a frame that does
//! not decode, an unknown message or a request without content is answered with an error and
//! the session goes on; a stream out of step (an impossible length) closes the session with a
//! reason, drops what is buffered and waits for a new Hello. Requests in flight
//! ([`MAX_PENDING_REQUESTS`](super::requests::MAX_PENDING_REQUESTS)), event subscriptions ([`MAX_EVENT_SUBSCRIPTIONS`](super::streams::MAX_EVENT_SUBSCRIPTIONS)) and queued
//! answers ([`OUT_QUEUE`](super::outbox::OUT_QUEUE)) are bounded, so a workload can make its own session refuse or drop,
//! never the agent stall: each session is its own task, writes have a deadline.
//!
//! This file is the byte stream and the handshake; what a request may do is `requests.rs`, the
//! subscriptions and log campaigns it starts are `streams.rs`, and the writes to the workload are
//! `outbox.rs`. The access rules are read from a `watch` at every request, so a rule change takes
//! effect at once, without restarting the container.

use std::path::PathBuf;
use std::time::Duration;

use ank_schemas::control_interface::proto::{self, from_ankaios, to_ankaios};
use ank_schemas::control_interface::{
    check_protocol_version, FrameReader, INPUT_FIFO, MAX_FRAME_LEN, OUTPUT_FIFO,
};
use ank_schemas::ControlInterfaceAccess;
use prost::Message as _;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::backend::Backend;
use super::events::EventRoutes;
use super::logs::LogRoutes;
use super::outbox::{write_loop, Outbox, WRITE_RETRY};
use super::streams::Streams;

/// One read from the FIFO.
const READ_CHUNK: usize = 64 * 1024;
/// How long a frame may stay incomplete. The SDKs write a frame at once, so a frame still
/// incomplete after this is garbage (random bytes announcing a long frame): it is dropped and
/// the session waits for a new Hello. Without it, garbage could hold a session for 4 MiB.
pub const PARTIAL_FRAME_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a session is in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing accepted yet: only a Hello is answered.
    AwaitHello,
    /// Accepted: requests are served.
    Open,
    /// Closed with a reason; a new valid Hello reopens it (Ankaios needs a new container).
    Closed,
}

/// What a session needs.
pub struct SessionConfig<B> {
    /// The host folder with the FIFOs.
    pub folder: PathBuf,
    /// The workload's name (requests are made on its behalf).
    pub workload: String,
    /// The way to the controller.
    pub backend: B,
    /// The workload's current access rules.
    pub rules: watch::Receiver<ControlInterfaceAccess>,
    /// Where the agent delivers log streams.
    pub logs: LogRoutes,
    /// Where the agent delivers the controller's pushed events.
    pub events: EventRoutes,
}

/// Serves one workload until the task is aborted (its instance left the snapshot or the agent
/// stops). Returns only if the `output` FIFO cannot be opened.
pub async fn serve<B: Backend>(config: SessionConfig<B>) -> std::io::Result<()> {
    // Read-write, so the FIFO never reports end-of-file while the workload has no writer open:
    // the SDK reconnects to the same inode after it or the agent restarts.
    let mut output = pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(config.folder.join(OUTPUT_FIFO))?;
    let (out, out_rx) = Outbox::new();
    let mut tasks = JoinSet::new();
    tasks.spawn(write_loop(config.folder.join(INPUT_FIFO), out_rx));
    let mut session = Session {
        workload: config.workload,
        backend: config.backend,
        rules: config.rules,
        out,
        phase: Phase::AwaitHello,
        pending: JoinSet::new(),
        streams: Streams::new(config.logs, config.events),
    };
    let mut reader = FrameReader::new(MAX_FRAME_LEN);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut partial_since: Option<tokio::time::Instant> = None;
    let far = || tokio::time::Instant::now() + Duration::from_secs(3600);
    loop {
        let stale_at = partial_since.map(|t| t + PARTIAL_FRAME_TIMEOUT);
        tokio::select! {
            () = tokio::time::sleep_until(stale_at.unwrap_or_else(far)), if stale_at.is_some() => {
                let bytes = reader.buffered();
                reader.reset();
                session.on_stream_error(&format!("an incomplete frame ({bytes} bytes) was not completed within {PARTIAL_FRAME_TIMEOUT:?}"));
            }
            read = output.read(&mut buf) => match read {
                Ok(0) => tokio::time::sleep(WRITE_RETRY).await,
                Ok(n) => {
                    reader.push(&buf[..n]);
                    loop {
                        match reader.next_frame() {
                            Ok(Some(frame)) => session.on_frame(&frame),
                            Ok(None) => break,
                            Err(error) => {
                                reader.reset();
                                session.on_stream_error(&error.to_string());
                                break;
                            }
                        }
                    }
                }
                Err(error) => {
                    ank_bus::warn_limited!("control interface", workload = %session.workload, %error, "reading the FIFO failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            Some(_) = session.pending.join_next() => {}
            Some(_) = session.streams.join_next() => {}
        }
        partial_since = match (reader.buffered(), partial_since) {
            (0, _) => None,
            (_, None) => Some(tokio::time::Instant::now()),
            (_, since) => since,
        };
        session.streams.prune();
    }
}

/// One workload's session; its request handling is `requests.rs`.
pub(super) struct Session<B> {
    pub(super) workload: String,
    pub(super) backend: B,
    pub(super) rules: watch::Receiver<ControlInterfaceAccess>,
    pub(super) out: Outbox,
    phase: Phase,
    /// Requests being answered by the controller (bounded in `requests.rs`).
    pub(super) pending: JoinSet<()>,
    /// Event subscriptions and log campaigns.
    pub(super) streams: Streams,
}

impl<B: Backend> Session<B> {
    fn close(&mut self, reason: String) {
        tracing::info!(workload = %self.workload, %reason, "control interface closed");
        self.out.send(&proto::FromAnkaios {
            content: Some(from_ankaios::Content::ConnectionClosed(
                proto::ConnectionClosed { reason },
            )),
        });
        self.phase = Phase::Closed;
        self.streams.end_subscriptions();
    }

    /// The byte stream is out of step: say so once, then wait for a new Hello.
    fn on_stream_error(&mut self, error: &str) {
        if self.phase != Phase::Closed {
            self.close(format!("Could not read the control interface: {error}"));
        }
    }

    fn on_frame(&mut self, frame: &[u8]) {
        let message = match proto::ToAnkaios::decode(frame) {
            Ok(message) => message,
            Err(error) => {
                match self.phase {
                    Phase::AwaitHello => {
                        self.close(format!("Could not decode protobuf data: {error}"))
                    }
                    // No request id can be read: answered with an empty one, which the SDKs
                    // log and skip.
                    Phase::Open => {
                        self.out
                            .error("", format!("Could not decode protobuf data: {error}"));
                    }
                    Phase::Closed => {}
                }
                return;
            }
        };
        match (message.content, self.phase) {
            (Some(to_ankaios::Content::Hello(hello)), _) => {
                match check_protocol_version(&hello.protocol_version) {
                    // Every valid Hello is answered, also on an open session: an SDK that
                    // re-sends it after an agent restart waits for the answer (Ankaios answers
                    // only the first; an extra Accepted only makes the SDKs log a warning).
                    Ok(()) => {
                        if self.phase != Phase::Open {
                            tracing::info!(workload = %self.workload, version = %ank_bus::excerpt(&hello.protocol_version), "control interface accepted");
                        }
                        self.phase = Phase::Open;
                        self.out.send(&proto::FromAnkaios {
                            content: Some(from_ankaios::Content::ControlInterfaceAccepted(
                                proto::ControlInterfaceAccepted {},
                            )),
                        });
                    }
                    Err(reason) => self.close(reason),
                }
            }
            (_, Phase::Closed) => {}
            (_, Phase::AwaitHello) => self.close("Initial Hello missing!".to_owned()),
            (Some(to_ankaios::Content::Request(request)), Phase::Open) => self.on_request(request),
            (None, Phase::Open) => {
                self.out.error(
                    "",
                    "Unknown message: a ToAnkaios must hold a hello or a request",
                );
            }
        }
    }
}

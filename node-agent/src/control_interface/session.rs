//! One workload's control-interface session: reads frames from its `output` FIFO, answers on its
//! `input` FIFO, with Ankaios' protocol (Hello first, then requests answered by request id).
//!
//! Everything from the FIFO is hostile. A frame is bounded ([`MAX_FRAME_LEN`]); a frame that does
//! not decode, an unknown message or a request without content is answered with an error and
//! the session goes on; a stream out of step (an impossible length) closes the session with a
//! reason, drops what is buffered and waits for a new Hello. Requests in flight
//! ([`MAX_PENDING_REQUESTS`]), event subscriptions ([`MAX_EVENT_SUBSCRIPTIONS`]) and queued
//! answers ([`OUT_QUEUE`]) are bounded, so a workload can make its own session refuse or drop,
//! never the agent stall: each session is its own task, writes have a deadline.
//!
//! The access rules are read from a `watch` at every request, so a rule change takes effect at
//! once, without restarting the container.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use ank_schemas::control_interface::proto::{
    self, from_ankaios, request::Content as Req, response::Content as Resp, to_ankaios,
};
use ank_schemas::control_interface::{
    authorize, check_protocol_version, complete_state_from_proto, complete_state_to_proto,
    encode_frame, FrameReader, Operation, INPUT_FIFO, MAX_FRAME_LEN, OUTPUT_FIFO,
};
use ank_schemas::{ControlInterfaceAccess, RequestOp, ResponseBody, ResponseOutcome};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::backend::Backend;
use super::events::{self, EventRoutes};
use super::logs::{self, LogRoutes};

/// Requests of one workload being answered at once; more are refused at once.
pub const MAX_PENDING_REQUESTS: usize = 16;
/// Event subscriptions of one workload.
pub const MAX_EVENT_SUBSCRIPTIONS: usize = 4;
/// Log campaigns of one workload.
pub const MAX_LOG_CAMPAIGNS: usize = 4;
/// The longest request id answered (the SDKs use 36-character UUIDs).
pub const MAX_REQUEST_ID_LEN: usize = 256;
/// Frames queued for the workload; when it does not read, later ones are dropped.
pub const OUT_QUEUE: usize = 64;
/// How long one frame may take to write before the workload counts as gone (Ankaios: 500 ms).
const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// Attempts to open or write the `input` FIFO, 100 ms apart (Ankaios: 5).
const WRITE_ATTEMPTS: u32 = 5;
const WRITE_RETRY: Duration = Duration::from_millis(100);
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
    let (out, out_rx) = mpsc::channel(OUT_QUEUE);
    let mut tasks = JoinSet::new();
    tasks.spawn(write_loop(config.folder.join(INPUT_FIFO), out_rx));
    let mut session = Session {
        workload: config.workload,
        backend: config.backend,
        rules: config.rules,
        out: Outbox(out),
        phase: Phase::AwaitHello,
        pending: JoinSet::new(),
        streams: JoinSet::new(),
        subscriptions: HashMap::new(),
        log_routes: config.logs,
        event_routes: config.events,
        log_campaigns: HashMap::new(),
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
        session.subscriptions.retain(|_, (h, _)| !h.is_finished());
    }
}

/// The queue of frames for the workload; full means it does not read, and the frame is dropped.
#[derive(Clone)]
pub struct Outbox(mpsc::Sender<Vec<u8>>);

impl Outbox {
    /// Queues a message for the workload, or drops it (with a bounded warning) when the queue is
    /// full; `false` when dropped, so streams can end.
    pub fn send(&self, message: &proto::FromAnkaios) -> bool {
        let ok = self.0.try_send(encode_frame(message)).is_ok();
        if !ok {
            ank_bus::warn_limited!(
                "control interface",
                "the workload does not read its control interface: an answer was dropped",
            );
        }
        ok
    }

    /// Queues `content` as the response to `request_id`.
    pub fn respond(&self, request_id: &str, content: Resp) -> bool {
        self.send(&proto::FromAnkaios {
            content: Some(from_ankaios::Content::Response(proto::Response {
                request_id: request_id.to_owned(),
                content: Some(content),
            })),
        })
    }

    /// Queues an error answer.
    pub fn error(&self, request_id: &str, message: impl Into<String>) -> bool {
        self.respond(
            request_id,
            Resp::Error(proto::Error {
                message: message.into(),
            }),
        )
    }
}

struct Session<B> {
    workload: String,
    backend: B,
    rules: watch::Receiver<ControlInterfaceAccess>,
    out: Outbox,
    phase: Phase,
    pending: JoinSet<()>,
    /// Event streams; aborted with the session.
    streams: JoinSet<()>,
    /// Request id → the task sending its events, and its subscription id at the controller.
    subscriptions: HashMap<String, (AbortHandle, String)>,
    log_routes: LogRoutes,
    event_routes: EventRoutes,
    /// Request id → the cancel of its log campaign (a closed sender: the campaign ended).
    log_campaigns: HashMap<String, tokio::sync::oneshot::Sender<()>>,
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
        for (_, (task, _)) in self.subscriptions.drain() {
            task.abort();
        }
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

    fn on_request(&mut self, request: proto::Request) {
        let id = request.request_id;
        if id.len() > MAX_REQUEST_ID_LEN {
            let short: String = id.chars().take(32).collect();
            self.out.error(
                &short,
                format!("the request id is longer than {MAX_REQUEST_ID_LEN} bytes"),
            );
            return;
        }
        let rules = self.rules.borrow().clone();
        let Some(content) = request.content else {
            self.out.error(&id, "Request has no content");
            return;
        };
        let log_names: Vec<String> = match &content {
            Req::LogsRequest(r) => r
                .workload_names
                .iter()
                .map(|n| n.workload_name.clone())
                .collect(),
            _ => Vec::new(),
        };
        let operation = match &content {
            Req::CompleteStateRequest(r) => Operation::Read(&r.field_mask),
            Req::UpdateStateRequest(r) => Operation::Write(&r.update_mask),
            Req::LogsRequest(_) => Operation::Logs(&log_names),
            Req::LogsCancelRequest(_) | Req::EventsCancelRequest(_) => Operation::Cancel,
        };
        if let Err(denied) = authorize(&rules, operation) {
            tracing::info!(workload = %self.workload, detail = %denied.detail(), "control interface request denied");
            self.out.error(&id, denied.to_string());
            return;
        }
        match content {
            Req::EventsCancelRequest(_) => {
                let Some((task, subscription)) = self.subscriptions.remove(&id) else {
                    self.out.respond(
                        &id,
                        Resp::EventsCancelAccepted(proto::EventsCancelAccepted {}),
                    );
                    return;
                };
                self.event_routes.forget(&subscription);
                task.abort();
                // Accepted once the controller has ended it too, so no event of it follows
                // the acceptance (a cancel is always accepted, even if the controller is away).
                let (backend, workload, out) = (
                    self.backend.clone(),
                    self.workload.clone(),
                    self.out.clone(),
                );
                self.pending.spawn(async move {
                    let op = RequestOp::CancelEvents { subscription };
                    if let Err(error) = backend.request(&workload, op).await {
                        tracing::debug!(%error, "the controller did not confirm an event cancel");
                    }
                    out.respond(
                        &id,
                        Resp::EventsCancelAccepted(proto::EventsCancelAccepted {}),
                    );
                });
            }
            Req::LogsCancelRequest(_) => {
                if let Some(cancel) = self.log_campaigns.remove(&id) {
                    let _ = cancel.send(());
                }
                self.out
                    .respond(&id, Resp::LogsCancelAccepted(proto::LogsCancelAccepted {}));
            }
            Req::LogsRequest(r) => {
                self.log_campaigns.retain(|_, c| !c.is_closed());
                if self.log_campaigns.len() >= MAX_LOG_CAMPAIGNS {
                    self.out.error(
                        &id,
                        format!("at most {MAX_LOG_CAMPAIGNS} log requests per workload at once"),
                    );
                    return;
                }
                let (cancel, cancelled) = tokio::sync::oneshot::channel();
                self.streams.spawn(logs::run(
                    self.backend.clone(),
                    self.log_routes.clone(),
                    self.workload.clone(),
                    id.clone(),
                    r,
                    self.out.clone(),
                    cancelled,
                ));
                self.log_campaigns.insert(id, cancel);
            }
            Req::CompleteStateRequest(r) if r.subscribe_for_events => {
                if self.subscriptions.len() >= MAX_EVENT_SUBSCRIPTIONS {
                    self.out.error(
                        &id,
                        format!(
                            "at most {MAX_EVENT_SUBSCRIPTIONS} event subscriptions per workload"
                        ),
                    );
                    return;
                }
                if self.subscriptions.contains_key(&id) {
                    self.out
                        .error(&id, "a subscription with this request id exists");
                    return;
                }
                let subscription = self.event_routes.new_id(&self.workload);
                let task = self.streams.spawn(events::run(
                    self.backend.clone(),
                    self.event_routes.clone(),
                    subscription.clone(),
                    self.workload.clone(),
                    id.clone(),
                    r.field_mask,
                    self.rules.clone(),
                    self.out.clone(),
                ));
                self.subscriptions.insert(id, (task, subscription));
            }
            Req::CompleteStateRequest(r) => {
                let op = RequestOp::GetState {
                    masks: r.field_mask,
                };
                self.spawn_request(id, op);
            }
            Req::UpdateStateRequest(r) => {
                let state = r
                    .new_state
                    .as_ref()
                    .map(complete_state_from_proto)
                    .unwrap_or_else(|| serde_json::json!({}));
                let op = RequestOp::SetState {
                    masks: r.update_mask,
                    state,
                };
                self.spawn_request(id, op);
            }
        }
    }

    fn spawn_request(&mut self, id: String, op: RequestOp) {
        if self.pending.len() >= MAX_PENDING_REQUESTS {
            self.out.error(
                &id,
                format!(
                    "at most {MAX_PENDING_REQUESTS} requests of a workload are answered at once"
                ),
            );
            return;
        }
        let backend = self.backend.clone();
        let workload = self.workload.clone();
        let out = self.out.clone();
        self.pending.spawn(async move {
            let content = match backend.request(&workload, op).await {
                Ok(outcome) => answer(outcome),
                Err(message) => Resp::Error(proto::Error { message }),
            };
            out.respond(&id, content);
        });
    }
}

/// The SDK's answer to the controller's outcome of a getState or setState.
pub fn answer(outcome: ResponseOutcome) -> Resp {
    match outcome {
        ResponseOutcome::Ok(ResponseBody::State { complete_state }) => {
            Resp::CompleteStateResponse(proto::CompleteStateResponse {
                complete_state: Some(complete_state_to_proto(&complete_state)),
                altered_fields: None,
            })
        }
        ResponseOutcome::Ok(ResponseBody::Updated { added, deleted, .. }) => {
            Resp::UpdateStateSuccess(proto::UpdateStateSuccess {
                added_workloads: added.iter().map(ToString::to_string).collect(),
                deleted_workloads: deleted.iter().map(ToString::to_string).collect(),
            })
        }
        ResponseOutcome::Ok(ResponseBody::Instances { .. }) => Resp::Error(proto::Error {
            message: "the controller answered with a list of instances (a controller bug)".into(),
        }),
        ResponseOutcome::Error { message, errors } => {
            let mut message = message;
            for error in errors {
                message.push_str("; ");
                message.push_str(&error.to_string());
            }
            Resp::Error(proto::Error { message })
        }
    }
}

/// How long a frame waits for the workload to take the previous one out of the pipe.
const PACING_LIMIT: Duration = Duration::from_secs(1);

/// Waits (bounded) until the pipe holds no unread bytes. The Python SDK reads a non-blocking FIFO
/// through a buffered reader and handles one frame per `select()` wake-up, so a frame that
/// arrives in the same read as the one before sits in its buffer until more bytes come: an
/// answer sent right after another (a `LogsCancelAccepted` after a burst of log lines) would time
/// out. One frame in the pipe at a time gives each frame its own wake-up.
async fn wait_until_read(sender: &pipe::Sender) {
    let deadline = tokio::time::Instant::now() + PACING_LIMIT;
    loop {
        // Linux answers FIONREAD on either end of a pipe; `sender` is the write end.
        let unread = rustix::io::ioctl_fionread(sender).unwrap_or(0);
        if unread == 0 || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Writes queued frames to the `input` FIFO, opening it lazily (it needs the workload's reader)
/// and again after the workload closed it; a frame that cannot be written in time is dropped.
async fn write_loop(path: PathBuf, mut frames: mpsc::Receiver<Vec<u8>>) {
    let mut sender: Option<pipe::Sender> = None;
    while let Some(frame) = frames.recv().await {
        let mut written = false;
        for _ in 0..WRITE_ATTEMPTS {
            if sender.is_none() {
                match pipe::OpenOptions::new().open_sender(&path) {
                    Ok(s) => sender = Some(s),
                    // ENXIO: nobody reads yet.
                    Err(_) => {
                        tokio::time::sleep(WRITE_RETRY).await;
                        continue;
                    }
                }
            }
            let Some(s) = sender.as_mut() else { continue };
            wait_until_read(s).await;
            match tokio::time::timeout(WRITE_TIMEOUT, s.write_all(&frame)).await {
                Ok(Ok(())) => {
                    written = true;
                    break;
                }
                // EPIPE (the reader went away) or a full pipe: reopen.
                Ok(Err(_)) | Err(_) => {
                    sender = None;
                    tokio::time::sleep(WRITE_RETRY).await;
                }
            }
        }
        if !written {
            ank_bus::warn_limited!(
                "control interface",
                path = %path.display(),
                "the workload does not read its control interface: an answer was dropped",
            );
        }
    }
}

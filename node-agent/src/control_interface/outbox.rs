//! The way frames reach the workload: a bounded queue ([`Outbox`]) that every part of a session
//! writes to, and one writer task per session that empties it into the `input` FIFO.
//!
//! A workload that does not read must never stall the agent: the queue is bounded
//! ([`OUT_QUEUE`]) and drops when full, each write has a deadline, and a frame that cannot be
//! written in time is dropped. Nothing here decides what to answer; that is `session.rs` and
//! `requests.rs`.

use std::path::PathBuf;
use std::time::Duration;

use ank_schemas::control_interface::encode_frame;
use ank_schemas::control_interface::proto::{self, from_ankaios, response::Content as Resp};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// Frames queued for the workload; when it does not read, later ones are dropped.
pub const OUT_QUEUE: usize = 64;
/// How long one frame may take to write before the workload counts as gone (Ankaios: 500 ms).
const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// Attempts to open or write the `input` FIFO, 100 ms apart (Ankaios: 5).
const WRITE_ATTEMPTS: u32 = 5;
pub(super) const WRITE_RETRY: Duration = Duration::from_millis(100);
/// How long a frame waits for the workload to take the previous one out of the pipe.
const PACING_LIMIT: Duration = Duration::from_secs(1);

/// The queue of frames for the workload; full means it does not read, and the frame is dropped.
#[derive(Clone)]
pub struct Outbox(mpsc::Sender<Vec<u8>>);

impl Outbox {
    /// An outbox and the receiver that [`write_loop`] empties.
    pub(super) fn new() -> (Self, mpsc::Receiver<Vec<u8>>) {
        let (out, out_rx) = mpsc::channel(OUT_QUEUE);
        (Self(out), out_rx)
    }

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
pub(super) async fn write_loop(path: PathBuf, mut frames: mpsc::Receiver<Vec<u8>>) {
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

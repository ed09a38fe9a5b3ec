//! Request/response over MQTT 3.1.1, which has no correlation data: the request id and the reply
//! topic travel inside the payload, which the caller builds.
//!
//! Each client has one stable reply topic, `{p}/responses/{clientId}`, subscribed once on the
//! first request (never one topic per request: brokers keep state per topic and filter). A reply is
//! matched to its request by the **top-level JSON string field `id`** of the reply payload, which
//! the answering side copies from the request. Replies that are not JSON, have no string `id`, or
//! carry an id nobody waits for (late, duplicated, forged) are logged and dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{oneshot, OnceCell};

use crate::error::BusError;
use crate::log_limit::excerpt;
use crate::session::{lock, Session};

/// The requests of one session that wait for their reply.
pub(crate) struct Replies {
    topic: String,
    subscribed: OnceCell<()>,
    /// Random per session, so ids of a restarted client never match replies meant for its
    /// previous run.
    id_prefix: String,
    next_id: AtomicU64,
    /// `None` once the session has ended. A std mutex: only inserts and removes, no `.await`.
    waiting: Mutex<Option<HashMap<String, oneshot::Sender<Vec<u8>>>>>,
}

/// The top-level string `id` of a JSON object. (A derived struct would also accept `["id"]`.)
fn reply_id(payload: &[u8]) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(payload).ok()? {
        serde_json::Value::Object(mut object) => match object.remove("id")? {
            serde_json::Value::String(id) => Some(id),
            _ => None,
        },
        _ => None,
    }
}

impl Replies {
    pub(crate) fn new(topic: String) -> Self {
        Self {
            topic,
            subscribed: OnceCell::new(),
            id_prefix: format!("{:08x}", rand::random::<u32>()),
            next_id: AtomicU64::new(1),
            waiting: Mutex::new(Some(HashMap::new())),
        }
    }

    pub(crate) fn is_reply_topic(&self, topic: &str) -> bool {
        topic == self.topic
    }

    /// Hands a reply to the request waiting for its id, or logs why it cannot.
    pub(crate) fn deliver(&self, payload: &[u8]) {
        let id = match reply_id(payload) {
            Some(id) => id,
            None => {
                crate::warn_limited!(
                    "reply",
                    topic = %self.topic,
                    "reply is not a JSON object with a string `id`: dropped",
                );
                return;
            }
        };
        let waiter = lock(&self.waiting).as_mut().and_then(|w| w.remove(&id));
        match waiter {
            // The requester may have given up a moment ago: nothing to do then.
            Some(waiter) => {
                let _ = waiter.send(payload.to_vec());
            }
            None => {
                crate::warn_limited!(
                    "reply",
                    topic = %self.topic,
                    id = %excerpt(&id),
                    "reply for no waiting request: dropped",
                )
            }
        }
    }

    /// Fails every waiting request (their senders are dropped) and refuses new ones.
    pub(crate) fn close(&self) {
        lock(&self.waiting).take();
    }
}

/// Removes a request from the waiting map however `request` ends (reply, timeout, cancellation).
struct Waiting<'a> {
    replies: &'a Replies,
    id: String,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(waiting) = lock(&self.replies.waiting).as_mut() {
            waiting.remove(&self.id);
        }
    }
}

impl Session {
    /// Sends a request to `{p}/requests` and waits up to `timeout` for its reply.
    ///
    /// `build(id, reply_to)` makes the payload and must carry both, e.g. as JSON fields `id` and
    /// `replyTo`. `reply_to` is this session's client id, not a topic: the responder publishes to
    /// `Topics::responses(reply_to)`, so a request can never make it write anywhere else. The reply
    /// is recognised by its top-level JSON string field `id` (see the module docs). Many requests may be in flight at once on one session. Returns the raw reply payload.
    pub async fn request(
        &self,
        build: impl FnOnce(&str, &str) -> Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let requests = self.shared.opts.topics.requests();
        self.request_on(&requests, build, timeout).await
    }

    /// [`Session::request`] on another request topic, e.g. an agent's own
    /// `{p}/agents/<agent>/requests` (control interface); answers come back the same way.
    pub async fn request_on(
        &self,
        requests: &str,
        build: impl FnOnce(&str, &str) -> Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let replies = &self.shared.replies;
        replies
            .subscribed
            .get_or_try_init(|| self.subscribe(&replies.topic))
            .await?;
        let id = format!(
            "{}-{}",
            replies.id_prefix,
            replies.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        match lock(&replies.waiting).as_mut() {
            Some(waiting) => waiting.insert(id.clone(), tx),
            None => return Err(BusError::Closed),
        };
        let _waiting = Waiting {
            replies,
            id: id.clone(),
        };
        let payload = build(&id, self.shared.client_id.as_str());
        self.publish(requests, payload, false).await?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(BusError::Closed),
            Err(_) => Err(BusError::Timeout { after: timeout }),
        }
    }

    /// The topic replies to this session's requests arrive on: `{p}/responses/{clientId}`.
    pub fn reply_topic(&self) -> &str {
        &self.shared.replies.topic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_matched_by_their_top_level_string_id() {
        let replies = Replies::new("p/responses/c".into());
        let (tx, mut rx) = oneshot::channel();
        lock(&replies.waiting)
            .as_mut()
            .expect("open")
            .insert("r-1".into(), tx);
        // (payload, reaches the waiter)
        let cases: [(&[u8], bool); 6] = [
            (b"not json", false),
            (br#"{"id": 1}"#, false),
            (br#"{"nested": {"id": "r-1"}}"#, false),
            (br#"{"id": "r-2", "ok": {}}"#, false),
            (br#"["r-1"]"#, false),
            (br#"{"id": "r-1", "ok": {"generation": 3}}"#, true),
        ];
        for (payload, reaches) in cases {
            replies.deliver(payload);
            let got = rx.try_recv().ok();
            assert_eq!(
                got.is_some(),
                reaches,
                "{}",
                String::from_utf8_lossy(payload)
            );
            if let Some(got) = got {
                assert_eq!(got, payload);
            }
        }
        assert!(lock(&replies.waiting).as_ref().expect("open").is_empty());
    }

    #[test]
    fn a_closed_router_fails_waiting_requests() {
        let replies = Replies::new("p/responses/c".into());
        let (tx, mut rx) = oneshot::channel::<Vec<u8>>();
        lock(&replies.waiting)
            .as_mut()
            .expect("open")
            .insert("r-1".into(), tx);
        replies.close();
        assert!(matches!(
            rx.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
    }
}

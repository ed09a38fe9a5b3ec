//! How a workload's requests reach the controller: as ankmq requests on the agent's own request
//! topic `{p}/agents/<agent>/requests`, naming the workload in `onBehalfOf` (the controller
//! re-checks its rules, controller/src/agent_requests.rs). A trait, so the FIFO server can be
//! tested with a fake controller on the host.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ank_bus::Session;
use ank_schemas::{ClientId, LogRequest, RequestOp, Response, ResponseOutcome, Topics};

/// How long a request may take: the SDKs give up after 5 s, so a later answer is useless.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Carries one workload's request to the controller and brings back the outcome.
pub trait Backend: Clone + Send + Sync + 'static {
    /// Asks for `op` on behalf of `workload`; `Err` is a transport problem, said to the workload.
    fn request(
        &self,
        workload: &str,
        op: RequestOp,
    ) -> impl Future<Output = Result<ResponseOutcome, String>> + Send;

    /// Sends a log request to agent `agent` (as `ank logs` does).
    fn publish_log_request(
        &self,
        agent: &str,
        request: &LogRequest,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// The client id log streams for this agent are addressed to.
    fn log_client_id(&self) -> ClientId;
}

/// The real backend: the agent's MQTT session.
#[derive(Clone)]
pub struct BusBackend {
    session: Session,
    topics: Topics,
    /// `{p}/agents/<agent>/requests`.
    topic: String,
    /// The session's own client id.
    client_id: ClientId,
}

impl BusBackend {
    /// Requests go to agent `agent`'s own request topic under `topics`; log streams come to
    /// `client_id`, the session's own.
    pub fn new(session: Session, topics: Topics, agent: &str, client_id: ClientId) -> Self {
        Self {
            session,
            topic: topics.agent_requests(agent),
            topics,
            client_id,
        }
    }
}

impl Backend for BusBackend {
    async fn request(&self, workload: &str, op: RequestOp) -> Result<ResponseOutcome, String> {
        let op = serde_json::to_value(&op).map_err(|e| format!("encoding the request: {e}"))?;
        let expires = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            .saturating_add(REQUEST_TIMEOUT.as_millis() as u64);
        let build = |id: &str, reply_to: &str| {
            let mut request = serde_json::json!({
                "id": id,
                "replyTo": reply_to,
                "expiresAtMs": expires,
                "onBehalfOf": workload,
            });
            if let (Some(request), Some(op)) = (request.as_object_mut(), op.as_object()) {
                request.extend(op.clone());
            }
            serde_json::to_vec(&request).unwrap_or_default()
        };
        let reply = self
            .session
            .request_on(&self.topic, build, REQUEST_TIMEOUT)
            .await
            .map_err(|e| format!("the controller did not answer: {e}"))?;
        let response: Response = serde_json::from_slice(&reply)
            .map_err(|e| format!("unreadable answer from the controller: {e}"))?;
        Ok(response.outcome)
    }

    async fn publish_log_request(&self, agent: &str, request: &LogRequest) -> Result<(), String> {
        let payload = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        self.session
            .publish(&self.topics.log_requests(agent), payload, false)
            .await
            .map_err(|e| e.to_string())
    }

    fn log_client_id(&self) -> ClientId {
        self.client_id.clone()
    }
}

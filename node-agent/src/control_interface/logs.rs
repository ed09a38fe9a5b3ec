//! Log campaigns of the control interface (`LogsRequest` / `LogsCancelRequest`): the agent asks
//! the agents that run the named instances for their logs, exactly as `ank logs` does (a
//! `LogRequest` on `{p}/agents/<a>/logs/requests`, renewed while following), receives the streams
//! on `{p}/agents/+/logs/<its own client id>` and hands them to the workload as
//! `LogEntriesResponse` and one `LogsStopResponse` per instance.
//!
//! All campaigns of an agent share its client id (the broker lets it read only that topic), so
//! [`LogRoutes`] sends each event to the campaign of its request id; lines, which carry no
//! request id, go to every campaign of that instance. The serving agents' caps per client apply
//! to all of them together (docs/limits.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use ank_schemas::control_interface::proto::{self, response::Content as Resp};
use ank_schemas::{
    InstanceId, LogEvent, LogRequest, RequestOp, ResponseBody, ResponseOutcome, LOG_RENEW_INTERVAL,
    MAX_LOG_INSTANCES,
};
use tokio::sync::{mpsc, oneshot};

use super::backend::Backend;
use super::outbox::Outbox;

/// Events queued for one campaign before further lines are dropped.
const EVENT_QUEUE: usize = 256;

/// Which campaign gets the events of which request, shared by the agent's message loop (which
/// delivers) and the campaigns (which register and leave). A std mutex: short sections, no
/// `.await` inside.
#[derive(Clone, Default)]
pub struct LogRoutes(Arc<Mutex<HashMap<String, Route>>>);

struct Route {
    instances: BTreeSet<InstanceId>,
    events: mpsc::Sender<LogEvent>,
}

impl LogRoutes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Route>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands a log event that arrived for this agent's client id to its campaign. Events for no
    /// campaign (late, or for a campaign that ended) are dropped.
    pub fn deliver(&self, event: LogEvent) {
        let routes = self.lock();
        let request_id = match &event {
            LogEvent::Line { instance_id, .. } => {
                for route in routes
                    .values()
                    .filter(|r| r.instances.contains(instance_id))
                {
                    // A full queue drops the line: the workload does not read fast enough.
                    let _ = route.events.try_send(event.clone());
                }
                return;
            }
            LogEvent::Stopped { request_id, .. } | LogEvent::Error { request_id, .. } => {
                request_id.clone()
            }
            LogEvent::Accepted { request_id, .. } | LogEvent::Refused { request_id, .. } => {
                Some(request_id.clone())
            }
        };
        if let Some(route) = request_id.and_then(|id| routes.get(&id)) {
            // Stops must not be lost: they end the campaign. A campaign whose queue is full of
            // lines gets it once it has read them.
            let events = route.events.clone();
            tokio::spawn(async move {
                let _ = events.send(event).await;
            });
        }
    }
}

/// Removes a campaign's routes however it ends (done, cancelled, aborted with its session).
struct Registered {
    routes: LogRoutes,
    ids: Vec<String>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut routes = self.routes.lock();
        for id in &self.ids {
            routes.remove(id);
        }
    }
}

fn instance_name(id: &InstanceId) -> proto::WorkloadInstanceName {
    proto::WorkloadInstanceName {
        workload_name: id.workload.clone(),
        agent_name: id.agent.clone(),
        id: id.hash.clone(),
    }
}

/// Runs one campaign of `workload` until every instance stopped or `cancel` fires (then the
/// streams are cancelled on their agents). The access rules were checked by the session; the
/// controller checks them again and keeps only the instances of the desired state (Ankaios
/// §8.5), which are the ones listed in `LogsRequestAccepted`.
pub async fn run<B: Backend>(
    backend: B,
    routes: LogRoutes,
    workload: String,
    sdk_id: String,
    request: proto::LogsRequest,
    out: Outbox,
    mut cancel: oneshot::Receiver<()>,
) {
    // A name that is no instance id cannot be asked for: it is left out at once.
    let named: Vec<InstanceId> = request
        .workload_names
        .iter()
        .take(MAX_LOG_INSTANCES)
        .filter_map(|n| {
            format!("{}.{}.{}", n.workload_name, n.id, n.agent_name)
                .parse()
                .ok()
        })
        .collect();
    let kept = if named.is_empty() {
        named
    } else {
        match backend
            .request(&workload, RequestOp::LogTargets { instances: named })
            .await
        {
            Ok(ResponseOutcome::Ok(ResponseBody::Instances { instances })) => instances,
            Ok(outcome) => {
                out.respond(&sdk_id, super::requests::answer(outcome));
                return;
            }
            Err(message) => {
                out.error(&sdk_id, message);
                return;
            }
        }
    };
    let mut by_agent: BTreeMap<String, Vec<InstanceId>> = BTreeMap::new();
    for id in kept {
        by_agent.entry(id.agent.clone()).or_default().push(id);
    }
    let follow = request.follow.unwrap_or(false);
    let (tx, mut events) = mpsc::channel(EVENT_QUEUE);
    let mut registered = Registered {
        routes: routes.clone(),
        ids: Vec::new(),
    };
    let client = backend.log_client_id();
    let mut campaigns: Vec<(String, String)> = Vec::new();
    let mut remaining: BTreeSet<InstanceId> = BTreeSet::new();
    for (agent, ids) in by_agent {
        let bus_id = format!("ci{:016x}", rand::random::<u64>());
        routes.lock().insert(
            bus_id.clone(),
            Route {
                instances: ids.iter().cloned().collect(),
                events: tx.clone(),
            },
        );
        registered.ids.push(bus_id.clone());
        remaining.extend(ids.iter().cloned());
        let mut open = LogRequest::open(&bus_id, &client, ids);
        open.follow = follow;
        open.tail = request.tail.filter(|t| *t >= 0).map(i64::from);
        open.since = request.since.clone().filter(|s| !s.is_empty());
        open.until = request.until.clone().filter(|s| !s.is_empty());
        if let Err(error) = backend.publish_log_request(&agent, &open).await {
            out.error(
                &sdk_id,
                format!("cannot ask agent {agent} for logs: {error}"),
            );
            return;
        }
        campaigns.push((agent, bus_id));
    }
    let accepted: Vec<proto::WorkloadInstanceName> = remaining.iter().map(instance_name).collect();
    out.respond(
        &sdk_id,
        Resp::LogsRequestAccepted(proto::LogsRequestAccepted {
            workload_names: accepted,
        }),
    );
    let mut renew = tokio::time::interval(LOG_RENEW_INTERVAL);
    renew.tick().await;
    while !remaining.is_empty() {
        tokio::select! {
            _ = &mut cancel => {
                for (agent, bus_id) in &campaigns {
                    let _ = backend.publish_log_request(agent, &LogRequest::cancel(bus_id, &client)).await;
                }
                return;
            }
            _ = renew.tick(), if follow => {
                for (agent, bus_id) in &campaigns {
                    let _ = backend.publish_log_request(agent, &LogRequest::renew(bus_id, &client)).await;
                }
            }
            event = events.recv() => {
                let Some(event) = event else { return };
                match event {
                    LogEvent::Line { instance_id, line } => {
                        out.respond(&sdk_id, Resp::LogEntriesResponse(proto::LogEntriesResponse {
                            log_entries: vec![proto::LogEntry {
                                workload_name: Some(instance_name(&instance_id)),
                                message: line,
                            }],
                        }));
                    }
                    LogEvent::Stopped { instance_id, .. } => {
                        if remaining.remove(&instance_id) {
                            out.respond(&sdk_id, Resp::LogsStopResponse(proto::LogsStopResponse {
                                workload_name: Some(instance_name(&instance_id)),
                            }));
                        }
                    }
                    LogEvent::Refused { request_id, .. } => {
                        // No stream starts and no stop follows: stop that agent's instances.
                        let agent = campaigns.iter().find(|(_, id)| *id == request_id).map(|(a, _)| a.clone());
                        let gone: Vec<InstanceId> = remaining.iter().filter(|i| Some(&i.agent) == agent.as_ref()).cloned().collect();
                        for instance_id in gone {
                            remaining.remove(&instance_id);
                            out.respond(&sdk_id, Resp::LogsStopResponse(proto::LogsStopResponse {
                                workload_name: Some(instance_name(&instance_id)),
                            }));
                        }
                    }
                    LogEvent::Error { .. } | LogEvent::Accepted { .. } => {}
                }
            }
        }
    }
}

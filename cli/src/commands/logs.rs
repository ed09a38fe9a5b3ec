//! `ank logs`: ask the agents running the named workloads for their logs and print the lines.
//!
//! Log requests go straight to each agent (`{p}/agents/{a}/logs/requests`), which streams to this
//! client's `{p}/agents/{a}/logs/{clientId}`; the controller is not involved. The stream of each
//! instance ends with a `stopped` event; without `-f` that comes after the last line. With `-f`
//! the agent keeps streaming only while `ank` renews the request's lease, so a killed `ank`
//! leaves no `podman logs` behind; Ctrl+C cancels first (issue 14). A refused request, a podman
//! failure or a stream the agent ended early exits 1; a bad `--since`/`--until` exits 2 before
//! anything is sent.

use std::collections::{BTreeMap, BTreeSet};

use ank_bus::SessionEvent;
use ank_schemas::{
    validate_log_time, InstanceId, LogEvent, LogRequest, StopReason, Topic, LOG_RENEW_INTERVAL,
};
use clap::Args;

use crate::context::Context;
use crate::error::CliError;
use crate::state_view::View;
use crate::ui::Ui;

/// Print the logs of workloads.
///
/// All instances of each named workload are read (an update in progress may have two). With one
/// workload each line is printed as is; with several, or with -n, each line starts with the
/// workload's name.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Keep printing new lines until Ctrl+C
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines (-1: all)
    #[arg(short, long, value_name = "N", default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Only lines since this time (RFC 3339, or a duration such as 10m)
    #[arg(short, long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines until this time (RFC 3339, or a duration such as 10m)
    #[arg(short, long, value_name = "TIME")]
    pub until: Option<String>,
    /// Start each line with the workload's name, even for one workload
    #[arg(short = 'n', long = "names")]
    pub names_prefix: bool,
    /// The workloads
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

/// Runs `ank logs`.
pub async fn run(ui: &mut Ui, ctx: &Context, args: &LogsArgs) -> Result<(), CliError> {
    for (field, value) in [("--since", &args.since), ("--until", &args.until)] {
        if let Some(value) = value {
            validate_log_time(field, value).map_err(|e| CliError::Usage {
                message: e.to_string(),
                hint: Some(
                    "use an RFC 3339 time (2026-12-01T20:43:00Z) or a duration (10m)".into(),
                ),
            })?;
        }
    }
    let view = ctx.read_view().await?;
    let by_agent = instances(&view, &args.names)?;
    let session = ctx.session().await?;
    let mut incoming = ctx
        .take_incoming()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the session's messages are already taken"))?;
    let client_id = session.client().clone();
    let mut streams = Streams::default();
    for (agent, ids) in &by_agent {
        session
            .subscribe(&ctx.topics.log_stream(agent, &client_id))
            .await
            .map_err(|e| ctx.bus_error("cannot subscribe to the log stream", e))?;
        let request_id = format!("{:08x}", rand::random::<u32>());
        let request = LogRequest {
            follow: args.follow,
            tail: (args.tail >= 0).then_some(args.tail),
            since: args.since.clone(),
            until: args.until.clone(),
            ..LogRequest::open(&request_id, &client_id, ids.clone())
        };
        send(
            ctx,
            &session,
            agent,
            &request,
            "cannot send the log request",
        )
        .await?;
        streams.opened(agent, &request_id, ids);
    }
    let prefix = args.names_prefix || args.names.len() > 1;
    let first_answer = tokio::time::sleep(ctx.settings.response_timeout);
    tokio::pin!(first_answer);
    let mut renew = tokio::time::interval_at(
        tokio::time::Instant::now() + LOG_RENEW_INTERVAL,
        LOG_RENEW_INTERVAL,
    );
    let interrupt = interrupted();
    tokio::pin!(interrupt);
    while streams.any_open() {
        tokio::select! {
            event = incoming.recv() => match event {
                Some(SessionEvent::Message(message)) => {
                    let Some(Topic::LogStream { agent, .. }) = ctx.topics.parse(&message.topic) else {
                        continue;
                    };
                    match serde_json::from_slice::<LogEvent>(&message.payload) {
                        Ok(LogEvent::Line { instance_id, line }) => {
                            streams.heard(&agent);
                            let out = ui.out();
                            if prefix {
                                writeln!(out, "{} {line}", instance_id.workload)?;
                            } else {
                                writeln!(out, "{line}")?;
                            }
                            out.flush()?;
                        }
                        Ok(event) => {
                            if let Some(warning) = streams.on_event(&agent, event) {
                                ui.warning(warning)?;
                            }
                        }
                        Err(error) => ank_bus::warn_limited!(
                            "undecodable log event",
                            error = %ank_bus::excerpt(&error),
                            "undecodable log event: dropped"
                        ),
                    }
                }
                Some(SessionEvent::Disconnected { reason }) => {
                    return Err(anyhow::anyhow!("lost the broker while reading logs: {reason}").into());
                }
                Some(SessionEvent::Connected { .. }) => {}
                None => return Err(ctx.bus_error("the session ended", ank_bus::BusError::Closed)),
            },
            _ = &mut first_answer, if streams.any_silent() => {
                return Err(CliError::Timeout {
                    what: format!(
                        "no answer to the log request from agent(s) {}",
                        streams.silent_agents().join(", ")
                    ),
                    after: ctx.settings.response_timeout,
                });
            }
            _ = renew.tick(), if args.follow => {
                for (agent, request_id) in streams.open_requests() {
                    let renewal = LogRequest::renew(&request_id, &client_id);
                    send(ctx, &session, &agent, &renewal, "cannot renew the log stream").await?;
                }
            }
            () = &mut interrupt => {
                // Matches Ankaios: cancel first, then exit (the session closes after the cancel
                // went out, `lib.rs`).
                for (agent, request_id) in streams.open_requests() {
                    let cancel = LogRequest::cancel(&request_id, &client_id);
                    send(ctx, &session, &agent, &cancel, "cannot cancel the log stream").await?;
                }
                break;
            }
        }
    }
    streams.outcome()
}

async fn send(
    ctx: &Context,
    session: &ank_bus::Session,
    agent: &str,
    request: &LogRequest,
    what: &str,
) -> Result<(), CliError> {
    let payload = serde_json::to_vec(request)
        .map_err(|e| CliError::Other(anyhow::Error::from(e).context("encoding the request")))?;
    session
        .publish(&ctx.topics.log_requests(agent), payload, false)
        .await
        .map_err(|e| ctx.bus_error(what, e))
}

/// Completes on SIGINT, SIGTERM, SIGHUP or SIGQUIT (the signals Ankaios' `ank logs` handles).
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
        SignalKind::quit(),
    ];
    let mut handlers: Vec<_> = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
    if handlers.is_empty() {
        // No handler could be installed: wait for Ctrl+C the portable way.
        let _ = tokio::signal::ctrl_c().await;
        return;
    }
    let waits = handlers.iter_mut().map(|h| Box::pin(h.recv()));
    let _ = futures_select_all(waits).await;
}

/// The first of several futures to complete (a tiny `select_all`, to avoid a dependency).
async fn futures_select_all<F: std::future::Future + Unpin>(futures: impl Iterator<Item = F>) {
    let mut futures: Vec<F> = futures.collect();
    std::future::poll_fn(|cx| {
        for future in &mut futures {
            if std::pin::Pin::new(future).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await;
}

/// What `ank logs` knows about its requests: which streams are open, which agents have not
/// answered yet, and what went wrong. Plain data, so the event rules are unit-tested.
#[derive(Debug, Default)]
struct Streams {
    /// (agent, request id) → the instances whose stream has not stopped.
    open: BTreeMap<(String, String), BTreeSet<InstanceId>>,
    /// Agents that sent nothing yet.
    silent: BTreeSet<String>,
    /// Every failure, for the exit.
    errors: Vec<String>,
}

impl Streams {
    fn opened(&mut self, agent: &str, request_id: &str, ids: &[InstanceId]) {
        self.open.insert(
            (agent.to_owned(), request_id.to_owned()),
            ids.iter().cloned().collect(),
        );
        self.silent.insert(agent.to_owned());
    }

    fn heard(&mut self, agent: &str) {
        self.silent.remove(agent);
    }

    fn any_open(&self) -> bool {
        self.open.values().any(|ids| !ids.is_empty())
    }

    fn any_silent(&self) -> bool {
        !self.silent.is_empty()
    }

    fn silent_agents(&self) -> Vec<String> {
        self.silent.iter().cloned().collect()
    }

    fn open_requests(&self) -> Vec<(String, String)> {
        self.open
            .iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Books an event other than a line; returns a warning to print, if any.
    fn on_event(&mut self, agent: &str, event: LogEvent) -> Option<String> {
        self.heard(agent);
        match event {
            LogEvent::Line { .. } | LogEvent::Accepted { .. } => None,
            LogEvent::Stopped {
                instance_id,
                request_id,
                reason,
            } => {
                for ((a, id), ids) in &mut self.open {
                    let ours = a == agent && request_id.as_ref().is_none_or(|r| r == id);
                    if ours {
                        ids.remove(&instance_id);
                    }
                }
                let workload = &instance_id.workload;
                match reason {
                    Some(StopReason::Limit) => Some(format!(
                        "the output of '{workload}' was cut at agent '{agent}''s limit"
                    )),
                    Some(StopReason::LeaseExpired) => {
                        self.errors.push(format!(
                            "agent '{agent}' ended the stream of '{workload}': its lease expired"
                        ));
                        None
                    }
                    Some(StopReason::Shutdown) => {
                        self.errors.push(format!(
                            "agent '{agent}' shut down while streaming '{workload}'"
                        ));
                        None
                    }
                    _ => None,
                }
            }
            LogEvent::Error {
                instance_id,
                message,
                ..
            } => {
                self.errors.push(format!(
                    "the logs of '{}' on agent '{agent}' failed: {message}",
                    instance_id.workload
                ));
                None
            }
            LogEvent::Refused {
                request_id,
                message,
                ..
            } => {
                if let Some(ids) = self.open.get_mut(&(agent.to_owned(), request_id)) {
                    ids.clear();
                    self.errors.push(format!(
                        "agent '{agent}' refused the log request: {message}"
                    ));
                }
                None
            }
        }
    }

    /// Exit 0, or 1 with every failure.
    fn outcome(self) -> Result<(), CliError> {
        match self.errors.len() {
            0 => Ok(()),
            _ => Err(CliError::Other(anyhow::anyhow!(
                "{}",
                self.errors.join("\n")
            ))),
        }
    }
}

/// Whether `instance` is the new instance of an update still waiting for its agent (another
/// instance of its workload holds the topic): it has no container and so no logs yet.
fn replacing(all: &[crate::state_view::Instance], instance: &crate::state_view::Instance) -> bool {
    instance.state == ank_schemas::ExecutionState::Pending(ank_schemas::PendingSubstate::Initial)
        && all.iter().any(|other| {
            other.id.workload == instance.id.workload
                && other.id.agent == instance.id.agent
                && other.id != instance.id
        })
}

/// Every instance of the named workloads, by agent: those with a state and those in the agent
/// snapshots. An unknown name, or an agent that is not online, is an error.
pub fn instances(
    view: &View,
    names: &[String],
) -> Result<BTreeMap<String, Vec<InstanceId>>, CliError> {
    let mut by_agent: BTreeMap<String, Vec<InstanceId>> = BTreeMap::new();
    for name in names {
        let all = view.instances();
        let ids: Vec<InstanceId> = all
            .iter()
            .filter(|i| &i.id.workload == name && !i.id.agent.is_empty())
            .filter(|i| !replacing(&all, i))
            .map(|i| i.id.clone())
            .collect();
        if ids.is_empty() {
            return Err(CliError::Usage {
                message: format!("no workload '{name}' is scheduled on any agent"),
                hint: Some("`ank get workloads` lists them".into()),
            });
        }
        for id in ids {
            if !view.agent_online(&id.agent) {
                return Err(CliError::Other(anyhow::anyhow!(
                    "agent '{}' of workload '{name}' is not online",
                    id.agent
                )));
            }
            by_agent.entry(id.agent.clone()).or_default().push(id);
        }
    }
    Ok(by_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(workload: &str) -> InstanceId {
        InstanceId::compute(workload, "a", "podman", "image: x", &[])
    }

    fn stopped(workload: &str, request: &str, reason: StopReason) -> LogEvent {
        LogEvent::Stopped {
            instance_id: id(workload),
            request_id: Some(request.into()),
            reason: Some(reason),
        }
    }

    #[test]
    fn streams_close_on_stopped_and_only_failures_exit_1() {
        // (events after opening r1 = [w1, w2] on agent a, still open, exits 1, a warning)
        let table: Vec<(Vec<LogEvent>, bool, bool, bool)> = vec![
            (
                vec![LogEvent::Accepted {
                    request_id: "r1".into(),
                    instance_ids: vec![id("w1"), id("w2")],
                }],
                true,
                false,
                false,
            ),
            (
                vec![stopped("w1", "r1", StopReason::Ended)],
                true,
                false,
                false,
            ),
            (
                vec![
                    stopped("w1", "r1", StopReason::Ended),
                    stopped("w2", "r1", StopReason::Cancelled),
                ],
                false,
                false,
                false,
            ),
            (
                vec![stopped("w1", "other", StopReason::Ended)],
                true,
                false,
                false,
            ),
            (
                vec![
                    LogEvent::Error {
                        instance_id: id("w1"),
                        request_id: Some("r1".into()),
                        message: "Error: no such container".into(),
                    },
                    stopped("w1", "r1", StopReason::Failed),
                    stopped("w2", "r1", StopReason::Ended),
                ],
                false,
                true,
                false,
            ),
            (
                vec![LogEvent::Refused {
                    request_id: "r1".into(),
                    reason: ank_schemas::RefusalReason::AgentLimit,
                    message: "the agent streams 32 of at most 32 logs".into(),
                }],
                false,
                true,
                false,
            ),
            (
                vec![
                    stopped("w1", "r1", StopReason::LeaseExpired),
                    stopped("w2", "r1", StopReason::Limit),
                ],
                false,
                true,
                true,
            ),
        ];
        for (events, still_open, fails, warns) in table {
            let mut streams = Streams::default();
            streams.opened("a", "r1", &[id("w1"), id("w2")]);
            let mut warned = false;
            for event in events.clone() {
                warned |= streams.on_event("a", event).is_some();
            }
            assert_eq!(streams.any_open(), still_open, "{events:?}");
            assert!(!streams.any_silent(), "an event is an answer");
            assert_eq!(warned, warns, "{events:?}");
            assert_eq!(streams.outcome().is_err(), fails, "{events:?}");
        }
    }

    #[test]
    fn the_refusal_message_reaches_the_error() {
        let mut streams = Streams::default();
        streams.opened("a", "r1", &[id("w1")]);
        streams.on_event(
            "a",
            LogEvent::Refused {
                request_id: "r1".into(),
                reason: ank_schemas::RefusalReason::ClientLimit,
                message: "this client has 8 of at most 8".into(),
            },
        );
        let error = streams.outcome().unwrap_err();
        assert_eq!(error.exit_code(), 1);
        assert!(error
            .to_string()
            .contains("refused the log request: this client has 8"));
    }
}

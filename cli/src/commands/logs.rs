//! `ank logs`: ask the agents running the named workloads for their logs and print the lines.
//!
//! Log requests go straight to each agent (`{p}/agents/{a}/logs/requests`), which streams to this
//! client's `{p}/agents/{a}/logs/{clientId}`; the controller is not involved. The stream of each
//! instance ends with a `stopped` event; without `-f` that comes after the last line.

use std::collections::{BTreeMap, BTreeSet};

use ank_bus::SessionEvent;
use ank_schemas::{InstanceId, LogEvent, LogRequest, Topic};
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
    let view = ctx.read_view().await?;
    let by_agent = instances(&view, &args.names)?;
    let session = ctx.session().await?;
    let mut incoming = ctx
        .take_incoming()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the session's messages are already taken"))?;
    let client_id = session.client().clone();
    let mut open: BTreeSet<InstanceId> = BTreeSet::new();
    let mut silent_agents: BTreeSet<String> = BTreeSet::new();
    for (agent, ids) in &by_agent {
        session
            .subscribe(&ctx.topics.log_stream(agent, &client_id))
            .await
            .map_err(|e| ctx.bus_error("cannot subscribe to the log stream", e))?;
        let request = LogRequest {
            id: format!("{:08x}", rand::random::<u32>()),
            client_id: client_id.clone(),
            instance_ids: ids.clone(),
            follow: args.follow,
            tail: (args.tail >= 0).then_some(args.tail),
            since: args.since.clone(),
            until: args.until.clone(),
        };
        let payload = serde_json::to_vec(&request)
            .map_err(|e| CliError::Other(anyhow::Error::from(e).context("encoding the request")))?;
        session
            .publish(&ctx.topics.log_requests(agent), payload, false)
            .await
            .map_err(|e| ctx.bus_error("cannot send the log request", e))?;
        open.extend(ids.iter().cloned());
        silent_agents.insert(agent.clone());
    }
    let prefix = args.names_prefix || args.names.len() > 1;
    let first_answer = tokio::time::sleep(ctx.settings.response_timeout);
    tokio::pin!(first_answer);
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    while !open.is_empty() {
        tokio::select! {
            event = incoming.recv() => match event {
                Some(SessionEvent::Message(message)) => {
                    let Some(Topic::LogStream { agent, .. }) = ctx.topics.parse(&message.topic) else {
                        continue;
                    };
                    silent_agents.remove(&agent);
                    match serde_json::from_slice::<LogEvent>(&message.payload) {
                        Ok(LogEvent::Line { instance_id, line }) => {
                            let out = ui.out();
                            if prefix {
                                writeln!(out, "{} {line}", instance_id.workload)?;
                            } else {
                                writeln!(out, "{line}")?;
                            }
                            out.flush()?;
                        }
                        Ok(LogEvent::Stopped { instance_id }) => {
                            open.remove(&instance_id);
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
            _ = &mut first_answer, if !silent_agents.is_empty() => {
                let agents: Vec<_> = silent_agents.iter().cloned().collect();
                return Err(CliError::Timeout {
                    what: format!("no answer to the log request from agent(s) {}", agents.join(", ")),
                    after: ctx.settings.response_timeout,
                });
            }
            _ = &mut interrupt => break,
        }
    }
    Ok(())
}

/// Every instance of the named workloads, by agent: those with a state and those in the agent
/// snapshots. An unknown name, or an agent that is not online, is an error.
pub fn instances(
    view: &View,
    names: &[String],
) -> Result<BTreeMap<String, Vec<InstanceId>>, CliError> {
    let mut by_agent: BTreeMap<String, Vec<InstanceId>> = BTreeMap::new();
    for name in names {
        let ids: Vec<InstanceId> = view
            .instances()
            .into_iter()
            .map(|i| i.id)
            .filter(|id| &id.workload == name && !id.agent.is_empty())
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

//! A workload's execution state: every state and sub-state of Ankaios §2.1, how it is displayed
//! in CLI tables (`Running(Ok)`), how it travels (`{"state":"Running","subState":"Ok"}`) and the
//! small predicates the agent and the CLI decide with.
//!
//! The state of a workload is written by exactly one agent; this module never decides a state,
//! it only names them.

#[cfg(feature = "json-schema")]
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

#[cfg(feature = "json-schema")]
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Sub-states of `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PendingSubstate {
    /// Just added to the desired state; no agent has handled it yet.
    Initial,
    /// Queued until the add conditions of its dependencies are met.
    WaitingToStart,
    /// Being created (or retried after a failed create).
    Starting,
    /// A failure that is not retried (bad runtimeConfig, unsupported runtime, files on kube…).
    StartingFailed,
}

/// Sub-states of `Running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunningSubstate {
    /// Running.
    Ok,
}

/// Sub-states of `Stopping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoppingSubstate {
    /// The runtime reports stopping, stopped or removing.
    Stopping,
    /// Queued until dependents meet their delete conditions.
    WaitingToStop,
    /// The delete was sent to the runtime.
    RequestedAtRuntime,
    /// The runtime delete failed.
    DeleteFailed,
}

/// Sub-states of `Succeeded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SucceededSubstate {
    /// Exited with code 0.
    Ok,
}

/// Sub-states of `Failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailedSubstate {
    /// Exited with a non-zero code.
    ExecFailed,
    /// The runtime's state is unreadable or unmapped.
    Unknown,
    /// The container is gone.
    Lost,
}

/// The execution state of one workload instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionState {
    /// The agent is not online; set by readers, never by an agent.
    AgentDisconnected,
    /// Not running yet.
    Pending(PendingSubstate),
    /// Running.
    Running(RunningSubstate),
    /// Being removed.
    Stopping(StoppingSubstate),
    /// Ended with exit code 0.
    Succeeded(SucceededSubstate),
    /// Ended badly or lost.
    Failed(FailedSubstate),
    /// The workload's agent is empty.
    NotScheduled,
    /// The delete finished. On the bus this is an empty retained payload, not a state.
    Removed,
}

/// The state name without its sub-state, e.g. to filter `ank get workloads --state running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
pub enum StateKind {
    /// `AgentDisconnected`
    AgentDisconnected,
    /// `Pending`
    Pending,
    /// `Running`
    Running,
    /// `Stopping`
    Stopping,
    /// `Succeeded`
    Succeeded,
    /// `Failed`
    Failed,
    /// `NotScheduled`
    NotScheduled,
    /// `Removed`
    Removed,
}

impl StateKind {
    /// Every state name.
    pub const ALL: [StateKind; 8] = [
        StateKind::AgentDisconnected,
        StateKind::Pending,
        StateKind::Running,
        StateKind::Stopping,
        StateKind::Succeeded,
        StateKind::Failed,
        StateKind::NotScheduled,
        StateKind::Removed,
    ];

    /// The wire and display name.
    pub fn name(self) -> &'static str {
        match self {
            StateKind::AgentDisconnected => "AgentDisconnected",
            StateKind::Pending => "Pending",
            StateKind::Running => "Running",
            StateKind::Stopping => "Stopping",
            StateKind::Succeeded => "Succeeded",
            StateKind::Failed => "Failed",
            StateKind::NotScheduled => "NotScheduled",
            StateKind::Removed => "Removed",
        }
    }

    /// The states of this kind, one per sub-state.
    pub fn states(self) -> Vec<ExecutionState> {
        use ExecutionState as E;
        match self {
            StateKind::AgentDisconnected => vec![E::AgentDisconnected],
            StateKind::Pending => vec![
                E::Pending(PendingSubstate::Initial),
                E::Pending(PendingSubstate::WaitingToStart),
                E::Pending(PendingSubstate::Starting),
                E::Pending(PendingSubstate::StartingFailed),
            ],
            StateKind::Running => vec![E::Running(RunningSubstate::Ok)],
            StateKind::Stopping => vec![
                E::Stopping(StoppingSubstate::Stopping),
                E::Stopping(StoppingSubstate::WaitingToStop),
                E::Stopping(StoppingSubstate::RequestedAtRuntime),
                E::Stopping(StoppingSubstate::DeleteFailed),
            ],
            StateKind::Succeeded => vec![E::Succeeded(SucceededSubstate::Ok)],
            StateKind::Failed => vec![
                E::Failed(FailedSubstate::ExecFailed),
                E::Failed(FailedSubstate::Unknown),
                E::Failed(FailedSubstate::Lost),
            ],
            StateKind::NotScheduled => vec![E::NotScheduled],
            StateKind::Removed => vec![E::Removed],
        }
    }

    fn parse(name: &str) -> Option<StateKind> {
        StateKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ExecutionState {
    /// Every state with every sub-state.
    pub fn all() -> Vec<ExecutionState> {
        StateKind::ALL
            .into_iter()
            .flat_map(StateKind::states)
            .collect()
    }

    /// The state name.
    pub fn kind(&self) -> StateKind {
        match self {
            ExecutionState::AgentDisconnected => StateKind::AgentDisconnected,
            ExecutionState::Pending(_) => StateKind::Pending,
            ExecutionState::Running(_) => StateKind::Running,
            ExecutionState::Stopping(_) => StateKind::Stopping,
            ExecutionState::Succeeded(_) => StateKind::Succeeded,
            ExecutionState::Failed(_) => StateKind::Failed,
            ExecutionState::NotScheduled => StateKind::NotScheduled,
            ExecutionState::Removed => StateKind::Removed,
        }
    }

    /// The sub-state's wire name. The three states without sub-states repeat the state name, as
    /// Ankaios does.
    pub fn sub_state_name(&self) -> &'static str {
        match self {
            ExecutionState::AgentDisconnected
            | ExecutionState::NotScheduled
            | ExecutionState::Removed => self.kind().name(),
            ExecutionState::Pending(s) => match s {
                PendingSubstate::Initial => "Initial",
                PendingSubstate::WaitingToStart => "WaitingToStart",
                PendingSubstate::Starting => "Starting",
                PendingSubstate::StartingFailed => "StartingFailed",
            },
            ExecutionState::Running(RunningSubstate::Ok)
            | ExecutionState::Succeeded(SucceededSubstate::Ok) => "Ok",
            ExecutionState::Stopping(s) => match s {
                StoppingSubstate::Stopping => "Stopping",
                StoppingSubstate::WaitingToStop => "WaitingToStop",
                StoppingSubstate::RequestedAtRuntime => "RequestedAtRuntime",
                StoppingSubstate::DeleteFailed => "DeleteFailed",
            },
            ExecutionState::Failed(s) => match s {
                FailedSubstate::ExecFailed => "ExecFailed",
                FailedSubstate::Unknown => "Unknown",
                FailedSubstate::Lost => "Lost",
            },
        }
    }

    /// Whether the state has real sub-states (and so displays as `State(SubState)`).
    fn has_sub_states(&self) -> bool {
        !matches!(
            self,
            ExecutionState::AgentDisconnected
                | ExecutionState::NotScheduled
                | ExecutionState::Removed
        )
    }

    /// The state of `kind` whose sub-state is named `sub` (case-insensitive). An empty `sub`
    /// selects the only state of a kind that has one (`Running` → `Running(Ok)`).
    pub fn from_parts(kind: StateKind, sub: &str) -> Option<ExecutionState> {
        let states = kind.states();
        if sub.trim().is_empty() && states.len() == 1 {
            return states.into_iter().next();
        }
        states
            .into_iter()
            .find(|s| s.sub_state_name().eq_ignore_ascii_case(sub.trim()))
    }

    /// Whether waiting on an *added* instance is over (Ankaios §5.3 item 6): `Running`,
    /// `Succeeded`, `Failed(*)`, `NotScheduled`, `Pending(StartingFailed)` or
    /// `AgentDisconnected`.
    pub fn is_final_for_added(&self) -> bool {
        matches!(
            self,
            ExecutionState::Running(_)
                | ExecutionState::Succeeded(_)
                | ExecutionState::Failed(_)
                | ExecutionState::NotScheduled
                | ExecutionState::Pending(PendingSubstate::StartingFailed)
                | ExecutionState::AgentDisconnected
        )
    }

    /// Whether waiting on a *deleted* instance is over: `Removed` or `AgentDisconnected`.
    pub fn is_final_for_deleted(&self) -> bool {
        matches!(
            self,
            ExecutionState::Removed | ExecutionState::AgentDisconnected
        )
    }

    /// The rank used to pick the "worst" state of several containers of one workload (a
    /// podman-kube pod set, Ankaios §7.2). Lower is worse:
    /// `Failed(ExecFailed|Lost)` < `Pending(*)` ("starting") < `Failed(Unknown)` < `Running` <
    /// `Stopping` < `Succeeded`. The states no container maps to (`AgentDisconnected`,
    /// `NotScheduled`, `Removed`) rank last.
    pub fn worst_of_rank(&self) -> u8 {
        match self {
            ExecutionState::Failed(FailedSubstate::ExecFailed | FailedSubstate::Lost) => 0,
            ExecutionState::Pending(_) => 1,
            ExecutionState::Failed(FailedSubstate::Unknown) => 2,
            ExecutionState::Running(_) => 3,
            ExecutionState::Stopping(_) => 4,
            ExecutionState::Succeeded(_) => 5,
            ExecutionState::AgentDisconnected
            | ExecutionState::NotScheduled
            | ExecutionState::Removed => 6,
        }
    }

    /// The worst of several states by [`Self::worst_of_rank`]; `None` for no states (which the
    /// kube connector reports as `Failed(Lost)`).
    pub fn worst_of(states: impl IntoIterator<Item = ExecutionState>) -> Option<ExecutionState> {
        states.into_iter().min_by_key(ExecutionState::worst_of_rank)
    }
}

impl fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.has_sub_states() {
            write!(f, "{}({})", self.kind().name(), self.sub_state_name())
        } else {
            f.write_str(self.kind().name())
        }
    }
}

/// A state text that names no state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown execution state '{0}' (hint: e.g. Running(Ok), failed(execfailed) or pending)")]
pub struct UnknownState(pub String);

/// Parses the display form, case-insensitively: `Running(Ok)`, `failed(execfailed)`,
/// `AgentDisconnected`, and a bare name for a state with a single sub-state (`running`).
impl FromStr for ExecutionState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let filter: StateFilter = s.parse()?;
        let err = || UnknownState(s.to_owned());
        match filter.sub_state {
            Some(sub) => ExecutionState::from_parts(filter.kind, sub),
            None => ExecutionState::from_parts(filter.kind, ""),
        }
        .ok_or_else(err)
    }
}

/// A state name with an optional sub-state, as the CLI's `--state` filter takes it.
/// `running` matches any `Running`, `failed(lost)` only `Failed(Lost)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateFilter {
    /// The state name.
    pub kind: StateKind,
    /// The sub-state's wire name, when given.
    pub sub_state: Option<&'static str>,
}

impl StateFilter {
    /// Whether `state` is one the filter selects.
    pub fn matches(&self, state: &ExecutionState) -> bool {
        state.kind() == self.kind
            && self
                .sub_state
                .is_none_or(|sub| state.sub_state_name() == sub)
    }
}

impl FromStr for StateFilter {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnknownState(s.to_owned());
        let text = s.trim();
        let (name, sub) = match text.split_once('(') {
            Some((name, rest)) => {
                let sub = rest.strip_suffix(')').ok_or_else(err)?;
                (name, Some(sub))
            }
            None => (text, None),
        };
        let kind = StateKind::parse(name).ok_or_else(err)?;
        let sub_state = match sub {
            None => None,
            Some(sub) => Some(
                ExecutionState::from_parts(kind, sub)
                    .filter(|_| !sub.trim().is_empty())
                    .ok_or_else(err)?
                    .sub_state_name(),
            ),
        };
        Ok(StateFilter { kind, sub_state })
    }
}

/// The JSON form `{"state": "Running", "subState": "Ok"}`, usable with `#[serde(flatten)]`.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(JsonSchema))]
#[serde(rename_all = "camelCase")]
struct StateWire {
    /// The state name.
    state: StateKind,
    /// The sub-state name; the state name again for the states without sub-states.
    #[serde(default)]
    sub_state: String,
}

impl Serialize for ExecutionState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StateWire {
            state: self.kind(),
            sub_state: self.sub_state_name().to_owned(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ExecutionState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = StateWire::deserialize(deserializer)?;
        ExecutionState::from_parts(wire.state, &wire.sub_state).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown subState '{}' for state '{}'",
                wire.sub_state, wire.state
            ))
        })
    }
}

#[cfg(feature = "json-schema")]
impl JsonSchema for ExecutionState {
    fn schema_name() -> Cow<'static, str> {
        "ExecutionState".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        StateWire::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_displays_and_parses_back() {
        let all = ExecutionState::all();
        assert_eq!(all.len(), 16);
        for state in all {
            let text = state.to_string();
            assert_eq!(text.parse::<ExecutionState>(), Ok(state), "{text}");
            assert_eq!(
                text.to_lowercase().parse::<ExecutionState>(),
                Ok(state),
                "{text}"
            );
        }
    }

    #[test]
    fn states_display_as_in_ankaios_tables() {
        let cases = [
            (ExecutionState::Running(RunningSubstate::Ok), "Running(Ok)"),
            (
                ExecutionState::Failed(FailedSubstate::ExecFailed),
                "Failed(ExecFailed)",
            ),
            (ExecutionState::AgentDisconnected, "AgentDisconnected"),
            (ExecutionState::NotScheduled, "NotScheduled"),
            (ExecutionState::Removed, "Removed"),
        ];
        for (state, text) in cases {
            assert_eq!(state.to_string(), text);
        }
    }

    #[test]
    fn every_state_round_trips_through_json() {
        for state in ExecutionState::all() {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json["subState"], state.sub_state_name());
            assert_eq!(
                serde_json::from_value::<ExecutionState>(json).unwrap(),
                state
            );
        }
        assert_eq!(
            serde_json::to_string(&ExecutionState::Running(RunningSubstate::Ok)).unwrap(),
            r#"{"state":"Running","subState":"Ok"}"#
        );
        assert_eq!(
            serde_json::to_string(&ExecutionState::NotScheduled).unwrap(),
            r#"{"state":"NotScheduled","subState":"NotScheduled"}"#
        );
    }

    #[test]
    fn json_with_a_foreign_sub_state_is_refused() {
        let bad = serde_json::json!({"state": "Running", "subState": "Lost"});
        assert!(serde_json::from_value::<ExecutionState>(bad).is_err());
    }

    #[test]
    fn filters_match_a_whole_state_or_one_sub_state() {
        let lost = ExecutionState::Failed(FailedSubstate::Lost);
        let exec = ExecutionState::Failed(FailedSubstate::ExecFailed);
        let any_failed: StateFilter = "failed".parse().unwrap();
        let only_lost: StateFilter = "FAILED(lost)".parse().unwrap();
        assert!(any_failed.matches(&lost) && any_failed.matches(&exec));
        assert!(only_lost.matches(&lost) && !only_lost.matches(&exec));
        assert!(!any_failed.matches(&ExecutionState::Removed));
        for bad in [
            "",
            "runing",
            "failed(",
            "failed()",
            "failed(ok)",
            "running(ok",
        ] {
            assert!(bad.parse::<StateFilter>().is_err(), "{bad:?}");
        }
        assert!("pending".parse::<ExecutionState>().is_err(), "ambiguous");
        assert_eq!(
            "running".parse::<ExecutionState>(),
            Ok(ExecutionState::Running(RunningSubstate::Ok))
        );
    }

    #[test]
    fn final_states_for_added_instances_are_those_of_ankaios() {
        let finals: Vec<String> = ExecutionState::all()
            .into_iter()
            .filter(ExecutionState::is_final_for_added)
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            finals,
            [
                "AgentDisconnected",
                "Pending(StartingFailed)",
                "Running(Ok)",
                "Succeeded(Ok)",
                "Failed(ExecFailed)",
                "Failed(Unknown)",
                "Failed(Lost)",
                "NotScheduled"
            ]
        );
        assert!(ExecutionState::Removed.is_final_for_deleted());
        assert!(!ExecutionState::Stopping(StoppingSubstate::Stopping).is_final_for_deleted());
    }

    #[test]
    fn worst_of_follows_the_kube_priority_order() {
        use ExecutionState as E;
        let order = [
            E::Failed(FailedSubstate::ExecFailed),
            E::Pending(PendingSubstate::Starting),
            E::Failed(FailedSubstate::Unknown),
            E::Running(RunningSubstate::Ok),
            E::Stopping(StoppingSubstate::Stopping),
            E::Succeeded(SucceededSubstate::Ok),
        ];
        for (i, worse) in order.iter().enumerate() {
            for better in &order[i..] {
                assert_eq!(E::worst_of([*better, *worse]), Some(*worse));
            }
        }
        assert_eq!(E::worst_of([]), None);
    }
}

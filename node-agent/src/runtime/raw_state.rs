//! A container's state as podman reports it, sorted into the few kinds that matter, plus the
//! "worst of" rule that turns the states of a pod's containers into one workload state.
//!
//! Raw facts only: no `ExecutionState` here. The pure `state_map.rs` of the agent maps a
//! [`RawState`] to the bus's state names; keeping podman's words here means that mapping can be
//! tested against captured podman output without a runtime.

/// One container's (or one workload's) state in podman's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawState {
    /// `created`, `configured` or `initialized`: exists, has not run yet.
    Created(String),
    /// `running`.
    Running,
    /// `exited`, with the exit code podman recorded.
    Exited {
        /// The process's exit code (0 is success).
        code: i32,
    },
    /// `stopping`, `stopped` or `removing`.
    Stopping(String),
    /// Anything else (`paused`, `unknown`, a word a newer podman invents), kept verbatim.
    Unknown(String),
    /// No container of the workload exists any more.
    Lost,
}

impl RawState {
    /// Sorts podman's `State` word and `ExitCode` into a [`RawState`].
    pub fn from_podman(state: &str, exit_code: i32) -> Self {
        match state.to_ascii_lowercase().as_str() {
            "created" | "configured" | "initialized" => RawState::Created(state.to_owned()),
            "running" => RawState::Running,
            "exited" => RawState::Exited { code: exit_code },
            "stopping" | "stopped" | "removing" => RawState::Stopping(state.to_owned()),
            _ => RawState::Unknown(state.to_owned()),
        }
    }

    /// How bad this state is for a workload made of several containers: lower is worse.
    ///
    /// Matches Ankaios' podman-kube order (ankaios-behaviour.md §7.2):
    /// Failed < Starting < Unknown < Running < Stopping < Succeeded. `Lost` sits below Failed:
    /// a container that vanished is at least as bad as one that failed.
    pub fn severity(&self) -> u8 {
        match self {
            RawState::Lost => 0,
            RawState::Exited { code } if *code != 0 => 1,
            RawState::Created(_) => 2,
            RawState::Unknown(_) => 3,
            RawState::Running => 4,
            RawState::Stopping(_) => 5,
            RawState::Exited { .. } => 6,
        }
    }

    /// The worst of `states` by [`RawState::severity`]; [`RawState::Lost`] if there are none.
    ///
    /// Among equally bad states the first wins, so the result is deterministic for a sorted
    /// input.
    pub fn worst<'a>(states: impl IntoIterator<Item = &'a RawState>) -> RawState {
        states
            .into_iter()
            .min_by_key(|state| state.severity())
            .cloned()
            .unwrap_or(RawState::Lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_words_sort_into_kinds() {
        let table = [
            ("created", 0, RawState::Created("created".into())),
            ("configured", 0, RawState::Created("configured".into())),
            ("initialized", 0, RawState::Created("initialized".into())),
            ("running", 0, RawState::Running),
            ("exited", 0, RawState::Exited { code: 0 }),
            ("exited", 3, RawState::Exited { code: 3 }),
            ("stopping", 0, RawState::Stopping("stopping".into())),
            ("stopped", 0, RawState::Stopping("stopped".into())),
            ("removing", 0, RawState::Stopping("removing".into())),
            ("paused", 0, RawState::Unknown("paused".into())),
            ("unknown", 0, RawState::Unknown("unknown".into())),
            ("Running", 0, RawState::Running),
        ];
        for (word, code, expected) in table {
            assert_eq!(RawState::from_podman(word, code), expected, "{word} {code}");
        }
    }

    #[test]
    fn worst_follows_the_ankaios_kube_order() {
        let failed = RawState::Exited { code: 1 };
        let starting = RawState::Created("created".into());
        let unknown = RawState::Unknown("paused".into());
        let running = RawState::Running;
        let stopping = RawState::Stopping("stopping".into());
        let succeeded = RawState::Exited { code: 0 };
        let ascending = [
            &failed, &starting, &unknown, &running, &stopping, &succeeded,
        ];
        for (i, worse) in ascending.iter().enumerate() {
            for better in &ascending[i..] {
                assert_eq!(RawState::worst([*better, *worse]), (*worse).clone());
                assert_eq!(RawState::worst([*worse, *better]), (*worse).clone());
            }
        }
    }

    #[test]
    fn worst_of_nothing_is_lost() {
        assert_eq!(RawState::worst([]), RawState::Lost);
    }

    #[test]
    fn one_failed_container_fails_a_running_pod() {
        let states = [
            RawState::Running,
            RawState::Exited { code: 3 },
            RawState::Running,
        ];
        assert_eq!(RawState::worst(&states), RawState::Exited { code: 3 });
    }
}

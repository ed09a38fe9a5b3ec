//! One agent-wide `podman ps` shared by the connectors of one listing (issue 17), apart from
//! `ps.rs`'s parsing and grouping because it is a cache with its own rules: a result serves
//! each runtime once, is never older than [`SHARED_LISTING_WINDOW`], and any other podman call
//! through the same CLI forgets it. A `std::sync::Mutex` suffices: nothing awaits while holding it.

use super::ps::ContainerFacts;

/// How long one agent-wide `podman ps` may serve the other connectors (see [`SharedListing`]).
pub const SHARED_LISTING_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// One agent-wide `podman ps` shared by the connectors of one agent.
///
/// Both connectors list the same containers (`--filter label=ankmq.agent=<agent>`) and keep
/// their own runtime's; the agent's listing asks each in turn, so every listing ran the same
/// `podman ps` twice back to back (issue 17: 200–300 ms each on these machines). Now a result
/// serves each runtime once: the first connector of a listing runs `ps`, the next one takes the
/// same result, and the next listing runs a fresh one, because its first connector was served
/// already. A result older than [`SHARED_LISTING_WINDOW`] is never reused, and any other podman
/// call through the same [`PodmanCli`] (run, rm, start, kube play) forgets it.
#[derive(Clone, Default)]
pub struct SharedListing(std::sync::Arc<std::sync::Mutex<Option<Cached>>>);

struct Cached {
    agent: String,
    at: std::time::Instant,
    facts: Vec<ContainerFacts>,
    served: std::collections::BTreeSet<String>,
}

impl SharedListing {
    /// Drops the shared result.
    pub fn forget(&self) {
        if let Ok(mut cached) = self.0.lock() {
            *cached = None;
        }
    }

    /// The shared result for `runtime`, if one is fresh and has not served it yet.
    pub(super) fn take(&self, agent: &str, runtime: &str) -> Option<Vec<ContainerFacts>> {
        let mut cached = self.0.lock().ok()?;
        let hit = cached.as_mut().filter(|c| {
            c.agent == agent
                && c.at.elapsed() <= SHARED_LISTING_WINDOW
                && !c.served.contains(runtime)
        })?;
        hit.served.insert(runtime.to_owned());
        Some(hit.facts.clone())
    }

    pub(super) fn keep(
        &self,
        agent: &str,
        runtime: &str,
        at: std::time::Instant,
        facts: &[ContainerFacts],
    ) {
        if let Ok(mut cached) = self.0.lock() {
            *cached = Some(Cached {
                agent: agent.to_owned(),
                at,
                facts: facts.to_vec(),
                served: [runtime.to_owned()].into(),
            });
        }
    }
}

// A cache, not configuration: two CLIs that run the same podman are the same.
impl PartialEq for SharedListing {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SharedListing {}

impl std::fmt::Debug for SharedListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedListing")
    }
}

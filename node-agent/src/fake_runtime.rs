//! A fake runtime connector for the loop's unit tests: it keeps instances in memory, records
//! every call, and lets a test make a container exit or vanish, so the runner's decisions are
//! tested without podman (issue 12). Like `podman run -d`, a create tells what it started
//! (`started`), so an `observe` is only called when a step failed. Tests only.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use ank_schemas::RuntimeKind;

use crate::runtime::{
    labels, ContainerFacts, InstanceRef, KubeSpec, LineStream, LogOptions, ObservedInstance,
    PodmanRunSpec, RawState, RuntimeConnector, RuntimeError, RuntimeId,
};

/// What a fake needs of a spec.
pub trait FakeSpec: Send + Sync {
    /// The instance id text.
    fn instance(&self) -> &str;
}

impl FakeSpec for PodmanRunSpec {
    fn instance(&self) -> &str {
        &self.instance
    }
}

impl FakeSpec for KubeSpec {
    fn instance(&self) -> &str {
        &self.instance
    }
}

/// The fake's memory, shared with the test (a std `Mutex`: no `.await` while it is held).
#[derive(Debug, Default)]
pub struct FakeState {
    /// Instance id → its one container's state.
    pub instances: BTreeMap<String, RawState>,
    /// Every call, as `create <instance>`, `restart …`, `delete …`, `observe …`, `list`.
    pub calls: Vec<String>,
    /// Instance → the exit code its next create or restart ends with while starting.
    pub exits_on_start: BTreeMap<String, i32>,
    /// Instance → its container's id: `c-<instance>` for the first, `c<n>-<instance>` for the
    /// n-th container made for it after that.
    pub containers: BTreeMap<String, String>,
    /// Containers made so far (for fresh container ids).
    made: u32,
}

impl FakeState {
    /// The id of `instance`'s container.
    pub fn container_id(&self, instance: &str) -> String {
        self.containers
            .get(instance)
            .cloned()
            .unwrap_or_else(|| format!("c-{instance}"))
    }

    fn start(&mut self, instance: &str) {
        let state = match self.exits_on_start.remove(instance) {
            Some(code) => RawState::Exited { code },
            None => RawState::Running,
        };
        self.instances.insert(instance.to_owned(), state);
    }
}

/// A connector of `kind` for specs `S`.
#[derive(Debug)]
pub struct FakeRuntime<S> {
    kind: RuntimeKind,
    agent: String,
    /// Shared with the test.
    pub state: Arc<Mutex<FakeState>>,
    spec: PhantomData<fn(S)>,
}

impl<S> FakeRuntime<S> {
    /// An empty fake of `kind` for `agent`.
    pub fn new(kind: RuntimeKind, agent: &str) -> Self {
        Self {
            kind,
            agent: agent.to_owned(),
            state: Arc::default(),
            spec: PhantomData,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        // A test that panicked while holding it has failed already.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn observed(&self, state: &FakeState, instance: &str, raw: &RawState) -> ObservedInstance {
        let id = state.container_id(instance);
        let state = raw;
        let exited = matches!(state, RawState::Exited { .. });
        let labels = BTreeMap::from([
            (labels::INSTANCE.to_owned(), instance.to_owned()),
            (labels::AGENT.to_owned(), self.agent.clone()),
            (labels::RUNTIME.to_owned(), self.kind.to_string()),
        ]);
        ObservedInstance {
            instance: instance.to_owned(),
            agent: self.agent.clone(),
            general_options: Vec::new(),
            containers: vec![ContainerFacts {
                id,
                names: vec![instance.to_owned()],
                labels,
                state: state.clone(),
                state_word: String::new(),
                exit_code: match state {
                    RawState::Exited { code } => *code,
                    _ => 0,
                },
                pod: None,
                is_infra: false,
                created_at: Some(1_000),
                started_at: Some(1_000),
                exited_at: exited.then_some(1_001),
            }],
        }
    }
}

impl<S: FakeSpec> RuntimeConnector for FakeRuntime<S> {
    type Spec = S;

    fn kind(&self) -> RuntimeKind {
        self.kind.clone()
    }

    async fn list_instances(&self) -> Result<Vec<ObservedInstance>, RuntimeError> {
        let mut state = self.lock();
        state.calls.push("list".into());
        let found = state
            .instances
            .iter()
            .map(|(instance, raw)| self.observed(&state, instance, raw))
            .collect();
        Ok(found)
    }

    async fn create(&self, spec: &S) -> Result<RuntimeId, RuntimeError> {
        let mut state = self.lock();
        state.calls.push(format!("create {}", spec.instance()));
        state.made += 1;
        let id = match state.containers.contains_key(spec.instance()) {
            true => format!("c{}-{}", state.made, spec.instance()),
            false => format!("c-{}", spec.instance()),
        };
        state.containers.insert(spec.instance().to_owned(), id);
        state.start(spec.instance());
        Ok(RuntimeId::Container(state.container_id(spec.instance())))
    }

    async fn restart(&self, spec: &S) -> Result<RuntimeId, RuntimeError> {
        let mut state = self.lock();
        state.calls.push(format!("restart {}", spec.instance()));
        state.start(spec.instance());
        Ok(RuntimeId::Container(state.container_id(spec.instance())))
    }

    async fn started(&self, spec: &S, id: &RuntimeId) -> Option<ObservedInstance> {
        let state = self.lock();
        let raw = state.instances.get(spec.instance())?;
        let found = self.observed(&state, spec.instance(), raw);
        (*id == RuntimeId::Container(found.containers[0].id.clone())).then_some(found)
    }

    async fn delete(&self, target: &InstanceRef) -> Result<(), RuntimeError> {
        let mut state = self.lock();
        state.calls.push(format!("delete {}", target.instance));
        state.instances.remove(&target.instance);
        Ok(())
    }

    async fn observe(
        &self,
        target: &InstanceRef,
    ) -> Result<Option<ObservedInstance>, RuntimeError> {
        let mut state = self.lock();
        state.calls.push(format!("observe {}", target.instance));
        Ok(state
            .instances
            .get(&target.instance)
            .map(|raw| self.observed(&state, &target.instance, raw)))
    }

    async fn logs(
        &self,
        target: &InstanceRef,
        _options: &LogOptions,
    ) -> Result<LineStream, RuntimeError> {
        Err(RuntimeError::NotFound {
            instance: target.instance.clone(),
        })
    }
}

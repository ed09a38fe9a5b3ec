//! A fake runtime connector for the loop's unit tests: it keeps instances in memory, records
//! every call, and lets a test make a container exit or vanish, so the runner's decisions are
//! tested without podman (issue 12). Tests only.

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
    /// Every call, as `create <instance>`, `restart …`, `delete …`, `list`.
    pub calls: Vec<String>,
    /// Containers made so far (for fresh container ids).
    made: u32,
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

    fn observed(&self, instance: &str, state: &RawState) -> ObservedInstance {
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
                id: format!("c-{instance}"),
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
            .map(|(instance, raw)| self.observed(instance, raw))
            .collect();
        Ok(found)
    }

    async fn create(&self, spec: &S) -> Result<RuntimeId, RuntimeError> {
        let mut state = self.lock();
        state.calls.push(format!("create {}", spec.instance()));
        state.made += 1;
        state
            .instances
            .insert(spec.instance().to_owned(), RawState::Running);
        Ok(RuntimeId::Container(format!("c{}", state.made)))
    }

    async fn restart(&self, spec: &S) -> Result<RuntimeId, RuntimeError> {
        let mut state = self.lock();
        state.calls.push(format!("restart {}", spec.instance()));
        state
            .instances
            .insert(spec.instance().to_owned(), RawState::Running);
        Ok(RuntimeId::Container("c-restarted".into()))
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
        let state = self.lock();
        Ok(state
            .instances
            .get(&target.instance)
            .map(|raw| self.observed(&target.instance, raw)))
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

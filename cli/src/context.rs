//! What every command shares: the settings, the topic tree and one MQTT session, opened on first
//! use (`ank completion` never touches the network).
//!
//! A command's first read opens its only connection: a one-shot read is `ank-bus`' connect, read,
//! disconnect, and a watch (every change and its wait) carries the session the requests go on.
//! A second read, or a read after the session exists, gets a short-lived connection of its own
//! (retained copies must not leak into the session's log streams). One connection instead of two
//! halves what a command spends connecting (issue 17). Nothing is kept between runs.

use std::time::Duration;

use ank_bus::{ConnectOptions, Incoming, Session, Watch, WatchEvent};
use ank_schemas::{Liveness, Request, RequestOp, Response, Topics};
use tokio::sync::Mutex;

use crate::error::CliError;
use crate::settings::Settings;
use crate::state_view::View;

/// The settings and the (lazily opened) session of one run.
pub struct Context {
    /// The merged settings.
    pub settings: Settings,
    /// The topic tree under the configured prefix.
    pub topics: Topics,
    session: Mutex<Option<(Session, Option<Incoming>)>>,
}

impl Context {
    /// A context for `settings`; fails on a malformed topic prefix.
    pub fn new(settings: Settings) -> Result<Self, CliError> {
        // The prefix was validated when the settings were resolved.
        let topics = settings.connect.topics.clone();
        Ok(Self {
            settings,
            topics,
            session: Mutex::new(None),
        })
    }

    /// The session, connecting on first use.
    pub async fn session(&self) -> Result<Session, CliError> {
        let mut slot = self.session.lock().await;
        if let Some((session, _)) = slot.as_ref() {
            return Ok(session.clone());
        }
        let opts = self.connect_options()?;
        let (session, incoming) = Session::connect(opts, None)
            .await
            .map_err(|e| self.bus_error("cannot connect to the MQTT broker", e))?;
        *slot = Some((session.clone(), Some(incoming)));
        Ok(session)
    }

    /// The session's incoming messages (log streams); only the first caller gets them.
    pub async fn take_incoming(&self) -> Result<Option<Incoming>, CliError> {
        self.session().await?;
        Ok(self
            .session
            .lock()
            .await
            .as_mut()
            .and_then(|(_, incoming)| incoming.take()))
    }

    /// The view of every retained topic, read once.
    pub async fn read_view(&self) -> Result<View, CliError> {
        let filters = View::filters(&self.topics);
        let session = self.session.lock().await.as_ref().map(|(s, _)| s.clone());
        let messages = match session {
            Some(session) => session.read_retained(&filters).await,
            None => Session::read_retained_once(self.connect_options()?, &filters).await,
        }
        .map_err(|e| self.connect_or("cannot read the retained state from the broker", e))?;
        Ok(View::from_messages(&self.topics, &messages))
    }

    /// A live view: returns the first snapshot and the watch that delivers the changes. Opened
    /// before anything else, the watch's connection becomes the session's (requests go on it).
    pub async fn watch_view(&self) -> Result<(View, Watch), CliError> {
        let filters = View::filters(&self.topics);
        let mut slot = self.session.lock().await;
        let watch = match slot.as_ref() {
            Some((session, _)) => session.watch_retained(&filters).await,
            None => match Session::connect_with_watch(self.connect_options()?, &filters).await {
                Ok((session, watch)) => {
                    // The watch consumes the session's events; a log stream needs a session of
                    // its own, which no command that watches opens.
                    *slot = Some((session, None));
                    Ok(watch)
                }
                Err(error) => Err(error),
            },
        };
        drop(slot);
        let mut watch = watch.map_err(|e| self.connect_or("cannot watch the retained state", e))?;
        let after = self.settings.response_timeout.max(Duration::from_secs(1));
        let first = tokio::time::timeout(after, async {
            loop {
                match watch.next().await {
                    Some(WatchEvent::Snapshot(messages)) => return Some(messages),
                    Some(WatchEvent::Update(_) | WatchEvent::Disconnected { .. }) => {}
                    None => return None,
                }
            }
        })
        .await;
        match first {
            Ok(Some(messages)) => Ok((View::from_messages(&self.topics, &messages), watch)),
            Ok(None) => Err(self.bus_error("the watch ended", ank_bus::BusError::Closed)),
            Err(_) => Err(self.bus_error(
                "cannot read the retained state from the broker",
                ank_bus::BusError::Timeout { after },
            )),
        }
    }

    /// Fails at once unless the retained controller status says online (issue #6: no waiting
    /// for a timeout when the controller is known to be away).
    pub fn require_controller(&self, view: &View) -> Result<(), CliError> {
        match &view.controller {
            Some(status) if status.state == Liveness::Online => Ok(()),
            Some(status) => Err(CliError::ControllerOffline {
                reason: match status.state {
                    Liveness::Lost => "connection lost".into(),
                    _ => "shut down".into(),
                },
                since: status.since.clone(),
            }),
            None => Err(CliError::ControllerOffline {
                reason: format!(
                    "no controller has published {} on this broker",
                    self.topics.controller_status()
                ),
                since: None,
            }),
        }
    }

    /// Sends a request to the controller and decodes its response.
    pub async fn request(&self, op: RequestOp) -> Result<Response, CliError> {
        let session = self.session().await?;
        let timeout = self.settings.response_timeout;
        let expires_in = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        // The session's own validated client id: the bus answers on its reply topic.
        let reply_to = session.client().clone();
        let reply = session
            .request(
                |id, _| {
                    let request = Request {
                        id: id.to_owned(),
                        reply_to,
                        expires_at_ms: Some(now_ms().saturating_add(expires_in)),
                        on_behalf_of: None,
                        op,
                    };
                    serde_json::to_vec(&request).unwrap_or_default()
                },
                timeout,
            )
            .await
            .map_err(|e| match e {
                ank_bus::BusError::Timeout { after } => CliError::Timeout {
                    what: "no response from the controller".into(),
                    after,
                },
                e => self.bus_error("the request to the controller failed", e),
            })?;
        // Anyone can publish to our reply topic, and serde's error quotes the input: excerpt it.
        serde_json::from_slice(&reply).map_err(|e| {
            CliError::Other(
                anyhow::anyhow!("{}", ank_bus::excerpt(&e))
                    .context("the controller's response is not valid"),
            )
        })
    }

    /// Ends the session cleanly.
    pub async fn close(&self) {
        if let Some((session, _)) = self.session.lock().await.take() {
            session.shutdown(None).await;
        }
    }

    /// A bus error with what ank was doing and the broker, for the hint.
    pub fn bus_error(&self, context: &str, source: ank_bus::BusError) -> CliError {
        CliError::Bus {
            context: context.to_owned(),
            source,
            broker: self.settings.broker.clone(),
        }
    }

    /// [`Context::bus_error`] with `context`, or with "cannot connect" when the connection that
    /// the read or watch opened failed: the same words as a failed [`Context::session`].
    fn connect_or(&self, context: &str, source: ank_bus::BusError) -> CliError {
        match source {
            ank_bus::BusError::Unreachable { .. } | ank_bus::BusError::Rejected { .. } => {
                self.bus_error("cannot connect to the MQTT broker", source)
            }
            source => self.bus_error(context, source),
        }
    }

    fn connect_options(&self) -> Result<ConnectOptions, CliError> {
        let s = &self.settings;
        // `<identity>.<random>`: the login, or under mutual TLS the name the client
        // certificate proves, so a broker that binds client ids to logins accepts it without
        // `--username` (issue 13); `ank.<random>` without either.
        let identity = s.connect.identity().ok().flatten();
        let identity = identity
            .as_deref()
            .filter(|u| ank_schemas::is_valid_name(u))
            .unwrap_or("ank");
        let client_id = format!("{identity}.{:08x}", rand::random::<u32>());
        let mut opts = s
            .connect
            .connect_options(&s.broker, &client_id)
            .map_err(|e| CliError::Usage {
                message: e.to_string(),
                hint: Some("e.g. --broker mqtt://127.0.0.1:1883".into()),
            })?;
        opts.connect_timeout = s.response_timeout.max(Duration::from_secs(1));
        opts.read_timeout = s.response_timeout.max(Duration::from_secs(1));
        Ok(opts)
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

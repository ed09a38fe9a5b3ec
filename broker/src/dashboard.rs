//! The small HTTP server that hands the built dashboard (`dashboard/dist`, issue 18) to a
//! browser, beside the broker's WebSocket listener that the page then talks MQTT over.
//!
//! It exists so that `ank-controller --dashboard-listen` and `ank-broker --dashboard-listen` give
//! an engineer a live view with nothing else installed. It serves files only: the built folder is
//! read once at start into memory, bounded in count and size, and a request path is looked up in
//! that table, never joined to a file system path, so no path can reach outside the folder.
//! `/dashboard.json` tells the page where the WebSocket listener is. It must not grow into an
//! application server: the page is nothing but an MQTT subscriber.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use crate::BrokerError;

/// The most files of the built page that are loaded (the build writes three).
pub const MAX_DASHBOARD_FILES: usize = 64;

/// The most bytes of the built page that are loaded, all files together.
pub const MAX_DASHBOARD_BYTES: u64 = 16 * 1024 * 1024;

/// Simultaneous HTTP connections; a further one is closed at once. A page needs two or three.
pub const MAX_DASHBOARD_CONNECTIONS: usize = 64;

/// How long a client may take to send its request head before the connection is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// hyper's smallest read buffer, which also bounds a request head: ours are a line and a few
/// headers.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// The command that builds the page, named wherever the page is missing.
pub const BUILD_COMMAND: &str = "scripts/dashboard.sh";

/// Where the built page is looked for when no `--dashboard-dir` is given: the build output in
/// the source tree this binary was built from.
pub const DEFAULT_DASHBOARD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboard/dist");

/// The dashboard's HTTP listener and what the page needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardConfig {
    /// Where the HTTP server binds. Port 0 picks a free port ([`crate::BrokerHandle::dashboard_addr`]).
    pub listen: SocketAddr,
    /// The built page (`dashboard/dist`).
    pub dir: PathBuf,
    /// The topic prefix the page subscribes under unless its URL says `?prefix=`.
    pub topic_prefix: String,
}

/// What `/dashboard.json` tells the page about the broker it was served by.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageSettings {
    /// The WebSocket listener's port, on the host the page was loaded from.
    pub ws_port: u16,
    /// The WebSocket path.
    pub ws_path: &'static str,
    /// The topic prefix.
    pub topic_prefix: String,
    /// Whether the broker needs a user name and password (a password file is set).
    pub login: bool,
}

/// One file of the built page, in memory.
struct File {
    content_type: &'static str,
    body: Bytes,
}

/// The built page, or why there is none.
enum Site {
    Built(BTreeMap<String, File>),
    /// Served as a 503 on every path, so the person at the browser learns how to build it.
    NotBuilt(String),
}

/// The running HTTP server; stopped by [`DashboardServer::stop`] or when dropped.
#[derive(Debug)]
pub(crate) struct DashboardServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl DashboardServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listener and every open connection.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DashboardServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Loads the built page and starts serving it; a missing page is not an error (the server then
/// explains how to build it), a port that cannot be bound is.
pub(crate) async fn serve(
    config: &DashboardConfig,
    settings: PageSettings,
) -> Result<DashboardServer, BrokerError> {
    let site = load_site(&config.dir);
    match &site {
        Site::Built(files) => {
            info!(dir = %config.dir.display(), files = files.len(), "dashboard page loaded")
        }
        Site::NotBuilt(reason) => warn!("{reason}"),
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| BrokerError::Bind {
            listener: "dashboard",
            addr: config.listen,
            reason: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| BrokerError::Bind {
        listener: "dashboard",
        addr: config.listen,
        reason: e.to_string(),
    })?;
    let settings = Bytes::from(serde_json::to_vec(&settings).unwrap_or_default());
    let shared = Arc::new(Shared { site, settings });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, shared, stopped));
    info!(%addr, "dashboard at http://{addr}/");
    Ok(DashboardServer {
        addr,
        stop,
        task: Some(task),
    })
}

struct Shared {
    site: Site,
    settings: Bytes,
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_DASHBOARD_CONNECTIONS));
    // Owned connection tasks: dropping the set when the loop ends aborts them.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                debug!("dashboard accept failed: {e}");
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!(%peer, "dashboard connection limit reached: closed");
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(respond(&shared, &request)) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_REQUEST_HEAD)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                debug!(%peer, "dashboard connection ended: {e}");
            }
        });
    }
}

fn respond(shared: &Shared, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    let files = match &shared.site {
        Site::Built(files) => files,
        Site::NotBuilt(reason) => {
            return plain(StatusCode::SERVICE_UNAVAILABLE, &format!("{reason}\n"));
        }
    };
    let path = request.uri().path();
    let (content_type, body) = match path {
        "/" => match files.get("index.html") {
            Some(f) => (f.content_type, f.body.clone()),
            None => return plain(StatusCode::NOT_FOUND, "not found\n"),
        },
        "/dashboard.json" => ("application/json", shared.settings.clone()),
        _ => match path.strip_prefix('/').and_then(|name| files.get(name)) {
            Some(f) => (f.content_type, f.body.clone()),
            None => return plain(StatusCode::NOT_FOUND, "not found\n"),
        },
    };
    let body = if request.method() == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(response)
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    secure(response)
}

/// Headers that make injected markup inert even if the page had a bug: no inline script, no
/// script from elsewhere, no framing (docs/dashboard.md, "Hostile payloads"). `worker-src
/// blob:` is for MQTT.js, which runs its keepalive timer in a worker it makes from a blob, so
/// that a background tab's throttled timers do not drop the connection.
fn secure(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; worker-src blob:; style-src 'self'; img-src 'self' data:; \
             connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Reads the built page: the regular files directly in `dir` whose names are plain and whose
/// type is known. Sub-folders, links and anything else are skipped.
fn load_site(dir: &Path) -> Site {
    let not_built = |why: String| {
        Site::NotBuilt(format!(
            "the dashboard is not built ({why}): run {BUILD_COMMAND} in the ankmq source tree, \
             or point --dashboard-dir at a built dashboard/dist, then restart"
        ))
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return not_built(format!("{}: {e}", dir.display())),
    };
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(content_type) = content_type(&name) else {
            continue;
        };
        // symlink_metadata: a link is not followed out of the folder.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_file() || !plain_name(&name) {
            continue;
        }
        if files.len() == MAX_DASHBOARD_FILES {
            return not_built(format!(
                "{} holds more than {MAX_DASHBOARD_FILES} files",
                dir.display()
            ));
        }
        total += meta.len();
        if total > MAX_DASHBOARD_BYTES {
            return not_built(format!(
                "{} holds more than {MAX_DASHBOARD_BYTES} bytes",
                dir.display()
            ));
        }
        match std::fs::read(entry.path()) {
            Ok(body) => {
                files.insert(
                    name,
                    File {
                        content_type,
                        body: Bytes::from(body),
                    },
                );
            }
            Err(e) => warn!(file = %entry.path().display(), "dashboard file not loaded: {e}"),
        }
    }
    if !files.contains_key("index.html") {
        return not_built(format!("no index.html in {}", dir.display()));
    }
    Site::Built(files)
}

/// `[A-Za-z0-9_.-]`, not starting with a dot.
fn plain_name(name: &str) -> bool {
    !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_of_known_types_are_served() {
        let table = [
            ("index.html", true),
            ("app.js", true),
            ("app.css", true),
            (".hidden.js", false),
            ("a b.js", false),
            ("app.js.map", false),
            ("notes.txt", false),
            ("Makefile", false),
        ];
        for (name, served) in table {
            let ok = content_type(name).is_some() && plain_name(name);
            assert_eq!(ok, served, "{name}");
        }
    }
}

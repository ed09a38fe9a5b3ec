//! A real browser for the dashboard's system tests (issue 18): Debian's `chromium`, headless,
//! driven by `dashboard/test/driver.mjs` (playwright-core from the dashboard's pinned npm
//! dependencies; no browser is downloaded).
//!
//! The driver knows no test: it answers one JSON command per line. Waiting is a predicate polled
//! inside the page against a deadline (playwright's `waitForFunction`), never a sleep. Every
//! screenshot lands under `target/dashboard-screenshots/<test>/`, kept after the test so a person
//! can look at each view. `scripts/test-env.sh` installs chromium and the npm packages.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// The system chromium; `ANK_CHROMIUM` overrides it.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// Extra time the harness waits for an answer beyond the command's own deadline (a browser
/// start, a page load).
const SLACK: Duration = Duration::from_secs(60);

/// A headless chromium with one page; closed (and the driver killed) on drop.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    answers: Receiver<String>,
    shots: PathBuf,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("pid", &self.child.id())
            .field("shots", &self.shots)
            .finish()
    }
}

/// The dashboard's folder in the workspace.
pub fn dashboard_dir() -> PathBuf {
    crate::podman::workspace_root().join("dashboard")
}

/// The built page (`scripts/dashboard.sh`), or an error that says how to build it.
pub fn built_page() -> Result<PathBuf> {
    let dist = dashboard_dir().join("dist");
    if !dist.join("index.html").exists() || !dist.join("app.js").exists() {
        bail!(
            "{} is not built: run scripts/dashboard.sh (scripts/test-env.sh does)",
            dist.display()
        );
    }
    Ok(dist)
}

impl Browser {
    /// Starts chromium; screenshots go to `target/dashboard-screenshots/<test>/`.
    pub fn start(test: &str) -> Result<Self> {
        let dir = dashboard_dir();
        let driver = dir.join("test").join("driver.mjs");
        if !dir.join("node_modules").join("playwright-core").exists() {
            bail!(
                "playwright-core is not installed in {}: run scripts/dashboard.sh (scripts/test-env.sh does)",
                dir.display()
            );
        }
        let chromium = std::env::var("ANK_CHROMIUM").unwrap_or_else(|_| DEFAULT_CHROMIUM.into());
        if !Path::new(&chromium).exists() {
            bail!("{chromium} is missing: install the Debian package chromium (scripts/test-env.sh does)");
        }
        let shots = crate::podman::workspace_root()
            .join("target")
            .join("dashboard-screenshots")
            .join(test);
        std::fs::create_dir_all(&shots).with_context(|| format!("creating {}", shots.display()))?;
        let mut child = Command::new("node")
            .arg(&driver)
            .env("ANK_CHROMIUM", &chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting node (the dashboard's browser driver)")?;
        let stdin = child.stdin.take().context("the driver's stdin")?;
        let stdout = child.stdout.take().context("the driver's stdout")?;
        let (tx, answers) = mpsc::channel();
        // A reader thread, so that a hung driver is a timeout here, not a hung test.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut browser = Self {
            child,
            stdin,
            answers,
            shots,
        };
        browser.answer(SLACK).context("chromium did not start")?;
        Ok(browser)
    }

    fn answer(&mut self, timeout: Duration) -> Result<Value> {
        let line = self
            .answers
            .recv_timeout(timeout)
            .context("no answer from the browser driver")?;
        let answer: Value =
            serde_json::from_str(&line).with_context(|| format!("the driver answered {line:?}"))?;
        if answer["ok"] == Value::Bool(true) {
            Ok(answer["value"].clone())
        } else {
            bail!(
                "{}",
                answer["error"].as_str().unwrap_or("the driver failed")
            )
        }
    }

    fn send(&mut self, command: Value, timeout: Duration) -> Result<Value> {
        writeln!(self.stdin, "{command}").context("writing to the browser driver")?;
        self.stdin
            .flush()
            .context("writing to the browser driver")?;
        self.answer(timeout + SLACK)
    }

    /// Opens `url` and waits for its `load` event.
    pub fn goto(&mut self, url: &str) -> Result<()> {
        self.send(json!({"op": "goto", "url": url}), Duration::ZERO)
            .with_context(|| format!("opening {url}"))
            .map(|_| ())
    }

    /// Polls the JavaScript expression `js` in the page until it is truthy or `timeout` passes;
    /// returns its value. The error names `what` and the page's console output.
    pub fn wait(&mut self, what: &str, js: &str, timeout: Duration) -> Result<Value> {
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        match self.send(
            json!({"op": "wait", "js": js, "timeoutMs": millis}),
            timeout,
        ) {
            Ok(value) => Ok(value),
            Err(e) => {
                let console = self.console().unwrap_or_default();
                let body = self
                    .eval("document.body.innerText.slice(0, 3000)")
                    .unwrap_or_default();
                bail!("waiting for {what}: {e:#}\npage console: {console:#}\npage text: {body}")
            }
        }
    }

    /// Evaluates `js` (an expression, or a function the driver calls) and returns its JSON.
    pub fn eval(&mut self, js: &str) -> Result<Value> {
        self.send(json!({"op": "eval", "js": js}), Duration::from_secs(30))
    }

    /// Clicks the element `selector` matches.
    pub fn click(&mut self, selector: &str) -> Result<()> {
        self.send(
            json!({"op": "click", "selector": selector}),
            Duration::from_secs(10),
        )
        .with_context(|| format!("clicking {selector}"))
        .map(|_| ())
    }

    /// Types `value` into the input `selector` matches.
    pub fn fill(&mut self, selector: &str, value: &str) -> Result<()> {
        self.send(
            json!({"op": "fill", "selector": selector, "value": value}),
            Duration::from_secs(10),
        )
        .with_context(|| format!("filling {selector}"))
        .map(|_| ())
    }

    /// Saves a screenshot of the viewport as `<name>.png`; returns its path.
    pub fn screenshot(&mut self, name: &str) -> Result<PathBuf> {
        let path = self.shots.join(format!("{name}.png"));
        self.send(
            json!({"op": "screenshot", "path": path}),
            Duration::from_secs(30),
        )?;
        Ok(path)
    }

    /// What the page logged since the last call (console messages and uncaught errors).
    pub fn console(&mut self) -> Result<Value> {
        self.send(json!({"op": "console"}), Duration::from_secs(10))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "close"}));
        let _ = self.stdin.flush();
        let _ = self.answers.recv_timeout(Duration::from_secs(5));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

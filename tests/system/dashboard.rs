//! The live dashboard (issue 18) in a real headless chromium, against a real controller, real
//! agents and real podman, on both brokers; and under a `viewer` login. Each view is saved as a
//! screenshot under `target/dashboard-screenshots/` for a person to look at.

use std::time::Duration;

use ank_system_tests::browser::{self, Browser};
use ank_system_tests::{on_both_brokers, BrokerKind};
use anyhow::{ensure, Context, Result};

/// How long the page may take to show what the bus says: generous for a loaded CI machine.
const SEEN: Duration = Duration::from_secs(30);

/// `db` runs on A; `api` on B waits for it to run; `seed` on A succeeds; `web` on B waits for
/// `api` to run and `seed` to succeed.
const MANIFEST: &str = r#"
apiVersion: v1
workloads:
  db:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  seed:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "echo seeded"]
  api:
    runtime: podman
    agent: $B
    tags:
      note: "<img src=x onerror=document.title='pwned'>"
    dependencies: {db: ADD_COND_RUNNING}
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "trap 'exit 0' TERM; while true; do echo '<script>document.title=1</script>'; sleep 1; done"]
  web:
    runtime: podman
    agent: $B
    dependencies: {api: ADD_COND_RUNNING, seed: ADD_COND_SUCCEEDED}
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#;

/// A JavaScript predicate: the workloads table shows `name` in a state starting with `state`.
fn row_in(name: &str, state: &str) -> String {
    format!(
        "document.querySelector('#workloads-view tr[data-workload=\"{name}\"]')?.dataset.state.startsWith('{state}')"
    )
}

fn screenshots_of(kind: BrokerKind) -> String {
    format!("issue_18_{}", format!("{kind:?}").to_lowercase())
}

on_both_brokers!(
    /// The page lists both agents and every workload with its state, draws the dependency
    /// edges, shows a container killed by hand in its new state, says at once that the broker
    /// is gone (and greys the data), and rebuilds from retained messages when it is back.
    fn issue_18_the_dashboard_shows_the_cluster_live_and_says_when_the_broker_is_gone(c) {
        let url = c.serve_dashboard()?;
        // The page opens first, so that its timeline shows the workloads waiting and starting.
        let mut b = Browser::start(&screenshots_of(c.kind()))?;
        b.goto(&format!("{url}#agents"))?;
        let (a, bb) = (c.a().to_owned(), c.b().to_owned());
        b.wait(
            "both agents online with their generation",
            &format!(
                "['{a}', '{bb}'].every(n => document.querySelector(`#agents-view tr[data-agent=\"${{n}}\"]`)?.dataset.state === 'online')"
            ),
            SEEN,
        )?;
        c.apply(MANIFEST, &[])?.expect_ok()?;
        b.wait(
            "the agents' observed generation 1",
            "[...document.querySelectorAll('#agents-view td.gen')].every(td => td.dataset.observed === '1')",
            SEEN,
        )?;
        b.screenshot("agents")?;

        b.click("#tab-workloads")?;
        for (name, state) in [("db", "Running"), ("seed", "Succeeded"), ("api", "Running"), ("web", "Running")] {
            b.wait(&format!("{name} {state} in the table"), &row_in(name, state), SEEN)?;
        }
        let agents = b.eval(
            "Object.fromEntries([...document.querySelectorAll('#workloads-view tr[data-workload]')].map(r => [r.dataset.workload, r.dataset.agent]))",
        )?;
        ensure!(
            agents == serde_json::json!({"db": a, "seed": a, "api": bb, "web": bb}),
            "the table's agents: {agents}"
        );
        b.screenshot("workloads")?;

        b.click("#tab-graph")?;
        b.wait("the graph", "document.querySelectorAll('#graph-view .node').length === 4", SEEN)?;
        let edges = b.eval(
            "[...document.querySelectorAll('#graph-view .edge')].map(e => `${e.dataset.from}->${e.dataset.to}:${e.dataset.cond}`).sort()",
        )?;
        ensure!(
            edges
                == serde_json::json!([
                    "api->web:ADD_COND_RUNNING",
                    "db->api:ADD_COND_RUNNING",
                    "seed->web:ADD_COND_SUCCEEDED"
                ]),
            "the graph's edges: {edges}"
        );
        b.screenshot("graph")?;

        // The detail view: the desired spec as YAML and the instance id; hostile text shows as
        // text (the tag and the log lines carry markup that would change the title).
        b.click("#tab-workloads")?;
        b.click("#workloads-view tr[data-workload=\"api\"]")?;
        b.wait("the spec of api", "document.getElementById('detail-spec')?.textContent.includes('ADD_COND_RUNNING')", SEEN)?;
        b.click("#logs-follow")?;
        b.wait(
            "api's log lines, as text",
            "document.getElementById('logs-lines')?.textContent.includes('<script>document.title=1</script>')",
            SEEN,
        )?;
        let instance = b.eval("document.querySelector('#detail dd:nth-of-type(3)').textContent")?;
        ensure!(
            instance.as_str().is_some_and(|i| i.starts_with("api.") && i.ends_with(&bb)),
            "api's instance id in the detail: {instance}"
        );
        let title = b.eval("document.title + '|' + document.querySelectorAll('#detail img, #detail script, #detail b').length")?;
        ensure!(title == "ankmq dashboard|0", "markup from the bus was rendered: {title}");
        b.screenshot("detail")?;
        b.click("#detail-close")?;

        // A container killed by hand: the page shows its new state.
        let db = c.container(&a, "db")?;
        ank_system_tests::podman::run(&["kill", &db.id]).context("podman kill db")?;
        b.wait("db Failed after podman kill", &row_in("db", "Failed"), SEEN)?;
        b.screenshot("killed")?;

        b.click("#tab-timeline")?;
        b.wait(
            "db's timeline with its changes",
            "Number(document.querySelector('#timeline-view .tl-row[data-workload=\"db\"]')?.dataset.changes) >= 2",
            SEEN,
        )?;
        b.screenshot("timeline")?;

        // The broker goes away: the page says so and greys the data.
        b.click("#tab-workloads")?;
        c.kill_broker()?;
        b.wait(
            "the page to show the disconnection",
            "document.getElementById('conn')?.dataset.state === 'disconnected' && document.body.classList.contains('offline')",
            SEEN,
        )?;
        b.screenshot("disconnected")?;

        // Back: rebuilt from retained messages.
        c.start_broker()?;
        b.wait("the page to reconnect", "document.getElementById('conn')?.dataset.state === 'connected'", SEEN)?;
        b.wait("web Running again after the reconnect", &row_in("web", "Running"), SEEN)?;
        Ok(())
    }
);

/// With a password file and the generated ACL, the page asks for a login; under `viewer` it
/// shows the agents and workloads, offers no logs, and whatever it publishes the broker drops:
/// neither a forged agent status nor a request reaches anyone, while its own sync marker does.
mod issue_18_a_viewer_login_sees_the_cluster_and_can_publish_nothing {
    use super::*;
    use ank_system_tests::secured::{self, Secured};

    #[test]
    fn embedded() {
        secured::run(BrokerKind::Embedded, "issue_18_viewer_e", scenario);
    }

    #[test]
    fn mosquitto() {
        secured::run(BrokerKind::Mosquitto, "issue_18_viewer_m", scenario);
    }

    fn scenario(s: &mut Secured) -> Result<()> {
        let url = s.page_url();
        s.apply(MANIFEST_ONE)?;
        let mut b = Browser::start(&format!(
            "issue_18_viewer_{}",
            format!("{:?}", s.kind()).to_lowercase()
        ))?;
        b.goto(&url)?;
        b.wait("the login form", "!!document.getElementById('login')", SEEN)?;
        b.screenshot("login")?;
        b.fill("#login-user", "viewer")?;
        b.fill("#login-password", "viewer-pw")?;
        b.click("#login-submit")?;
        let agent = s.agent().to_owned();
        b.wait(
            "the page after the login",
            "!!document.getElementById('tab-agents')",
            SEEN,
        )?;
        b.click("#tab-agents")?;
        b.wait(
            "the agent online under viewer",
            &format!("document.querySelector('#agents-view tr[data-agent=\"{agent}\"]')?.dataset.state === 'online'"),
            SEEN,
        )?;
        b.click("#tab-workloads")?;
        b.wait("job Running under viewer", &row_in("job", "Running"), SEEN)?;
        b.click("#workloads-view tr[data-workload=\"job\"]")?;
        b.wait("the spec and no logs for a viewer", "!!document.getElementById('detail-spec') && !!document.getElementById('logs-not-allowed')", SEEN)?;
        b.screenshot("viewer")?;
        let outcome = b.eval(&format!(
            r#"(async () => {{
                const app = window.ankDashboard;
                const c = app.conn.client;
                const p = app.config.prefix;
                const sync = `${{p}}/sync/${{app.conn.clientId}}`;
                const seen = [];
                // Only what the viewer sent counts: the agent's own status updates (resources,
                // every few seconds) arrive on the same subscription meanwhile.
                const ours = ['marker', 'forged', '"lost"'];
                c.on('message', (t, payload) => {{
                    if (ours.some((m) => String(payload).includes(m))) seen.push(t);
                }});
                const granted = [];
                for (const f of [sync, `${{p}}/requests`]) {{
                    try {{
                        granted.push((await c.subscribeAsync(f, {{ qos: 1 }}))[0].qos);
                    }} catch (e) {{
                        // MQTT.js rejects a SUBACK with 0x80 ("Subscribe error").
                        if (!String(e.message).includes('Subscribe error')) throw e;
                        granted.push(128);
                    }}
                }}
                await c.publishAsync(`${{p}}/agents/{agent}/status`, JSON.stringify({{ state: 'lost', epoch: 1 }}), {{ qos: 1, retain: true }});
                await c.publishAsync(`${{p}}/requests`, JSON.stringify({{ id: 'forged', replyTo: app.conn.clientId }}), {{ qos: 1 }});
                await c.publishAsync(`${{p}}/agents/{agent}/logs/requests`, JSON.stringify({{ id: 'forged', clientId: app.conn.clientId }}), {{ qos: 1 }});
                await c.publishAsync(sync, 'marker', {{ qos: 1 }});
                const deadline = Date.now() + 20000;
                while (!seen.includes(sync) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
                return {{ seen, granted, agent: app.store.agents.get('{agent}')?.state }};
            }})()"#
        ))?;
        ensure!(
            outcome["seen"]
                == serde_json::json!([format!("{}/sync/{}", s.prefix(), outcome_client(&mut b)?)]),
            "the viewer's publishes reached a subscriber: {outcome}"
        );
        // The embedded broker refuses a filter the role cannot read (SUBACK 0x80); Mosquitto 2.0
        // grants it and delivers nothing the ACL does not allow (docs/broker.md).
        let granted = match s.kind() {
            BrokerKind::Embedded => serde_json::json!([1, 128]),
            BrokerKind::Mosquitto => serde_json::json!([1, 1]),
        };
        ensure!(
            outcome["granted"] == granted,
            "the viewer may read only its marker: {outcome}"
        );
        ensure!(
            outcome["agent"] == "online",
            "a forged status changed the agent: {outcome}"
        );
        let status = s.agent_status_as_alice()?;
        ensure!(
            status.contains("online"),
            "the agent's retained status was overwritten: {status}"
        );
        Ok(())
    }
}

fn outcome_client(b: &mut Browser) -> Result<String> {
    let id = b.eval("window.ankDashboard.conn.clientId")?;
    id.as_str()
        .map(str::to_owned)
        .context("the page's client id")
}

const MANIFEST_ONE: &str = r#"
apiVersion: v1
workloads:
  job:
    runtime: podman
    agent: $AGENT
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#;

/// The page's own model, yaml emitter and hostile-payload handling (`node --test`, no browser).
#[test]
fn issue_18_the_page_model_unit_tests_pass() {
    let dir = browser::dashboard_dir();
    let out = std::process::Command::new("node")
        .args(["--test", "test/unit/"])
        .current_dir(&dir)
        .output()
        .expect("node runs (Debian package nodejs)");
    assert!(
        out.status.success(),
        "node --test in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

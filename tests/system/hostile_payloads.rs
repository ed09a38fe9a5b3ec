//! Hostile payloads on every subscribed topic (issue 14 point 5 and its fuzz test): a client
//! with an ordinary login publishes malformed JSON, wrong types, strings up to the broker's packet
//! limit, 10,000-level nesting, random bytes and empty payloads, retained and not, to every topic
//! the controller, the agents and `ank get workloads --watch` subscribe to. The list comes from
//! the contract (`ank_schemas::Topics::*_subscriptions`), which the components subscribe through,
//! so a new subscription is fuzzed without touching this file.
//!
//! Afterwards every component is still online with the same epoch and never reconnected, the
//! desired state (and `state.json`) did not change, a new workload reaches Running, and the logs
//! grew by less than [`MAX_LOG_GROWTH`] with no line longer than [`MAX_LINE`].
//!
//! The publisher is a minimal MQTT 3.1.1 client over a `TcpStream` (CONNECT, QoS 1 PUBLISH,
//! DISCONNECT), so the test controls every byte and needs no async runtime. Each publish waits for
//! its PUBACK: the broker paces the barrage, and once the last PUBACK is in, every message is
//! queued for its subscribers ahead of anything the test sends later.

use ank_system_tests::manifests::long_running;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ank_schemas::{Topic, Topics};
use ank_system_tests::{on_both_brokers, Cluster};
use ank_testkit::blocking::wait_until;
use anyhow::{bail, ensure, Context, Result};

/// The most a component's log may grow during the barrage.
const MAX_LOG_GROWTH: u64 = 1024 * 1024;
/// The longest log line the barrage may cause.
const MAX_LINE: usize = 2 * 1024;
/// The embedded broker's packet limit (`Limits::max_packet_size`); huge payloads stay just below
/// it (topic and headers included), and Mosquitto gets the same ones.
const PACKET_LIMIT: usize = 1024 * 1024;
/// Nesting depth of the deeply nested payloads.
const DEPTH: usize = 10_000;
/// The barrage's bounds: it fails the test rather than run away.
const MAX_MESSAGES: usize = 5_000;
const BARRAGE_DEADLINE: Duration = Duration::from_secs(120);

/// A workload applied after the barrage: proof that everything still serves.
const AFTER: &str = r#"
apiVersion: v1
workloads:
  steady:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  later:
    runtime: podman
    agent: $B
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#;

on_both_brokers!(
    /// See the module docs.
    fn issue_14_hostile_payloads_on_every_subscribed_topic_keep_components_serving_with_bounded_logs(c) {
        c.apply(&long_running("steady"), &[])?.expect_ok()?;
        c.wait_state("steady", "Running(Ok)")?;
        let watch = c.ank_background(&["get", "workloads", "--watch"])?;
        let watch_pid = watch.pid();
        let watch_log = watch.log_path().to_path_buf();
        wait_until("the watch to show steady", Duration::from_secs(10), || Ok(read(&watch_log)), |t| t.contains("steady"))?;

        let before = Snapshot::take(c)?;
        let logs = component_logs(c, &watch_log);
        let sizes: Vec<u64> = logs.iter().map(|(_, p)| file_len(p)).collect();

        let barrage = barrage(c);
        ensure!(barrage.len() <= MAX_MESSAGES, "the barrage is bounded: {}", barrage.len());
        let started = Instant::now();
        let mut client = RawClient::connect(c.port(), &format!("fuzz-{}", c.id()))?;
        for (i, m) in barrage.iter().enumerate() {
            ensure!(started.elapsed() < BARRAGE_DEADLINE, "the barrage took too long ({i} sent)");
            client
                .publish(&m.topic, &m.payload, m.retain)
                .with_context(|| format!("publishing message {i} ({}) to {:.100}", m.kind, m.topic))?;
        }
        // Clear what was retained: an empty retained publish is one more hostile message, and
        // the broker keeps nothing that a later reader would trip over.
        let retained: BTreeSet<&str> = barrage.iter().filter(|m| m.retain).map(|m| m.topic.as_str()).collect();
        for topic in &retained {
            client.publish(topic, b"", true)?;
        }
        client.disconnect();
        eprintln!(
            "barrage: {} messages ({} MB) in {:.1} s",
            barrage.len() + retained.len(),
            barrage.iter().map(|m| m.payload.len()).sum::<usize>() / 1_000_000,
            started.elapsed().as_secs_f64()
        );

        // Nothing changed: the state request is queued behind the barrage at the controller.
        let unchanged = Snapshot::take(c)?;
        ensure!(unchanged == before, "nothing changed:\n{before:#?}\n→\n{unchanged:#?}");

        // Serving: the apply is queued behind the barrage at the controller, and agent B's new
        // snapshot behind everything sent to B.
        c.apply(AFTER, &[])?.expect_ok()?;
        c.wait_state("later", "Running(Ok)")?;
        wait_until("the watch to show later running", Duration::from_secs(30), || Ok(read(&watch_log)), |t| t.contains("later") && t.contains("Running(Ok)"))?;
        ensure!(is_alive(watch_pid), "ank get workloads --watch is still running");
        let after = Snapshot::take(c)?;
        ensure!(after.epochs == before.epochs, "same epochs (no restart): {:?} → {:?}", before.epochs, after.epochs);
        ensure!(after.containers == before.containers, "steady's container was not touched");

        let mut problems = Vec::new();
        for ((name, path), size) in logs.iter().zip(sizes) {
            let grown = read_from(path, size);
            let longest = grown.lines().map(str::len).max().unwrap_or(0);
            eprintln!("{name}: log grew by {} bytes, longest line {longest} bytes", grown.len());
            if grown.len() as u64 >= MAX_LOG_GROWTH {
                problems.push(format!("{name}'s log grew by {} bytes", grown.len()));
            }
            if longest > MAX_LINE {
                problems.push(format!("{name} logged a line of {longest} bytes"));
            }
            for line in grown.lines() {
                if line.contains("reconnect") || line.contains("lost the broker") || line.contains("panicked") {
                    problems.push(format!("{name}: {:.300}", line));
                }
            }
        }
        ensure!(problems.is_empty(), "after the barrage:\n{}", problems.join("\n"));
        Ok(())
    }
);

/// What must not change: the desired state, `state.json`, who is online with which epoch.
#[derive(Debug, PartialEq)]
struct Snapshot {
    desired: String,
    state_file: Vec<u8>,
    epochs: Vec<(String, Option<u64>)>,
    containers: Vec<String>,
}

impl Snapshot {
    fn take(c: &mut Cluster) -> Result<Self> {
        let out = c.ank(&["get", "state", "-o", "json", "desiredState"])?;
        out.expect_ok()?;
        let state_path = c.dir().join("controller").join("state.json");
        let state_file = std::fs::read(&state_path)
            .with_context(|| format!("reading {}", state_path.display()))?;
        let mut epochs = Vec::new();
        let mut names = vec![("controller".to_owned(), c.topics().controller_status())];
        for agent in [c.a().to_owned(), c.b().to_owned()] {
            let topic = c.topics().agent_status(&agent);
            names.push((agent, topic));
        }
        for (name, topic) in names {
            let status = last_status(c, &topic).with_context(|| format!("no status of {name}"))?;
            ensure!(status["state"] == "online", "{name} is online: {status}");
            epochs.push((name, status["epoch"].as_u64()));
        }
        let a = c.a().to_owned();
        let containers = c
            .containers(&a, "steady")?
            .into_iter()
            .map(|k| k.id)
            .collect();
        Ok(Self {
            desired: out.stdout.clone(),
            state_file,
            epochs,
            containers,
        })
    }
}

/// The last status on `topic` that its writer published: the barrage also publishes garbage
/// there (not retained), which the reader records as well.
fn last_status(c: &Cluster, topic: &str) -> Option<serde_json::Value> {
    c.bus_messages()
        .into_iter()
        .rev()
        .filter(|m| m.topic == topic)
        .map(|m| m.json())
        .find(|j| j["state"].is_string() && j["epoch"].is_u64())
}

/// One message of the barrage.
struct Hostile {
    kind: &'static str,
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

/// One concrete topic the barrage hits.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    topic: String,
    /// Whether a retained publish is fair here: no legitimate retained writer in this cluster,
    /// so nothing the test asserts on is overwritten.
    retain: bool,
    /// Whether the megabyte payloads go here: once per subscribed filter.
    huge: bool,
}

/// Every concrete topic of every subscribed filter; see [`Target`].
fn targets(c: &Cluster) -> Vec<Target> {
    let topics = c.topics();
    let agents = [c.a().to_owned(), c.b().to_owned()];
    let mut filters: Vec<String> = topics.controller_subscriptions();
    for agent in &agents {
        filters.extend(topics.agent_subscriptions(agent));
    }
    filters.extend(topics.agent_watches());
    filters.extend(topics.cli_watch_subscriptions());
    let filters: BTreeSet<String> = filters.into_iter().collect();

    // Names for a `+` level: a fresh valid name, a real agent (live only), and names that break
    // the name rules (a 5,000-character one, a dot, non-ASCII), which no parser may accept.
    let long = "n".repeat(5_000);
    let fills: Vec<(&str, bool)> = vec![
        ("fuzz_x", true),
        (agents[0].as_str(), false),
        (long.as_str(), true),
        ("a.b", true),
        ("ünï", true),
    ];
    let mut out = BTreeSet::new();
    for filter in &filters {
        if filter.contains('+') {
            for (i, (fill, retain)) in fills.iter().enumerate() {
                out.insert(Target {
                    topic: filter.replace('+', fill),
                    retain: *retain,
                    huge: i == 0,
                });
            }
        } else {
            let retain = retained_is_fair(topics, filter, &agents);
            out.insert(Target {
                topic: filter.clone(),
                retain,
                huge: true,
            });
        }
    }
    out.into_iter().collect()
}

/// A retained publish to a concrete topic is fair unless a component owns that retained topic.
fn retained_is_fair(topics: &Topics, topic: &str, agents: &[String]) -> bool {
    match topics.parse(topic) {
        Some(Topic::ControllerStatus | Topic::DesiredState) => false,
        Some(Topic::AgentDesired { agent } | Topic::AgentStatus { agent }) => {
            !agents.contains(&agent)
        }
        Some(Topic::WorkloadState { agent, .. }) => !agents.contains(&agent),
        _ => true,
    }
}

/// The whole barrage: every small payload to every target (retained too where fair), and the
/// huge ones once to each distinct filter's fresh-name topic.
fn barrage(c: &Cluster) -> Vec<Hostile> {
    let small = small_payloads();
    let mut out = Vec::new();
    for target in targets(c) {
        for (kind, payload) in &small {
            out.push(Hostile {
                kind,
                topic: target.topic.clone(),
                payload: payload.clone(),
                retain: false,
            });
            if target.retain {
                out.push(Hostile {
                    kind,
                    topic: target.topic.clone(),
                    payload: payload.clone(),
                    retain: true,
                });
            }
        }
        if target.huge {
            for (kind, payload) in huge_payloads(PACKET_LIMIT - 2 * 1024 - target.topic.len()) {
                out.push(Hostile {
                    kind,
                    topic: target.topic.clone(),
                    payload,
                    retain: false,
                });
            }
        }
    }
    out
}

/// Malformed JSON, wrong types, random bytes, deep nesting and empty payloads.
fn small_payloads() -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> = [
        ("empty", &b""[..]),
        ("not json", b"not json at all"),
        ("truncated object", b"{\"state\": \"Running\", "),
        ("truncated array", b"[1, 2, "),
        ("trailing garbage", b"{} {}"),
        ("nul bytes", b"{\"a\":\"\0\0\"}\0"),
        ("invalid utf-8", &[0xff, 0xfe, b'{', 0x80, b'}']),
        ("lone surrogate", br#"{"id":"\ud800","replyTo":"fuzzer"}"#),
        ("number", b"42"),
        ("string", b"\"x\""),
        ("null", b"null"),
        ("bool", b"true"),
        ("array", b"[]"),
        ("object", b"{}"),
        (
            "status types",
            br#"{"state":5,"epoch":"yesterday","since":[]}"#,
        ),
        (
            "state types",
            br#"{"instanceId":{},"state":[],"observedGeneration":-1}"#,
        ),
        ("snapshot types", br#"{"generation":"1","workloads":[1,2]}"#),
        ("request types", br#"{"id":7,"replyTo":["a"]}"#),
        (
            "unknown op",
            br#"{"id":"f1","replyTo":"fuzzer","op":{"type":"nonsense"}}"#,
        ),
        (
            "op types",
            br#"{"id":"f2","replyTo":"fuzzer","setState":5,"updateMask":{}}"#,
        ),
        (
            "log request types",
            br#"{"clientId":5,"instanceIds":"x","follow":"yes"}"#,
        ),
        (
            "log event types",
            br#"{"type":"line","instanceId":3,"line":5}"#,
        ),
        (
            "huge numbers",
            br#"{"generation":1e400,"epoch":-18446744073709551617}"#,
        ),
        ("escapes", b"\"\\u001b[31mred\\n\\r\\u0000\""),
    ]
    .into_iter()
    .map(|(k, p)| (k, p.to_vec()))
    .collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for len in [1, 7, 64, 255, 1000, 4096] {
        out.push(("random bytes", (0..len).map(|_| rng.next() as u8).collect()));
    }
    out.push((
        "deep arrays",
        format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)).into_bytes(),
    ));
    out.push((
        "deep objects",
        format!("{}1{}", "{\"a\":".repeat(DEPTH), "}".repeat(DEPTH)).into_bytes(),
    ));
    out.push(("deep unclosed", "[".repeat(DEPTH).into_bytes()));
    out
}

/// Payloads of `size` bytes whose decoding errors quote the input (the 900 KB log lines).
fn huge_payloads(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let h = |n: usize| "h".repeat(n);
    vec![
        (
            "huge bare string",
            format!("\"{}\"", h(size - 2)).into_bytes(),
        ),
        (
            "huge enum value",
            format!("{{\"state\":\"{}\"}}", h(size - 12)).into_bytes(),
        ),
        (
            "huge key",
            format!("{{\"{}\":1}}", h(size - 6)).into_bytes(),
        ),
        (
            "huge request id",
            format!(
                "{{\"id\":\"{}\",\"replyTo\":\"fuzzer\",\"op\":\"{}\"}}",
                h(size / 2 - 40),
                h(size / 2 - 40)
            )
            .into_bytes(),
        ),
    ]
}

/// A tiny deterministic PRNG: the barrage is the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A minimal MQTT 3.1.1 publisher: CONNECT (clean session), QoS 1 PUBLISH waiting for each
/// PUBACK, DISCONNECT.
struct RawClient {
    stream: TcpStream,
    next_id: u16,
}

impl RawClient {
    fn connect(port: u16, client_id: &str) -> Result<Self> {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).context("connecting the fuzzer")?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        let mut body = Vec::new();
        put_str(&mut body, "MQTT");
        body.extend_from_slice(&[4, 0x02, 0, 240]); // level 4, clean session, keep-alive 240 s
        put_str(&mut body, client_id);
        stream.write_all(&packet(0x10, &body))?;
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).context("reading CONNACK")?;
        if connack[0] != 0x20 || connack[3] != 0 {
            bail!("the broker refused the fuzzer: CONNACK {connack:?}");
        }
        Ok(Self { stream, next_id: 1 })
    }

    fn publish(&mut self, topic: &str, payload: &[u8], retain: bool) -> Result<()> {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        let mut body = Vec::with_capacity(topic.len() + payload.len() + 4);
        put_str(&mut body, topic);
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(payload);
        let header = 0x32 | u8::from(retain); // PUBLISH, QoS 1
        self.stream
            .write_all(&packet(header, &body))
            .context("sending PUBLISH")?;
        let mut ack = [0u8; 4];
        self.stream
            .read_exact(&mut ack)
            .context("reading PUBACK (did the broker drop us?)")?;
        if ack[0] != 0x40 || u16::from_be_bytes([ack[2], ack[3]]) != id {
            bail!("expected PUBACK {id}, got {ack:?}");
        }
        Ok(())
    }

    fn disconnect(mut self) {
        let _ = self.stream.write_all(&[0xe0, 0]);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
}

/// A fixed header with MQTT's variable-length remaining length, then `body`.
fn packet(header: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![header];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// The logs whose growth is bounded: the controller, both agents and the watching CLI.
fn component_logs(c: &Cluster, watch_log: &Path) -> Vec<(String, PathBuf)> {
    let logs = c.dir().join("logs");
    vec![
        ("controller".to_owned(), logs.join("controller.log")),
        (
            format!("agent {}", c.a()),
            logs.join(format!("agent-{}.log", c.a())),
        ),
        (
            format!("agent {}", c.b()),
            logs.join(format!("agent-{}.log", c.b())),
        ),
        (
            "ank get workloads --watch".to_owned(),
            watch_log.to_path_buf(),
        ),
    ]
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn read(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// What `path` holds after its first `from` bytes.
fn read_from(path: &Path, from: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// Whether process `pid` runs (exists and is not a zombie).
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

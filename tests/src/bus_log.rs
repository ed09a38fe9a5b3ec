//! A third-party MQTT reader: `mosquitto_sub` subscribed to `<prefix>/#` for the whole life of a
//! cluster, writing every message with its arrival time to a file.
//!
//! It plays the dashboard the design promises ("any MQTT client reads those topics"), gives the
//! scenarios timestamps and payloads the CLI does not print (`exitCode`, `restartCount`), and is
//! the first log worth reading when a scenario fails. `mosquitto_sub` reconnects and resubscribes
//! by itself when its broker restarts.

use anyhow::{Context, Result};

/// One message the reader received.
#[derive(Debug, Clone, PartialEq)]
pub struct BusMessage {
    /// Arrival time, Unix seconds with fractions.
    pub at: f64,
    /// Whether the broker delivered it as a stored retained message.
    pub retained: bool,
    /// The topic.
    pub topic: String,
    /// The payload as text; empty for a cleared retained topic.
    pub payload: String,
}

impl BusMessage {
    /// The payload as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

/// The `mosquitto_sub -F` format that [`parse`] reads: time, retain flag, topic, payload.
pub const FORMAT: &str = "%U %r %t %p";

/// Parses the reader's file; a line that does not fit (e.g. a connection error message) is
/// skipped.
pub fn parse(text: &str) -> Vec<BusMessage> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ' ');
            let at = parts.next()?.parse().ok()?;
            let retained = match parts.next()? {
                "1" => true,
                "0" => false,
                _ => return None,
            };
            let topic = parts.next()?.to_owned();
            let payload = parts.next().unwrap_or("").to_owned();
            Some(BusMessage {
                at,
                retained,
                topic,
                payload,
            })
        })
        .collect()
}

/// The arguments of `mosquitto_sub` that record everything under `prefix` from `port`.
pub fn subscriber_args(port: u16, prefix: &str, client_id: &str) -> Vec<String> {
    [
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-i",
        client_id,
        "-q",
        "1",
        "-F",
        FORMAT,
        "-t",
        &format!("{prefix}/#"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Reads and parses the reader's file.
pub fn read(path: &std::path::Path) -> Result<Vec<BusMessage>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse(&String::from_utf8_lossy(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_spaces_in_payloads_and_empty_payloads() {
        let text = "1795700681.240404775 1 x/a {\"a\": \"b c\"}\n\
                    1795700681.244339159 0 x/a \n\
                    Error: Connection refused\n";
        let msgs = parse(text);
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].retained);
        assert_eq!(msgs[0].payload, "{\"a\": \"b c\"}");
        assert_eq!(msgs[1].payload, "");
        assert_eq!(msgs[1].topic, "x/a");
    }
}

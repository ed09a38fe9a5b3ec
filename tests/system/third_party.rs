//! A third-party MQTT reader (`mosquitto_sub -v -t '<prefix>/#'`) sees the same workload states
//! that `ank get workloads` prints: the bus is the API (issue 7; DESIGN.md "Topic tree").

use std::collections::BTreeSet;
use std::time::Duration;

use ank_system_tests::on_both_brokers;
use ank_testkit::blocking::wait_until;
use anyhow::ensure;

on_both_brokers!(
    /// The retained state topics, decoded by hand, give the same (name, agent, state, info) rows
    /// as the CLI's table.
    fn a_plain_mqtt_reader_sees_what_ank_prints(c) {
        c.apply(
            r#"
apiVersion: v1
workloads:
  runner:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  done:
    runtime: podman
    agent: $B
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["true"]
  oops:
    runtime: podman
    agent: $B
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "exit 2"]
"#,
            &[],
        )?
        .expect_code(3)?;
        let table: BTreeSet<(String, String, String, String)> = c
            .table()?
            .into_iter()
            .map(|r| (r.name, r.agent, r.state, r.info))
            .collect();
        ensure!(table.len() == 3, "{table:?}");

        let prefix = c.prefix().to_owned();
        let from_bus = || {
            // The last payload per topic, as any MQTT client keeps it.
            let mut last = std::collections::BTreeMap::new();
            for m in c.bus_messages() {
                last.insert(m.topic.clone(), m);
            }
            let mut rows = BTreeSet::new();
            for (topic, m) in last {
                let parts: Vec<&str> = topic
                    .strip_prefix(&format!("{prefix}/agents/"))
                    .unwrap_or("")
                    .split('/')
                    .collect();
                if let [agent, "workloads", name, "state"] = parts[..] {
                    let v = m.json();
                    if v.is_null() {
                        continue;
                    }
                    let state = format!("{}({})", v["state"].as_str().unwrap_or(""), v["subState"].as_str().unwrap_or(""));
                    let info = v["additionalInfo"].as_str().unwrap_or("").to_owned();
                    rows.insert((name.to_owned(), agent.to_owned(), state, info));
                }
            }
            Ok(rows)
        };
        let seen = wait_until("the reader to hold the same rows", Duration::from_secs(5), from_bus, |rows| *rows == table);
        seen?;
        Ok(())
    }
);

use ank_cli::commands::get::state::{read_masks, selected_state, write_state};
use ank_cli::commands::get::workloads::{rows, GetWorkloadsArgs};
use ank_cli::live::{progress_rows, KnownRuntimes};
use ank_cli::output::document::{write_stream_item, Format};
use ank_cli::output::rows::{agent_rows, config_rows};
use ank_cli::output::table::{self, Row};
use ank_cli::state_diff::event;
use ank_cli::wait::{outcome, Expected};
use ank_schemas::Topics;

use crate::fixture::{id, snapshot, view, NGINX_CONFIG};

fn table<R: Row>(rows: &[R], width: Option<usize>) -> String {
    let mut out = Vec::new();
    table::render(&mut out, rows, width).expect("in memory");
    String::from_utf8(out).expect("utf-8")
}

fn workloads(agent: Option<&str>, state: Option<&str>, names: &[&str]) -> GetWorkloadsArgs {
    GetWorkloadsArgs {
        agent: agent.map(str::to_owned),
        state: state.map(|s| s.parse().expect("a state filter")),
        watch: false,
        names: names.iter().map(|n| (*n).to_owned()).collect(),
    }
}

#[test]
fn get_workloads_tables() {
    let v = view();
    // (snapshot, args, terminal width)
    let cases = [
        ("workloads_all", workloads(None, None, &[]), None),
        (
            "workloads_agent_a",
            workloads(Some("agent_A"), None, &[]),
            None,
        ),
        (
            "workloads_state_running",
            workloads(None, Some("running"), &[]),
            None,
        ),
        (
            "workloads_state_full_text",
            workloads(None, Some("Failed(ExecFailed)"), &[]),
            None,
        ),
        (
            "workloads_state_lower_case",
            workloads(None, Some("agentdisconnected"), &[]),
            None,
        ),
        (
            "workloads_by_name",
            workloads(None, None, &["nginx", "parked"]),
            None,
        ),
        (
            "workloads_wrapped_to_60_columns",
            workloads(None, None, &[]),
            Some(60),
        ),
    ];
    for (name, args, width) in cases {
        snapshot(name, &table(&rows(&v, &args), width));
    }
}

#[test]
fn get_agents_and_configs_tables() {
    let v = view();
    snapshot("agents", &table(&agent_rows(&v), None));
    snapshot("configs", &table(&config_rows(&v), None));
}

#[test]
fn get_state_documents() {
    let v = view();
    // (snapshot, masks, format)
    let cases: [(&str, &[&str], Format); 5] = [
        ("state_yaml", &[], Format::Yaml),
        ("state_json", &[], Format::Json),
        (
            "state_mask_one_workload",
            &["desiredState.workloads.nginx"],
            Format::Yaml,
        ),
        (
            "state_mask_wildcard",
            &["workloadStates.*.nginx", "agents.*.status"],
            Format::Yaml,
        ),
        (
            "state_mask_missing_is_skipped",
            &["desiredState.workloads.nope", "desiredState.configs"],
            Format::Json,
        ),
    ];
    for (name, masks, format) in cases {
        let masks: Vec<String> = masks.iter().map(|m| (*m).to_owned()).collect();
        let state = selected_state(&v, &read_masks(&masks).expect("masks")).expect("state");
        let mut out = Vec::new();
        write_state(&mut out, &state, format).expect("in memory");
        snapshot(name, &String::from_utf8(out).expect("utf-8"));
    }
}

#[test]
fn get_events_documents() {
    let before = view();
    let mut after = view();
    let topics = Topics::default();
    let nginx = id("nginx", "agent_A", NGINX_CONFIG);
    after.apply(
        &topics,
        &ank_bus::Message {
            topic: topics.workload_state("agent_A", "nginx"),
            payload: serde_json::to_vec(&serde_json::json!({
                "instanceId": nginx.to_string(), "state": "Succeeded", "subState": "Ok",
                "observedGeneration": 3}))
            .expect("json"),
            retain: false,
        },
    );
    after.apply(
        &topics,
        &ank_bus::Message {
            topic: topics.workload_state("agent_A", "db"),
            payload: Vec::new(),
            retain: false,
        },
    );
    let masks = read_masks(&["workloadStates".to_owned()]).expect("masks");
    let old = selected_state(&before, &masks).expect("state");
    let new = selected_state(&after, &masks).expect("state");
    let e = event(&old, &new, "2025-05-01T10:00:09.000Z".into()).expect("a change");
    for (name, format) in [("events_yaml", Format::Yaml), ("events_json", Format::Json)] {
        let mut out = Vec::new();
        write_stream_item(&mut out, &e, format).expect("in memory");
        write_stream_item(&mut out, &e, format).expect("in memory");
        snapshot(name, &String::from_utf8(out).expect("utf-8"));
    }
}

#[test]
fn the_final_table_of_a_wait() {
    let v = view();
    let nginx = id("nginx", "agent_A", NGINX_CONFIG);
    let db = id("db", "agent_A", crate::fixture::DB_CONFIG);
    let gone = id("old", "agent_A", "image: old");
    let expected = Expected::new(3, &[nginx, db], &[gone]);
    let o = outcome(&expected, &v);
    assert!(matches!(o, ank_cli::wait::WaitOutcome::Failed(_)), "{o:?}");
    snapshot(
        "wait_final_table",
        &table(&progress_rows(&KnownRuntimes::from(&v), o.progress()), None),
    );
}

#[test]
fn issue_16_during_an_update_both_instances_are_listed_the_new_one_pending_initial() {
    // Ankaios 1.0.1 while an update stops the old container: `ank get workloads` lists the old
    // instance `Stopping(RequestedAtRuntime)` and the new one `Pending(Initial)`, and `get state`
    // has both under workloadStates. ankmq listed the old one only.
    let topics = Topics::default();
    let mut view = view();
    let old = id("nginx", "agent_A", NGINX_CONFIG);
    let new_config = "image: docker.io/library/nginx:2";
    let new = id("nginx", "agent_A", new_config);
    let db = id("db", "agent_A", crate::fixture::DB_CONFIG);
    let message = |topic: String, payload: serde_json::Value| ank_bus::Message {
        topic,
        payload: serde_json::to_vec(&payload).expect("json"),
        retain: true,
    };
    view.apply(
        &topics,
        &message(
            topics.agent_desired("agent_A"),
            serde_json::json!({"generation": 4, "workloads": {
                "nginx": {"instanceId": new.to_string(), "runtime": "podman", "runtimeConfig": new_config},
                "db": {"instanceId": db.to_string(), "runtime": "podman", "runtimeConfig": crate::fixture::DB_CONFIG}}}),
        ),
    );
    view.apply(
        &topics,
        &message(
            topics.workload_state("agent_A", "nginx"),
            serde_json::json!({"instanceId": old.to_string(), "state": "Stopping",
                "subState": "RequestedAtRuntime", "additionalInfo": "", "observedGeneration": 4}),
        ),
    );
    let nginx: Vec<(String, String)> = view
        .instances()
        .into_iter()
        .filter(|i| i.id.workload == "nginx")
        .map(|i| (i.id.hash.clone(), i.state.to_string()))
        .collect();
    let mut expected = vec![
        (old.hash.clone(), "Stopping(RequestedAtRuntime)".to_owned()),
        (new.hash.clone(), "Pending(Initial)".to_owned()),
    ];
    expected.sort();
    assert_eq!(nginx, expected);
    let state = view.complete_state();
    assert_eq!(state.workload_states["agent_A"]["nginx"].len(), 2);
}

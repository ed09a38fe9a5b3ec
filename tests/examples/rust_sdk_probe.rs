//! A small SDK app built with the unchanged crate `ankaios_sdk` 1.1.x, the way a vehicle app
//! would use it; `tests/system/control_interface` runs it inside a podman workload (the host's
//! `/usr` mounted read-only into the busybox test image) and reads what it prints:
//! "STEP <name> ok <detail>" or "STEP <name> FAIL <detail>", then "STEPS done" (issue 15).
//! `cargo test -p ank-system-tests` builds it (examples are built with the tests).

use std::time::Duration;

use ankaios_sdk::{Ankaios, Workload};

#[tokio::main]
async fn main() {
    let agent = std::env::var("HELPER_AGENT").unwrap_or_default();
    let image = std::env::var("HELPER_IMAGE").unwrap_or_default();
    let mut ank = match Ankaios::builder().control_interface().connect().await {
        Ok(ank) => {
            println!("STEP connect ok");
            ank
        }
        Err(e) => {
            println!("STEP connect FAIL {e}");
            return;
        }
    };
    let config = format!(
        "image: {image}\ncommandArgs: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n"
    );
    let workload = Workload::builder()
        .workload_name("rhelper")
        .agent_name(agent)
        .runtime("podman")
        .restart_policy("NEVER")
        .runtime_config(config)
        .build();
    match workload {
        Ok(workload) => match ank.apply_workload(workload).await {
            Ok(success) => {
                let added: Vec<String> = success
                    .added_workloads
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                println!("STEP apply ok {added:?}");
            }
            Err(e) => println!("STEP apply FAIL {e}"),
        },
        Err(e) => println!("STEP apply FAIL {e}"),
    }
    match ank.get_state(vec!["workloadStates".to_owned()]).await {
        Ok(state) => {
            let states = state.get_workload_states().as_list();
            let names: Vec<String> = states
                .iter()
                .map(|s| s.workload_instance_name.workload_name.clone())
                .collect();
            println!("STEP get_state ok {names:?}");
        }
        Err(e) => println!("STEP get_state FAIL {e}"),
    }
    match ank.get_state(vec!["desiredState.configs".to_owned()]).await {
        Ok(_) => println!("STEP refused_read FAIL accepted"),
        Err(e) if e.to_string().contains("Access denied") => println!("STEP refused_read ok {e}"),
        Err(e) => println!("STEP refused_read FAIL {e}"),
    }
    println!("STEPS done");
    // Stay up like an app would, until the workload is deleted.
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

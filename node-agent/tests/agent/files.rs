//! Workload files hold secrets (issue 13): private on the host, readable in the container by
//! whatever user the workload runs as.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use ank_schemas::{FileContent, RestartPolicy, WorkloadFile};

use crate::harness::*;

#[tokio::test]
async fn issue_13_a_secret_file_is_private_on_the_host_and_readable_by_a_non_root_workload() {
    let env = Env::start("secret").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let config = format!(
        "image: {}\ncommandOptions: [\"--user\", \"1000:1000\"]\ncommandArgs: [\"sh\", \"-c\", \"test $(id -u) = 1000 && grep -q s3cret /etc/app/secret.conf\"]\n",
        ank_system_tests::podman::test_image()
    );
    let files = vec![WorkloadFile {
        mount_point: "/etc/app/secret.conf".into(),
        content: FileContent::Data("password=s3cret".into()),
    }];
    let w = workload(
        "reader",
        &name,
        "podman",
        &config,
        RestartPolicy::Never,
        files,
    );
    ctl.publish(&name, &[&w]).await;
    let state = ctl
        .wait_state(&name, "reader", "reader ended", |p| {
            p.state.to_string().starts_with("Succeeded")
                || p.state.to_string().starts_with("Failed")
        })
        .await;
    assert_eq!(
        state.state.to_string(),
        "Succeeded(Ok)",
        "uid 1000 in the container read the file: {state:?}"
    );

    let io = env.config(&name).io_folder();
    let mode = std::fs::metadata(&io).expect("the io folder").mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", io.display());
    let file = io
        .join(format!("reader.{}", w.instance_id.hash))
        .join("files/etc/app/secret.conf");
    assert!(file.is_file(), "{}", file.display());
    // Another host user (nobody) cannot read it.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(&file)
        .output()
        .expect("setpriv (util-linux) runs");
    assert!(
        !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("s3cret"),
        "nobody read the secret: {out:?}"
    );
    agent.stop().await;
}

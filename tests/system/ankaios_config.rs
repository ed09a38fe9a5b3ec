//! Ankaios' own config files, as its documentation writes them (reference §6), are accepted by
//! the three binaries (issue 16 point 3): every key with a meaning here is used, gRPC-only ones
//! are warned about once. Only the test's broker port comes from a flag: an Ankaios file names a
//! gRPC server, which is no MQTT broker.

use ank_system_tests::on_both_brokers;
use anyhow::{ensure, Context};

/// ank-server.conf: the startup manifest is read from it.
fn server_conf(manifest: &str) -> String {
    format!(
        "version = 'v1'\nstartup_manifest = '{manifest}'\naddress = '127.0.0.1:25551'\n\
         insecure = true\n"
    )
}

/// ank-agent.conf: Ankaios' default runtimes list names containerd.
fn agent_conf(name: &str, run_folder: &str) -> String {
    format!(
        "version = 'v1'\nname = '{name}'\nserver_url = 'https://127.0.0.1:25551'\n\
         run_folder = '{run_folder}'\ninsecure = true\n\
         runtimes = [\"podman\", \"containerd\", \"podman-kube\"]\n\n[tags]\nlocation = 'on-car'\n"
    )
}

/// ank.conf, at Ankaios' default place ($HOME/.config/ankaios/ank.conf).
const ANK_CONF: &str = "version = 'v1'\nresponse_timeout = 3000\nverbose = false\nquiet = false\n\
    no_wait = false\n\n[default]\nserver_url = 'https://127.0.0.1:25551'\ninsecure = true\n";

const STARTUP: &str = r#"
apiVersion: v1
workloads:
  from_startup:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
"#;

on_both_brokers!(
    /// The controller starts from ank-server.conf's startup manifest, agent A from
    /// ank-agent.conf runs it, and `ank` reads its ank.conf from Ankaios' default place.
    fn issue_16_ankaios_config_files_are_accepted_as_they_come(c) {
        let dir = c.dir().to_owned();
        let manifest = c.write_manifest(STARTUP)?;
        let server = dir.join("ank-server.conf");
        std::fs::write(&server, server_conf(&manifest.display().to_string()))?;
        c.stop_controller()?;
        // The persisted (empty) state would win over the startup manifest.
        let server_arg = server.display().to_string();
        c.start_controller_with(&["-x", &server_arg, "--reset-state"])?;

        let a = c.a().to_owned();
        let agent = dir.join("ank-agent.conf");
        let run = dir.join("run").display().to_string();
        std::fs::write(&agent, agent_conf(&a, &run))?;
        c.kill_agent(&a)?;
        let agent_arg = agent.display().to_string();
        c.start_agent_with(&a, &["--agent-config", &agent_arg])?;

        let ankaios_dir = dir.join(".config/ankaios");
        std::fs::create_dir_all(&ankaios_dir)?;
        std::fs::write(ankaios_dir.join("ank.conf"), ANK_CONF)?;
        c.wait_state("from_startup", "Running(Ok)")?;
        let out = c.ank(&["get", "workloads"])?;
        out.expect_ok()?;
        ensure!(out.stdout.contains("from_startup"), "{out}");
        ensure!(
            out.stderr.contains("server_url") && out.stderr.contains("ignored"),
            "ank warns about the gRPC-only server_url: {out}"
        );

        let log = |name: &str| {
            std::fs::read_to_string(dir.join("logs").join(format!("{name}.log")))
                .with_context(|| format!("reading the {name} log"))
        };
        let controller = log("controller")?;
        ensure!(
            controller.contains("config key `address` ignored"),
            "the controller warns about `address`"
        );
        let agent_log = log(&format!("agent-{a}"))?;
        ensure!(
            agent_log.contains("runtime `containerd` ignored"),
            "the agent warns about containerd"
        );
        Ok(())
    }
);

//! The whole slice under mutual TLS on the embedded broker (issue 13): the controller takes
//! Ankaios-style server PEMs, the agent and `ank` connect with certificates naming their
//! identities, a workload runs on real podman; a CLI user's certificate cannot act as the
//! controller, and no plain listener is open. Started by hand rather than with `Cluster`: the
//! cluster's recorder and readers use the plain listener this test proves closed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ank_system_tests::binaries::{self, Binary};
use ank_system_tests::certs::Ca;
use ank_system_tests::daemon::Daemon;
use ank_system_tests::mosquitto::free_port;
use ank_testkit::blocking::wait_for;
use anyhow::{ensure, Context, Result};

fn command(binary: Binary) -> Result<Command> {
    let mut command = Command::new(binaries::path(binary)?);
    command
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env("HOME", "/nonexistent")
        .env(
            "CONTAINERS_CONF",
            ank_system_tests::podman::containers_conf()?,
        );
    for var in [
        "ANK_BROKER",
        "ANK_CONFIG",
        "ANK_USERNAME",
        "ANK_TOPIC_PREFIX",
    ] {
        command.env_remove(var);
    }
    Ok(command)
}

/// `ank` over mTLS with `identity`'s certificate, as `user` when given.
fn ank(
    dir: &Path,
    url: &str,
    prefix: &str,
    identity: &str,
    user: Option<&str>,
    args: &[&str],
) -> Result<std::process::Output> {
    let mut c = command(Binary::Ank)?;
    c.args(["--broker", url, "--topic-prefix", prefix])
        .arg("--ca-pem")
        .arg(dir.join("ca.pem"))
        .arg("--crt-pem")
        .arg(dir.join(format!("{identity}.pem")))
        .arg("--key-pem")
        .arg(dir.join(format!("{identity}.key")));
    if let Some(user) = user {
        c.args(["--username", user]);
    }
    c.args(args).output().context("running ank")
}

#[test]
fn issue_13_the_slice_works_under_mutual_tls_and_identities_come_from_certificates() {
    if let Err(e) = scenario() {
        panic!("{e:#}");
    }
}

fn scenario() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let id = format!("mtls{}", std::process::id());
    let agent = format!("{id}_A");
    let prefix = format!("systest/{id}/ank/v1");
    let ca = Ca::new(dir, "ca")?;
    ca.issue_server("server")?;
    let cli = "alice";
    for identity in ["controller", &format!("agent-{agent}"), cli] {
        ca.issue_client(identity)?;
    }
    let (plain_port, tls_port) = (free_port()?, free_port()?);
    let url = format!("mqtts://127.0.0.1:{tls_port}");
    let manifest = dir.join("state.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nworkloads:\n  secure:\n    runtime: podman\n    agent: {agent}\n    \
             runtimeConfig: |\n      image: {}\n      commandArgs: {}\n",
            ank_system_tests::podman::test_image(),
            ank_system_tests::cluster::LONG_RUNNER
        ),
    )?;
    let mut controller = command(Binary::Controller)?;
    controller
        .args(["--state-dir"])
        .arg(dir.join("state"))
        .args(["--topic-prefix", &prefix, "-m"])
        .arg(&manifest)
        .args(["--listen", &format!("127.0.0.1:{plain_port}")])
        .args(["--tls-listen", &format!("127.0.0.1:{tls_port}")])
        .arg("--ca-pem")
        .arg(dir.join("ca.pem"))
        .arg("--crt-pem")
        .arg(dir.join("server.pem"))
        .arg("--key-pem")
        .arg(dir.join("server.key"));
    let controller_log = dir.join("controller.log");
    let _controller = Daemon::spawn("ank-controller", controller, &controller_log)?;
    wait_for(
        "the controller's TLS listener",
        Duration::from_secs(20),
        || {
            Ok(std::net::TcpStream::connect(("127.0.0.1", tls_port))
                .ok()
                .map(drop))
        },
    )?;
    let mut agent_cmd = command(Binary::Agent)?;
    agent_cmd
        .args([
            "--name",
            &agent,
            "--broker",
            &url,
            "--topic-prefix",
            &prefix,
        ])
        .arg("--run-folder")
        .arg(dir.join("run"))
        .arg("--ca-pem")
        .arg(dir.join("ca.pem"))
        .arg("--crt-pem")
        .arg(dir.join(format!("agent-{agent}.pem")))
        .arg("--key-pem")
        .arg(dir.join(format!("agent-{agent}.key")));
    let _agent = Daemon::spawn("ank-agent", agent_cmd, &dir.join("agent.log"))?;
    let _cleanup = Cleanup(agent.clone());

    let result = (|| {
        wait_for(
            "the workload to run under mTLS",
            Duration::from_secs(60),
            || {
                // ank's client id is `<user>.<random>`: the user is the certificate's name.
                let out = ank(dir, &url, &prefix, cli, Some(cli), &["get", "workloads"])?;
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                Ok(stdout.contains("Running(Ok)").then_some(()))
            },
        )?;
        let log = std::fs::read_to_string(&controller_log)?;
        ensure!(
            log.contains("plain MQTT off (TLS is configured")
                && log.contains(&format!("MQTT over TLS on 127.0.0.1:{tls_port}")),
            "the start-up line says what listens where"
        );
        // alice's certificate with the user name `controller`: refused at CONNECT.
        let forged = ank(
            dir,
            &url,
            &prefix,
            cli,
            Some("controller"),
            &["get", "workloads"],
        )?;
        ensure!(
            forged.status.code() == Some(1),
            "alice as controller: {forged:?}"
        );
        // No plain listener: nothing listens on --listen.
        ensure!(
            std::net::TcpStream::connect(("127.0.0.1", plain_port)).is_err(),
            "the plain listener is closed"
        );
        Ok(())
    })();
    if result.is_err() {
        for log in ["controller.log", "agent.log"] {
            eprintln!(
                "----- {log}\n{}",
                std::fs::read_to_string(dir.join(log)).unwrap_or_default()
            );
        }
    }
    result
}

/// Removes the agent's containers, even when the test failed.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = ank_system_tests::containers::remove_all_of_agent(&self.0);
    }
}

//! Configs rendered into workloads with templating, and files mounted read-only into a container
//! (issue 7; Ankaios §1.5, §1.6).

use std::time::Duration;

use ank_system_tests::on_both_brokers;
use ank_testkit::blocking::wait_until;
use anyhow::ensure;

const MANIFEST: &str = r#"
apiVersion: v1
workloads:
  reader:
    runtime: podman
    agent: "{{placement.node}}"
    configs:
      placement: placement
      app: app_settings
    files:
      - mountPoint: /etc/app/app.conf
        data: |
          port={{app.port}}
          greeting={{app.greeting}}
      - mountPoint: /etc/app/blob.bin
        binaryData: aGVsbG8gYmluYXJ5Cg==
    runtimeConfig: |
      image: $IMAGE
      commandArgs: ["sh", "-c", "echo arg={{app.greeting}}; cat /etc/app/app.conf /etc/app/blob.bin; if (echo x > /etc/app/app.conf) 2>/dev/null; then echo WRITABLE; else echo READ-ONLY; fi"]
configs:
  placement:
    node: $B
  app_settings:
    port: "8080"
    greeting: GREETING
"#;

on_both_brokers!(
    /// The agent, runtimeConfig and file contents are rendered from configs; the files are
    /// mounted read-only; a changed config value makes a new instance.
    fn configs_render_and_files_are_mounted(c) {
        c.apply(&MANIFEST.replace("GREETING", "hi-there"), &[])?.expect_ok()?;
        let first = c.wait_state("reader", "Succeeded(Ok)")?;
        ensure!(first.agent == c.b(), "the agent came from a config: {first:?}");
        let configs = c.ank(&["get", "configs"])?;
        ensure!(configs.stdout.contains("placement") && configs.stdout.contains("app_settings"), "{configs}");

        let logs = wait_until(
            "the reader's output",
            Duration::from_secs(10),
            || c.ank(&["logs", "reader"]),
            |out| out.stdout.contains("READ-ONLY") || out.stdout.contains("WRITABLE"),
        )?;
        for line in ["arg=hi-there", "port=8080", "greeting=hi-there", "hello binary", "READ-ONLY"] {
            ensure!(logs.stdout.contains(line), "{line:?} missing: {logs}");
        }

        c.apply(&MANIFEST.replace("GREETING", "changed"), &[])?.expect_ok()?;
        let second = c.wait_state("reader", "Succeeded(Ok)")?;
        ensure!(second.hash != first.hash, "a new rendered config is a new instance");
        let logs = c.ank(&["logs", "reader"])?;
        ensure!(logs.stdout.contains("greeting=changed"), "{logs}");
        Ok(())
    }
);

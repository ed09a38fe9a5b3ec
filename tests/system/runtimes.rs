//! A manifest that mixes runtimes, as one written for agents that differ in what they run: the
//! controller accepts it, each agent refuses only the workloads its runtimes cannot start, with
//! `Pending(StartingFailed)` and the reason, and runs the rest (issue 16 point 2; Ankaios §1.2,
//! §1.6).

use ank_system_tests::on_both_brokers;
use anyhow::ensure;

on_both_brokers!(
    /// A podman workload runs beside a `containerd` one, an `invalid_runtime` one and a
    /// podman-kube one with files, which are each `Pending(StartingFailed)` with their reason.
    fn issue_16_a_mixed_runtime_manifest_runs_what_each_agent_can(c) {
        let out = c.apply(
            r#"
apiVersion: v1
workloads:
  web:
    runtime: podman
    agent: $A
    runtimeConfig: |
      image: $IMAGE
      commandArgs: $LONG
  legacy:
    runtime: containerd
    agent: $A
    runtimeConfig: |
      image: $IMAGE
  bogus:
    runtime: invalid_runtime
    agent: $B
    runtimeConfig: "whatever this runtime reads"
  kube_files:
    runtime: podman-kube
    agent: $B
    files:
      - mountPoint: /etc/app.conf
        data: color=blue
    runtimeConfig: |
      manifest: |
        apiVersion: v1
        kind: Pod
        metadata:
          name: kube-files-$KID
        spec:
          containers:
            - name: app
              image: $IMAGE
"#,
            &[],
        )?;
        // Applied, but workloads failed to start: exit 3, naming one of them.
        out.expect_code(3)?;
        ensure!(!out.stderr.contains("unknown runtime"), "not refused: {out}");

        c.wait_state("web", "Running(Ok)")?;
        let expected = [
            ("legacy", "Unsupported Runtime 'containerd'"),
            ("bogus", "Unsupported Runtime 'invalid_runtime'"),
            (
                "kube_files",
                "Workload files are not supported by the podman-kube runtime",
            ),
        ];
        for (workload, reason) in expected {
            let row = c.wait_state(workload, "Pending(StartingFailed)")?;
            ensure!(row.info.starts_with(reason), "{workload}: {row:?}");
        }
        let (a, b) = (c.a().to_owned(), c.b().to_owned());
        ensure!(c.containers(&a, "legacy")?.is_empty(), "nothing started for containerd");
        ensure!(c.containers(&b, "kube_files")?.is_empty(), "no pod for the refused kube workload");
        ensure!(c.containers(&a, "web")?.len() == 1, "the podman workload runs");
        Ok(())
    }
);

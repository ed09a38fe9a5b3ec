//! The podman-kube runtime on real `podman kube play`: a Pod reading a ConfigMap, and a
//! Deployment (issue 7; Ankaios §7.2, docs/agent.md "podman-kube").

use std::time::Duration;

use ank_system_tests::on_both_brokers;
use ank_testkit::blocking::wait_until;
use anyhow::ensure;

on_both_brokers!(
    /// A Pod with a ConfigMap (as env and as a mounted file) and a Deployment both reach
    /// Running(Ok); the Pod's log shows the ConfigMap's values; a delete removes the pods.
    fn a_pod_with_a_config_map_and_a_deployment_run(c) {
        c.apply(
            r#"
apiVersion: v1
workloads:
  greeter:
    runtime: podman-kube
    agent: $A
    runtimeConfig: |
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: greeter-config-$KID
        data:
          message: hello from a ConfigMap
          app.conf: |
            color=blue
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: greeter-$KID
        spec:
          restartPolicy: Never
          containers:
            - name: app
              image: $IMAGE
              imagePullPolicy: Never
              command: ["sh", "-c", "echo \"$MESSAGE\"; cat /etc/app/app.conf; trap 'exit 0' TERM; sleep 3600 & wait"]
              env:
                - name: MESSAGE
                  valueFrom:
                    configMapKeyRef:
                      name: greeter-config-$KID
                      key: message
              volumeMounts:
                - name: config
                  mountPath: /etc/app
                  readOnly: true
          volumes:
            - name: config
              configMap:
                name: greeter-config-$KID
  counter:
    runtime: podman-kube
    agent: $B
    runtimeConfig: |
      manifest: |
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: counter-$KID
        spec:
          replicas: 1
          selector:
            matchLabels:
              app: counter-$KID
          template:
            metadata:
              labels:
                app: counter-$KID
            spec:
              restartPolicy: Never
              containers:
                - name: count
                  image: $IMAGE
                  imagePullPolicy: Never
                  command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"#,
            &[],
        )?
        .expect_ok()?;
        c.wait_state("greeter", "Running(Ok)")?;
        c.wait_state("counter", "Running(Ok)")?;
        let (a, b) = (c.a().to_owned(), c.b().to_owned());
        let greeter = c.container(&a, "greeter")?;
        ensure!(!greeter.pod.is_empty(), "the Pod's container is in a pod: {greeter:?}");
        let counter = c.container(&b, "counter")?;
        ensure!(!counter.pod.is_empty(), "the Deployment's container is in a pod: {counter:?}");

        let logs = wait_until(
            "the Pod's log to show the ConfigMap",
            Duration::from_secs(10),
            || c.ank(&["logs", "greeter"]),
            |out| out.stdout.contains("hello from a ConfigMap") && out.stdout.contains("color=blue"),
        )?;
        logs.expect_ok()?;

        c.ank(&["delete", "workload", "greeter", "counter"])?.expect_ok()?;
        ensure!(c.containers(&a, "greeter")?.is_empty() && c.containers(&b, "counter")?.is_empty(), "pods removed");
        Ok(())
    }
);

on_both_brokers!(
    /// `ALWAYS` on a kube job restarts it after each success (`kube down`, then `kube play`).
    /// Ankaios 1.0.1 plays again over the pod that is still there and then retries forever
    /// (`Retry n: … pod already exists`), so the README lists this as a difference (issue 16,
    /// §7.2).
    fn issue_16_a_kube_job_with_always_runs_again_after_each_success(c) {
        c.apply(
            r#"
apiVersion: v1
workloads:
  kjob:
    runtime: podman-kube
    agent: $A
    restartPolicy: ALWAYS
    runtimeConfig: |
      manifest: |
        apiVersion: v1
        kind: Pod
        metadata:
          name: kjob-$KID
        spec:
          restartPolicy: Never
          containers:
            - name: main
              image: $IMAGE
              imagePullPolicy: Never
              command: ["sh", "-c", "echo once; sleep 1"]
"#,
            &["--no-wait"],
        )?
        .expect_ok()?;
        let a = c.a().to_owned();
        let seen = wait_until(
            "the kube job to be restarted twice",
            Duration::from_secs(90),
            || Ok(c.last_workload_state(&a, "kjob")),
            |state| state["restartCount"].as_u64().unwrap_or(0) >= 2,
        )?;
        let info = seen["additionalInfo"].as_str().unwrap_or("");
        ensure!(!info.contains("already exists"), "no clash with the old pod: {seen}");
        c.ank(&["delete", "workload", "kjob"])?.expect_ok()?;
        Ok(())
    }
);

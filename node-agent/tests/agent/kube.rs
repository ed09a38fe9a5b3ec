use ank_schemas::RestartPolicy;

use crate::harness::*;

fn kube_workload(
    name: &str,
    agent: &str,
    manifest: &str,
    policy: RestartPolicy,
) -> ank_schemas::DesiredWorkload {
    let indented: String = manifest.lines().map(|l| format!("  {l}\n")).collect();
    let config = format!("downOptions: [\"--force\"]\nmanifest: |\n{indented}");
    workload(name, agent, "podman-kube", &config, policy, Vec::new())
}

fn pod_with_configmap(agent: &str, script: &str) -> String {
    let image = ank_system_tests::podman::test_image();
    let script = serde_json::to_string(script).expect("a string");
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg-{agent}
data:
  greeting: hello-from-configmap
---
apiVersion: v1
kind: Pod
metadata:
  name: pod-{agent}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {image}
    imagePullPolicy: Never
    command: [\"sh\", \"-c\", {script}]
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef:
          name: cfg-{agent}
          key: greeting
"
    )
}

fn deployment(agent: &str) -> String {
    let image = ank_system_tests::podman::test_image();
    let script = serde_json::to_string(SERVICE).expect("a string");
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: dep-{agent}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: dep-{agent}
  template:
    metadata:
      labels:
        app: dep-{agent}
    spec:
      restartPolicy: Never
      containers:
      - name: worker
        image: {image}
        imagePullPolicy: Never
        command: [\"sh\", \"-c\", {script}]
"
    )
}

#[tokio::test]
async fn kube_play_runs_a_pod_with_a_configmap_and_a_deployment_and_kube_down_removes_them() {
    let env = Env::start("kube").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let script = format!("test \"$GREETING\" = hello-from-configmap || exit 9; {SERVICE}");
    let pod = kube_workload(
        "pod",
        &name,
        &pod_with_configmap(&name, &script),
        RestartPolicy::Never,
    );
    let dep = kube_workload("dep", &name, &deployment(&name), RestartPolicy::Never);
    ctl.publish(&name, &[&pod, &dep]).await;
    ctl.wait_for(&name, "pod", "Running(Ok)").await;
    ctl.wait_for(&name, "dep", "Running(Ok)").await;
    assert_eq!(containers(&pod.instance_id).len(), 1);
    assert_eq!(containers(&dep.instance_id).len(), 1);
    ctl.publish(&name, &[]).await;
    for w in ["pod", "dep"] {
        eventually("the topic cleared", DEADLINE, || async {
            let state = ctl.state(&name, w);
            (state.is_none(), state)
        })
        .await;
    }
    assert!(containers(&pod.instance_id).is_empty());
    assert!(containers(&dep.instance_id).is_empty());
    agent.stop().await;
}

#[tokio::test]
async fn a_kube_workload_that_succeeded_is_restarted_by_down_then_play() {
    let env = Env::start("kubealways").await;
    let name = env.agent_name("a");
    let _cleanup = Cleanup(name.clone());
    let mut ctl = Controller::connect(&env).await;
    let agent = InProcessAgent::start(env.config(&name));
    let job = kube_workload(
        "job",
        &name,
        &pod_with_configmap(&name, "sleep 1"),
        RestartPolicy::Always,
    );
    ctl.publish(&name, &[&job]).await;
    let restarted = ctl
        .wait_state(&name, "job", "a kube restart", |p| p.restart_count >= 1)
        .await;
    assert!(restarted.restart_count >= 1);
    ctl.wait_for(&name, "job", "Running(Ok)").await;
    agent.stop().await;
}

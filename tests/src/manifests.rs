//! Manifests that many scenarios share, with the placeholders `Cluster::manifest` fills in
//! (`$A`, `$IMAGE`, `$LONG`).

/// A manifest with one long-running workload `name` on agent A: applied at the end of a scenario
/// (it reaches `Running(Ok)`), it proves that the controller and the agent still serve.
pub fn long_running(name: &str) -> String {
    format!(
        "apiVersion: v1\nworkloads:\n  {name}:\n    runtime: podman\n    agent: $A\n    runtimeConfig: |\n      image: $IMAGE\n      commandArgs: $LONG\n"
    )
}

use ank_system_tests::podman;

#[test]
fn podman_runs_a_container_from_the_local_test_image() {
    let image = podman::test_image();
    let output = podman::run(&[
        "run",
        "--rm",
        &image,
        "sh",
        "-c",
        "echo hello from $(uname -s)",
    ])
    .unwrap_or_else(|e| panic!("podman cannot run a container: {e:#}"));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "hello from Linux"
    );
}

#[test]
fn podman_reports_a_failing_container_exit_code() {
    let image = podman::test_image();
    let status = podman::command()
        .and_then(|mut c| {
            Ok(c.args(["run", "--rm", &image, "sh", "-c", "exit 7"])
                .status()?)
        })
        .unwrap_or_else(|e| panic!("podman cannot run a container: {e:#}"));
    assert_eq!(status.code(), Some(7));
}

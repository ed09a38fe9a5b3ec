use std::process::Command;
use std::time::Duration;

use ank_testkit::blocking::wait_for;

const BINARY: &str = env!("CARGO_BIN_EXE_ank-controller");

#[test]
fn help_documents_every_option() {
    let out = Command::new(BINARY).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--startup-manifest",
        "-m",
        "--state-dir",
        "/var/lib/ankmq/controller",
        "--reset-state",
        "--broker",
        "embedded",
        "--listen",
        "--topic-prefix",
        "ank/v1",
        "--username",
        "--password",
        "--password-file",
        "--ca-pem",
        "--crt-pem",
        "--key-pem",
        "--insecure",
        "--passwd",
        "--acl",
        "--storage-dir",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn an_invalid_startup_manifest_exits_1_printing_every_error() {
    let dir = tempfile::tempdir().expect("dir");
    let manifest = crate::harness::manifest_file(
        dir.path(),
        "apiVersion: v1\nworkloads:\n  a: {agent: 'x.y', runtime: podman, runtimeConfig: 'image: a'}\n  b: {agent: x, runtime: podman, runtimeConfig: 'image: {{c}}', configs: {c: nope}}\n",
    );
    let out = Command::new(BINARY)
        .arg("-m")
        .arg(&manifest)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["--broker", "mqtt://127.0.0.1:1"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(
        stderr.contains("workload 'a'") && stderr.contains("workload 'b'"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_exit_2() {
    let out = Command::new(BINARY)
        .arg("--no-such-flag")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn issue_14_a_startup_manifest_with_alias_amplification_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    // One 100 KB anchor aliased 8,000 times: 124 KB that expanded to a 200 MB state.json.
    let copies = vec!["*big"; 8_000].join(",");
    let manifest = crate::harness::manifest_file(
        dir.path(),
        &format!(
            "apiVersion: v1\nconfigs:\n  big: &big {}\n  copies: [{copies}]\n",
            "x".repeat(100_000)
        ),
    );
    let state_dir = dir.path().join("state");
    let stderr_path = dir.path().join("stderr.log");
    let mut child = Command::new(BINARY)
        .arg("--startup-manifest")
        .arg(&manifest)
        .arg("--state-dir")
        .arg(&state_dir)
        .args(["--broker", "mqtt://127.0.0.1:1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("runs");
    // Polled against a deadline: a controller that accepts the manifest keeps running.
    let status = wait_for("the controller to exit", Duration::from_secs(60), || {
        Ok(child.try_wait()?)
    });
    let status = status.unwrap_or_else(|e| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{e:#}");
    });
    let stderr = std::fs::read_to_string(&stderr_path).expect("stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("YAML aliases expand beyond 4 MiB (limit MAX_EXPANDED_BYTES)"),
        "{stderr}"
    );
    assert!(
        !state_dir.join("state.json").exists(),
        "nothing was persisted"
    );
}

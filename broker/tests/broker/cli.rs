//! The `ank-broker` binary: exit codes, clear errors, SIGTERM, `passwd` and `acl`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use ank_testkit::blocking::wait_for;

fn ank_broker() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ank-broker"));
    cmd.env_remove("RUST_LOG");
    cmd
}

#[test]
fn a_taken_port_or_an_unreadable_config_exits_1_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listn = \"127.0.0.1:1\"\n").unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--in-memory".into(), "--listen".into(), addr.clone()],
            format!("error: cannot listen on {addr}"),
        ),
        (
            vec!["--config".into(), "/nonexistent/ank-broker.toml".into()],
            "error: config file /nonexistent/ank-broker.toml".into(),
        ),
        (
            vec!["--config".into(), bad.display().to_string()],
            "unknown field `listn`".into(),
        ),
        (
            vec![
                "--in-memory".into(),
                "--passwd".into(),
                "/nonexistent/passwd".into(),
            ],
            "error: /nonexistent/passwd".into(),
        ),
    ];
    for (args, expected) in cases {
        let out = ank_broker().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
    }
}

#[test]
fn sigterm_stops_the_broker_cleanly_and_frees_the_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = ank_broker()
        .args(["--in-memory", "--listen", &port.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("ank-broker to listen", Duration::from_secs(10), || {
        std::net::TcpStream::connect(port)
            .map(Some)
            .map_err(Into::into)
    })
    .unwrap();
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = wait_for(
        "ank-broker to exit on SIGTERM",
        Duration::from_secs(10),
        || child.try_wait().map_err(Into::into),
    )
    .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        std::net::TcpListener::bind(port).is_ok(),
        "port still bound"
    );
}

#[test]
fn passwd_reads_stdin_and_acl_prints_what_the_broker_loads() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    for user in ["agent-a", "alice"] {
        let mut child = ank_broker()
            .arg("passwd")
            .arg(&passwd)
            .arg(user)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
        assert!(child.wait().unwrap().success());
    }
    let file = ank_broker::PasswordFile::load(&passwd).unwrap();
    assert!(file.verify("alice", "s3cret") && file.verify("agent-a", "s3cret"));

    let out = ank_broker()
        .args(["acl", "--prefix", "vehicles/V1/ank/v1", "--agents", "b"])
        .arg("--from-passwd")
        .arg(&passwd)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let printed = ank_broker::AclRules::parse(&text).expect("the output parses as an ACL file");
    let topics = ank_schemas::Topics::new("vehicles/V1/ank/v1").unwrap();
    let expected =
        ank_broker::acl_for_users(&topics, ["controller", "agent-b", "agent-a", "alice"]).unwrap();
    assert_eq!(printed, expected);
}

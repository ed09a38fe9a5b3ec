use super::*;
use crate::runtime::podman_logs::logs_args;

fn spec() -> PodmanRunSpec {
    PodmanRunSpec {
        instance: "web.0123abc.agent_A".into(),
        container_name: "web.0123abc.agent_A".into(),
        image: "localhost/img:1".into(),
        general_options: Vec::new(),
        command_options: Vec::new(),
        command_args: Vec::new(),
        mounts: Vec::new(),
    }
}

fn runtime() -> PodmanRuntime {
    PodmanRuntime::new(PodmanCli::new("podman"), "agent_A")
}

#[test]
fn run_args_follow_the_documented_order() {
    let spec = PodmanRunSpec {
        command_options: vec!["--env=A=1".into(), "-p".into(), "8080:80".into()],
        command_args: vec!["sh".into(), "-c".into(), "echo hi".into()],
        mounts: vec![FileMount {
            host_path: "/run/ank/web/f.txt".into(),
            mount_point: "/etc/f.txt".into(),
        }],
        ..spec()
    };
    let args = runtime().run_args(&spec).expect("valid spec");
    assert_eq!(
        args,
        [
            "run",
            "--detach",
            "--name",
            "web.0123abc.agent_A",
            "--env=A=1",
            "-p",
            "8080:80",
            "--mount=type=bind,source=/run/ank/web/f.txt,destination=/etc/f.txt,readonly=true",
            "--label=ankmq.instance=web.0123abc.agent_A",
            "--label=ankmq.agent=agent_A",
            "--label=ankmq.runtime=podman",
            "localhost/img:1",
            "sh",
            "-c",
            "echo hi",
        ]
    );
}

#[test]
fn a_user_name_comes_after_ours_so_it_wins() {
    let spec = PodmanRunSpec {
        command_options: vec!["--name".into(), "mine".into()],
        ..spec()
    };
    let args = runtime().run_args(&spec).expect("valid spec");
    let ours = args.iter().position(|a| a == "web.0123abc.agent_A");
    let theirs = args.iter().position(|a| a == "mine");
    assert!(ours < theirs, "{args:?}");
}

#[test]
fn ownership_labels_come_after_user_labels_so_ours_win() {
    let spec = PodmanRunSpec {
        command_options: vec!["--label=ankmq.instance=forged".into()],
        ..spec()
    };
    let args = runtime().run_args(&spec).expect("valid spec");
    let forged = args.iter().position(|a| a.ends_with("=forged"));
    let ours = args
        .iter()
        .position(|a| a == "--label=ankmq.instance=web.0123abc.agent_A");
    assert!(forged < ours, "{args:?}");
}

#[test]
fn general_options_precede_every_subcommand_and_are_recorded() {
    let general = vec!["--log-level".to_owned(), "debug".to_owned()];
    let spec = PodmanRunSpec {
        general_options: general.clone(),
        ..spec()
    };
    let rt = runtime();
    let run = rt
        .cli
        .command(&general, &rt.run_args(&spec).expect("valid"));
    assert_eq!(run.args[..3], ["--log-level", "debug", "run"]);
    assert!(run
        .args
        .contains(&r#"--label=ankmq.general-options=["--log-level","debug"]"#.to_owned()));
    let delete = rt.cli.command(&general, &rt.delete_args(&spec.instance));
    assert_eq!(delete.args[..3], ["--log-level", "debug", "rm"], "{delete}");
    let logs = rt.cli.command(
        &general,
        &logs_args(&LogOptions::default(), &["id".into()], false),
    );
    assert_eq!(logs.args, ["--log-level", "debug", "logs", "id"]);
    let ps = rt
        .cli
        .command(&general, &ps::ps_args(labels::INSTANCE, "x"));
    assert_eq!(ps.args[..3], ["--log-level", "debug", "ps"]);
}

#[test]
fn issue_17_delete_stops_with_grace_and_removes_by_label_in_one_call() {
    let rt = runtime().with_stop_grace(Duration::from_secs(3));
    assert_eq!(
        rt.delete_args("web.0123abc.agent_A"),
        [
            "rm",
            "--ignore",
            "-f",
            "-t",
            "3",
            "--filter",
            "label=ankmq.instance=web.0123abc.agent_A"
        ]
    );
}

#[test]
fn a_mount_path_with_a_comma_is_an_invalid_spec() {
    let spec = PodmanRunSpec {
        mounts: vec![FileMount {
            host_path: "/tmp/a,b".into(),
            mount_point: "/x".into(),
        }],
        ..spec()
    };
    let err = runtime().run_args(&spec).expect_err("comma");
    assert!(!err.is_retryable());
}

#[test]
fn container_id_is_the_last_hex_line() {
    let table = [
        ("abc\n", None),
        (
            "Trying to pull...\n0123456789abcdef0123\n",
            Some("0123456789abcdef0123"),
        ),
        ("0123456789ab\n\n", Some("0123456789ab")),
        ("", None),
        ("Error: nope\n", None),
    ];
    for (stdout, expected) in table {
        assert_eq!(
            parse_container_id(stdout).as_deref(),
            expected,
            "{stdout:?}"
        );
    }
}

use std::process::Command;

use ank_cli::Cli;
use clap::CommandFactory;

use crate::fixture::snapshot;

/// Every command's long help, depth first, like jj's help snapshot: any help change shows up in
/// review.
#[test]
fn the_whole_help_tree() {
    fn walk(cmd: &mut clap::Command, path: &str, out: &mut String) {
        out.push_str(&format!("==== {path} --help\n"));
        out.push_str(&cmd.render_long_help().to_string());
        out.push('\n');
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .filter(|n| n != "help")
            .collect();
        for name in names {
            if let Some(sub) = cmd.find_subcommand_mut(&name) {
                walk(sub, &format!("{path} {name}"), out);
            }
        }
    }
    let mut cmd = Cli::command().term_width(100);
    cmd.build();
    let mut out = String::new();
    walk(&mut cmd, "ank", &mut out);
    snapshot("help_tree", &out);
}

#[test]
fn completions_and_man_pages_come_from_the_definitions() {
    let ank = env!("CARGO_BIN_EXE_ank");
    for (args, needle) in [
        (&["completion", "bash"][..], "--topic-prefix"),
        (&["completion", "zsh"][..], "--topic-prefix"),
        (&["completion", "fish"][..], "topic-prefix"),
        (&["man"][..], ".TH ank 1"),
    ] {
        let output = Command::new(ank).args(args).output().expect("runs");
        assert!(output.status.success(), "{args:?}: {output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains(needle), "{args:?} lacks {needle}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(ank)
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    for page in [
        "ank.1",
        "ank-get.1",
        "ank-get-workloads.1",
        "ank-apply.1",
        "ank-logs.1",
    ] {
        assert!(dir.path().join(page).exists(), "{page} missing");
    }
}

#[test]
fn usage_errors_exit_with_2() {
    let ank = env!("CARGO_BIN_EXE_ank");
    for args in [
        &["get", "workloads", "--state", "sleepy"][..],
        &["apply"][..],
        &["frobnicate"][..],
        &["set", "state", "only-a-mask"][..],
    ] {
        let output = Command::new(ank).args(args).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
}

#[test]
fn issue_16_complete_in_the_environment_prints_the_script_ankaios_users_source() {
    // Ankaios' documented setup is `source <(COMPLETE=bash ank)`; ours printed the help and
    // exited 2, so that line registered nothing.
    let ank = env!("CARGO_BIN_EXE_ank");
    let script = Command::new(ank)
        .env("COMPLETE", "bash")
        .output()
        .expect("runs");
    assert!(script.status.success(), "{script:?}");
    assert!(String::from_utf8_lossy(&script.stdout).contains("--topic-prefix"));
    let registered = Command::new("bash")
        .args(["-c", r#"source <(COMPLETE=bash "$ANK") && complete -p ank"#])
        .env("ANK", ank)
        .output()
        .expect("bash runs");
    assert!(registered.status.success(), "{registered:?}");
    assert!(String::from_utf8_lossy(&registered.stdout).contains("ank"));

    // With arguments the variable changes nothing; an unknown shell is a usage error.
    let zsh = Command::new(ank)
        .args(["completion", "zsh"])
        .env("COMPLETE", "bash")
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&zsh.stdout).contains("#compdef ank"),
        "{zsh:?}"
    );
    let unknown = Command::new(ank)
        .env("COMPLETE", "tcsh")
        .output()
        .expect("runs");
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown shell `tcsh`"));
}

use super::*;

fn sh(script: &str) -> CommandLine {
    CommandLine::new("sh").arg("-c").arg(script)
}

#[tokio::test]
async fn run_returns_stdout_of_a_successful_program() {
    let out = run(&sh("echo hello"), None, Duration::from_secs(5)).await;
    assert_eq!(out.expect("sh runs").trim(), "hello");
}

#[tokio::test]
async fn run_feeds_stdin() {
    let out = run(
        &CommandLine::new("cat"),
        Some(b"a\nb\n"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(out.expect("cat runs"), "a\nb\n");
}

#[tokio::test]
async fn run_error_names_program_args_status_and_stderr() {
    let err = run(&sh("echo boom >&2; exit 7"), None, Duration::from_secs(5))
        .await
        .expect_err("exit 7 is a failure");
    let text = err.to_string();
    assert!(text.contains("sh -c echo boom >&2; exit 7"), "{text}");
    assert!(text.contains('7'), "{text}");
    assert!(text.contains("boom"), "{text}");
    assert_eq!(err.stderr(), Some("boom"));
}

#[tokio::test]
async fn run_kills_a_program_that_misses_its_deadline() {
    let started = std::time::Instant::now();
    let err = run(&sh("sleep 5"), None, Duration::from_millis(100))
        .await
        .expect_err("sleep outlives the deadline");
    assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn run_reports_a_missing_program_as_spawn_error() {
    let err = run(
        &CommandLine::new("/nonexistent/ankmq-no-such-program"),
        None,
        Duration::from_secs(5),
    )
    .await
    .expect_err("no such program");
    assert!(matches!(err, CommandError::Spawn { .. }), "{err}");
    assert!(err.to_string().contains("ankmq-no-such-program"));
}

#[tokio::test]
async fn stream_merges_stderr_lines_when_asked() {
    let mut lines =
        stream(&sh("echo out; sleep 0.05; echo err >&2"), StderrMode::Merge).expect("sh starts");
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await {
        seen.push(line);
    }
    assert!(seen.contains(&Line {
        source: Source::Stdout,
        text: "out".into()
    }));
    assert!(seen.contains(&Line {
        source: Source::Stderr,
        text: "err".into()
    }));
    lines.finish().await.expect("exit 0");
}

#[tokio::test]
async fn stream_collects_stderr_into_the_failure() {
    let mut lines =
        stream(&sh("echo data; echo why >&2; exit 2"), StderrMode::Collect).expect("starts");
    assert_eq!(lines.next_line().await.map(|l| l.text), Some("data".into()));
    assert_eq!(lines.next_line().await, None);
    let err = lines.finish().await.expect_err("exit 2");
    assert_eq!(err.stderr(), Some("why"));
}

#[tokio::test]
async fn stream_yields_lines_before_the_program_ends() {
    let mut lines = stream(&sh("echo first; sleep 30"), StderrMode::Collect).expect("starts");
    let first = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await;
    assert_eq!(first.ok().flatten().map(|l| l.text), Some("first".into()));
    // Dropping the stream kills `sleep 30`; the test would hang otherwise at finish.
}

#[tokio::test]
async fn issue_14_dropping_a_stream_kills_its_whole_process_group() {
    // A wrapper (sh) that starts a grandchild, as a `podman` wrapper script would.
    let script = "sleep 300 & echo started; exec sleep 301";
    let mut lines = stream(&sh(script), StderrMode::Collect).expect("starts");
    assert_eq!(
        lines.next_line().await.map(|l| l.text),
        Some("started".into())
    );
    let group = lines.child.id().expect("running") as i32;
    drop(lines);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // kill(-pgid, 0) fails with ESRCH once no process of the group is left (zombies of
    // reaped children aside, which init collects).
    loop {
        let alive = rustix::process::Pid::from_raw(group)
            .is_some_and(|g| rustix::process::test_kill_process_group(g).is_ok())
            && group_has_live_member(group);
        if !alive {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "processes of group {group} are still alive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a process of `group` that is not a zombie exists, from `/proc/*/stat`.
fn group_has_live_member(group: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // Fields after the `(comm)`: state, ppid, pgrp, …
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            return false;
        };
        let fields: Vec<&str> = rest.split(' ').collect();
        fields.first() != Some(&"Z") && fields.get(2) == Some(&group.to_string().as_str())
    })
}

#[tokio::test]
async fn issue_14_a_line_longer_than_the_bound_is_cut_and_the_next_line_survives() {
    let script = format!(
        "head -c {} /dev/zero | tr '\\0' x; echo; echo next",
        MAX_STREAM_LINE * 3
    );
    let mut lines = stream(&sh(&script), StderrMode::Collect).expect("starts");
    let long = lines.next_line().await.expect("the long line").text;
    assert_eq!(
        long.len(),
        MAX_STREAM_LINE,
        "one byte more than the bound is cut"
    );
    assert_eq!(lines.next_line().await.map(|l| l.text), Some("next".into()));
    lines.finish().await.expect("exit 0");
}

#[test]
fn keep_tail_cuts_long_stderr_from_the_front() {
    let long = "x".repeat(STDERR_KEEP * 2) + "END";
    let kept = keep_tail(&long);
    assert!(kept.ends_with("END"));
    assert!(kept.len() <= STDERR_KEEP + '…'.len_utf8());
}

use super::*;
use clap::{CommandFactory, Parser};

fn parse(args: &[&str]) -> AgentArgs {
    AgentArgs::try_parse_from(std::iter::once("ank-agent").chain(args.iter().copied()))
        .expect("flags parse")
}

#[test]
fn the_clap_definition_is_consistent() {
    AgentArgs::command().debug_assert();
}

#[test]
fn flags_win_over_the_file_and_the_file_over_defaults() {
    let file = r#"
        name = "from_file"
        broker = "mqtt://file:1883"
        topic_prefix = "file/prefix"
        runtimes = ["podman"]
        resync_interval = 3
        keep_alive = 4
        max_log_streams = 5
        [tags]
        location = "file"
    "#;
    let config = parse(&["--name", "from_flag", "--tag", "zone=front"])
        .resolve(Some(file))
        .expect("valid");
    assert_eq!(config.name, "from_flag");
    assert_eq!(config.broker, "mqtt://file:1883");
    assert_eq!(config.topics.prefix(), "file/prefix");
    assert_eq!(config.runtimes, [RuntimeKind::Podman]);
    assert_eq!(config.resync_interval, Duration::from_secs(3));
    assert_eq!(config.resource_interval, DEFAULT_RESOURCE_INTERVAL);
    assert_eq!(config.keep_alive, Duration::from_secs(4));
    assert_eq!(config.log_caps.per_agent, 5);
    assert_eq!(config.log_caps.per_client, DEFAULT_MAX_STREAMS_PER_CLIENT);
    let capped = parse(&["-n", "a", "--max-log-streams", "2"]).resolve(Some(file));
    assert_eq!(capped.expect("valid").log_caps.per_agent, 2);
    let flagged = parse(&["-n", "a", "--keep-alive", "2"]).resolve(Some(file));
    assert_eq!(flagged.expect("valid").keep_alive, Duration::from_secs(2));
    assert!(parse(&["-n", "a", "--keep-alive", "0"])
        .resolve(None)
        .is_err());
    assert_eq!(
        config.tags,
        BTreeMap::from([("zone".to_owned(), "front".to_owned())]),
        "flag tags replace the file's"
    );
}

#[test]
fn issue_11_every_duration_flag_refuses_absurd_values_with_its_name() {
    for (flag, value) in [
        ("--keep-alive", "18446744073709551615"),
        ("--keep-alive", "65536"),
        ("--resync-interval", "1e300"),
        ("--resync-interval", "inf"),
        ("--resource-interval", "NaN"),
        ("--resource-interval", "-1"),
    ] {
        let arg = format!("{flag}={value}");
        let error = AgentArgs::try_parse_from(["ank-agent", "-n", "a", arg.as_str()])
            .map_err(|e| e.to_string())
            .and_then(|args| args.resolve(None).map_err(|e| e.to_string()));
        match error {
            Err(message) => assert!(
                message.contains(&format!("{flag} must be between")),
                "{flag} {value}: {message}"
            ),
            Ok(config) => panic!("{flag} {value} accepted: {config:?}"),
        }
    }
    let at_the_limit = parse(&["-n", "a", "--keep-alive", "65535"]).resolve(None);
    assert_eq!(
        at_the_limit.expect("valid").keep_alive,
        Duration::from_secs(65_535)
    );
}

#[test]
fn issue_16_ankaios_insecure_and_pem_spellings_are_accepted() {
    let args = parse(&[
        "-n",
        "a",
        "-k",
        "--ca_pem",
        "/ca",
        "--crt_pem",
        "/crt",
        "--key_pem",
        "/key",
    ]);
    assert!(args.connect.insecure);
    assert_eq!(args.connect.ca_pem.as_deref(), Some(Path::new("/ca")));
    assert_eq!(args.connect.crt_pem.as_deref(), Some(Path::new("/crt")));
    assert_eq!(args.connect.key_pem.as_deref(), Some(Path::new("/key")));
    assert!(parse(&["-n", "a", "--insecure"]).resolve(None).is_ok());
}

/// Ankaios' ank-agent.conf as its docs write it (reference §6.2).
const ANKAIOS_AGENT_CONF: &str = r#"
version = 'v1'
name = 'agent_A'
server_url = 'https://127.0.0.1:25551'
run_folder = '/tmp/ankaios/'
insecure = true
runtimes = ["podman", "containerd", "podman-kube"]

[tags]
location = 'on-car'
"#;

#[test]
fn issue_16_ankaios_agent_conf_is_accepted_as_it_comes() {
    let config = parse(&[])
        .resolve(Some(ANKAIOS_AGENT_CONF))
        .expect("accepted");
    assert_eq!(config.name, "agent_A");
    assert_eq!(
        config.broker,
        ank_bus::DEFAULT_BROKER,
        "a gRPC URL is no broker"
    );
    assert_eq!(config.run_folder, PathBuf::from("/tmp/ankaios/"));
    assert_eq!(config.runtimes, RuntimeKind::KNOWN);
    assert_eq!(
        config.tags.get("location").map(String::as_str),
        Some("on-car")
    );
    assert!(config.connect.insecure);
    let warnings = config.warnings.join("\n");
    assert!(
        warnings.contains("server_url") && warnings.contains("containerd"),
        "{warnings}"
    );

    let mtls = r#"
version = 'v1'
name = 'agent_A'
ca_pem = '/etc/ankaios/certs/ca.pem'
crt_pem = '/etc/ankaios/certs/agent.pem'
key_pem_content = """-----BEGIN PRIVATE KEY-----"""
"#;
    let config = parse(&[]).resolve(Some(mtls)).expect("accepted");
    assert_eq!(config.broker, ank_bus::DEFAULT_TLS_BROKER, "PEMs mean TLS");
    let tls = config.connect.tls.expect("TLS material");
    assert_eq!(
        tls.ca,
        ank_bus::Pem::File("/etc/ankaios/certs/ca.pem".into())
    );
    assert!(matches!(tls.key, Some(ank_bus::Pem::Inline(_))));
}

#[test]
fn issue_16_an_unknown_key_is_an_error_naming_the_key_and_the_file() {
    let path = std::env::temp_dir().join(format!("ank-agent-{}.conf", std::process::id()));
    std::fs::write(&path, "version = 'v1'\nname = 'a'\nserver_urll = 'x'\n").expect("write");
    let args = AgentArgs {
        config: Some(path.clone()),
        ..AgentArgs::default()
    };
    let error = format!("{:#}", args.load().expect_err("refused"));
    let _ = std::fs::remove_file(&path);
    assert!(error.contains("server_urll"), "{error}");
    assert!(error.contains(&path.display().to_string()), "{error}");
    let error = parse(&[])
        .resolve(Some("version = 'v2'\nname = 'a'"))
        .expect_err("refused");
    assert!(format!("{error:#}").contains("wrong version"), "{error:#}");
}

#[test]
fn defaults_apply_when_nothing_is_given() {
    let config = parse(&["-n", "agent_A"]).resolve(None).expect("valid");
    assert_eq!(config.broker, ank_bus::DEFAULT_BROKER);
    assert_eq!(config.topics.prefix(), ank_schemas::DEFAULT_PREFIX);
    assert_eq!(config.runtimes, RuntimeKind::KNOWN);
    assert_eq!(config.client_id(), "agent-agent_A");
    assert!(config.io_folder().ends_with("ankmq/agent_A_io"));
}

#[test]
fn bad_settings_are_refused_with_the_reason() {
    let table: [(&[&str], Option<&str>, &str); 8] = [
        (
            &["-n", "a", "--max-log-streams", "0"],
            None,
            "between 1 and 1024",
        ),
        (
            &["-n", "a", "--max-log-streams-per-client", "1025"],
            None,
            "between 1 and 1024",
        ),
        (&[], None, "needs a name"),
        (&["-n", "a.b"], None, "invalid agent name"),
        (
            &["-n", "a", "--runtimes", "containerd"],
            None,
            "no known runtime enabled (unknown runtime: containerd)",
        ),
        (
            &["-n", "a", "--topic-prefix", "a/+/b"],
            None,
            "topic prefix",
        ),
        (
            &["-n", "a", "--resync-interval", "0"],
            None,
            "between 0 and 86400",
        ),
        (&["-n", "a"], Some("nmae = 'x'"), "parsing the config file"),
    ];
    for (args, file, expected) in table {
        let error = parse(args).resolve(file).expect_err("refused");
        assert!(
            format!("{error:#}").contains(expected),
            "{args:?}: {error:#}"
        );
    }
}

#[test]
fn a_tag_must_be_key_equals_value() {
    assert!(AgentArgs::try_parse_from(["ank-agent", "-n", "a", "--tag", "novalue"]).is_err());
    assert_eq!(
        parse(&["-n", "a", "-t", "k=v=w"]).tags,
        [("k".into(), "v=w".into())]
    );
}

//! Authentication and ACLs: the password file refuses strangers, and the generated
//! least-privilege ACL keeps an agent inside its own topics.

use crate::harness::{connect, options, options_as, Client, WAIT};
use ank_broker::{BrokerConfig, BrokerHandle};
use ank_schemas::Topics;
use rumqttc::SubscribeReasonCode;
use std::path::Path;

/// A client id for the rows below (test data, always valid).
fn cid(text: &str) -> ank_schemas::ClientId {
    ank_schemas::ClientId::new(text).expect("a valid client id")
}

/// A broker with a password file for `controller`, `agent-a`, `agent-b`, `alice`, and the
/// ACL generated for them, written to files as an operator would.
async fn secured_broker(dir: &Path) -> BrokerHandle {
    let passwd = dir.join("passwd");
    for user in ["controller", "agent-a", "agent-b", "alice"] {
        ank_broker::set_password(&passwd, user, &format!("{user}-pw")).unwrap();
    }
    let acl = ank_broker::acl_for_users(
        &Topics::default(),
        ["controller", "agent-a", "agent-b", "alice"],
    )
    .unwrap();
    let acl_file = dir.join("acl");
    std::fs::write(&acl_file, acl.to_mosquitto()).unwrap();
    ank_broker::start(BrokerConfig {
        passwd_file: Some(passwd),
        acl_file: Some(acl_file),
        ..BrokerConfig::for_tests()
    })
    .await
    .unwrap()
}

async fn login(broker: &BrokerHandle, user: &str, client_id: &str) -> Client {
    connect(options_as(
        broker.mqtt_addr(),
        client_id,
        user,
        &format!("{user}-pw"),
    ))
    .await
    .unwrap_or_else(|e| panic!("{user} logs in: {e}"))
}

#[tokio::test]
async fn clients_without_valid_credentials_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = secured_broker(dir.path()).await;
    let addr = broker.mqtt_addr();
    let cases = [
        ("no credentials", options(addr, "anon")),
        ("wrong password", options_as(addr, "c1", "alice", "nope")),
        (
            "unknown user",
            options_as(addr, "c2", "mallory", "alice-pw"),
        ),
        (
            "another user's password",
            options_as(addr, "c3", "agent-a", "alice-pw"),
        ),
    ];
    for (name, opts) in cases {
        let refused = connect(opts).await;
        assert!(refused.is_err(), "{name}: accepted");
        eprintln!("{name}: {}", refused.err().unwrap_or_default());
    }
    // ...while the right password works, even after all those failures from this IP.
    let _alice = login(&broker, "alice", "alice.cli-1").await;
    broker.stop().await;
}

#[tokio::test]
async fn an_agent_cannot_write_other_agents_topics_or_any_desired_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = secured_broker(dir.path()).await;
    let t = Topics::default();

    // The controller can read every topic an agent might try to forge.
    let mut observer = login(&broker, "controller", "controller").await;
    for filter in [
        t.all_agent_desired(),
        t.all_agent_statuses(),
        t.all_workload_states(),
        t.controller_status(),
        t.desired_state(),
        t.sync(&cid("controller")),
    ] {
        observer.subscribe_ok(&filter).await;
    }
    // Make sure the controller's subscriptions are in place before agent-a starts.
    assert!(observer
        .drain_until_marker(&t.sync(&cid("controller")))
        .await
        .is_empty());

    let mut agent = login(&broker, "agent-a", "agent-a").await;
    for forged in [
        t.agent_status("b"),
        t.workload_state("b", "nginx"),
        t.agent_desired("b"),
        t.agent_desired("a"),
        t.desired_state(),
        t.controller_status(),
    ] {
        // rumqttc sees a PUBACK either way (MQTT 3.1.1 has no refusal code); the message must
        // simply not be delivered.
        agent.publish(&forged, b"forged", true).await;
    }
    // Positive control, published last on the same connection, so it arrives after anything
    // the broker would have let through.
    agent.publish(&t.agent_status("a"), b"online", true).await;
    let got = observer
        .next_publish(WAIT)
        .await
        .expect("the allowed publish arrives");
    assert_eq!(
        (got.topic.as_str(), got.payload.as_ref()),
        (t.agent_status("a").as_str(), b"online".as_slice()),
        "a forged publish got through"
    );
    broker.stop().await;
}

#[tokio::test]
async fn an_agent_cannot_read_another_agents_desired() {
    let dir = tempfile::tempdir().unwrap();
    let broker = secured_broker(dir.path()).await;
    let t = Topics::default();
    let mut controller = login(&broker, "controller", "controller").await;
    controller
        .publish(&t.agent_desired("a"), b"for-a", true)
        .await;
    controller
        .publish(&t.agent_desired("b"), b"for-b", true)
        .await;

    let mut agent = login(&broker, "agent-a", "agent-a").await;
    for refused in [t.agent_desired("b"), t.all_agent_desired(), t.everything()] {
        assert_eq!(
            agent.subscribe(&refused).await,
            [SubscribeReasonCode::Failure],
            "agent-a subscribed to {refused}"
        );
    }
    agent.subscribe_ok(&t.agent_desired("a")).await;
    let mine = agent.next_publish(WAIT).await.expect("own desired");
    assert_eq!(mine.payload.as_ref(), b"for-a");
    agent.subscribe_ok(&t.sync(&cid("agent-a"))).await;
    assert!(agent
        .drain_until_marker(&t.sync(&cid("agent-a")))
        .await
        .is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn a_cli_user_reads_only_its_own_responses() {
    let dir = tempfile::tempdir().unwrap();
    let broker = secured_broker(dir.path()).await;
    let t = Topics::default();
    let mut alice = login(&broker, "alice", "alice.cli-1").await;
    assert_eq!(
        alice.subscribe(&t.responses(&cid("alice.cli-2"))).await,
        [SubscribeReasonCode::Failure]
    );
    assert_eq!(
        alice.subscribe(&t.all_responses()).await,
        [SubscribeReasonCode::Failure]
    );
    alice.subscribe_ok(&t.responses(&cid("alice.cli-1"))).await;
    alice.subscribe_ok(&t.all_workload_states()).await;

    let mut controller = login(&broker, "controller", "controller").await;
    controller
        .publish(&t.responses(&cid("alice.cli-1")), b"ok", false)
        .await;
    let answer = alice.next_publish(WAIT).await.expect("own response");
    assert_eq!(answer.payload.as_ref(), b"ok");
    broker.stop().await;
}

/// mqtt5 authorizes a Last Will with the same call that lets a 3.1.1 publish through (so that a
/// refused publish can be acked and dropped, issue 14): the will is therefore checked when the
/// client connects, and a will the ACL refuses refuses the connection.
#[tokio::test]
async fn issue_14_a_last_will_the_acl_refuses_refuses_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = secured_broker(dir.path()).await;
    let t = Topics::default();
    let addr = broker.mqtt_addr();
    let mut forged = options_as(addr, "agent-a", "agent-a", "agent-a-pw");
    forged.set_last_will(rumqttc::LastWill::new(
        t.agent_status("b"),
        "forged",
        rumqttc::QoS::AtLeastOnce,
        true,
    ));
    let refused = connect(forged).await;
    assert!(refused.is_err(), "a forbidden will was accepted");

    let mut own = options_as(addr, "agent-a", "agent-a", "agent-a-pw");
    own.set_last_will(rumqttc::LastWill::new(
        t.agent_status("a"),
        "offline",
        rumqttc::QoS::AtLeastOnce,
        true,
    ));
    let agent = connect(own).await.expect("its own status is a valid will");
    let mut controller = login(&broker, "controller", "controller").await;
    controller.subscribe_ok(&t.all_agent_statuses()).await;
    // Ending the event loop without DISCONNECT makes the broker publish the will.
    drop(agent);
    let will = controller.next_publish(WAIT).await.expect("the will fires");
    assert_eq!(will.topic, t.agent_status("a"));
    assert_eq!(will.payload.as_ref(), b"offline");
    broker.stop().await;
}

/// The bytes of the PUBACK for a publish the ACL refuses, per protocol version (issue 14):
/// MQTT 3.1.1 has no reason codes, so exactly packet type, length 2 and the packet id; MQTT 5
/// keeps reason code 0x87 "not authorized".
#[tokio::test]
async fn issue_14_a_refused_publish_is_acked_in_the_sessions_own_protocol() {
    use crate::wire;
    use tokio::io::AsyncWriteExt;

    let dir = tempfile::tempdir().unwrap();
    let broker = secured_broker(dir.path()).await;
    let forbidden = Topics::default().agent_status("b");
    let login = Some(("agent-a", "agent-a-pw"));

    // MQTT 3.1.1.
    let mut v311 = tokio::net::TcpStream::connect(broker.mqtt_addr())
        .await
        .unwrap();
    v311.write_all(&wire::connect(b"agent-a", None, login))
        .await
        .unwrap();
    let connack = wire::read_packet(&mut v311, WAIT).await.expect("CONNACK");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    v311.write_all(&wire::publish(forbidden.as_bytes(), b"forged", 1, false, 7))
        .await
        .unwrap();
    let puback = wire::read_packet(&mut v311, WAIT).await.expect("PUBACK");
    assert_eq!(puback, [0x40, 0x02, 0x00, 0x07], "a 3.1.1 PUBACK");

    // MQTT 5: CONNECT level 5 with an empty property list, PUBLISH with one too.
    let mut body = wire::field(b"MQTT");
    body.extend([5, 0xC2, 0, 30, 0]);
    body.extend(wire::field(b"agent-a.v5"));
    body.extend(wire::field(b"agent-a"));
    body.extend(wire::field(b"agent-a-pw"));
    let mut v5 = tokio::net::TcpStream::connect(broker.mqtt_addr())
        .await
        .unwrap();
    v5.write_all(&wire::packet(0x10, &body)).await.unwrap();
    let connack = wire::read_packet(&mut v5, WAIT).await.expect("CONNACK");
    assert_eq!(
        connack[..4],
        [0x20, connack[1], 0x00, 0x00],
        "accepted: {connack:?}"
    );
    let mut publish = wire::field(forbidden.as_bytes());
    publish.extend(8u16.to_be_bytes());
    publish.push(0);
    publish.extend_from_slice(b"forged");
    v5.write_all(&wire::packet(0x32, &publish)).await.unwrap();
    let puback = wire::read_packet(&mut v5, WAIT).await.expect("PUBACK");
    assert_eq!(puback[0], 0x40, "{puback:?}");
    assert_eq!(puback[2..5], [0x00, 0x08, 0x87], "PUBACK 0x87: {puback:?}");
    broker.stop().await;
}

/// Issue 13: any valid login could connect with the client id of the controller or of an agent
/// and so cut it off (MQTT's session takeover). A login may use only client ids of its own
/// identity, `<user>` or `<user>.<suffix>`.
#[tokio::test]
async fn issue_13_no_login_can_take_over_another_identitys_session() {
    let dir = tempfile::tempdir().unwrap();
    let broker = secured_broker(dir.path()).await;
    let addr = broker.mqtt_addr();
    let mut controller = login(&broker, "controller", "controller").await;
    let mut agent = login(&broker, "agent-a", "agent-a").await;
    for (user, stolen) in [
        ("alice", "controller"),
        ("alice", "agent-a"),
        ("agent-b", "agent-a"),
        ("agent-b", "controller.r1"),
        ("agent-a", "agent-a-x"),
        ("alice", "alice-other"),
    ] {
        let refused = connect(options_as(addr, stolen, user, &format!("{user}-pw"))).await;
        assert!(refused.is_err(), "{user} connected as {stolen}");
    }
    // The victims were never kicked off: both still talk to the broker.
    let t = Topics::default();
    controller.subscribe_ok(&t.sync(&cid("controller"))).await;
    agent.subscribe_ok(&t.sync(&cid("agent-a"))).await;
    // A login's own further connections are accepted.
    let _watch = login(&broker, "agent-a", "agent-a.r00c0ffee").await;
    let _cli = login(&broker, "alice", "alice.12345678").await;
    broker.stop().await;
}

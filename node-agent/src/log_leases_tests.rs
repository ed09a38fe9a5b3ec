//! Claims about `log_leases.rs`.

use super::*;

fn key(client: &str, id: &str) -> RequestKey {
    (ClientId::new(client).expect("a client id"), id.to_owned())
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("w{i}.h.a")).collect()
}

#[test]
fn admission_refuses_over_either_cap_and_names_it() {
    let caps = StreamCaps {
        per_agent: 4,
        per_client: 2,
    };
    let table = [
        (0, 0, 2, None),
        (2, 0, 2, None),
        (3, 0, 2, Some(RefusalReason::AgentLimit)),
        (1, 1, 2, Some(RefusalReason::ClientLimit)),
        (0, 0, 3, Some(RefusalReason::ClientLimit)),
        (4, 0, 1, Some(RefusalReason::AgentLimit)),
    ];
    for (total, of_client, wanted, expected) in table {
        let got = admission(caps, total, of_client, wanted)
            .err()
            .map(|(r, _)| r);
        assert_eq!(got, expected, "{total} {of_client} {wanted}");
    }
    let (_, message) = admission(caps, 4, 0, 1).unwrap_err();
    assert!(message.contains("at most 4"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_follow_lease_ends_unless_renewed() {
    let mut leases = Leases::new(StreamCaps::default());
    let k = key("ank-1", "r1");
    leases.open(&k, true, names(1), Instant::now()).unwrap();
    assert_eq!(leases.next_deadline(), Some(Instant::now() + LOG_LEASE));
    tokio::time::advance(LOG_LEASE - Duration::from_millis(1)).await;
    assert!(leases.expire(Instant::now()).is_empty());
    assert!(leases.renew(&k, Instant::now()));
    tokio::time::advance(LOG_LEASE - Duration::from_millis(1)).await;
    assert!(
        leases.expire(Instant::now()).is_empty(),
        "the renewal counted"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        leases.expire(Instant::now()),
        [(k.clone(), StopReason::LeaseExpired, names(1))],
        "the expired request and the streams to stop"
    );
    assert!(leases.expire(Instant::now()).is_empty(), "expires once");
    assert!(
        !leases.renew(&k, Instant::now()),
        "no revival once stopping"
    );
    assert_eq!(leases.total(), 1, "the slot is held until the stream ended");
    leases.finished(&k, "w0.h.a");
    assert_eq!(leases.total(), 0);
    assert_eq!(leases.next_deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn a_stream_without_follow_is_bounded_in_time_and_not_renewable() {
    let mut leases = Leases::new(StreamCaps::default());
    let k = key("ank-1", "r1");
    leases.open(&k, false, names(1), Instant::now()).unwrap();
    assert!(!leases.renew(&k, Instant::now()));
    tokio::time::advance(NON_FOLLOW_MAX_DURATION).await;
    assert_eq!(
        leases.expire(Instant::now()),
        [(k, StopReason::Limit, names(1))]
    );
}

#[tokio::test(start_paused = true)]
async fn caps_count_running_streams_and_free_them_when_they_end() {
    let mut leases = Leases::new(StreamCaps {
        per_agent: 3,
        per_client: 2,
    });
    let now = Instant::now();
    leases.open(&key("c1", "r1"), true, names(2), now).unwrap();
    let refused = leases.open(&key("c1", "r2"), true, names(1), now);
    assert_eq!(refused.unwrap_err().0, RefusalReason::ClientLimit);
    leases.open(&key("c2", "r1"), true, names(1), now).unwrap();
    let refused = leases.open(&key("c3", "r1"), true, names(1), now);
    assert_eq!(refused.unwrap_err().0, RefusalReason::AgentLimit);
    let again = leases.open(&key("c2", "r1"), true, names(1), now);
    assert_eq!(again, Ok(Opened::AlreadyOpen), "a redelivery takes no slot");
    // A cancel frees the slots only once the streams ended.
    assert_eq!(leases.stop(&key("c1", "r1")), names(2));
    assert!(leases.stop(&key("c1", "r1")).is_empty(), "stops once");
    assert_eq!(leases.total(), 3);
    for name in names(2) {
        leases.finished(&key("c1", "r1"), &name);
    }
    leases.open(&key("c3", "r1"), true, names(1), now).unwrap();
}

#[tokio::test(start_paused = true)]
async fn only_the_same_client_id_reaches_a_request() {
    let mut leases = Leases::new(StreamCaps::default());
    leases
        .open(&key("c1", "r1"), true, names(1), Instant::now())
        .unwrap();
    assert!(leases.stop(&key("c2", "r1")).is_empty());
    assert!(!leases.renew(&key("c2", "r1"), Instant::now()));
    tokio::time::advance(LOG_LEASE).await;
    assert_eq!(leases.expire(Instant::now()).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn issue_14_opening_and_cancelling_in_a_loop_is_bounded_by_the_start_rate() {
    let mut leases = Leases::new(StreamCaps::default());
    let now = Instant::now();
    // Open and cancel at once, as a client in a loop would: the caps never fill up, but every
    // open would start a podman process.
    let started = (0..1000)
        .take_while(|i| {
            let k = key("c1", &format!("r{i}"));
            let opened = leases.open(&k, true, names(1), now);
            for name in leases.stop(&k) {
                leases.finished(&k, &name);
            }
            opened.is_ok()
        })
        .count();
    assert_eq!(started, MAX_STREAM_STARTS as usize);
    let refused = leases.open(&key("c2", "r1"), true, names(1), now);
    let (reason, message) = refused.unwrap_err();
    assert_eq!(
        reason,
        RefusalReason::RateLimit,
        "another client too: per agent"
    );
    assert!(message.contains("try again in 10s"), "{message}");
    // After the window, starts are admitted again.
    let later = now + STREAM_START_WINDOW;
    assert!(leases.open(&key("c2", "r2"), true, names(1), later).is_ok());
}

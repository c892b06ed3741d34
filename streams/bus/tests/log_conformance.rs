//! One conformance suite for every [`EventLog`]: the in-process log and Kafka (the broker that
//! `scripts/stack up` starts, at `FP_TEST_KAFKA_BROKERS`, default 127.0.0.1:19092). Each
//! test uses topics and groups of its own.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use finpulse_bus::log::{KafkaConfig, KafkaLog, MemoryLogConfig};
use finpulse_bus::{Consumer, EventLog, MemoryLog, Record};

/// Bound on waiting for what must happen (a rebalance takes seconds on Kafka); never a
/// performance assertion.
const PATIENCE: Duration = Duration::from_secs(60);

fn memory() -> Box<dyn EventLog> {
    Box::new(MemoryLog::new(MemoryLogConfig {
        partition_capacity: 1_000,
    }))
}

fn kafka() -> Box<dyn EventLog> {
    let brokers =
        std::env::var("FP_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    Box::new(
        KafkaLog::new(KafkaConfig {
            brokers,
            session_timeout_ms: 3_000,
            heartbeat_interval_ms: 500,
            max_poll_interval_ms: 10_000,
            ..KafkaConfig::default()
        })
        .expect("kafka client"),
    )
}

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

/// Polls until `want` records arrived.
async fn poll_n(consumer: &mut Box<dyn Consumer>, want: usize) -> Vec<Record> {
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while seen.len() < want {
            seen.extend(consumer.poll(want - seen.len()).await.expect("poll"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {want} records arrived", seen.len()));
    seen
}

async fn keys_keep_their_order_and_partition(log: Box<dyn EventLog>) {
    let topic = unique("order");
    log.ensure_topic(&topic, 4).await.unwrap();
    log.ensure_topic(&topic, 4)
        .await
        .expect("creating an existing topic is fine");
    let mut consumer = log.consumer(&topic, &unique("g")).await.unwrap();
    for i in 0..20 {
        let key = if i % 2 == 0 { "AAPL" } else { "MSFT" };
        log.append(&topic, key, Bytes::from(format!("{key}-{i}")))
            .await
            .unwrap();
    }
    let seen = poll_n(&mut consumer, 20).await;
    for key in ["AAPL", "MSFT"] {
        let mine: Vec<&Record> = seen
            .iter()
            .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
            .collect();
        assert_eq!(mine.len(), 10);
        assert!(mine.windows(2).all(|w| w[0].offset < w[1].offset));
        assert!(mine.iter().all(|r| r.partition == mine[0].partition));
        let payloads: Vec<String> = mine
            .iter()
            .map(|r| String::from_utf8(r.payload.to_vec()).unwrap())
            .collect();
        let expected: Vec<String> = (0..20)
            .filter(|i| (i % 2 == 0) == (key == "AAPL"))
            .map(|i| format!("{key}-{i}"))
            .collect();
        assert_eq!(payloads, expected);
    }
}

async fn uncommitted_records_are_redelivered_to_the_next_member(log: Box<dyn EventLog>) {
    let (topic, group) = (unique("redeliver"), unique("g"));
    log.ensure_topic(&topic, 1).await.unwrap();
    let mut first = log.consumer(&topic, &group).await.unwrap();
    for i in 0..5u8 {
        log.append(&topic, "k", Bytes::from(vec![i])).await.unwrap();
    }
    let records = poll_n(&mut first, 5).await;
    first.commit(&records[1]).await.unwrap();
    // The commit reached the log before the member left.
    tokio::time::timeout(PATIENCE, async {
        while log.group_lag(&topic, &group).await.unwrap() != 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the commit is visible");
    drop(first);
    let mut second = log.consumer(&topic, &group).await.unwrap();
    let again = poll_n(&mut second, 3).await;
    let offsets: Vec<i64> = again.iter().map(|r| r.offset - records[0].offset).collect();
    assert_eq!(offsets, vec![2, 3, 4]);
}

async fn groups_are_independent(log: Box<dyn EventLog>) {
    let topic = unique("groups");
    log.ensure_topic(&topic, 2).await.unwrap();
    let mut a = log.consumer(&topic, &unique("a")).await.unwrap();
    let mut b = log.consumer(&topic, &unique("b")).await.unwrap();
    for i in 0..10 {
        log.append(&topic, &format!("k{i}"), Bytes::from(vec![i as u8]))
            .await
            .unwrap();
    }
    let from_a = poll_n(&mut a, 10).await;
    for record in &from_a {
        a.commit(record).await.unwrap();
    }
    assert_eq!(
        poll_n(&mut b, 10).await.len(),
        10,
        "a's commits do not move b"
    );
}

async fn members_of_a_group_split_the_partitions(log: Box<dyn EventLog>) {
    let (topic, group) = (unique("split"), unique("g"));
    log.ensure_topic(&topic, 4).await.unwrap();
    let mut a = log.consumer(&topic, &group).await.unwrap();
    let mut b = log.consumer(&topic, &group).await.unwrap();
    let mut seen: HashMap<&str, HashSet<(i32, i64)>> = HashMap::new();
    let mut round = 0;
    // Keep producing until both members received something: a rebalance may take a moment.
    tokio::time::timeout(PATIENCE, async {
        while seen.get("a").is_none_or(HashSet::is_empty)
            || seen.get("b").is_none_or(HashSet::is_empty)
        {
            for key in 0..8 {
                log.append(&topic, &format!("key-{key}"), Bytes::from_static(b"x"))
                    .await
                    .unwrap();
            }
            round += 1;
            for (name, consumer) in [("a", &mut a), ("b", &mut b)] {
                if let Ok(Ok(records)) =
                    tokio::time::timeout(Duration::from_millis(200), consumer.poll(100)).await
                {
                    for record in &records {
                        consumer.commit(record).await.unwrap();
                    }
                    seen.entry(name)
                        .or_default()
                        .extend(records.iter().map(|r| (r.partition, r.offset)));
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("after {round} rounds one member still had nothing: {seen:?}"));
    let partitions = |name: &str| seen[name].iter().map(|(p, _)| *p).collect::<HashSet<_>>();
    assert!(
        partitions("a").len() < 4 || partitions("b").len() < 4,
        "both members read every partition"
    );
}

async fn group_lag_counts_what_is_not_committed(log: Box<dyn EventLog>) {
    let (topic, group) = (unique("lag"), unique("g"));
    log.ensure_topic(&topic, 3).await.unwrap();
    for i in 0..6 {
        log.append(&topic, &format!("k{i}"), Bytes::new())
            .await
            .unwrap();
    }
    assert_eq!(log.group_lag(&topic, &group).await.unwrap(), 6);
    let mut consumer = log.consumer(&topic, &group).await.unwrap();
    let records = poll_n(&mut consumer, 6).await;
    for record in &records {
        consumer.commit(record).await.unwrap();
    }
    tokio::time::timeout(PATIENCE, async {
        while log.group_lag(&topic, &group).await.unwrap() != 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("lag reaches zero once everything is committed");
    assert!(log.group_lag(&unique("missing"), &group).await.is_err());
}

macro_rules! conformance {
    ($engine:ident) => {
        mod $engine {
            #[tokio::test]
            async fn keys_keep_their_order_and_partition() {
                super::keys_keep_their_order_and_partition(super::$engine()).await;
            }
            #[tokio::test]
            async fn uncommitted_records_are_redelivered_to_the_next_member() {
                super::uncommitted_records_are_redelivered_to_the_next_member(super::$engine())
                    .await;
            }
            #[tokio::test]
            async fn groups_are_independent() {
                super::groups_are_independent(super::$engine()).await;
            }
            #[tokio::test]
            async fn members_of_a_group_split_the_partitions() {
                super::members_of_a_group_split_the_partitions(super::$engine()).await;
            }
            #[tokio::test]
            async fn group_lag_counts_what_is_not_committed() {
                super::group_lag_counts_what_is_not_committed(super::$engine()).await;
            }
        }
    };
}

conformance!(memory);
conformance!(kafka);

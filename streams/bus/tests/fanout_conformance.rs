//! One conformance suite for every [`FanOut`]: the in-process hub and Redis pub/sub (the server
//! at `FP_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), then what only a networked
//! fan-out has to do: share messages between replicas with one Redis subscription per channel
//! per replica, and survive a lost connection. Each test uses a channel prefix of its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use finpulse_bus::fanout::FanOutItem;
use finpulse_bus::{FanOut, LocalFanOut, RedisFanOut, RedisFanOutConfig, StreamMetrics};
use futures::StreamExt;
use futures::stream::BoxStream;

/// Bound on waiting for what must happen; never a performance assertion.
const PATIENCE: Duration = Duration::from_secs(30);

fn redis_url() -> String {
    std::env::var("FP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn unique(name: &str) -> String {
    format!("{name}-{}:", uuid::Uuid::new_v4().simple())
}

async fn redis_replica(url: &str, prefix: &str) -> RedisFanOut {
    RedisFanOut::connect(
        RedisFanOutConfig {
            url: url.to_owned(),
            channel_prefix: prefix.to_owned(),
            capacity: 64,
            max_channels: 100_000,
            tls: Default::default(),
        },
        &StreamMetrics::unregistered(),
    )
    .await
    .expect("redis at FP_TEST_REDIS_URL is running")
}

async fn next(sub: &mut BoxStream<'static, FanOutItem>) -> FanOutItem {
    tokio::time::timeout(PATIENCE, sub.next())
        .await
        .expect("a message arrives")
        .expect("the subscription stays open")
}

async fn next_message(sub: &mut BoxStream<'static, FanOutItem>) -> Bytes {
    match next(sub).await {
        FanOutItem::Message(bytes) => bytes,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Publishes probes on `channel` until `sub` receives one, then drains up to a fence, so what
/// follows is delivered to `sub` (a networked fan-out subscribes upstream asynchronously).
async fn until_live(
    fanout: &dyn FanOut,
    channel: &str,
    subs: &mut [&mut BoxStream<'static, FanOutItem>],
) {
    tokio::time::timeout(PATIENCE, async {
        'probing: loop {
            fanout
                .publish(channel, Bytes::from_static(b"probe"))
                .await
                .unwrap();
            let first = &mut subs[0];
            if let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(100), first.next()).await
            {
                break 'probing;
            }
        }
    })
    .await
    .expect("the subscription went live");
    fanout
        .publish(channel, Bytes::from_static(b"fence"))
        .await
        .unwrap();
    for sub in subs.iter_mut() {
        while next(sub).await != FanOutItem::Message(Bytes::from_static(b"fence")) {}
    }
}

async fn delivers_to_every_subscriber_of_the_channel_only(fanout: Arc<dyn FanOut>) {
    let mut a1 = fanout.subscribe("ticks.AAPL");
    let mut a2 = fanout.subscribe("ticks.AAPL");
    let mut m = fanout.subscribe("ticks.MSFT");
    until_live(fanout.as_ref(), "ticks.AAPL", &mut [&mut a1, &mut a2]).await;
    until_live(fanout.as_ref(), "ticks.MSFT", &mut [&mut m]).await;
    assert_eq!(fanout.local_subscribers("ticks.AAPL"), 2);
    for i in 0..10 {
        fanout
            .publish("ticks.AAPL", Bytes::from(format!("a{i}")))
            .await
            .unwrap();
    }
    fanout
        .publish("ticks.MSFT", Bytes::from_static(b"m"))
        .await
        .unwrap();
    for sub in [&mut a1, &mut a2] {
        for i in 0..10 {
            assert_eq!(next_message(sub).await, Bytes::from(format!("a{i}")));
        }
    }
    assert_eq!(next_message(&mut m).await, Bytes::from_static(b"m"));
    drop((a1, a2));
    assert_eq!(fanout.local_subscribers("ticks.AAPL"), 0);
    assert_eq!(fanout.local_subscribers("ticks.MSFT"), 1);
}

async fn a_slow_subscriber_is_told_what_it_missed(fanout: Arc<dyn FanOut>, capacity: usize) {
    let mut slow = fanout.subscribe("insights.AAPL");
    let mut fast = fanout.subscribe("insights.AAPL");
    until_live(
        fanout.as_ref(),
        "insights.AAPL",
        &mut [&mut slow, &mut fast],
    )
    .await;
    let total = capacity + 10;
    for i in 0..total {
        fanout
            .publish("insights.AAPL", Bytes::from(i.to_string()))
            .await
            .unwrap();
        // The fast one keeps up.
        assert_eq!(next_message(&mut fast).await, Bytes::from(i.to_string()));
    }
    let mut missed = 0;
    let mut received = Vec::new();
    while received.last() != Some(&Bytes::from((total - 1).to_string())) {
        match next(&mut slow).await {
            FanOutItem::Lagged(n) => missed += n,
            FanOutItem::Message(bytes) => received.push(bytes),
        }
    }
    assert!(missed > 0, "the slow subscriber was told it lagged");
    assert_eq!(missed as usize + received.len(), total);
}

async fn is_ready_when_connected(fanout: Arc<dyn FanOut>) {
    tokio::time::timeout(PATIENCE, async {
        while !fanout.is_ready().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the fan-out becomes ready");
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(Arc::new(LocalFanOut::new(64))).await;
                }
            )*
            #[tokio::test]
            async fn lagging() {
                super::a_slow_subscriber_is_told_what_it_missed(Arc::new(LocalFanOut::new(64)), 64)
                    .await;
            }
        }
        mod on_redis {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let fanout = redis_replica(&redis_url(), &unique("conf")).await;
                    super::$name(Arc::new(fanout)).await;
                }
            )*
            #[tokio::test]
            async fn lagging() {
                let fanout = redis_replica(&redis_url(), &unique("conf")).await;
                super::a_slow_subscriber_is_told_what_it_missed(Arc::new(fanout), 64).await;
            }
        }
    };
}

conformance!(
    delivers_to_every_subscriber_of_the_channel_only,
    is_ready_when_connected,
);

/// Reads `PUBSUB NUMSUB` for one channel: how many Redis connections subscribe to it.
async fn upstream_subscribers(channel: &str) -> i64 {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut connection)
        .await
        .unwrap();
    count
}

async fn wait_for_upstream(channel: &str, want: i64) {
    tokio::time::timeout(PATIENCE, async {
        while upstream_subscribers(channel).await != want {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{channel} never had {want} redis subscribers"));
}

#[tokio::test]
async fn replicas_share_messages_with_one_redis_subscription_per_channel_each() {
    let prefix = unique("replicas");
    let url = redis_url();
    let (a, b) = (
        redis_replica(&url, &prefix).await,
        redis_replica(&url, &prefix).await,
    );
    let mut on_a: Vec<_> = (0..5).map(|_| a.subscribe("insights.AAPL")).collect();
    let mut on_b: Vec<_> = (0..5).map(|_| b.subscribe("insights.AAPL")).collect();
    let upstream = format!("{prefix}insights.AAPL");
    wait_for_upstream(&upstream, 2).await;

    // Published on one replica, received by the sockets of both.
    a.publish("insights.AAPL", Bytes::from_static(b"from a"))
        .await
        .unwrap();
    b.publish("insights.AAPL", Bytes::from_static(b"from b"))
        .await
        .unwrap();
    for sub in on_a.iter_mut().chain(on_b.iter_mut()) {
        let mut got = vec![next_message(sub).await, next_message(sub).await];
        got.sort();
        assert_eq!(
            got,
            [Bytes::from_static(b"from a"), Bytes::from_static(b"from b")]
        );
    }

    // A replica whose sockets all left stops receiving the channel from Redis.
    on_b.clear();
    wait_for_upstream(&upstream, 1).await;
    on_a.clear();
    wait_for_upstream(&upstream, 0).await;
    a.shutdown().await;
    b.shutdown().await;
}

/// A Redis user of one test's own, so killing its connections touches nothing else that runs
/// at the same time; deleted (with its connections) when dropped.
struct TestUser {
    name: String,
}

impl TestUser {
    async fn create() -> Self {
        let name = format!("fp-test-{}", uuid::Uuid::new_v4().simple());
        let client = redis::Client::open(redis_url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", &name, "on", "nopass", "~*", "&*", "+@all"])
            .query_async(&mut connection)
            .await
            .expect("ACL SETUSER");
        Self { name }
    }

    fn url(&self) -> String {
        let base = redis_url();
        let rest = base.strip_prefix("redis://").expect("a redis:// url");
        format!("redis://{}:x@{rest}", self.name)
    }

    /// Turns the user off or on: while off, its reconnection attempts are refused, as if Redis
    /// were away.
    async fn set_enabled(&self, on: bool) {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", &self.name, if on { "on" } else { "off" }])
            .query_async(&mut connection)
            .await
            .expect("ACL SETUSER on/off");
    }

    async fn kill_connections(&self) -> i64 {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("CLIENT")
            .arg(&["KILL", "USER", &self.name])
            .query_async(&mut connection)
            .await
            .expect("CLIENT KILL USER")
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if let Ok(mut connection) =
            redis::Client::open(redis_url()).and_then(|c| c.get_connection())
        {
            let _: Result<i64, _> = redis::cmd("ACL")
                .arg(&["DELUSER", &self.name])
                .query(&mut connection);
        }
    }
}

#[tokio::test]
async fn a_lost_connection_keeps_subscribers_and_tells_them_they_may_have_missed_messages() {
    let user = TestUser::create().await;
    let prefix = unique("kill");
    let replica = redis_replica(&user.url(), &prefix).await;
    let publisher = redis_replica(&redis_url(), &prefix).await;
    let mut sub = replica.subscribe("insights.AAPL");
    let upstream = format!("{prefix}insights.AAPL");
    wait_for_upstream(&upstream, 1).await;
    publisher
        .publish("insights.AAPL", Bytes::from_static(b"before"))
        .await
        .unwrap();
    assert_eq!(next_message(&mut sub).await, Bytes::from_static(b"before"));

    // Redis goes away for this replica: its connections die and reconnecting is refused.
    user.set_enabled(false).await;
    assert!(
        user.kill_connections().await >= 1,
        "the replica's connections were killed"
    );
    wait_for_upstream(&upstream, 0).await;
    publisher
        .publish("insights.AAPL", Bytes::from_static(b"lost"))
        .await
        .unwrap();
    assert!(
        replica
            .publish("insights.AAPL", Bytes::from_static(b"nowhere"))
            .await
            .is_err(),
        "publishing without redis is an error the caller sees"
    );
    assert!(!replica.is_ready().await);

    // Redis is back: the subscriber, still open, is told it may have missed messages, and
    // deliveries resume.
    user.set_enabled(true).await;
    wait_for_upstream(&upstream, 1).await;
    assert_eq!(next(&mut sub).await, FanOutItem::Lagged(0));
    publisher
        .publish("insights.AAPL", Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(next_message(&mut sub).await, Bytes::from_static(b"after"));

    // The replica's own publishing connection came back too.
    tokio::time::timeout(PATIENCE, async {
        while replica
            .publish("insights.AAPL", Bytes::from_static(b"again"))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the publishing connection reconnects");
    assert_eq!(next_message(&mut sub).await, Bytes::from_static(b"again"));
    replica.shutdown().await;
    publisher.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error_at_start() {
    let error = RedisFanOut::connect(
        RedisFanOutConfig {
            url: "redis://127.0.0.1:1".into(),
            channel_prefix: unique("none"),
            capacity: 8,
            max_channels: 100_000,
            tls: Default::default(),
        },
        &StreamMetrics::unregistered(),
    )
    .await
    .expect_err("nothing listens on port 1");
    assert!(
        error.to_string().contains("failed to connect to redis"),
        "{error}"
    );
}

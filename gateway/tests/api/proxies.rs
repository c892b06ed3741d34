//! Behind a load balancer: the limits key on the address a trusted proxy forwards, and on the
//! TCP peer for everyone else, whatever forwarding headers they send.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};

async fn symbols_from(app: &TestApp, forwarded_for: &str) -> u16 {
    app.http
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"query": "{ symbols }"}))
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

fn three_requests_per_address(config: &mut finpulse_gateway::config::Config) {
    config.limits.requests_per_second_per_ip = 1;
    config.limits.request_burst_per_ip = 3;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate() {
    let app = spawn_app_with(|c| {
        three_requests_per_address(c);
        c.limits.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let mut first = Vec::new();
    for _ in 0..4 {
        first.push(symbols_from(&app, "198.51.100.1").await);
    }
    assert_eq!(first, [200, 200, 200, 429], "one client past its burst");
    // Another customer behind the same proxy is not held back by the first.
    assert_eq!(symbols_from(&app, "198.51.100.2").await, 200);
    // The first client cannot slip past by naming another address before the real one:
    // the proxy appends, and the nearest untrusted hop is the client.
    assert_eq!(symbols_from(&app, "203.0.113.50, 198.51.100.1").await, 429);
    // RFC 7239 `Forwarded` is read too, and wins over X-Forwarded-For.
    let forwarded = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("forwarded", "for=\"198.51.100.1:5555\"")
        .header("x-forwarded-for", "198.51.100.77")
        .json(&json!({"query": "{ symbols }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 429);
}

#[tokio::test]
async fn without_trusted_proxies_forwarding_headers_change_nothing() {
    let app = spawn_app_with(three_requests_per_address).await;
    let mut statuses = Vec::new();
    for client in [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
    ] {
        statuses.push(symbols_from(&app, client).await);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 429],
        "every request is the peer's, whatever it claims"
    );
}

#[tokio::test]
async fn a_trusted_proxys_connections_are_not_held_to_the_per_address_limit() {
    let app = spawn_app_with(|c| {
        c.limits.connections_per_ip = 2;
        c.limits.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    // Five connections at once from the proxy's address, each kept open by its own client.
    let mut clients = Vec::new();
    for n in 0..5 {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let status = client
            .post(format!("{}/graphql", app.address))
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .json(&json!({"query": "{ symbols }"}))
            .send()
            .await
            .expect("a connection past connections_per_ip is accepted from a trusted proxy")
            .status();
        assert_eq!(status, 200);
        clients.push(client);
    }
}

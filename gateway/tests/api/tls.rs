//! TLS on the listener as clients meet it, with a CA and certificates made in the test
//! (rcgen): HTTP/2 and HTTP/1.1 over TLS with HSTS, a graphql-ws subscription over `wss://`,
//! a renewed certificate served to new connections while an open subscription keeps receiving,
//! an expired certificate refused by a client, and bad files refused at start with their names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use finpulse_gateway::app::{Application, MarketSource};
use finpulse_gateway::config::Config;

use crate::helpers::{PATIENCE, TestApp, eventually, spawn_app_with, tick};

/// A test CA that signs leaf certificates for `localhost` and 127.0.0.1.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "finpulse test CA");
        let cert = params.self_signed(&key).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// A leaf (PEM certificate, PEM key, DER certificate); `expired` puts its end in 2020.
    fn leaf(&self, expired: bool) -> (String, String, Vec<u8>) {
        self.leaf_until(expired.then_some((2020, 1, 1)))
    }

    /// A leaf valid until `until` (year, month, day), or for centuries.
    fn leaf_until(&self, until: Option<(i32, u8, u8)>) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        if let Some((year, month, day)) = until {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(year, month, day);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    /// A client configuration trusting this CA only.
    #[allow(deprecated)] // ring: see gateway/src/tls.rs
    fn client(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap())
            .unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    fn https(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap())
    }
}

/// Writes the pair where the server reads it, atomically (a rename), as renewal tools do.
fn install(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    for (path, text) in [(&key_path, key), (&cert_path, cert)] {
        let staged = path.with_extension("new");
        std::fs::write(&staged, text).unwrap();
        std::fs::rename(&staged, path).unwrap();
    }
    (cert_path, key_path)
}

/// The app serving TLS with the pair at `cert` and `key`; its HTTP client (metrics, GraphQL)
/// speaks HTTPS and trusts `ca`.
async fn spawn_tls(ca: &TestCa, cert: PathBuf, key: PathBuf) -> TestApp {
    let mut app = spawn_app_with(move |config| {
        config.tls.cert = Some(cert);
        config.tls.key = Some(key);
        config.tls.reload_secs = 0.1;
    })
    .await;
    app.address = format!("https://localhost:{}", app.port);
    app.http = ca.https().build().unwrap();
    app
}

/// A TLS connection to the app; the leaf certificate it presented, and the stream.
async fn connect(
    ca: &TestCa,
    port: u16,
    alpn: &[&[u8]],
) -> Result<(Vec<u8>, TlsStream<TcpStream>), std::io::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let connector = tokio_rustls::TlsConnector::from(ca.client(alpn));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = connector.connect(name, tcp).await?;
    let leaf = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    Ok((leaf, stream))
}

type Wss = WebSocketStream<TlsStream<TcpStream>>;

/// A graphql-ws socket over `wss://`, initialised and subscribed to AAPL's ticks.
async fn subscribe_over_wss(ca: &TestCa, port: u16) -> Wss {
    let (_, stream) = connect(ca, port, &[b"http/1.1"]).await.unwrap();
    let mut request = format!("wss://localhost:{port}/graphql")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    send(&mut ws, json!({"type": "connection_init"})).await;
    assert_eq!(recv(&mut ws).await["type"], "connection_ack");
    send(
        &mut ws,
        json!({"id": "t", "type": "subscribe", "payload": {"query": "subscription { ticks(symbols: [\"AAPL\"]) { price } }"}}),
    )
    .await;
    ws
}

async fn send(ws: &mut Wss, message: Value) {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

async fn recv(ws: &mut Wss) -> Value {
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a message arrives")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Publishes a tick at `price` and reads it from `ws`.
async fn tick_arrives(app: &TestApp, ws: &mut Wss, seconds: i64, price: f64) {
    app.publish_ticks(&[tick("AAPL", seconds, price, 10.0)])
        .await;
    let next = recv(ws).await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(next["payload"]["data"]["ticks"]["price"], price, "{next}");
}

#[tokio::test]
async fn https_serves_http2_and_http1_with_hsts_and_subscriptions_over_wss() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = ca.leaf(false);
    let (cert, key) = install(dir.path(), &cert, &key);
    let app = spawn_tls(&ca, cert, key).await;
    let url = format!("https://localhost:{}/healthz", app.port);

    let h2 = ca.https().build().unwrap().get(&url).send().await.unwrap();
    assert_eq!(h2.status(), 200);
    assert_eq!(h2.version(), reqwest::Version::HTTP_2, "ALPN chose h2");
    assert_eq!(
        h2.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let h1 = ca
        .https()
        .http1_only()
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(h1.status(), 200);
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    // A GraphQL query over TLS (the app's own client speaks HTTPS).
    let (_, answer) = app.graphql("{ symbols }", json!({}), None).await;
    assert!(answer["errors"].is_null(), "{answer}");
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", app.port))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");

    let mut ws = subscribe_over_wss(&ca, app.port).await;
    app.wait_for_subscribers("ticks.AAPL", 1).await;
    tick_arrives(&app, &mut ws, 0, 101.5).await;
}

#[tokio::test]
async fn a_renewed_certificate_reaches_new_connections_while_open_sockets_stay() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, first_der) = ca.leaf(false);
    let (cert, key) = install(dir.path(), &cert, &key);
    let app = spawn_tls(&ca, cert, key).await;
    let mut ws = subscribe_over_wss(&ca, app.port).await;
    app.wait_for_subscribers("ticks.AAPL", 1).await;
    tick_arrives(&app, &mut ws, 0, 100.0).await;
    let (presented, _) = connect(&ca, app.port, &[b"h2"]).await.unwrap();
    assert_eq!(presented, first_der);

    // 2030-06-01 00:00 UTC, what the expiry gauge must say once it is served.
    let (renewed, renewed_key, renewed_der) = ca.leaf_until(Some((2030, 6, 1)));
    install(dir.path(), &renewed, &renewed_key);
    eventually("new connections get the renewed certificate", || {
        let (ca, port, renewed_der) = (&ca, app.port, renewed_der.clone());
        async move {
            connect(ca, port, &[b"h2"])
                .await
                .is_ok_and(|(presented, _)| presented == renewed_der)
        }
    })
    .await;
    app.wait_for_metric("finpulse_tls_reloads_total{outcome=\"ok\"}", 1.0)
        .await;
    assert_eq!(
        app.metric("finpulse_tls_certificate_expiry_timestamp_seconds")
            .await,
        1_906_502_400.0
    );
    // The socket opened under the old certificate is still there and still served.
    tick_arrives(&app, &mut ws, 1, 100.5).await;

    // A broken renewal (a key that is not the certificate's) keeps the working pair. (A
    // watcher that looks between the two renames may count a failure for the pair above too:
    // count from here.)
    let failed = "finpulse_tls_reloads_total{outcome=\"failed\"}";
    let failed_before = app.metric(failed).await;
    let (other, _, _) = ca.leaf(false);
    install(dir.path(), &other, &renewed_key);
    app.wait_for_metric(failed, failed_before + 1.0).await;
    let (presented, _) = connect(&ca, app.port, &[b"h2"]).await.unwrap();
    assert_eq!(presented, renewed_der);
}

#[tokio::test]
async fn an_expired_certificate_is_refused_by_clients() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = ca.leaf(true);
    let (cert, key) = install(dir.path(), &cert, &key);
    let app = spawn_tls(&ca, cert, key).await;
    let refused = connect(&ca, app.port, &[b"h2"]).await.unwrap_err();
    assert!(
        refused.to_string().to_lowercase().contains("expired"),
        "{refused}"
    );
    let https = ca
        .https()
        .build()
        .unwrap()
        .get(format!("https://localhost:{}/healthz", app.port))
        .send()
        .await;
    assert!(https.is_err());
    // Read by a client that, unlike the two above, ignores the certificate's dates.
    let mut scraper = app;
    scraper.http = ca
        .https()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    // Both refused handshakes are counted (the server may count the second a moment after
    // the client gave up).
    scraper
        .wait_for_metric("finpulse_tls_handshake_failures_total", 2.0)
        .await;
    // 2020-01-01 00:00 UTC: an alert on this gauge would have fired long ago.
    assert_eq!(
        scraper
            .metric("finpulse_tls_certificate_expiry_timestamp_seconds")
            .await,
        1_577_836_800.0
    );
}

#[tokio::test]
async fn bad_tls_files_stop_the_start_naming_them() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, _, _) = ca.leaf(false);
    let (_, other_key, _) = ca.leaf(false);
    let (cert_path, key_path) = install(dir.path(), &cert, &other_key);
    let start = |cert: PathBuf, key: PathBuf| {
        let data = dir.path().join("data");
        async move {
            let mut config = Config {
                listen: "127.0.0.1:0".parse().unwrap(),
                data_dir: data,
                ..Config::default()
            };
            config.market.simulator.enabled = false;
            config.inference.enabled = false;
            config.tls.cert = Some(cert);
            config.tls.key = Some(key);
            match Application::build(config, MarketSource::Simulator).await {
                Ok(_) => panic!("the application started"),
                Err(e) => format!("{e:#}"),
            }
        }
    };
    let mismatch = start(cert_path.clone(), key_path.clone()).await;
    assert!(
        mismatch.contains("key.pem") && mismatch.contains("cert.pem"),
        "{mismatch}"
    );
    let missing = start(dir.path().join("nope.pem"), key_path).await;
    assert!(missing.contains("nope.pem"), "{missing}");
    // One without the other is a configuration error.
    let mut config = Config::default();
    config.tls.cert = Some(cert_path);
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tls.key")
    );
}

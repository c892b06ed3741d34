//! The Redis fan-out over TLS (`rediss://`), against a real `redis-server` started by this test
//! with `--tls-port` and a certificate from a CA made here (rcgen), trusted as a private CA is
//! (`redis_tls.ca_file`).
//!
//! Checked: a message published over `rediss://` reaches a subscriber of another client; the
//! TLS port refuses a plain-text client; a server whose certificate no trusted CA signed is
//! refused at connect.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use finpulse_bus::fanout::FanOutItem;
use finpulse_bus::{FanOut, RedisFanOut, RedisFanOutConfig, StreamMetrics};
use finpulse_core::redis_tls::RedisTls;
use futures::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `ca.pem` and a server pair for 127.0.0.1 signed by it into `dir`.
fn certificates(dir: &Path, ca_name: &str) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
}

/// `redis-server` speaking TLS only, on a free port.
fn tls_redis(dir: &Path) -> (Server, u16) {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--tls-cert-file")
        .arg(dir.join("server.pem"))
        .arg("--tls-key-file")
        .arg(dir.join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(dir.join("ca.pem"))
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/setup-test.sh)");
    let server = Server(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server did not listen on {port}");
}

async fn fanout(url: String, ca: &Path) -> Result<RedisFanOut, finpulse_bus::StreamError> {
    RedisFanOut::connect(
        RedisFanOutConfig {
            url,
            channel_prefix: "tls-test:".into(),
            capacity: 16,
            max_channels: 100,
            tls: RedisTls {
                ca_pem: Some(std::fs::read(ca).unwrap()),
                client: None,
            },
        },
        &StreamMetrics::unregistered(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fan_out_speaks_tls_to_redis_and_checks_its_certificate() {
    let trusted = tempfile::tempdir().unwrap();
    certificates(trusted.path(), "finpulse test CA");
    let ca = trusted.path().join("ca.pem");
    let (_server, port) = tls_redis(trusted.path());

    let publisher = fanout(format!("rediss://127.0.0.1:{port}"), &ca)
        .await
        .unwrap();
    let subscriber = fanout(format!("rediss://127.0.0.1:{port}"), &ca)
        .await
        .unwrap();
    let mut messages = subscriber.subscribe("quotes");
    let delivered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            publisher
                .publish("quotes", Bytes::from_static(b"over tls"))
                .await
                .unwrap();
            if let Ok(Some(FanOutItem::Message(bytes))) =
                tokio::time::timeout(Duration::from_millis(200), messages.next()).await
            {
                return bytes;
            }
        }
    })
    .await
    .expect("a message crossed the TLS connection");
    assert_eq!(delivered, Bytes::from_static(b"over tls"));

    let plain = fanout(format!("redis://127.0.0.1:{port}"), &ca).await;
    assert!(plain.is_err(), "the TLS port refuses plain text");

    // Another CA's server: its certificate chains to nothing trusted here.
    let stranger = tempfile::tempdir().unwrap();
    certificates(stranger.path(), "someone else's CA");
    let (_other, other_port) = tls_redis(stranger.path());
    let refused = fanout(format!("rediss://127.0.0.1:{other_port}"), &ca).await;
    let Err(error) = refused else {
        panic!("an untrusted certificate is refused");
    };
    let error = error.to_string();
    assert!(error.contains("failed to connect to redis"), "{error}");
}

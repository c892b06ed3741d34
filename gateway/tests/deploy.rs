//! `deploy/` cannot be run here (no Docker engine), so it is kept honest by reading: the compose
//! file parses as YAML with its anchors merged, has the services a distributed deployment needs,
//! passes every replica a configuration the real `finpulse` accepts and a command its CLI
//! parses, and the Dockerfile copies paths that exist and builds the binary that exists. What
//! the image would serve is checked by running the real binary with the Dockerfile's own
//! environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use finpulse_gateway::cli::{Cli, Command};
use finpulse_gateway::config::{Config, Role};
use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate sits in the workspace")
        .to_path_buf()
}

fn compose() -> Value {
    let text = std::fs::read_to_string(repo().join("deploy/docker-compose.yml"))
        .expect("deploy/docker-compose.yml");
    let mut compose: Value = serde_yaml_ng::from_str(&text).expect("the compose file is YAML");
    compose.apply_merge().expect("its merge keys resolve");
    compose
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("service {name}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|v| v.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    let mut merged = service["environment"].clone();
    merged.apply_merge().expect("environment merges");
    merged
        .as_mapping()
        .expect("environment as a mapping")
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => panic!("unexpected environment value {other:?}"),
            };
            (k.as_str().expect("a name").to_owned(), value)
        })
        .collect()
}

#[test]
fn compose_runs_kafka_in_kraft_mode_with_redis_postgres_two_gateways_and_two_workers() {
    let compose = compose();
    let kafka = service(&compose, "kafka");
    assert!(
        kafka["image"]
            .as_str()
            .unwrap()
            .starts_with("apache/kafka:")
    );
    let kafka_env = environment(kafka);
    assert!(
        kafka_env["KAFKA_PROCESS_ROLES"].contains("controller"),
        "KRaft"
    );
    assert!(!kafka_env.contains_key("KAFKA_ZOOKEEPER_CONNECT"));
    assert!(
        service(&compose, "redis")["image"]
            .as_str()
            .unwrap()
            .starts_with("redis:")
    );
    assert!(
        service(&compose, "postgres")["image"]
            .as_str()
            .unwrap()
            .starts_with("postgres:")
    );

    let mut roles = BTreeMap::new();
    for name in ["gateway-1", "gateway-2", "worker-1", "worker-2", "migrate"] {
        let replica = service(&compose, name);
        assert_eq!(
            replica["build"]["dockerfile"], "deploy/Dockerfile",
            "{name}"
        );
        let command = strings(&replica["command"]);
        let cli = Cli::try_parse_from(std::iter::once("finpulse".to_owned()).chain(command))
            .unwrap_or_else(|e| panic!("{name}'s command: {e}"));
        if let Some(Command::Serve {
            role: Some(role), ..
        }) = cli.command
        {
            roles.insert(name, role);
        }
    }
    assert_eq!(
        roles,
        BTreeMap::from([
            ("gateway-1", Role::Gateway),
            ("gateway-2", Role::Gateway),
            ("worker-1", Role::Worker),
            ("worker-2", Role::Worker),
        ])
    );
}

#[test]
// figment's Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
fn every_replica_gets_a_configuration_finpulse_accepts() {
    let compose = compose();
    for name in ["gateway-1", "gateway-2", "worker-1", "worker-2", "migrate"] {
        let env = environment(service(&compose, name));
        figment::Jail::expect_with(|jail| {
            for (key, value) in &env {
                // `${VAR:?message}` is filled in by compose from the operator's environment.
                let value = if value.starts_with("${") {
                    "a-secret-from-the-operator-32-bytes-or-more"
                } else {
                    value
                };
                jail.set_env(key, value);
            }
            let mut config = Config::load(None).map_err(|e| format!("{name}: {e}"))?;
            assert!(
                config.dev_tokens().is_err(),
                "{name} would serve development tokens"
            );
            assert!(
                config.kafka_brokers.is_some() && config.redis_url.is_some(),
                "{name}"
            );
            assert!(config.database_url().starts_with("postgres://"), "{name}");
            // The roles the commands give must be valid with this configuration.
            for role in [Role::Gateway, Role::Worker] {
                config.role = role;
                config.validate().map_err(|e| format!("{name}: {e}"))?;
            }
            Ok(())
        });
    }
    // Exactly one worker runs the simulator, so ticks are not produced twice.
    let simulating: Vec<&str> = ["worker-1", "worker-2"]
        .into_iter()
        .filter(|name| {
            environment(service(&compose, name))["FINPULSE_MARKET__SIMULATOR__ENABLED"] == "true"
        })
        .collect();
    assert_eq!(simulating, ["worker-1"]);
}

#[test]
fn the_dockerfile_copies_what_exists_and_builds_the_finpulse_binary() {
    let text =
        std::fs::read_to_string(repo().join("deploy/Dockerfile")).expect("deploy/Dockerfile");
    let mut stages = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("FROM ") {
            stages.push(rest.split_whitespace().last().unwrap().to_owned());
        }
        if let Some(rest) = line.strip_prefix("COPY ") {
            if rest.starts_with("--from=") {
                continue;
            }
            let parts: Vec<&str> = rest.split_whitespace().collect();
            for source in &parts[..parts.len() - 1] {
                assert!(
                    source == &"." || repo().join(source).exists(),
                    "COPY source {source} exists in the repository"
                );
            }
        }
    }
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");
    assert!(text.contains("--bin finpulse"));
    assert!(text.contains("ENTRYPOINT [\"finpulse\"]"));
    assert!(repo().join("gateway/src/main.rs").exists());
}

/// The `ENV` settings of the Dockerfile's last stage, as the image's process sees them.
fn dockerfile_environment() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(repo().join("deploy/Dockerfile")).expect("deploy/Dockerfile");
    let runtime = text.rsplit("\nFROM ").next().expect("a last stage");
    // Continuation lines joined, so one `ENV` instruction is one line.
    let joined = runtime.replace("\\\n", " ");
    let mut env = BTreeMap::new();
    for line in joined.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("ENV ") else {
            continue;
        };
        for pair in rest.split_whitespace() {
            let (key, value) = pair.split_once('=').expect("ENV KEY=VALUE");
            env.insert(key.to_owned(), value.trim_matches('"').to_owned());
        }
    }
    env
}

/// The real binary, started with `env` (the image's paths to models replaced by the
/// repository's, the data folder by a fresh one), and the address it says it listens on.
struct Running {
    child: std::process::Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_finpulse_with(mut env: BTreeMap<String, String>) -> Running {
    use std::io::BufRead;
    let data = tempfile::tempdir().unwrap();
    env.insert(
        "FINPULSE_DATA_DIR".into(),
        data.path().display().to_string(),
    );
    env.insert(
        "FINPULSE_INFERENCE__MANIFEST".into(),
        repo().join("models.toml").display().to_string(),
    );
    // What is checked here is the HTTP surface, not the models: start in seconds.
    env.insert("FINPULSE_INFERENCE__ENABLED".into(), "false".into());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_finpulse"))
        .arg("serve")
        .env_remove("FINPULSE_CONFIG")
        .envs(&env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("finpulse starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if line.contains("finpulse listening") {
                let _ = sender.send(line.clone());
            }
        }
    });
    let line = receiver
        .recv_timeout(std::time::Duration::from_secs(300))
        .expect("finpulse says where it listens");
    let address = serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|v| v["fields"]["address"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            line.split("address=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .expect("an address in the log line")
                .to_owned()
        });
    let port = address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .expect("a port");
    Running {
        child,
        port,
        _data: data,
    }
}

#[tokio::test]
async fn the_image_environment_serves_no_development_tokens() {
    let mut env = dockerfile_environment();
    let listen = env
        .get("FINPULSE_LISTEN")
        .expect("the image sets FINPULSE_LISTEN");
    let host = listen.rsplit_once(':').expect("host:port").0.to_owned();
    assert!(
        !host.parse::<std::net::IpAddr>().unwrap().is_loopback(),
        "the image listens for the network: {listen}"
    );
    env.insert("FINPULSE_LISTEN".into(), format!("{host}:0"));
    let running = run_finpulse_with(env);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", running.port);
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the server is up");
    for request in [
        http.post(format!("{base}/dev/token"))
            .json(&serde_json::json!({"user": "alice", "roles": ["admin"]})),
        http.get(format!("{base}/dev/token")),
    ] {
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 404);
    }
}

/// `make run`: no configuration but a loopback port (and logs a test can read).
#[tokio::test]
async fn the_same_binary_on_loopback_with_no_configuration_still_serves_development_tokens() {
    let env = BTreeMap::from([
        ("FINPULSE_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("FINPULSE_LOG_FORMAT".to_owned(), "json".to_owned()),
    ]);
    let running = run_finpulse_with(env);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", running.port);
    let offer: serde_json::Value = http
        .get(format!("{base}/dev/token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(offer["roles"], serde_json::json!(["customer", "agent"]));
    let issued = http
        .post(format!("{base}/dev/token"))
        .json(&serde_json::json!({"user": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 200);
}

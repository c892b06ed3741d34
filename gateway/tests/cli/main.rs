//! The `finpulse` binary as a user runs it. [`recommend`]: the recommender's commands (offline
//! evaluation, imports, training and publishing, features); [`support`]: the support desk's
//! commands (FAQ evaluation, import and export, the classifier with a test file).

mod recommend;
mod support;

use std::process::Command;

pub(crate) fn finpulse(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_finpulse"));
    command
        .env("FINPULSE_DATA_DIR", data_dir)
        .env("FINPULSE_LISTEN", "127.0.0.1:0")
        .env("FINPULSE_LOG_LEVEL", "warn")
        .env(
            "FINPULSE_INFERENCE__MANIFEST",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../models.toml"),
        )
        .env_remove("FINPULSE_CONFIG");
    command
}

#[test]
fn help_lists_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let output = finpulse(dir.path()).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for subcommand in ["serve", "migrate", "token", "replay", "eval"] {
        assert!(
            help.contains(subcommand),
            "{subcommand} missing from --help:\n{help}"
        );
    }
}

#[test]
fn a_typo_in_the_environment_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = finpulse(dir.path())
        .env("FINPULSE_LISEN", "x")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("invalid configuration") && stderr.contains("lisen"),
        "{stderr}"
    );
}

#[test]
fn token_prints_a_token_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let output = finpulse(dir.path())
        .args(["token", "--user", "alice"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");
    // The secret was generated into the data dir; the same dir verifies the token.
    let config = finpulse_gateway::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let auth =
        finpulse_gateway::auth::Authenticator::from_config(&config.auth, &config.data_dir).unwrap();
    assert_eq!(
        auth.verify(&token).unwrap().subject.as_deref(),
        Some("alice")
    );
    let empty = finpulse(dir.path())
        .args(["token", "--user", " "])
        .output()
        .unwrap();
    assert!(!empty.status.success());
}

/// Writes `rows` to `csv`, replays it with `--exit` and returns what it reported.
fn replay_to_the_end(data_dir: &std::path::Path, csv: &std::path::Path, rows: &str) -> String {
    std::fs::write(csv, rows).unwrap();
    let output = finpulse(data_dir)
        .args(["replay", csv.to_str().unwrap(), "--exit"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

#[test]
fn replay_loads_a_csv_and_reports_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ticks.csv");
    let mut rows = String::from("ts,symbol,price,size\n");
    for second in 0..150 {
        rows.push_str(&format!(
            "2026-03-02T14:{:02}:{:02}Z,AAPL,{},10\n",
            30 + second / 60,
            second % 60,
            100 + second
        ));
    }
    rows.push_str("yesterday,AAPL,1,1\n");
    let stderr = replay_to_the_end(dir.path(), &csv, &rows);
    assert!(
        stderr.contains("replayed 150 ticks") && stderr.contains("skipped 1 rows"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 152"),
        "the bad row is named: {stderr}"
    );
    let missing = finpulse(dir.path())
        .args(["replay", "/no/such.csv"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

#[test]
fn replay_accounts_for_every_row_even_after_an_open_quote() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ticks.csv");
    let mut rows = String::from("ts,symbol,price,size\n");
    for line in 2..=20 {
        let row = match line {
            11 => "2026-03-02T14:30:11Z,\"AAPL,111,10".to_owned(),
            13 => "2026-03-02T14:30:13Z,A B C,113,10".to_owned(),
            14 => "2026-03-02T14:30:14Z,<script>,114,10".to_owned(),
            _ => format!("2026-03-02T14:30:{line:02}Z,AAPL,{},10", 100 + line),
        };
        rows.push_str(&row);
        rows.push('\n');
    }
    let stderr = replay_to_the_end(dir.path(), &csv, &rows);
    // 19 rows: 16 published, 3 skipped, each named by its line.
    assert!(
        stderr.contains("replayed 16 ticks") && stderr.contains("skipped 3 rows of 19"),
        "{stderr}"
    );
    assert!(stderr.contains("line 11: a quote is opened"), "{stderr}");
    assert!(
        stderr.contains("line 13: invalid symbol `A B C`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 14: invalid symbol `<SCRIPT>`"),
        "{stderr}"
    );
}

#[test]
fn train_classifier_reports_held_out_accuracy_and_saves_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tickets.json");
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../inference/tests/fixtures/support_tickets.csv"
    );
    let output = finpulse(dir.path())
        .args(["train", "classifier", "--data", data, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("accuracy"), "{stdout}");
    assert!(stdout.contains("majority baseline 0.2500"), "{stdout}");
    assert!(stdout.contains("card_payment"), "{stdout}");
    assert!(out.is_file());

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "words,category\nhello,greeting\n").unwrap();
    let output = finpulse(dir.path())
        .args(["train", "classifier", "--data"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("x.json"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`text` and `label`"), "{stderr}");
}

#[test]
fn token_lifetimes_and_users_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        ["token", "--user", "alice", "--ttl", "18446744073709551615"],
        ["token", "--user", "alice", "--ttl", "0"],
        ["token", "--user", "", "--ttl", "60"],
    ] {
        let output = finpulse(dir.path()).args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains("lifetime") || stderr.contains("user"),
            "{args:?}: {stderr}"
        );
    }
}

/// The keys of a JSON object, sorted: what a contract test compares.
pub(crate) fn sorted_keys(value: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect();
    keys.sort_unstable();
    keys
}

/// `finpulse audit verify` on a log written by the store: intact, then with an entry edited
/// behind finpulse's back, then with its newest entry removed (found with `--head`).
#[tokio::test]
async fn audit_verify_finds_an_edited_entry_and_a_removed_head() {
    use finpulse_store::AuditData;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("finpulse.db").display());
    let store = finpulse_store::SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    for n in 0..3 {
        store
            .append_audit(&finpulse_core::audit::NewAuditEntry {
                at: chrono::Utc::now(),
                actor: "sam".into(),
                roles: vec!["agent".into()],
                action: "support.conversation.read".into(),
                subject: Some("alice".into()),
                target: Some(format!("c{n}")),
                detail: serde_json::json!({}),
            })
            .await
            .unwrap();
    }
    let verify = |extra: &[&str]| {
        finpulse(dir.path())
            .args(["audit", "verify"])
            .args(extra)
            .output()
            .unwrap()
    };
    let intact = verify(&[]);
    let stdout = String::from_utf8_lossy(&intact.stdout).into_owned();
    assert!(intact.status.success(), "{intact:?}");
    assert!(stdout.contains("intact: 3 entries"), "{stdout}");
    let head = stdout.trim().rsplit(' ').next().unwrap().to_owned();
    assert_eq!(head.len(), 64, "{stdout}");
    assert!(verify(&["--head", &head]).status.success());
    let bad_head = verify(&["--head", "not-a-hash"]);
    assert!(!bad_head.status.success());
    assert!(String::from_utf8_lossy(&bad_head.stderr).contains("64-digit"));

    store
        .run_raw_sql("DELETE FROM audit_log WHERE seq = 3")
        .await
        .unwrap();
    assert!(
        verify(&[]).status.success(),
        "a shorter chain is still whole"
    );
    let truncated = verify(&["--head", &head]);
    assert_eq!(truncated.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&truncated.stderr).contains("not in the log"),
        "{truncated:?}"
    );
    store
        .run_raw_sql("UPDATE audit_log SET subject = 'bob' WHERE seq = 2")
        .await
        .unwrap();
    let edited = verify(&[]);
    assert_eq!(edited.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&edited.stderr).into_owned();
    assert!(stderr.contains("entry 2 was changed"), "{stderr}");
}

//! The support desk's commands: `eval faq`, `import faq`, `export faq`, and the classifier
//! trained with a test file and evaluated by `eval classifier`.

use super::{finpulse, sorted_keys};

/// 56 labelled support tickets in four languages.
const TICKETS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../inference/tests/fixtures/support_tickets.csv"
);

/// The shipped knowledge base written as the CSV `eval faq` reads, and the shipped queries.
fn faq_fixture(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use finpulse_support::faq::{FaqFormat, demo, write};
    let faq = dir.join("faq.csv");
    std::fs::write(&faq, write(&demo(), FaqFormat::Csv).unwrap()).unwrap();
    let queries = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../streams/support/data/faq-queries.csv");
    (faq, queries)
}

#[test]
fn eval_faq_prints_the_contracted_json_and_fusion_does_not_lose_to_dense() {
    let dir = tempfile::tempdir().unwrap();
    let (faq, queries) = faq_fixture(dir.path());
    let output = finpulse(dir.path())
        .args(["eval", "faq", "--json", "--faq"])
        .arg(&faq)
        .arg("--queries")
        .arg(&queries)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let keys = sorted_keys(&report);
    assert_eq!(keys, ["dense", "lexical", "mrr5", "recall1", "recall5"]);
    for part in ["lexical", "dense"] {
        let inner = sorted_keys(&report[part]);
        assert_eq!(inner, ["mrr5", "recall1", "recall5"], "{report}");
    }
    let value = |path: &[&str]| {
        let mut v = &report;
        for key in path {
            v = &v[key];
        }
        v.as_f64().unwrap()
    };
    for path in [
        &["mrr5"][..],
        &["recall1"],
        &["recall5"],
        &["dense", "mrr5"],
        &["lexical", "recall5"],
    ] {
        assert!((0.0..=1.0).contains(&value(path)), "{path:?}: {report}");
    }
    assert!(value(&["recall1"]) <= value(&["recall5"]));
    // Sentence embeddings find paraphrases BM25 cannot; the fusion, calibrated on the FAQ
    // alone, must not do worse than dense.
    assert!(
        value(&["dense", "mrr5"]) > value(&["lexical", "mrr5"]) + 0.05,
        "{report}"
    );
    assert!(
        value(&["mrr5"]) >= value(&["dense", "mrr5"]) - 0.01,
        "{report}"
    );
}

#[test]
fn eval_faq_refuses_bad_files_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (faq, queries) = faq_fixture(dir.path());
    let wrong_header = dir.path().join("queries.csv");
    std::fs::write(&wrong_header, "text,label\nmy card,card-declined\n").unwrap();
    let not_utf8 = dir.path().join("faq-latin1.csv");
    std::fs::write(
        &not_utf8,
        b"id,question,answer,language\nx,Gr\xfc\xdfe,Hallo,de\n".as_slice(),
    )
    .unwrap();
    for (faq_file, queries_file, expected) in [
        (&faq, &wrong_header, "must name query and id"),
        (&not_utf8, &queries, "is not UTF-8"),
        (&faq, &dir.path().join("missing.csv"), "failed to read"),
    ] {
        let output = finpulse(dir.path())
            .args(["eval", "faq", "--faq"])
            .arg(faq_file)
            .arg("--queries")
            .arg(queries_file)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

#[tokio::test]
async fn import_faq_stores_the_entries_and_names_bad_rows() {
    use finpulse_store::{SqlStore, SupportData};
    let dir = tempfile::tempdir().unwrap();
    let mut text = finpulse_support::faq::DEMO_FAQ.to_owned();
    text.push_str("{\"id\":\"broken\",\"language\":\"en\",\"questions\":[],\"answer\":\"x\"}\n");
    let file = dir.path().join("faq.jsonl");
    std::fs::write(&file, text).unwrap();
    let output = finpulse(dir.path())
        .args(["import", "faq"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("imported 131 FAQ entries (de, en, es, fr)")
            && stderr.contains("line 132: an entry needs at least one question"),
        "{stderr}"
    );
    let url = format!("sqlite:{}", dir.path().join("finpulse.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    let entries = store.faq_entries().await.unwrap();
    assert_eq!(entries.len(), 131);
    let declined = entries
        .iter()
        .find(|e| e.id == "card-declined" && e.language == "de")
        .expect("the German version is stored");
    assert!(declined.answer.contains("{card_status}"));
    // Importing again replaces rather than duplicates.
    let again = finpulse(dir.path())
        .args(["import", "faq"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(store.faq_entries().await.unwrap().len(), 131);
    // Exported and read back, in both formats, it is the same knowledge base.
    for name in ["export.csv", "export.jsonl"] {
        let exported = dir.path().join(name);
        let output = finpulse(dir.path())
            .args(["export", "faq"])
            .arg(&exported)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let back = finpulse_support::faq::read(&exported).unwrap();
        assert!(back.skipped.is_empty(), "{name}: {:?}", back.skipped);
        assert_eq!(back.entries, entries, "{name}");
    }
}

#[test]
fn train_classifier_with_a_test_file_and_eval_classifier_print_the_contracted_figures() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::fs::read_to_string(TICKETS).unwrap();
    let mut lines = fixture.lines();
    let header = lines.next().unwrap();
    let (mut train, mut test) = (vec![header], vec![header]);
    for (i, line) in lines.enumerate() {
        if i % 4 == 3 {
            test.push(line)
        } else {
            train.push(line)
        }
    }
    let (train_file, test_file) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    std::fs::write(&train_file, train.join("\n")).unwrap();
    std::fs::write(&test_file, test.join("\n")).unwrap();
    let model = dir.path().join("model.json");
    let output = finpulse(dir.path())
        .args(["train", "classifier", "--data"])
        .arg(&train_file)
        .arg("--out")
        .arg(&model)
        .arg("--test")
        .arg(&test_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    // The saved model's own count: with a test file no training row is held out.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(
        saved["report"]["trained_on"],
        train.len() - 1,
        "every training row is trained on: {stdout}"
    );
    assert!(
        stdout.contains(&format!("trained on {0} of {0} examples", train.len() - 1)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} examples, accuracy", test.len() - 1)),
        "{stdout}"
    );

    let output = finpulse(dir.path())
        .args(["eval", "classifier", "--json", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&test_file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let keys = sorted_keys(&report);
    assert_eq!(keys, ["accuracy", "macro_f1"]);
    let accuracy = report["accuracy"].as_f64().unwrap();
    // Four balanced labels: a model that learned nothing scores about 0.25.
    assert!(accuracy > 0.5 && accuracy <= 1.0, "{report}");
    assert!((0.0..=1.0).contains(&report["macro_f1"].as_f64().unwrap()));

    // The table names each label; a missing model file is a clear error.
    let table = finpulse(dir.path())
        .args(["eval", "classifier", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&test_file)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains("card_payment"));
    let missing = finpulse(dir.path())
        .args(["eval", "classifier", "--model"])
        .arg(dir.path().join("none.json"))
        .arg("--data")
        .arg(&test_file)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("none.json"));
}

#[test]
fn train_encoder_writes_a_model_the_printed_manifest_entry_serves() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = TICKETS;
    // Every fourth ticket to a test file: the encoder trains on the rest and reports on it.
    let text = std::fs::read_to_string(TICKETS).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let test: Vec<&str> = std::iter::once(header)
        .chain(lines.skip(3).step_by(4))
        .collect();
    let test_file = dir.path().join("test.csv");
    std::fs::write(&test_file, test.join("\n")).unwrap();
    let tuned = dir.path().join("tuned");
    let output = finpulse(dir.path())
        .args(["train", "encoder", "--data", fixture, "--out"])
        .arg(&tuned)
        .arg("--test")
        .arg(&test_file)
        .args(["--epochs", "1", "--batch", "8", "--max-length", "64"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let against = format!(
        "test {}: {} examples, accuracy",
        test_file.display(),
        test.len() - 1
    );
    for part in [
        "epoch 1: validation accuracy".to_owned(),
        format!("frozen encoder, {against}"),
        format!("tuned encoder, {against}"),
    ] {
        assert!(stdout.contains(&part), "{part}: {stdout}");
    }
    assert!(tuned.join("model.onnx").exists() && tuned.join("tokenizer.json").exists());

    // The entry it prints, added to the manifest, serves the tuned model to the classifier.
    let entry = stdout
        .split("\n\n")
        .find(|part| part.starts_with("[[models]]"))
        .unwrap_or_else(|| panic!("no manifest entry printed: {stdout}"));
    assert!(
        entry.contains("name = \"multilingual-e5-small-tuned\""),
        "{entry}"
    );
    let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");
    let real = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../models.toml"))
        .unwrap()
        .replace("dir = \"models\"", &format!("dir = {models:?}"));
    let manifest = dir.path().join("models.toml");
    std::fs::write(&manifest, format!("{real}\n{entry}\n")).unwrap();
    let model = dir.path().join("classifier.json");
    let output = finpulse(dir.path())
        .env("FINPULSE_INFERENCE__MANIFEST", &manifest)
        .args([
            "train",
            "classifier",
            "--model",
            "multilingual-e5-small-tuned",
        ])
        .args(["--data", fixture, "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let eval = || {
        finpulse(dir.path())
            .env("FINPULSE_INFERENCE__MANIFEST", &manifest)
            .args(["eval", "classifier", "--json", "--data", fixture, "--model"])
            .arg(&model)
            .output()
            .unwrap()
    };
    let output = eval();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["accuracy"].as_f64().unwrap() > 0.5, "{report}");

    // A tampered file no longer matches the printed checksum: refused, not served.
    std::fs::write(tuned.join("model.onnx"), b"not a model").unwrap();
    let output = eval();
    assert!(!output.status.success(), "{output:?}");
}

#[test]
fn train_encoder_refuses_bad_settings_and_other_graphs_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = TICKETS;
    for (args, expected) in [
        (
            vec!["--holdout", "0.9"],
            "--holdout must be between 0 and 0.5",
        ),
        (vec!["--model", "minilm-l6-v2"], "convert-e5"),
        (vec!["--model", "no-such-model"], "no model `no-such-model`"),
        (vec!["--epochs", "0"], "epochs and batch must be positive"),
    ] {
        let output = finpulse(dir.path())
            .args(["train", "encoder", "--data", fixture, "--out"])
            .arg(dir.path().join("out"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let output = finpulse(dir.path())
        .args(["train", "encoder", "--data", "/no/such.csv", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/no/such.csv"));
}

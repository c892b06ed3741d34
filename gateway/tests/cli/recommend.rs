//! The recommender's commands: `eval recommender` (the contracted JSON, bad files named by
//! line), `import items|users|interactions`, `train recommender` (evaluates, writes the ranker,
//! publishes the version servers follow; `--dry-run`) and `features`.

use super::{finpulse, sorted_keys};

fn recommender_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../streams/recommend/tests/fixtures")
        .join(name)
}

#[test]
fn eval_recommender_prints_the_contracted_json() {
    let dir = tempfile::tempdir().unwrap();
    let output = finpulse(dir.path())
        .args(["eval", "recommender", "--k", "5", "--json", "--train"])
        .arg(recommender_fixture("train.tsv"))
        .arg("--test")
        .arg(recommender_fixture("test.tsv"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        sorted_keys(&report),
        [
            "baseline",
            "ndcg",
            "precision",
            "recall",
            "train_s",
            "users"
        ]
    );
    let baseline = report["baseline"].as_object().unwrap();
    for key in ["users", "precision", "recall", "ndcg"] {
        assert!(baseline.contains_key(key), "baseline lacks {key}: {report}");
    }
    assert_eq!(report["users"], 200);
    let ndcg = report["ndcg"].as_f64().unwrap();
    assert!(
        ndcg > report["baseline"]["ndcg"].as_f64().unwrap() && ndcg <= 1.0,
        "{report}"
    );
    assert!(report["train_s"].as_f64().unwrap() >= 0.0);
}

#[test]
fn eval_recommender_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.tsv");
    std::fs::write(
        &broken,
        "user\titem\trating\ttimestamp\nu1\ti1\t5\t100\nu1\ti2\t5\n",
    )
    .unwrap();
    let output = finpulse(dir.path())
        .args(["eval", "recommender", "--train"])
        .arg(&broken)
        .arg("--test")
        .arg(recommender_fixture("test.tsv"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("broken.tsv:3: expected 4 tab-separated fields, found 3"),
        "{stderr}"
    );
    let missing = finpulse(dir.path())
        .args([
            "eval",
            "recommender",
            "--train",
            "/nonexistent.tsv",
            "--test",
            "/nonexistent.tsv",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8(missing.stderr).unwrap();
    assert!(
        stderr.contains("failed to read /nonexistent.tsv"),
        "{stderr}"
    );
}

#[tokio::test]
async fn import_loads_items_users_and_interactions_and_names_bad_rows() {
    use finpulse_store::{RecommendData, SqlStore};
    let dir = tempfile::tempdir().unwrap();
    let items = dir.path().join("items.csv");
    std::fs::write(
        &items,
        "id,kind,name,asset_class,sector,risk,complex,tags,description\n\
         FUND1,instrument,Fund One,fund,bonds,2,false,income;beginner,a cautious bond fund\n\
         BAD,instrument,Bad,fund,bonds,12,false,,risk out of range\n\
         learn-1,article,Bonds 101,,bonds,,false,beginner,what a bond is\n",
    )
    .unwrap();
    let users = dir.path().join("users.jsonl");
    std::fs::write(
        &users,
        "{\"id\":\"u1\",\"risk_profile\":3,\"experience\":\"beginner\",\"country\":\"DE\"}\nnot json\n",
    )
    .unwrap();
    let interactions = dir.path().join("interactions.csv");
    std::fs::write(
        &interactions,
        "user,item,kind,at\nu1,FUND1,save,2026-12-01T10:00:00Z\nu1,FUND1,hug,2026-12-01T10:01:00Z\n",
    )
    .unwrap();
    for (what, file, summary, bad_line) in [
        (
            "items",
            &items,
            "imported 2 of 3 rows",
            "line 3: risk class 12 is outside 1 to 7",
        ),
        ("users", &users, "imported 1 of 2 rows", "line 2:"),
        (
            "interactions",
            &interactions,
            "imported 1 of 2 rows",
            "line 3:",
        ),
    ] {
        let output = finpulse(dir.path())
            .args(["import", what])
            .arg(file)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains(summary) && stderr.contains(bad_line),
            "{what}: {stderr}"
        );
    }
    let url = format!("sqlite:{}", dir.path().join("finpulse.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    let stored: Vec<String> = store
        .items(&[], None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(stored, ["FUND1", "learn-1"]);
    assert_eq!(
        store
            .user_profile("u1")
            .await
            .unwrap()
            .unwrap()
            .risk_profile,
        3
    );
    assert_eq!(store.user_interactions("u1", 10).await.unwrap().len(), 1);
    let unknown = finpulse(dir.path())
        .args(["import", "items"])
        .arg(dir.path().join("items.txt"))
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8(unknown.stderr)
            .unwrap()
            .contains(".jsonl, .ndjson or .csv")
    );
}

#[test]
fn train_recommender_evaluates_on_the_stored_interactions() {
    let dir = tempfile::tempdir().unwrap();
    let empty = finpulse(dir.path())
        .args(["train", "recommender"])
        .output()
        .unwrap();
    assert!(!empty.status.success());
    assert!(
        String::from_utf8(empty.stderr)
            .unwrap()
            .contains("no interactions")
    );
    // The synthetic fixture's rows as clicks, through the import.
    let tsv = std::fs::read_to_string(recommender_fixture("train.tsv")).unwrap();
    let mut csv = String::from("user,item,kind,at\n");
    for line in tsv.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let at_ms: i64 = fields[3].parse::<i64>().unwrap() * 1000;
        csv.push_str(&format!("{},{},click,{at_ms}\n", fields[0], fields[1]));
    }
    let file = dir.path().join("clicks.csv");
    std::fs::write(&file, csv).unwrap();
    // A catalogue of the fixture's items, which the ranker's features describe.
    let mut ids: Vec<&str> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').nth(1))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let catalogue: String = ids
        .iter()
        .map(|id| format!("{{\"id\": \"{id}\", \"kind\": \"article\", \"name\": \"Guide {id}\", \"sector\": \"topic {}\", \"description\": \"A guide to saving and investing, part {id}.\"}}\n", id.len()))
        .collect();
    let items = dir.path().join("items.jsonl");
    std::fs::write(&items, catalogue).unwrap();
    let imported = finpulse(dir.path())
        .args(["import", "items"])
        .arg(&items)
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    let imported = finpulse(dir.path())
        .args(["import", "interactions"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    // The repository's models, with the ranker written into this test's folder.
    let repository_manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../models.toml");
    let models_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");
    let ranker = dir.path().join("ranker.onnx");
    let manifest = dir.path().join("models.toml");
    std::fs::write(
        &manifest,
        std::fs::read_to_string(repository_manifest)
            .unwrap()
            .replace("dir = \"models\"", &format!("dir = \"{models_dir}\""))
            .replace(
                "\"ranker/ranker-v2.onnx\"",
                &format!("\"{}\"", ranker.display()),
            ),
    )
    .unwrap();
    let output = finpulse(dir.path())
        .env("FINPULSE_INFERENCE__MANIFEST", &manifest)
        .args(["train", "recommender", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["users"], 200, "{report}");
    assert!(
        report["ndcg"].as_f64().unwrap() > report["baseline"]["ndcg"].as_f64().unwrap(),
        "{report}"
    );
    // The learned ranker, trained from the same interactions, written as ONNX for servers.
    assert_eq!(
        report["ranker"]["file"],
        ranker.display().to_string(),
        "{report}"
    );
    assert_eq!(report["ranker"]["weights"].as_array().unwrap().len(), 8);
    let bytes = std::fs::read(&ranker).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("Sigmoid"));
    // The model trained on everything is now the version the store serves to every server,
    // with the ranker inside.
    let published = report["published"]["version"].as_str().unwrap().to_owned();
    assert_eq!(
        report["published"]["interactions"],
        tsv.lines().skip(1).count(),
        "{report}"
    );
    let stored = |dir: &std::path::Path| {
        let url = format!("sqlite:{}", dir.join("finpulse.db").display());
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                use finpulse_store::ModelArtifacts;
                let store = finpulse_store::SqlStore::connect(&url).await.unwrap();
                (
                    store.serving_model("recommender").await.unwrap(),
                    store.model_versions("recommender").await.unwrap(),
                )
            })
    };
    let (serving, versions) = stored(dir.path());
    assert_eq!(serving.as_deref(), Some(published.as_str()));
    assert_eq!(versions.len(), 1);
    assert!(versions[0].size_bytes > 1_000, "{versions:?}");
    assert_eq!(
        versions[0].summary["ranker"], "onnx:ranker.onnx",
        "{versions:?}"
    );

    // A dry run evaluates only: no new version, the ranker file untouched.
    std::fs::remove_file(&ranker).unwrap();
    let output = finpulse(dir.path())
        .env("FINPULSE_INFERENCE__MANIFEST", &manifest)
        .args(["train", "recommender", "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("dry run: nothing written or published"),
        "{text}"
    );
    assert!(!ranker.exists());
    let (serving, versions) = stored(dir.path());
    assert_eq!(serving.as_deref(), Some(published.as_str()));
    assert_eq!(versions.len(), 1);
}

#[test]
fn features_are_materialized_listed_and_read_as_of_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../streams/recommend/data/catalogue.jsonl"
    );
    let items: Vec<&str> = include_str!("../../../streams/recommend/data/catalogue.jsonl")
        .lines()
        .take(2)
        .collect();
    let id = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (first, second) = (id(items[0]), id(items[1]));
    let imported = finpulse(dir.path())
        .args(["import", "items", catalogue])
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    let clicks = dir.path().join("clicks.csv");
    std::fs::write(
        &clicks,
        format!(
            "user,item,kind,at\nalice,{first},click,2026-11-30T09:00:00Z\nalice,{second},save,2026-11-30T10:00:00Z\nalice,{first},click,2026-11-30T15:00:00Z\n"
        ),
    )
    .unwrap();
    let imported = finpulse(dir.path())
        .args(["import", "interactions"])
        .arg(&clicks)
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");

    let run = |args: &[&str]| {
        let output = finpulse(dir.path())
            .arg("features")
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (ok, out, err) = run(&["materialize", "--as-of", "2026-11-30T12:00:00Z"]);
    assert!(ok, "{err}");
    assert!(out.contains("user_engagement@1: 1 rows"), "{out}");
    let (ok, out, _) = run(&["list", "--json"]);
    assert!(ok);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["set"]["name"], "user_engagement");
    assert_eq!(listed[0]["stored"]["rows"], 1);
    assert!(
        listed[1]["stored"]["rows"].as_u64().unwrap() > 100,
        "every item: {}",
        listed[1]
    );

    // As of 13:00 the 15:00 click had not happened; before 12:00 nothing was materialized.
    let (ok, out, err) = run(&[
        "show",
        "user_engagement",
        "--entity",
        "alice",
        "--as-of",
        "2026-11-30T13:00:00Z",
        "--json",
    ]);
    assert!(ok, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    let values = &shown["values"][0]["row"]["values"];
    assert_eq!(
        (
            values["interactions_30d"].as_i64(),
            values["saves_30d"].as_i64()
        ),
        (Some(2), Some(1)),
        "{shown}"
    );
    let (_, out, _) = run(&[
        "show",
        "user_engagement",
        "--entity",
        "alice",
        "--as-of",
        "2026-11-30T11:00:00Z",
        "--json",
    ]);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(shown["values"][0]["row"].is_null(), "{shown}");

    let (ok, _, err) = run(&["show", "nope"]);
    assert!(
        !ok && err.contains("no feature set `nope`") && err.contains("item_popularity@1"),
        "{err}"
    );
    let (ok, _, err) = run(&["materialize", "--as-of", "yesterday"]);
    assert!(!ok && err.contains("RFC 3339"), "{err}");
}

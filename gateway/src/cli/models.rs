//! The flags of `finpulse train` and `finpulse eval`: the offline commands that train and
//! evaluate models (the recommender, the classifier and its encoder, FAQ retrieval).

use std::path::PathBuf;

use clap::Subcommand;
use finpulse_recommend::models::CfKind;

/// What `finpulse train` trains.
#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// The recommender, from the interactions in the store: tuned and evaluated on each
    /// customer's newest 20 % of interactions against popularity, then fitted on all of them.
    ///
    /// The model is then kept in the store as a new version that every running server serves
    /// within `recommend.service.follow_secs` (workers also retrain on their schedule,
    /// `recommend.service.retrain_secs`); the previous versions stay for
    /// `rollbackRecommender`.
    Recommender {
        /// The cut-off of precision, recall and nDCG.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        k: u16,
        /// Print the evaluation as one JSON object.
        #[arg(long)]
        json: bool,
        /// Evaluate only: write no ranker file and publish no version.
        #[arg(long)]
        dry_run: bool,
    },
    /// A text classifier: a softmax head on sentence embeddings, evaluated on a held-out split
    /// of `--data`, or, with `--test`, trained on all of `--data` and evaluated on `--test`.
    Classifier {
        /// CSV with a header and `text` and `label` columns.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the trained classifier (JSON).
        #[arg(long)]
        out: PathBuf,
        /// A separate labelled CSV to report on; the whole of `--data` is trained on.
        #[arg(long)]
        test: Option<PathBuf>,
        /// Share of each label held out for evaluation (0 to 0.5).
        #[arg(long, default_value_t = 0.25)]
        holdout: f32,
        /// The most passes over the training set (early stopping on a validation fifth of it
        /// picks fewer; with `--no-tune`, exactly this many).
        #[arg(long, default_value_t = 1000)]
        epochs: usize,
        /// Seed of the train/held-out split.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The embedding model (a name in the manifest); the manifest's default otherwise.
        /// `multilingual-e5-small` reads German, French, Spanish and more.
        #[arg(long)]
        model: Option<String>,
        /// Train with L2 1e-4 for `--epochs` passes instead of choosing both on a validation
        /// split of the training data.
        #[arg(long)]
        no_tune: bool,
        /// The embedding head alone: no TF-IDF head fused in (by default one is, its weight
        /// chosen on the validation split, and left out when it does not help there).
        #[arg(long)]
        no_lexical: bool,
    },
    /// Fine-tunes the multilingual encoder itself on a labelled CSV (`text,label`) with
    /// candle, on the CPU: a head is probed on the frozen vectors, then encoder and head train
    /// together, early-stopped on a validation fifth. Prints the classifier's report on frozen
    /// and tuned vectors side by side (held-out split, or `--test`), writes `OUT/model.onnx`
    /// and `OUT/tokenizer.json`, and the manifest entry that serves them.
    Encoder {
        /// CSV with a header and `text` and `label` columns.
        #[arg(long)]
        data: PathBuf,
        /// Folder to write the tuned model into.
        #[arg(long)]
        out: PathBuf,
        /// A separate labelled CSV to report on; the whole of `--data` is trained on.
        #[arg(long)]
        test: Option<PathBuf>,
        /// The manifest's model to start from (the graph `scripts/convert-e5.py` writes).
        #[arg(long, default_value = "multilingual-e5-small")]
        model: String,
        /// Share of each label held out for the report (0 to 0.5).
        #[arg(long, default_value_t = 0.25)]
        holdout: f32,
        /// The most passes over the training data (the best on validation is kept).
        #[arg(long, default_value_t = 4)]
        epochs: usize,
        /// Examples per step.
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Peak step size of the encoder's layers (AdamW, warm-up then linear decay).
        #[arg(long, default_value_t = 3e-5)]
        learning_rate: f64,
        /// Longest text in tokens while training.
        #[arg(long, default_value_t = 128)]
        max_length: usize,
        /// Seed of the splits and the batch order.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

/// What `finpulse eval` evaluates.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// A classifier saved by `finpulse train classifier`, on a labelled CSV (`text,label`):
    /// accuracy, macro-F1 and per-label scores; `--json` prints `{"accuracy":…,"macro_f1":…}`.
    Classifier {
        /// The saved classifier (JSON).
        #[arg(long)]
        model: PathBuf,
        /// CSV with a header and `text` and `label` columns.
        #[arg(long)]
        data: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The recommender's collaborative model against a popularity baseline.
    ///
    /// Both files are tab-separated with the header `user item rating timestamp` (MovieLens
    /// `u.data` layout); every row is a positive interaction. For every user with a test row,
    /// all items outside the user's training rows are ranked.
    Recommender {
        /// Training interactions.
        #[arg(long)]
        train: PathBuf,
        /// Held-out interactions.
        #[arg(long)]
        test: PathBuf,
        /// The cut-off of precision, recall and nDCG.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        k: u16,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// The collaborative model: `auto` (EASE up to 20,000 items, ALS beyond), `ease`,
        /// `als` or `knn`.
        #[arg(long, value_enum, default_value = "auto")]
        model: CfKind,
        /// Train with the default settings instead of tuning them on a validation split.
        #[arg(long)]
        no_tune: bool,
    },
    /// FAQ retrieval: lexical (BM25), dense (embeddings) and their fusion side by side.
    ///
    /// `--faq` is a CSV with the header `id,question,answer,language` (rows sharing an id and
    /// language are question variants of one entry; rows sharing an id in other languages are
    /// its translations), `--queries` a CSV with `query,id`. Prints MRR@5, recall@1 and
    /// recall@5 of the right id. The fusion is calibrated on the FAQ alone (each question
    /// variant asked with itself left out), never on the queries.
    Faq {
        /// The knowledge base (.csv as above, or .jsonl of entries).
        #[arg(long)]
        faq: PathBuf,
        /// Labelled queries: `query,id`.
        #[arg(long)]
        queries: PathBuf,
        /// Print `{"mrr5","recall1","recall5","lexical":{…},"dense":{…}}` instead of a table.
        #[arg(long)]
        json: bool,
        /// An embedding model of the manifest for dense retrieval; repeat for several (the
        /// first is the primary, the one the `dense` figures are of; the fusion may use all).
        /// Default: multilingual-e5-small, then minilm-l6-v2.
        #[arg(long = "model", default_values_t = [
            "multilingual-e5-small".to_owned(),
            "minilm-l6-v2".to_owned(),
        ])]
        models: Vec<String>,
    },
}

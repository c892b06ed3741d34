//! A trained recommender as bytes, so one training serves every replica.
//!
//! What training computed is written whole: the catalogue it was trained on (item indices
//! follow its order), the interaction matrix, the collaborative model, popularity overall and
//! per segment, the feature-store columns it read, the description vectors and the learned
//! ranker's ONNX file. What is configuration (interaction weights, suitability and business
//! rules) is not: a replica applies its own, as it would to a model it trained itself.
//!
//! The format is postcard (compact, and float arrays stay four bytes a value), led by a format
//! number that a build reading another refuses by name, so a rolling upgrade that changes the
//! format makes the new build train its own model instead of misreading the old one.

use std::path::Path;

use finpulse_core::recommend::Item;
use serde::{Deserialize, Serialize};

use super::Recommender;
use crate::RecommendError;
use crate::catalogue::Catalogue;
use crate::learned_ranker::Content;
use crate::models::{Cf, Interactions};
use crate::recommender::Weights;
use crate::rules::Rules;

/// The snapshot format this build writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    version: String,
    /// The catalogue as a JSON array: items have optional fields, which a format that does not
    /// describe itself cannot skip.
    catalogue: String,
    matrix: Interactions,
    model: Cf,
    recency: f32,
    popularity: Vec<f32>,
    segment_popularity: Vec<(u8, String, Vec<f32>)>,
    trending: Option<(String, Vec<f32>)>,
    momentum: Option<(String, Vec<Option<f64>>)>,
    content: Option<Content>,
    /// The learned ranker: its name in provenance and its ONNX file.
    ranker: Option<(String, Vec<u8>)>,
}

impl Recommender {
    /// The trained model as bytes ([`Recommender::from_bytes`] reads them back). Blocking for
    /// large catalogues (an EASE model is items² floats).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut segments: Vec<(u8, String, Vec<f32>)> = self
            .segment_popularity
            .iter()
            .map(|((risk, country), counts)| (*risk, country.clone(), counts.clone()))
            .collect();
        segments.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let snapshot = Snapshot {
            format: SNAPSHOT_FORMAT,
            version: self.version.clone(),
            catalogue: serde_json::to_string(self.catalogue.items()).expect("items serialise"),
            matrix: self.matrix.clone(),
            model: self.model.clone(),
            recency: self.recency,
            popularity: self.popularity.clone(),
            segment_popularity: segments,
            trending: self.trending.clone(),
            momentum: self.momentum.clone(),
            content: self.content.clone(),
            ranker: self
                .ranker
                .as_ref()
                .map(|ranker| (ranker.name().to_owned(), ranker.onnx().to_vec())),
        };
        postcard::to_stdvec(&snapshot).expect("a trained model serialises")
    }

    /// A model written by [`Recommender::to_bytes`], served with this replica's `weights` and
    /// `rules`. The learned ranker is loaded under `manifest`'s runtime when one is given and
    /// its contract still matches; without it the `ranked` strategy falls back to the
    /// collaborative order, as it does on a replica with no models. Blocking.
    pub fn from_bytes(
        bytes: &[u8],
        weights: Weights,
        rules: Rules,
        manifest: Option<&Path>,
    ) -> Result<Self, RecommendError> {
        let refuse = |version: &str, reason: String| RecommendError::StoredModel {
            version: version.to_owned(),
            reason,
        };
        let (format, _) = postcard::take_from_bytes::<u32>(bytes)
            .map_err(|e| refuse("?", format!("unreadable: {e}")))?;
        if format != SNAPSHOT_FORMAT {
            return Err(refuse(
                "?",
                format!("written in format {format}, this build reads {SNAPSHOT_FORMAT}"),
            ));
        }
        let snapshot: Snapshot =
            postcard::from_bytes(bytes).map_err(|e| refuse("?", format!("unreadable: {e}")))?;
        let version = snapshot.version;
        let items: Vec<Item> = serde_json::from_str(&snapshot.catalogue)
            .map_err(|e| refuse(&version, format!("catalogue: {e}")))?;
        let mut catalogue = Catalogue::default();
        for item in items {
            catalogue.upsert(item);
        }
        let count = snapshot.matrix.item_count();
        let consistent = catalogue.len() == count
            && snapshot.popularity.len() == count
            && snapshot
                .segment_popularity
                .iter()
                .all(|(_, _, counts)| counts.len() == count)
            && catalogue
                .items()
                .iter()
                .enumerate()
                .all(|(n, item)| snapshot.matrix.item_index(&item.id) == Some(n as u32));
        if !consistent {
            return Err(refuse(
                &version,
                "its catalogue, matrix and popularity disagree".into(),
            ));
        }
        let ranker = snapshot
            .ranker
            .and_then(|(name, onnx)| load_ranker(manifest?, &name, &onnx));
        let model = Self {
            catalogue,
            matrix: snapshot.matrix,
            model: snapshot.model,
            version,
            weights,
            rules,
            recency: snapshot.recency,
            popularity: snapshot.popularity,
            segment_popularity: snapshot
                .segment_popularity
                .into_iter()
                .map(|(risk, country, counts)| ((risk, country), counts))
                .collect(),
            trending: None,
            momentum: None,
            content: None,
            ranker,
        };
        // The same checks as at training: a column of another length is left out.
        Ok(model
            .with_trending(snapshot.trending)
            .with_momentum(snapshot.momentum)
            .with_content(snapshot.content))
    }
}

/// The stored ranker under this replica's runtime, `None` (logged) when it cannot serve here.
fn load_ranker(
    manifest: &Path,
    name: &str,
    onnx: &[u8],
) -> Option<std::sync::Arc<finpulse_inference::onnx_ranker::OnnxRanker>> {
    let manifest = finpulse_inference::Manifest::load(manifest)
        .inspect_err(|error| tracing::info!(%error, "no ranker: the model manifest cannot be read"))
        .ok()?;
    let spec = manifest.ranker.clone()?;
    if spec.features != crate::learned_ranker::FEATURES {
        tracing::warn!(features = ?spec.features, "the manifest's ranker takes other features than finpulse computes; the stored ranker is not used");
        return None;
    }
    finpulse_inference::onnx_ranker::OnnxRanker::from_bytes(&manifest, spec, onnx, name)
        .inspect_err(|error| tracing::warn!(%error, "the stored ranker cannot be served here"))
        .ok()
        .map(std::sync::Arc::new)
}

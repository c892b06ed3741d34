//! The classifier's data: labelled CSV files, and the stratified, seeded splits training
//! evaluates and tunes on.

use std::collections::BTreeMap;
use std::path::Path;

use crate::InferenceError;

/// Reads `text,label` rows (with a header) from a CSV file.
pub fn read_labelled_csv(path: &Path) -> Result<Vec<(String, String)>, InferenceError> {
    read_labelled_csv_column(path, "label")
}

/// Reads the `text` column and the label column `label` (rows with a header; other columns
/// are ignored): one file can label its texts several ways (a category and a sentiment).
pub fn read_labelled_csv_column(
    path: &Path,
    label_column: &str,
) -> Result<Vec<(String, String)>, InferenceError> {
    let bad = |reason: String| InferenceError::BadInput(format!("{}: {reason}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(text), Some(label)) = (column("text"), column(label_column)) else {
        return Err(bad(format!(
            "needs a header with `text` and `{label_column}` columns"
        )));
    };
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(format!("line {}: {e}", line + 2)))?;
        let (Some(t), Some(l)) = (record.get(text), record.get(label)) else {
            return Err(bad(format!("line {}: missing a column", line + 2)));
        };
        if t.trim().is_empty() || l.trim().is_empty() {
            return Err(bad(format!("line {}: empty text or label", line + 2)));
        }
        rows.push((t.trim().to_owned(), l.trim().to_owned()));
    }
    Ok(rows)
}

/// A small deterministic generator for the split (SplitMix64).
pub(crate) fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Each group (the examples of one label) split into kept and held-out parts: `share` of it
/// held out (rounded, at least one kept), chosen by a seeded shuffle.
pub(crate) fn split(groups: &[Vec<usize>], share: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let (mut kept, mut held) = (Vec::new(), Vec::new());
    for (k, group) in groups.iter().enumerate() {
        let mut indices = group.clone();
        shuffle(&mut indices, seed.wrapping_add(k as u64));
        let count =
            ((indices.len() as f32 * share).round() as usize).min(indices.len().saturating_sub(1));
        held.extend_from_slice(&indices[..count]);
        kept.extend_from_slice(&indices[count..]);
    }
    (kept, held)
}

/// The distinct labels of `examples` (sorted) and, for each, the indices of its examples: the
/// groups the splits stratify by.
pub(crate) fn groups_by_label(examples: &[String]) -> (Vec<String>, Vec<Vec<usize>>) {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, label) in examples.iter().enumerate() {
        by_label.entry(label.as_str()).or_default().push(i);
    }
    let labels = by_label.keys().map(|l| (*l).to_owned()).collect();
    (labels, by_label.into_values().collect())
}

/// The training part `train` split again into a part to fit and a validation share of each
/// label, for tuning: held-out examples never take part.
pub(crate) fn validation_split(
    groups: &[Vec<usize>],
    train: &[usize],
    share: f32,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let train_groups: Vec<Vec<usize>> = groups
        .iter()
        .map(|g| g.iter().copied().filter(|i| train.contains(i)).collect())
        .collect();
    split(&train_groups, share, seed ^ 0x5eed)
}

//! A vector index for nearest neighbours by cosine similarity.
//!
//! Small sets are searched exactly: every vector is scored. Vectors are normalised on the way
//! in, so a score is one dot product; exact results need no tuning and at 384 dimensions cost
//! well under a millisecond for thousands of vectors (FAQ entries, support answers).
//!
//! Past `ann_threshold` vectors, [`VectorIndex::rebuild`] builds an HNSW graph
//! (`instant-distance`) over a snapshot; searches then walk the graph, drop hits removed or
//! replaced since the snapshot, and add an exact scan of the vectors added since. Building is
//! slow (seconds for 100k vectors), so it is never done inside `search`: the owner calls
//! `rebuild` off the async runtime when [`VectorIndex::needs_rebuild`] says so.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use instant_distance::{Builder, HnswMap, Point, Search};

use crate::InferenceError;
use crate::embedder::normalize;

/// Size from which an HNSW graph is worth building.
pub const DEFAULT_ANN_THRESHOLD: usize = 20_000;

/// A unit vector as an HNSW point.
#[derive(Debug, Clone)]
struct Unit(Arc<[f32]>);

impl Point for Unit {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - self
            .0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| a * b)
            .sum::<f32>()
    }
}

/// An HNSW graph over a snapshot of the index, values (id, version).
struct Snapshot {
    graph: HnswMap<Unit, (String, u64)>,
    size: usize,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("size", &self.size)
            .finish()
    }
}

/// Vectors by id.
#[derive(Debug)]
pub struct VectorIndex {
    dimension: usize,
    ids: Vec<String>,
    /// Row-major, `ids.len() × dimension`, each row unit length.
    vectors: Vec<f32>,
    /// Row and version of each id; a version changes whenever the id's vector does.
    positions: HashMap<String, (usize, u64)>,
    next_version: u64,
    ann_threshold: usize,
    snapshot: Option<Snapshot>,
    /// Ids added or replaced since the snapshot.
    fresh: HashSet<String>,
    /// Ids removed or replaced since the snapshot (their snapshot entries are stale).
    stale: usize,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The id given to [`VectorIndex::add`].
    pub id: String,
    /// Cosine similarity, −1 to 1.
    pub score: f32,
}

impl VectorIndex {
    /// An empty index of `dimension`-long vectors.
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension,
            ids: Vec::new(),
            vectors: Vec::new(),
            positions: HashMap::new(),
            next_version: 0,
            ann_threshold: DEFAULT_ANN_THRESHOLD,
            snapshot: None,
            fresh: HashSet::new(),
            stale: 0,
        }
    }

    /// Sets the size from which [`needs_rebuild`](Self::needs_rebuild) asks for an HNSW graph.
    pub fn with_ann_threshold(mut self, threshold: usize) -> Self {
        self.ann_threshold = threshold.max(1);
        self
    }

    /// True when an HNSW graph should be (re)built: the index is past the threshold and has no
    /// graph, or a tenth of it changed since the graph was built.
    pub fn needs_rebuild(&self) -> bool {
        if self.ids.len() < self.ann_threshold {
            return false;
        }
        match &self.snapshot {
            None => true,
            Some(snapshot) => (self.fresh.len() + self.stale) * 10 > snapshot.size,
        }
    }

    /// Builds the HNSW graph over the current vectors. Slow: run it off the async runtime.
    pub fn rebuild(&mut self) {
        let (points, values): (Vec<Unit>, Vec<(String, u64)>) = self
            .ids
            .iter()
            .map(|id| {
                let (row, version) = self.positions[id];
                let vector = &self.vectors[row * self.dimension..(row + 1) * self.dimension];
                (Unit(vector.into()), (id.clone(), version))
            })
            .unzip();
        let size = points.len();
        let graph = Builder::default()
            .ef_search(200)
            .seed(0x5eed)
            .build(points, values);
        self.snapshot = Some(Snapshot { graph, size });
        self.fresh.clear();
        self.stale = 0;
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn check(&self, vector: &[f32]) -> Result<(), InferenceError> {
        if vector.len() != self.dimension {
            return Err(InferenceError::BadInput(format!(
                "a vector of {} for an index of {}",
                vector.len(),
                self.dimension
            )));
        }
        if vector.iter().any(|v| !v.is_finite()) {
            return Err(InferenceError::BadInput(
                "a vector with NaN or infinity".into(),
            ));
        }
        Ok(())
    }

    /// Adds or replaces the vector of `id`.
    pub fn add(&mut self, id: impl Into<String>, vector: &[f32]) -> Result<(), InferenceError> {
        self.check(vector)?;
        let mut vector = vector.to_vec();
        normalize(&mut vector);
        let id = id.into();
        self.next_version += 1;
        let version = self.next_version;
        match self.positions.get(&id).copied() {
            Some((at, _)) => {
                self.vectors[at * self.dimension..(at + 1) * self.dimension]
                    .copy_from_slice(&vector);
                self.positions.insert(id.clone(), (at, version));
                if self.snapshot.is_some() && !self.fresh.contains(&id) {
                    self.stale += 1;
                }
            }
            None => {
                self.positions.insert(id.clone(), (self.ids.len(), version));
                self.ids.push(id.clone());
                self.vectors.extend_from_slice(&vector);
            }
        }
        if self.snapshot.is_some() {
            self.fresh.insert(id);
        }
        Ok(())
    }

    /// Removes `id`; true when it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some((at, _)) = self.positions.remove(id) else {
            return false;
        };
        if self.snapshot.is_some() && !self.fresh.remove(id) {
            self.stale += 1;
        }
        let last = self.ids.len() - 1;
        if at != last {
            // Move the last row into the hole.
            let (dimension, moved) = (self.dimension, self.ids[last].clone());
            self.vectors
                .copy_within(last * dimension..(last + 1) * dimension, at * dimension);
            self.ids[at] = moved.clone();
            if let Some(entry) = self.positions.get_mut(&moved) {
                entry.0 = at;
            }
        }
        self.ids.pop();
        self.vectors.truncate(last * self.dimension);
        true
    }

    /// The `k` vectors most similar to `query`, best first: exact without an HNSW graph,
    /// approximate (graph plus the vectors added since it was built) with one.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, InferenceError> {
        self.check(query)?;
        let mut query = query.to_vec();
        normalize(&mut query);
        let score = |row: usize| -> f32 {
            self.vectors[row * self.dimension..(row + 1) * self.dimension]
                .iter()
                .zip(&query)
                .map(|(a, b)| a * b)
                .sum()
        };
        let mut scored: Vec<(f32, usize)> = match &self.snapshot {
            None => (0..self.ids.len()).map(|row| (score(row), row)).collect(),
            Some(snapshot) => {
                let mut search = Search::default();
                let mut hits: Vec<(f32, usize)> = snapshot
                    .graph
                    .search(&Unit(query.clone().into()), &mut search)
                    .filter_map(|item| {
                        let (id, version) = item.value;
                        // Removed or replaced since the snapshot: not a hit.
                        let (row, now) = self.positions.get(id)?;
                        (now == version).then_some((1.0 - item.distance, *row))
                    })
                    .collect();
                hits.extend(self.fresh.iter().filter_map(|id| {
                    let (row, _) = self.positions.get(id)?;
                    Some((score(*row), *row))
                }));
                hits
            }
        };
        let k = k.min(scored.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        scored.truncate(k);
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(scored
            .into_iter()
            .map(|(score, row)| Hit {
                id: self.ids[row].clone(),
                score,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_nearest_and_forgets_what_is_removed() {
        let mut index = VectorIndex::new(2);
        index.add("east", &[1.0, 0.0]).unwrap();
        index.add("north", &[0.0, 2.0]).unwrap();
        index.add("north-east", &[1.0, 1.0]).unwrap();
        let hits = index.search(&[0.9, 0.1], 2).unwrap();
        assert_eq!(hits[0].id, "east");
        assert_eq!(hits[1].id, "north-east");
        assert!((hits[0].score - 0.9939).abs() < 1e-3);
        assert!(index.remove("east"));
        assert!(!index.remove("east"));
        assert_eq!(index.search(&[0.9, 0.1], 5).unwrap()[0].id, "north-east");
        assert_eq!(index.len(), 2);
        // Replacing keeps one entry.
        index.add("north", &[1.0, 0.0]).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.search(&[1.0, 0.0], 1).unwrap()[0].id, "north");
    }

    /// Deterministic pseudo-random unit vectors (SplitMix64).
    fn random_vectors(count: usize, dimension: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) as f64 / u64::MAX as f64) as f32 * 2.0 - 1.0
        };
        (0..count)
            .map(|_| {
                let mut v: Vec<f32> = (0..dimension).map(|_| next()).collect();
                normalize(&mut v);
                v
            })
            .collect()
    }

    #[test]
    fn the_hnsw_graph_finds_nearly_what_exact_search_finds_and_follows_changes() {
        let vectors = random_vectors(3_000, 16, 1);
        let mut exact = VectorIndex::new(16);
        let mut ann = VectorIndex::new(16).with_ann_threshold(1_000);
        for (i, v) in vectors.iter().enumerate() {
            exact.add(i.to_string(), v).unwrap();
            ann.add(i.to_string(), v).unwrap();
        }
        assert!(ann.needs_rebuild());
        ann.rebuild();
        assert!(!ann.needs_rebuild());
        let queries = random_vectors(50, 16, 2);
        let mut found = 0;
        for q in &queries {
            let truth: HashSet<String> = exact
                .search(q, 10)
                .unwrap()
                .into_iter()
                .map(|h| h.id)
                .collect();
            found += ann
                .search(q, 10)
                .unwrap()
                .iter()
                .filter(|h| truth.contains(&h.id))
                .count();
        }
        let recall = found as f32 / (queries.len() * 10) as f32;
        assert!(recall >= 0.9, "recall@10 {recall}");

        // A removed vector is never a hit; one added or replaced after the build is.
        let q = &queries[0];
        let best = ann.search(q, 1).unwrap()[0].id.clone();
        assert!(ann.remove(&best));
        assert!(ann.search(q, 10).unwrap().iter().all(|h| h.id != best));
        ann.add("new", q).unwrap();
        assert_eq!(ann.search(q, 1).unwrap()[0].id, "new");
        ann.add("7", q).unwrap();
        let top: Vec<String> = ann
            .search(q, 2)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        assert!(
            top.contains(&"7".to_owned()) && top.contains(&"new".to_owned()),
            "{top:?}"
        );
        // Enough change asks for a new graph.
        for (i, v) in random_vectors(400, 16, 3).iter().enumerate() {
            ann.add(format!("more-{i}"), v).unwrap();
        }
        assert!(ann.needs_rebuild());
    }

    #[test]
    fn wrong_lengths_and_nan_are_errors() {
        let mut index = VectorIndex::new(3);
        assert!(index.add("a", &[1.0]).is_err());
        assert!(index.add("a", &[f32::NAN, 0.0, 0.0]).is_err());
        assert!(index.search(&[1.0, 0.0], 1).is_err());
        assert!(index.search(&[1.0, 0.0, 0.0], 3).unwrap().is_empty());
    }
}

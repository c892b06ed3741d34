//! A vector index for nearest neighbours by cosine similarity.
//!
//! Exact: every search scores every vector. Vectors are normalised on the way in, so a score is
//! one dot product; at 384 dimensions that is well under a millisecond for tens of thousands of
//! vectors (FAQ entries, support answers, item catalogues), and exact results need no tuning.

use std::collections::HashMap;

use crate::InferenceError;
use crate::embedder::normalize;

/// Vectors by id.
#[derive(Debug, Clone)]
pub struct VectorIndex {
    dimension: usize,
    ids: Vec<String>,
    /// Row-major, `ids.len() × dimension`, each row unit length.
    vectors: Vec<f32>,
    positions: HashMap<String, usize>,
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
        }
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
        match self.positions.get(&id) {
            Some(&at) => {
                self.vectors[at * self.dimension..(at + 1) * self.dimension]
                    .copy_from_slice(&vector);
            }
            None => {
                self.positions.insert(id.clone(), self.ids.len());
                self.ids.push(id);
                self.vectors.extend_from_slice(&vector);
            }
        }
        Ok(())
    }

    /// Removes `id`; true when it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(at) = self.positions.remove(id) else {
            return false;
        };
        let last = self.ids.len() - 1;
        if at != last {
            // Move the last row into the hole.
            let (dimension, moved) = (self.dimension, self.ids[last].clone());
            self.vectors
                .copy_within(last * dimension..(last + 1) * dimension, at * dimension);
            self.ids[at] = moved.clone();
            self.positions.insert(moved, at);
        }
        self.ids.pop();
        self.vectors.truncate(last * self.dimension);
        true
    }

    /// The `k` vectors most similar to `query`, best first.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, InferenceError> {
        self.check(query)?;
        let mut query = query.to_vec();
        normalize(&mut query);
        let mut scored: Vec<(f32, usize)> = self
            .vectors
            .chunks_exact(self.dimension)
            .enumerate()
            .map(|(i, row)| (row.iter().zip(&query).map(|(a, b)| a * b).sum(), i))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        scored.truncate(k);
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(scored
            .into_iter()
            .map(|(score, i)| Hit {
                id: self.ids[i].clone(),
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

    #[test]
    fn wrong_lengths_and_nan_are_errors() {
        let mut index = VectorIndex::new(3);
        assert!(index.add("a", &[1.0]).is_err());
        assert!(index.add("a", &[f32::NAN, 0.0, 0.0]).is_err());
        assert!(index.search(&[1.0, 0.0], 1).is_err());
        assert!(index.search(&[1.0, 0.0, 0.0], 3).unwrap().is_empty());
    }
}

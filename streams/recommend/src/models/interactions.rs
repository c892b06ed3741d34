//! The user × item interaction matrix every model trains on.
//!
//! Users and items are known by their external ids (strings) and numbered densely in order of
//! first appearance. Each user's row keeps one entry per distinct item: the summed weight of all
//! their interactions with it and the time of the latest, sorted oldest first, so a model can
//! weight a profile by recency without re-sorting. The transposed view (items' rows) is built on
//! demand for the models that alternate between the two sides.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One interaction to learn from: a user engaged with an item, with a strength and a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// The user's external id.
    pub user: String,
    /// The item's external id.
    pub item: String,
    /// How strongly this counts (1 for a plain positive; a purchase weighs more than a view).
    pub weight: f32,
    /// Event time, in any monotonic unit (seconds or milliseconds since the epoch).
    pub at: i64,
}

/// One cell of a user's row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The item's dense index.
    pub item: u32,
    /// The summed weight of the user's interactions with the item.
    pub weight: f32,
    /// The time of the latest of them.
    pub at: i64,
}

/// A sparse matrix in compressed rows: `row(r)` is `entries[offsets[r]..offsets[r + 1]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rows {
    offsets: Vec<usize>,
    entries: Vec<Entry>,
}

impl Rows {
    /// The entries of row `row`.
    pub fn row(&self, row: usize) -> &[Entry] {
        &self.entries[self.offsets[row]..self.offsets[row + 1]]
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of stored cells.
    pub fn nnz(&self) -> usize {
        self.entries.len()
    }
}

/// The interaction matrix with its id maps. Serialised without the maps, which are rebuilt
/// from the id lists when read back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct Interactions {
    users: Vec<String>,
    items: Vec<String>,
    user_index: HashMap<String, u32>,
    item_index: HashMap<String, u32>,
    by_user: Rows,
}

/// What a serialised matrix holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    users: Vec<String>,
    items: Vec<String>,
    by_user: Rows,
}

impl From<Interactions> for Stored {
    fn from(matrix: Interactions) -> Self {
        Self {
            users: matrix.users,
            items: matrix.items,
            by_user: matrix.by_user,
        }
    }
}

impl From<Stored> for Interactions {
    fn from(stored: Stored) -> Self {
        let index = |ids: &[String]| {
            ids.iter()
                .enumerate()
                .map(|(n, id)| (id.clone(), u32::try_from(n).expect("fewer than 2^32 ids")))
                .collect()
        };
        Self {
            user_index: index(&stored.users),
            item_index: index(&stored.items),
            users: stored.users,
            items: stored.items,
            by_user: stored.by_user,
        }
    }
}

impl Interactions {
    /// Builds the matrix. Repeated (user, item) pairs are merged: weights add up, the latest time
    /// wins. Interactions with a weight that is not a positive finite number are left out.
    pub fn build(interactions: impl IntoIterator<Item = Interaction>) -> Self {
        Self::build_with_items(std::iter::empty::<&str>(), interactions)
    }

    /// Like [`Interactions::build`], with `items` numbered first, in the order given: so an
    /// evaluation that breaks score ties by index breaks them the same way whatever the order
    /// of the rows, and items with no interactions are still candidates.
    pub fn build_with_items<'a>(
        items: impl IntoIterator<Item = &'a str>,
        interactions: impl IntoIterator<Item = Interaction>,
    ) -> Self {
        let mut matrix = Self::default();
        for item in items {
            matrix.intern_item(item);
        }
        let mut cells: Vec<HashMap<u32, (f32, i64)>> = Vec::new();
        for interaction in interactions {
            if !(interaction.weight.is_finite() && interaction.weight > 0.0) {
                continue;
            }
            let user = matrix.intern_user(&interaction.user);
            let item = matrix.intern_item(&interaction.item);
            if cells.len() <= user as usize {
                cells.resize_with(user as usize + 1, HashMap::new);
            }
            let cell = cells[user as usize].entry(item).or_insert((0.0, i64::MIN));
            cell.0 += interaction.weight;
            cell.1 = cell.1.max(interaction.at);
        }
        cells.resize_with(matrix.users.len(), HashMap::new);
        let mut offsets = Vec::with_capacity(cells.len() + 1);
        let mut entries = Vec::with_capacity(cells.iter().map(HashMap::len).sum());
        offsets.push(0);
        for row in cells {
            let start = entries.len();
            entries.extend(
                row.into_iter()
                    .map(|(item, (weight, at))| Entry { item, weight, at }),
            );
            entries[start..].sort_unstable_by_key(|entry| (entry.at, entry.item));
            offsets.push(entries.len());
        }
        matrix.by_user = Rows { offsets, entries };
        matrix
    }

    /// Registers an item with no interactions (so it is a candidate and has an index).
    pub fn add_item(&mut self, item: &str) -> u32 {
        self.intern_item(item)
    }

    fn intern_user(&mut self, user: &str) -> u32 {
        if let Some(&index) = self.user_index.get(user) {
            return index;
        }
        let index = u32::try_from(self.users.len()).expect("fewer than 2^32 users");
        self.users.push(user.to_owned());
        self.user_index.insert(user.to_owned(), index);
        index
    }

    fn intern_item(&mut self, item: &str) -> u32 {
        if let Some(&index) = self.item_index.get(item) {
            return index;
        }
        let index = u32::try_from(self.items.len()).expect("fewer than 2^32 items");
        self.items.push(item.to_owned());
        self.item_index.insert(item.to_owned(), index);
        index
    }

    /// The number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The number of items.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// The number of distinct (user, item) cells.
    pub fn nnz(&self) -> usize {
        self.by_user.nnz()
    }

    /// A user's dense index.
    pub fn user_index(&self, user: &str) -> Option<u32> {
        self.user_index.get(user).copied()
    }

    /// An item's dense index.
    pub fn item_index(&self, item: &str) -> Option<u32> {
        self.item_index.get(item).copied()
    }

    /// An item's external id.
    pub fn item_id(&self, index: u32) -> &str {
        &self.items[index as usize]
    }

    /// A user's external id.
    pub fn user_id(&self, index: u32) -> &str {
        &self.users[index as usize]
    }

    /// A user's row, oldest interaction first.
    pub fn user_row(&self, user: u32) -> &[Entry] {
        if (user as usize) < self.by_user.len() {
            self.by_user.row(user as usize)
        } else {
            &[]
        }
    }

    /// The rows by user.
    pub fn by_user(&self) -> &Rows {
        &self.by_user
    }

    /// The transposed matrix: each item's row lists the users who engaged with it.
    /// The `item` field of each entry then holds the user index.
    pub fn by_item(&self) -> Rows {
        let mut counts = vec![0usize; self.items.len() + 1];
        for entry in &self.by_user.entries {
            counts[entry.item as usize + 1] += 1;
        }
        for index in 1..counts.len() {
            counts[index] += counts[index - 1];
        }
        let offsets = counts.clone();
        let mut next = counts;
        let mut entries = vec![
            Entry {
                item: 0,
                weight: 0.0,
                at: 0
            };
            self.by_user.entries.len()
        ];
        for user in 0..self.by_user.len() {
            for entry in self.by_user.row(user) {
                let slot = &mut next[entry.item as usize];
                entries[*slot] = Entry {
                    item: u32::try_from(user).expect("fewer than 2^32 users"),
                    weight: entry.weight,
                    at: entry.at,
                };
                *slot += 1;
            }
        }
        Rows { offsets, entries }
    }

    /// How many users engaged with each item.
    pub fn item_popularity(&self) -> Vec<f32> {
        let mut counts = vec![0f32; self.items.len()];
        for entry in &self.by_user.entries {
            counts[entry.item as usize] += 1.0;
        }
        counts
    }
}

/// A matrix of unit-weight interactions, one per `(user, item)` pair, in time order (unit tests
/// of the models).
#[cfg(test)]
pub(crate) fn unit_weighted(rows: &[(&str, &str)]) -> Interactions {
    Interactions::build(
        rows.iter()
            .enumerate()
            .map(|(at, (user, item))| Interaction {
                user: (*user).into(),
                item: (*item).into(),
                weight: 1.0,
                at: at as i64,
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interaction(user: &str, item: &str, at: i64) -> Interaction {
        Interaction {
            user: user.into(),
            item: item.into(),
            weight: 1.0,
            at,
        }
    }

    #[test]
    fn repeated_pairs_merge_and_rows_are_oldest_first() {
        let matrix = Interactions::build([
            interaction("u1", "b", 30),
            interaction("u1", "a", 10),
            interaction("u2", "a", 5),
            interaction("u1", "b", 20),
        ]);
        assert_eq!(matrix.user_count(), 2);
        assert_eq!(matrix.item_count(), 2);
        let row = matrix.user_row(matrix.user_index("u1").unwrap());
        let ids: Vec<_> = row.iter().map(|e| matrix.item_id(e.item)).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(row[1].weight, 2.0);
        assert_eq!(row[1].at, 30);
        assert_eq!(matrix.item_popularity(), vec![1.0, 2.0]);
    }

    #[test]
    fn the_transpose_lists_each_items_users() {
        let matrix = Interactions::build([
            interaction("u1", "a", 1),
            interaction("u2", "a", 2),
            interaction("u2", "b", 3),
        ]);
        let by_item = matrix.by_item();
        let a = matrix.item_index("a").unwrap() as usize;
        let users: Vec<_> = by_item
            .row(a)
            .iter()
            .map(|e| matrix.user_id(e.item))
            .collect();
        assert_eq!(users, ["u1", "u2"]);
        assert_eq!(
            by_item.row(matrix.item_index("b").unwrap() as usize).len(),
            1
        );
    }

    #[test]
    fn non_positive_weights_are_left_out() {
        let mut bad = interaction("u1", "a", 1);
        bad.weight = f32::NAN;
        let matrix = Interactions::build([bad, interaction("u1", "b", 2)]);
        assert_eq!(matrix.nnz(), 1);
    }
}

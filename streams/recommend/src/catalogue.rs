//! The catalogue: every item the recommender may show, by id.
//!
//! Read from JSON Lines (one [`Item`] an object, the shape `finpulse import items` will take);
//! a malformed line is reported by number and skipped, so one bad row loses nothing else.
//! [`Catalogue::demo`] is the catalogue the embedded default ships: 157 invented instruments
//! (stocks, ETFs, funds, bonds) and 55 learning articles, written by
//! `scripts/recsys/demo_catalogue.py`.

use std::collections::HashMap;
use std::io::BufRead;

use finpulse_core::recommend::{Item, ItemKind};

/// A line of a catalogue file that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// Items by id, in file order.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    items: Vec<Item>,
    index: HashMap<String, usize>,
}

const DEMO: &str = include_str!("../data/catalogue.jsonl");

impl Catalogue {
    /// The demo catalogue.
    pub fn demo() -> Self {
        let (catalogue, skipped) = Self::from_jsonl(DEMO.as_bytes());
        debug_assert!(
            skipped.is_empty(),
            "the demo catalogue has bad lines: {skipped:?}"
        );
        catalogue
    }

    /// Reads JSON Lines; returns the catalogue and the lines skipped. A later line with an id
    /// already read replaces the earlier item (an update).
    pub fn from_jsonl(reader: impl BufRead) -> (Self, Vec<SkippedLine>) {
        let mut catalogue = Self::default();
        let mut skipped = Vec::new();
        for (index, line) in reader.lines().enumerate() {
            let number = index + 1;
            let line = match line {
                Ok(line) => line,
                Err(error) => {
                    skipped.push(SkippedLine {
                        line: number,
                        reason: format!("unreadable: {error}"),
                    });
                    continue;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Item>(&line) {
                Ok(item) => match validate(&item) {
                    Ok(()) => catalogue.upsert(item),
                    Err(reason) => skipped.push(SkippedLine {
                        line: number,
                        reason,
                    }),
                },
                Err(error) => skipped.push(SkippedLine {
                    line: number,
                    reason: error.to_string(),
                }),
            }
        }
        (catalogue, skipped)
    }

    /// Adds an item or replaces the one with its id.
    pub fn upsert(&mut self, item: Item) {
        match self.index.get(&item.id) {
            Some(&position) => self.items[position] = item,
            None => {
                self.index.insert(item.id.clone(), self.items.len());
                self.items.push(item);
            }
        }
    }

    /// The item with this id.
    pub fn get(&self, id: &str) -> Option<&Item> {
        self.index.get(id).map(|&position| &self.items[position])
    }

    /// Every item, in file order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// What serde cannot check: ids, the risk scale, that instruments carry a risk class.
pub(crate) fn validate(item: &Item) -> Result<(), String> {
    if item.id.trim().is_empty() || item.id.len() > 128 {
        return Err("id must be 1 to 128 characters".into());
    }
    if let Some(risk) = item.risk
        && !(1..=7).contains(&risk)
    {
        return Err(format!("risk class {risk} is outside 1 to 7"));
    }
    if item.kind == ItemKind::Instrument && item.risk.is_none() {
        return Err(format!("instrument {} has no risk class", item.id));
    }
    if item.esg.is_some_and(|esg| esg > 100) {
        return Err("esg score must be 0 to 100".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalogue_is_large_and_clean() {
        let (catalogue, skipped) = Catalogue::from_jsonl(DEMO.as_bytes());
        assert!(skipped.is_empty(), "{skipped:?}");
        let count = |kind| {
            catalogue
                .items()
                .iter()
                .filter(|item| item.kind == kind)
                .count()
        };
        assert!(count(ItemKind::Instrument) >= 150);
        assert!(count(ItemKind::Article) >= 50);
        assert!(catalogue.items().iter().any(|item| item.complex));
        assert!(
            catalogue
                .items()
                .iter()
                .all(|item| item.description.len() > 40)
        );
    }

    #[test]
    fn bad_lines_are_named_and_skipped() {
        let text = concat!(
            r#"{"id":"A","kind":"instrument","name":"A","risk":3,"description":"a"}"#,
            "\n",
            "not json\n",
            r#"{"id":"B","kind":"instrument","name":"B","risk":9,"description":"b"}"#,
            "\n",
            r#"{"id":"C","kind":"instrument","name":"C","description":"c"}"#,
            "\n\n",
            r#"{"id":"A","kind":"instrument","name":"A2","risk":4,"description":"a"}"#,
            "\n",
        );
        let (catalogue, skipped) = Catalogue::from_jsonl(text.as_bytes());
        assert_eq!(catalogue.len(), 1);
        assert_eq!(catalogue.get("A").unwrap().name, "A2");
        let lines: Vec<usize> = skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert!(skipped[1].reason.contains("outside 1 to 7"), "{skipped:?}");
    }
}

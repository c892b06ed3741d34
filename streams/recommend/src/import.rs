//! `finpulse import items|users|interactions FILE`: reading catalogue items, customer
//! profiles and interactions from JSON Lines or CSV.
//!
//! JSON Lines take the types' own shapes (one object a line). CSV takes a header row with the
//! same field names; list fields (`tags`, `interests`, `holdings`) are `;`-separated, `at` and
//! `published_at` are RFC 3339 or epoch milliseconds. A CSV row is turned into the JSON object
//! it stands for and read by the same code as a JSON line, so both formats accept and refuse
//! the same things (an unknown column is refused by name). A bad row is named by its line and
//! skipped; the rest is imported.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use finpulse_core::recommend::{Interaction, Item, UserProfile};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::RecommendError;
use crate::catalogue::SkippedLine;
use crate::events::validate_interaction;

/// A file's format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.jsonl`, `.ndjson` or `.json`: one object a line.
    JsonLines,
    /// `.csv` with a header row.
    Csv,
}

impl Format {
    /// The format of `path`.
    pub fn of(path: &Path) -> Result<Self, RecommendError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson" | "json") => Ok(Self::JsonLines),
            Some("csv") => Ok(Self::Csv),
            _ => Err(RecommendError::InvalidInput(format!(
                "{}: name the file .jsonl, .ndjson or .csv so its format is known",
                path.display()
            ))),
        }
    }
}

/// Something `finpulse import` reads.
pub trait Importable: DeserializeOwned {
    /// Fields holding `;`-separated lists in CSV.
    const LIST_FIELDS: &'static [&'static str];
    /// Fields holding numbers in CSV.
    const NUMBER_FIELDS: &'static [&'static str];
    /// Fields holding booleans in CSV.
    const BOOL_FIELDS: &'static [&'static str] = &[];
    /// Fields holding times in CSV.
    const TIME_FIELDS: &'static [&'static str] = &[];
    /// What serde cannot check.
    fn check(&self) -> Result<(), String>;
}

impl Importable for Item {
    const LIST_FIELDS: &'static [&'static str] = &["tags"];
    const NUMBER_FIELDS: &'static [&'static str] = &["risk", "fees_bps", "esg"];
    const BOOL_FIELDS: &'static [&'static str] = &["complex"];
    const TIME_FIELDS: &'static [&'static str] = &["published_at"];
    fn check(&self) -> Result<(), String> {
        crate::catalogue::validate(self)
    }
}

impl Importable for UserProfile {
    const LIST_FIELDS: &'static [&'static str] = &["interests", "holdings"];
    const NUMBER_FIELDS: &'static [&'static str] = &["risk_profile"];
    fn check(&self) -> Result<(), String> {
        if self.id.trim().is_empty() || self.id.len() > crate::events::MAX_ID_LEN {
            return Err("id must be 1 to 128 characters".into());
        }
        if !(1..=7).contains(&self.risk_profile) {
            return Err(format!(
                "risk_profile {} is outside 1 to 7",
                self.risk_profile
            ));
        }
        Ok(())
    }
}

impl Importable for Interaction {
    const LIST_FIELDS: &'static [&'static str] = &[];
    const NUMBER_FIELDS: &'static [&'static str] = &["rating"];
    const TIME_FIELDS: &'static [&'static str] = &["at"];
    fn check(&self) -> Result<(), String> {
        validate_interaction(self)
    }
}

/// What a file held: the good rows (with their line numbers) and the skipped ones.
#[derive(Debug)]
pub struct Parsed<T> {
    /// (line, value) of every row that was read.
    pub rows: Vec<(usize, T)>,
    /// Rows that were not.
    pub skipped: Vec<SkippedLine>,
}

/// Reads `text` in `format`.
pub fn parse<T: Importable>(text: &str, format: Format) -> Parsed<T> {
    let mut parsed = Parsed {
        rows: Vec::new(),
        skipped: Vec::new(),
    };
    let mut keep = |line: usize, result: Result<T, String>| match result
        .and_then(|value| value.check().map(|()| value))
    {
        Ok(value) => parsed.rows.push((line, value)),
        Err(reason) => parsed.skipped.push(SkippedLine { line, reason }),
    };
    match format {
        Format::JsonLines => {
            for (index, line) in text.lines().enumerate() {
                if !line.trim().is_empty() {
                    keep(
                        index + 1,
                        serde_json::from_str(line).map_err(|e| e.to_string()),
                    );
                }
            }
        }
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            let headers = match reader.headers() {
                Ok(headers) => headers.clone(),
                Err(error) => {
                    keep(1, Err(format!("unreadable header: {error}")));
                    return parsed;
                }
            };
            for record in reader.records() {
                match record {
                    Ok(record) => {
                        let line = record.position().map_or(0, |p| p.line() as usize);
                        keep(
                            line,
                            csv_object::<T>(&headers, &record).and_then(|object| {
                                serde_json::from_value(Value::Object(object))
                                    .map_err(|e| e.to_string())
                            }),
                        );
                    }
                    Err(error) => {
                        let line = error.position().map_or(0, |p| p.line() as usize);
                        keep(line, Err(error.to_string()));
                    }
                }
            }
        }
    }
    parsed
}

fn csv_object<T: Importable>(
    headers: &csv::StringRecord,
    record: &csv::StringRecord,
) -> Result<Map<String, Value>, String> {
    if record.len() != headers.len() {
        return Err(format!(
            "expected {} fields, found {}",
            headers.len(),
            record.len()
        ));
    }
    let mut object = Map::new();
    for (name, text) in headers.iter().zip(record.iter()) {
        if text.is_empty() {
            // An empty cell is an absent field (its default), except for lists: an empty list.
            if T::LIST_FIELDS.contains(&name) {
                object.insert(name.to_owned(), Value::Array(Vec::new()));
            }
            continue;
        }
        let value = if T::LIST_FIELDS.contains(&name) {
            Value::Array(
                text.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )
        } else if T::NUMBER_FIELDS.contains(&name) {
            let number: f64 = text
                .parse()
                .map_err(|_| format!("{name} `{text}` is not a number"))?;
            serde_json::Number::from_f64(number)
                .map(|n| {
                    if number.fract() == 0.0 && number.abs() < 1e15 {
                        Value::from(number as i64)
                    } else {
                        Value::Number(n)
                    }
                })
                .ok_or_else(|| format!("{name} `{text}` is not a finite number"))?
        } else if T::BOOL_FIELDS.contains(&name) {
            match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Value::Bool(true),
                "false" | "no" | "0" => Value::Bool(false),
                _ => return Err(format!("{name} `{text}` is not true or false")),
            }
        } else if T::TIME_FIELDS.contains(&name) {
            Value::String(
                parse_time(text)
                    .ok_or_else(|| {
                        format!("{name} `{text}` is not RFC 3339 or epoch milliseconds")
                    })?
                    .to_rfc3339(),
            )
        } else {
            Value::String(text.to_owned())
        };
        object.insert(name.to_owned(), value);
    }
    Ok(object)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(ms) = text.parse::<i64>() {
        return Utc.timestamp_millis_opt(ms).single();
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use finpulse_core::recommend::{InteractionKind, ItemKind};

    #[test]
    fn csv_and_json_lines_read_the_same_items() {
        let csv = "id,kind,name,risk,complex,tags,description\nA,instrument,Alpha,3,no,index;beginner,an index fund\nB,instrument,Beta,9,no,,bad risk\nC,gadget,Gamma,3,no,,unknown kind\nD,instrument,Delta,x,no,,bad number\n";
        let parsed = parse::<Item>(csv, Format::Csv);
        assert_eq!(parsed.rows.len(), 1);
        let (line, item) = &parsed.rows[0];
        assert_eq!(
            (*line, item.kind, item.risk, item.tags.len()),
            (2, ItemKind::Instrument, Some(3), 2)
        );
        let lines: Vec<usize> = parsed.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 4, 5], "{:?}", parsed.skipped);
        assert!(
            parsed.skipped[2]
                .reason
                .contains("risk `x` is not a number")
        );
        let json = serde_json::to_string(item).unwrap();
        let again = parse::<Item>(&format!("{json}\n{{\"id\":1}}\n"), Format::JsonLines);
        assert_eq!(again.rows[0].1, *item);
        assert_eq!(again.skipped[0].line, 2);
    }

    #[test]
    fn unknown_columns_and_bad_interactions_are_named() {
        let parsed = parse::<UserProfile>(
            "id,risk_profile,experience,country,colour\nu1,4,beginner,DE,blue\n",
            Format::Csv,
        );
        assert!(
            parsed.skipped[0].reason.contains("colour"),
            "{:?}",
            parsed.skipped
        );
        let csv = "user,item,kind,at,rating\nu1,A,click,1764662400000,\nu1,A,rate,2026-12-02T09:00:00Z,\nu1,A,rate,2026-12-02T09:00:00Z,4\n";
        let parsed = parse::<Interaction>(csv, Format::Csv);
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(parsed.rows[1].1.kind, InteractionKind::Rate);
        assert_eq!(parsed.skipped[0].line, 3);
        assert!(parsed.skipped[0].reason.contains("rating"));
    }
}

//! The FAQ knowledge base as files: reading and writing entries in JSON Lines and CSV, checking
//! them, and the knowledge base the desk ships with.
//!
//! JSON Lines hold one [`FaqEntry`] a line. CSV holds one question variant a row, with the
//! header `id,question,answer,language` and optional `intent` and `tags` (`;`-separated)
//! columns; rows of one id and language are one entry, in file order, the answer taken from the
//! first row that has one (the layout `finpulse eval faq` reads). A bad row is named by its line
//! and skipped; the rest is read.

use std::collections::HashMap;
use std::path::Path;

use finpulse_core::support::FaqEntry;

use crate::SupportError;

/// Longest question variant, in bytes.
pub const MAX_QUESTION_LEN: usize = 1_000;
/// Longest answer, in bytes.
pub const MAX_ANSWER_LEN: usize = 8_000;
/// Longest id, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// The knowledge base that ships with finpulse (retail banking and brokerage; English,
/// German, French and Spanish), written for the project.
pub const DEMO_FAQ: &str = include_str!("../data/faq.jsonl");

/// A row that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// 1-based line in the file.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// What a file held.
#[derive(Debug, Default)]
pub struct ParsedFaq {
    /// The entries, in the order their first row came.
    pub entries: Vec<FaqEntry>,
    /// Rows that were skipped.
    pub skipped: Vec<SkippedRow>,
}

/// A file's format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaqFormat {
    /// `.jsonl`, `.ndjson`: one entry a line.
    JsonLines,
    /// `.csv`: one question variant a row.
    Csv,
}

impl FaqFormat {
    /// The format of `path`.
    pub fn of(path: &Path) -> Result<Self, SupportError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson") => Ok(Self::JsonLines),
            Some("csv") => Ok(Self::Csv),
            _ => Err(SupportError::InvalidInput(format!(
                "{}: name the file .jsonl, .ndjson or .csv so its format is known",
                path.display()
            ))),
        }
    }
}

/// Question variants of one entry, at most.
const MAX_QUESTIONS: usize = 100;
/// Tags of one entry, at most.
const MAX_TAGS: usize = 32;
/// An intent's or a tag's length, at most (bytes).
const MAX_LABEL_LEN: usize = 128;

/// Checks what serde cannot: ids, sizes, at least one question.
pub fn validate(entry: &FaqEntry) -> Result<(), String> {
    if entry.id.trim().is_empty() || entry.id.len() > MAX_ID_LEN {
        return Err(format!("id must be 1 to {MAX_ID_LEN} bytes"));
    }
    if !is_language_code(&entry.language) {
        return Err(format!(
            "language {:?} is not a two- or three-letter ISO 639 code",
            entry.language
        ));
    }
    if entry.questions.is_empty() {
        return Err("an entry needs at least one question".into());
    }
    if entry.questions.len() > MAX_QUESTIONS {
        return Err(format!("an entry has at most {MAX_QUESTIONS} questions"));
    }
    if entry.intent.len() > MAX_LABEL_LEN {
        return Err(format!("the intent is longer than {MAX_LABEL_LEN} bytes"));
    }
    if entry.tags.len() > MAX_TAGS {
        return Err(format!("an entry has at most {MAX_TAGS} tags"));
    }
    if entry
        .tags
        .iter()
        .any(|tag| tag.trim().is_empty() || tag.len() > MAX_LABEL_LEN)
    {
        return Err(format!(
            "a tag is empty or longer than {MAX_LABEL_LEN} bytes"
        ));
    }
    for question in &entry.questions {
        if question.trim().is_empty() {
            return Err("a question is empty".into());
        }
        if question.len() > MAX_QUESTION_LEN {
            return Err(format!(
                "a question is longer than {MAX_QUESTION_LEN} bytes"
            ));
        }
    }
    if entry.answer.trim().is_empty() {
        return Err("the answer is empty".into());
    }
    if entry.answer.len() > MAX_ANSWER_LEN {
        return Err(format!("the answer is longer than {MAX_ANSWER_LEN} bytes"));
    }
    Ok(())
}

fn is_language_code(code: &str) -> bool {
    (2..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase())
}

/// Reads the file at `path` in the format its extension names.
pub fn read(path: &Path) -> Result<ParsedFaq, SupportError> {
    let format = FaqFormat::of(path)?;
    let text = read_utf8(path)?;
    parse(&text, format)
}

/// The file at `path` as text: an unreadable or non-UTF-8 file is a clear error.
fn read_utf8(path: &Path) -> Result<String, SupportError> {
    let bytes = std::fs::read(path).map_err(|error| {
        SupportError::InvalidInput(format!("failed to read {}: {error}", path.display()))
    })?;
    String::from_utf8(bytes).map_err(|error| {
        SupportError::InvalidInput(format!(
            "{} is not UTF-8 (first bad byte at {})",
            path.display(),
            error.utf8_error().valid_up_to()
        ))
    })
}

/// Reads `text` in `format`.
pub fn parse(text: &str, format: FaqFormat) -> Result<ParsedFaq, SupportError> {
    match format {
        FaqFormat::JsonLines => Ok(parse_json_lines(text)),
        FaqFormat::Csv => parse_csv(text),
    }
}

fn parse_json_lines(text: &str) -> ParsedFaq {
    let mut parsed = ParsedFaq::default();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let result = serde_json::from_str::<FaqEntry>(line)
            .map_err(|error| error.to_string())
            .and_then(|entry| validate(&entry).map(|()| entry));
        match result {
            Ok(entry) => {
                let key = (entry.id.clone(), entry.language.clone());
                if let Some(first) = seen.get(&key) {
                    parsed.skipped.push(SkippedRow {
                        line: line_number,
                        reason: format!(
                            "entry {} ({}) is already on line {first}",
                            entry.id, entry.language
                        ),
                    });
                } else {
                    seen.insert(key, line_number);
                    parsed.entries.push(entry);
                }
            }
            Err(reason) => parsed.skipped.push(SkippedRow {
                line: line_number,
                reason,
            }),
        }
    }
    parsed
}

/// A CSV reader over `text` (every row as wide as the header) and its header row.
fn csv_with_header(text: &str) -> Result<(csv::Reader<&[u8]>, csv::StringRecord), SupportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::Headers)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| SupportError::InvalidInput(format!("unreadable CSV header: {error}")))?
        .clone();
    Ok((reader, headers))
}

fn parse_csv(text: &str) -> Result<ParsedFaq, SupportError> {
    let (mut reader, headers) = csv_with_header(text)?;
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(id_col), Some(question_col), Some(answer_col), Some(language_col)) = (
        column("id"),
        column("question"),
        column("answer"),
        column("language"),
    ) else {
        return Err(SupportError::InvalidInput(format!(
            "the CSV header must name id, question, answer and language (it has: {})",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    };
    let intent_col = column("intent");
    let tags_col = column("tags");
    let mut parsed = ParsedFaq::default();
    let mut positions: HashMap<(String, String), usize> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map(|p| p.line() as usize).unwrap_or(0);
                parsed.skipped.push(SkippedRow {
                    line,
                    reason: error.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let field = |col: usize| record.get(col).unwrap_or("").trim();
        let id = field(id_col).to_owned();
        let language = field(language_col).to_ascii_lowercase();
        let question = field(question_col).to_owned();
        let answer = field(answer_col).to_owned();
        let key = (id.clone(), language.clone());
        if let Some(&position) = positions.get(&key) {
            let entry: &mut FaqEntry = &mut parsed.entries[position];
            if question.is_empty() || question.len() > MAX_QUESTION_LEN {
                parsed.skipped.push(SkippedRow {
                    line,
                    reason: format!("the question must be 1 to {MAX_QUESTION_LEN} bytes"),
                });
                continue;
            }
            if entry.answer.is_empty() && !answer.is_empty() {
                entry.answer = answer;
            }
            if !entry.questions.contains(&question) {
                entry.questions.push(question);
            }
            continue;
        }
        let entry = FaqEntry {
            id,
            language,
            intent: intent_col.map(|c| field(c).to_owned()).unwrap_or_default(),
            tags: tags_col
                .map(|c| {
                    field(c)
                        .split(';')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            questions: vec![question],
            answer,
        };
        match validate(&entry) {
            Ok(()) => {
                positions.insert(key, parsed.entries.len());
                parsed.entries.push(entry);
            }
            Err(reason) => parsed.skipped.push(SkippedRow { line, reason }),
        }
    }
    Ok(parsed)
}

/// Writes `entries` in `format` (the reverse of [`parse`]: reading the result gives the same
/// entries back).
pub fn write(entries: &[FaqEntry], format: FaqFormat) -> Result<String, SupportError> {
    match format {
        FaqFormat::JsonLines => {
            let mut out = String::new();
            for entry in entries {
                out.push_str(
                    &serde_json::to_string(entry)
                        .map_err(|error| SupportError::InvalidInput(error.to_string()))?,
                );
                out.push('\n');
            }
            Ok(out)
        }
        FaqFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            let failed = |error: csv::Error| SupportError::InvalidInput(error.to_string());
            writer
                .write_record(["id", "question", "answer", "language", "intent", "tags"])
                .map_err(failed)?;
            for entry in entries {
                let tags = entry.tags.join(";");
                for question in &entry.questions {
                    writer
                        .write_record([
                            entry.id.as_str(),
                            question,
                            &entry.answer,
                            &entry.language,
                            &entry.intent,
                            &tags,
                        ])
                        .map_err(failed)?;
                }
            }
            let bytes = writer
                .into_inner()
                .map_err(|error| SupportError::InvalidInput(error.to_string()))?;
            String::from_utf8(bytes).map_err(|error| SupportError::InvalidInput(error.to_string()))
        }
    }
}

/// The knowledge base that ships with finpulse.
pub fn demo() -> Vec<FaqEntry> {
    let parsed = parse_json_lines(DEMO_FAQ);
    debug_assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    parsed.entries
}

/// Labelled queries as `finpulse eval faq` reads them.
#[derive(Debug, Default)]
pub struct LabelledQueries {
    /// `(query, right id)`, in file order.
    pub queries: Vec<(String, String)>,
    /// Rows that were skipped.
    pub skipped: Vec<SkippedRow>,
}

/// Query/answer pairs for `finpulse eval faq`: a header `query,id`.
pub fn read_queries(path: &Path) -> Result<LabelledQueries, SupportError> {
    let text = read_utf8(path)?;
    parse_queries(&text)
}

/// [`read_queries`] on text.
pub fn parse_queries(text: &str) -> Result<LabelledQueries, SupportError> {
    let (mut reader, headers) = csv_with_header(text)?;
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(query_col), Some(id_col)) = (column("query"), column("id")) else {
        return Err(SupportError::InvalidInput(
            "the queries' CSV header must name query and id".into(),
        ));
    };
    let mut queries = Vec::new();
    let mut skipped = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
                let query = record.get(query_col).unwrap_or("").trim();
                let id = record.get(id_col).unwrap_or("").trim();
                if query.is_empty() || id.is_empty() {
                    skipped.push(SkippedRow {
                        line,
                        reason: "query and id must both be given".into(),
                    });
                } else {
                    queries.push((query.to_owned(), id.to_owned()));
                }
            }
            Err(error) => skipped.push(SkippedRow {
                line: error.position().map(|p| p.line() as usize).unwrap_or(0),
                reason: error.to_string(),
            }),
        }
    }
    Ok(LabelledQueries { queries, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_of_one_id_and_language_are_one_entry() {
        let text = "id,question,answer,language\n\
                    card,Why was my card declined?,Check the card status.,en\n\
                    card,My card payment failed,,en\n\
                    card,Warum wurde meine Karte abgelehnt?,Prüfen Sie den Kartenstatus.,de\n\
                    pin,How do I change my PIN?,In the app under Cards.,en\n";
        let parsed = parse(text, FaqFormat::Csv).unwrap();
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        assert_eq!(parsed.entries.len(), 3);
        assert_eq!(
            parsed.entries[0].questions,
            ["Why was my card declined?", "My card payment failed"]
        );
        assert_eq!(parsed.entries[0].answer, "Check the card status.");
        assert_eq!(parsed.entries[1].language, "de");
    }

    #[test]
    fn bad_rows_are_named_by_line_and_the_rest_is_read() {
        let text = "id,question,answer,language\n\
                    ,No id here,An answer,en\n\
                    ok,A question,An answer,en\n\
                    lang,A question,An answer,english\n\
                    short,A question\n";
        let parsed = parse(text, FaqFormat::Csv).unwrap();
        assert_eq!(parsed.entries.len(), 1);
        let lines: Vec<usize> = parsed.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 4, 5], "{:?}", parsed.skipped);
    }

    #[test]
    fn a_header_without_the_columns_is_refused() {
        let error = parse("q,a\nx,y\n", FaqFormat::Csv).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("id, question, answer and language")
        );
    }

    #[test]
    fn json_lines_refuse_unknown_fields_and_duplicates() {
        let text = r#"{"id":"a","language":"en","questions":["Q?"],"answer":"A."}
{"id":"a","language":"en","questions":["Q2?"],"answer":"A2."}
{"id":"b","language":"en","questions":["Q?"],"answer":"A.","colour":"red"}
not json
"#;
        let parsed = parse(text, FaqFormat::JsonLines).unwrap();
        assert_eq!(parsed.entries.len(), 1);
        let lines: Vec<usize> = parsed.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 3, 4]);
    }

    #[test]
    fn writing_and_reading_back_gives_the_same_entries() {
        let entries = demo();
        for format in [FaqFormat::JsonLines, FaqFormat::Csv] {
            let text = write(&entries, format).unwrap();
            let back = parse(&text, format).unwrap();
            assert!(back.skipped.is_empty(), "{format:?}: {:?}", back.skipped);
            assert_eq!(back.entries, entries, "{format:?}");
        }
    }

    #[test]
    fn the_demo_knowledge_base_is_large_and_in_four_languages() {
        let parsed = parse_json_lines(DEMO_FAQ);
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let ids: std::collections::HashSet<&str> =
            parsed.entries.iter().map(|e| e.id.as_str()).collect();
        assert!(ids.len() >= 60, "{} entries", ids.len());
        for language in ["en", "de", "fr", "es"] {
            let count = parsed
                .entries
                .iter()
                .filter(|e| e.language == language)
                .count();
            assert!(count >= 15, "{language}: {count} entries");
        }
        // Every entry is in English, the fallback language.
        for id in &ids {
            assert!(
                parsed
                    .entries
                    .iter()
                    .any(|e| e.id == *id && e.language == "en"),
                "{id} has no English version"
            );
        }
    }

    #[test]
    fn queries_need_both_columns() {
        let read = parse_queries("query,id\nwhere is my card,card\n,x\n").unwrap();
        assert_eq!(
            read.queries,
            [("where is my card".to_owned(), "card".to_owned())]
        );
        assert_eq!(read.skipped.len(), 1);
        assert!(parse_queries("text,label\na,b\n").is_err());
    }
}

//! A single pass over the query text, before the parser sees it.
//!
//! async-graphql's parser recurses once per nesting level of values (lists, input objects) with
//! no limit, so about 4 KB of `[` overflows a worker's stack and aborts the process. This pass
//! reads the text as GraphQL's lexer would (strings, block strings and comments are skipped, so a
//! bracket inside them does not count) and refuses a document that is too long, has too many
//! tokens or nests brackets of any kind (`{`, `[`, `(`) too deep, before any recursion happens.
//! It is linear in the length and allocates nothing.

use super::{QueryLimits, QueryRefused, RefusalKind};

/// What the pass measured on a document it let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LexicalStats {
    /// Tokens: names, numbers, strings and punctuators.
    pub tokens: usize,
    /// Deepest bracket nesting of any kind.
    pub nesting: usize,
}

/// Checks `query` against the size, token and nesting limits.
pub fn check(query: &str, limits: &QueryLimits) -> Result<LexicalStats, QueryRefused> {
    if query.len() > limits.max_query_bytes {
        return Err(QueryRefused::new(
            RefusalKind::TooLarge,
            format!(
                "the query is {} bytes; at most {} are accepted",
                query.len(),
                limits.max_query_bytes
            ),
        ));
    }
    let bytes = query.as_bytes();
    let mut stats = LexicalStats::default();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' => i = skip_string(bytes, i),
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limits.max_nesting {
                    return Err(QueryRefused::new(
                        RefusalKind::TooDeep,
                        format!(
                            "the query nests brackets more than {} deep",
                            limits.max_nesting
                        ),
                    ));
                }
                stats.nesting = stats.nesting.max(depth);
                i += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b'_' | b'-' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => {
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        stats.tokens += 1;
        if stats.tokens > limits.max_tokens {
            return Err(QueryRefused::new(
                RefusalKind::TooLarge,
                format!("the query has more than {} tokens", limits.max_tokens),
            ));
        }
    }
    Ok(stats)
}

/// Index just past the string starting at `start` (a `"`): a block string `"""…"""` (where
/// `\"""` does not end it) or a plain one (ended by an unescaped `"` or a line break; an
/// unterminated one is the parser's to report).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    if bytes[start..].starts_with(b"\"\"\"") {
        let mut i = start + 3;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return i;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> QueryLimits {
        QueryLimits {
            max_nesting: 4,
            max_tokens: 20,
            max_query_bytes: 200,
            ..QueryLimits::default()
        }
    }

    #[test]
    fn counts_tokens_and_nesting_outside_strings_and_comments() {
        let stats = check(
            "{ a(x: \"[[[[[\", y: \"\"\" {{{{ \\\"\"\" \"\"\") # (((((\n { b } }",
            &limits(),
        )
        .unwrap();
        assert_eq!(stats.nesting, 2);
        // { a ( x : "…" y : """…""" ) { b } }
        assert_eq!(stats.tokens, 14);
    }

    #[test]
    fn refuses_deep_brackets_of_every_kind() {
        for query in ["{ a(x: [[[[1]]]]) }", "{ a { b { c { d { e } } } } }"] {
            let refused = check(query, &limits()).unwrap_err();
            assert_eq!(refused.kind, RefusalKind::TooDeep, "{query}");
        }
        let refused = check("{ a(x: {b: {c: {d: 1}}}) }", &limits()).unwrap_err();
        assert_eq!(refused.kind, RefusalKind::TooDeep);
    }

    #[test]
    fn refuses_too_many_tokens_and_bytes() {
        let many = format!("{{ {} }}", "a ".repeat(30));
        assert_eq!(
            check(&many, &limits()).unwrap_err().kind,
            RefusalKind::TooLarge
        );
        let long = format!("{{ a(x: \"{}\") }}", "x".repeat(300));
        assert_eq!(
            check(&long, &limits()).unwrap_err().kind,
            RefusalKind::TooLarge
        );
    }

    #[test]
    fn unterminated_strings_and_odd_bytes_end_cleanly() {
        for query in ["{ a(x: \"", "{ a(x: \"\"\"", "\"\\", "é{…", "...", "."] {
            check(query, &limits()).unwrap();
        }
    }
}

//! proptest strategies of what clients may send, for fuzz tests here and in the gateway: token
//! soups built from GraphQL's lexicon and this schema's names (most of them invalid, some
//! nearly valid), deep nesting of every bracket kind, real operations with hostile arguments,
//! and variables of any JSON shape.
//!
//! How many cases a fuzz test runs: [`cases`], from `FINPULSE_FUZZ_CASES` (the bounded run of
//! `make test` keeps the default; `make fuzz` sets it high).

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Cases per fuzz test: `FINPULSE_FUZZ_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("FINPULSE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const LEXICON: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "...",
    ":",
    "$",
    "@",
    "!",
    "=",
    ",",
    "|",
    "&",
    "\n",
    "#",
    "\"",
    "\"\"\"",
    "\\",
    "query",
    "mutation",
    "subscription",
    "fragment",
    "on",
    "true",
    "false",
    "null",
    "quote",
    "symbol",
    "symbols",
    "price",
    "bid",
    "ask",
    "candles",
    "interval",
    "limit",
    "insights",
    "kinds",
    "INDICATORS",
    "ticks",
    "watchlist",
    "watchlistInsights",
    "addToWatchlist",
    "removeFromWatchlist",
    "me",
    "summarize",
    "text",
    "sentences",
    "ratio",
    "detectLanguage",
    "models",
    "__schema",
    "__type",
    "__typename",
    "types",
    "fields",
    "name",
    "ofType",
    "kind",
    "QueryRoot",
    "Quote",
    "String",
    "Int",
    "skip",
    "include",
    "if",
    "F",
    "G",
    "\"AAPL\"",
    "\"\"",
    "\"\"\"block\"\"\"",
    "1",
    "0",
    "-1",
    "2147483648",
    "1e308",
    "-1.5e-3",
    "99999999999999999999999",
];

fn lexeme() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(LEXICON).prop_map(str::to_owned),
        1 => "[ -~]{0,12}",
        1 => any::<char>().prop_map(String::from),
    ]
}

/// A sequence of GraphQL-ish tokens.
pub fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(lexeme(), 0..120).prop_map(|tokens| tokens.join(" "))
}

/// One kind of bracket nested `depth` deep around a value or a selection.
pub fn deep_nesting() -> impl Strategy<Value = String> {
    (1usize..4_000, 0usize..4).prop_map(|(depth, kind)| match kind {
        0 => format!(
            "{{ quote(symbol: {}\"A\"{}) {{ price }} }}",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
        1 => format!(
            "{{ quote(symbol: {}1{}) {{ price }} }}",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        ),
        2 => format!("{}{}", "{ quote ".repeat(depth), "}".repeat(depth)),
        _ => format!(
            "query($v: {}Int{}) {{ symbols }}",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    })
}

fn symbol_like() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(
            &[
                "AAPL", "MSFT", "BTC-USD", "brk.b", "", " ", "A B", "<script>"
            ][..]
        )
        .prop_map(str::to_owned),
        "[A-Za-z0-9._\\- ]{0,40}",
        any::<String>(),
    ]
}

/// Real operations of this schema with hostile arguments.
pub fn operation() -> impl Strategy<Value = String> {
    let escape = |s: String| serde_json::to_string(&s).expect("strings serialise");
    (symbol_like(), any::<i64>(), 0usize..8, "[ -~]{0,200}").prop_map(move |(symbol, number, which, text)| {
        let symbol = escape(symbol);
        match which {
            0 => format!("{{ quote(symbol: {symbol}) {{ symbol price bid ask }} }}"),
            1 => format!("{{ candles(symbol: {symbol}, interval: {number}, limit: {number}) {{ open close }} }}"),
            2 => format!("{{ insights(symbol: {symbol}, last: {number}) {{ id kind }} }}"),
            3 => format!("mutation {{ addToWatchlist(symbol: {symbol}) }}"),
            4 => format!("subscription {{ ticks(symbols: [{symbol}]) {{ price }} }}"),
            5 => format!("{{ detectLanguage(text: {}) {{ code }} }}", escape(text)),
            6 => format!("{{ summarize(text: {}, sentences: {number}) }}", escape(text)),
            _ => format!("query Q($s: String!) {{ quote(symbol: $s) {{ price }} }} fragment F on Quote {{ price }} {{ symbols }} {symbol}"),
        }
    })
}

/// Any document: mostly token soups, some deep nestings, some real operations.
pub fn document() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => token_soup(),
        2 => deep_nesting(),
        3 => operation(),
    ]
}

/// JSON of any shape, nested up to `depth`.
pub fn json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        symbol_like().prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z$]{0,4}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Variables: an object of any values, sometimes a deeply nested list.
pub fn variables() -> impl Strategy<Value = Option<Map<String, Value>>> {
    prop_oneof![
        Just(None),
        prop::collection::btree_map("[a-z]{1,3}", json(4), 0..4)
            .prop_map(|m| Some(m.into_iter().collect())),
        (1usize..200).prop_map(|depth| {
            let mut value = Value::from("A");
            for _ in 0..depth {
                value = Value::Array(vec![value]);
            }
            Some(Map::from_iter([("s".to_owned(), value)]))
        }),
    ]
}

//! Bounds on what one GraphQL document may ask, checked before the schema sees it.
//!
//! Every transport (HTTP `POST` and `GET`, WebSocket `subscribe`) hands its query to
//! [`prepare`], which runs, in order and each in bounded time:
//! 1. [`lexical::check`]: length, tokens and bracket nesting, before the parser recurses;
//! 2. the parser;
//! 3. [`document::check`]: fragments, spreads, and the expanded fields, depth, aliases and
//!    directives of every operation, computed once per fragment;
//! 4. required variables present.
//!
//! The parsed document is handed to async-graphql with the request, so it is parsed once; its
//! own validation then walks a document already known to be small. The gateway runs
//! [`prepare`] off the async workers with a deadline.

pub mod document;
pub mod lexical;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use async_graphql::{ErrorExtensionValues, Request, ServerError, Variables};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The limits of one document; every one is configurable under `[graphql]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryLimits {
    /// Longest query text, in bytes.
    pub max_query_bytes: usize,
    /// Most tokens (names, numbers, strings, punctuators) in a query.
    pub max_tokens: usize,
    /// Deepest nesting of brackets of any kind (`{`, `[`, `(`) in the text, and of lists and
    /// objects in the variables.
    pub max_nesting: usize,
    /// Deepest nesting of fields, introspection (`__schema`, `__type`) not counted.
    pub max_depth: usize,
    /// Most fields of an operation once its fragments are expanded.
    pub max_fields: usize,
    /// Most fragment definitions in a document.
    pub max_fragments: usize,
    /// Most fragment spreads written in a document.
    pub max_spreads: usize,
    /// Most aliased fields of an operation, fragments expanded.
    pub max_aliases: usize,
    /// Most directives of an operation, fragments expanded.
    pub max_directives: usize,
    /// Milliseconds parsing and checking one document may take before it is refused.
    pub prepare_timeout_ms: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_query_bytes: 256 * 1024,
            max_tokens: 20_000,
            max_nesting: 64,
            max_depth: 12,
            max_fields: 5_000,
            max_fragments: 100,
            max_spreads: 500,
            max_aliases: 200,
            max_directives: 200,
            prepare_timeout_ms: 1_000,
        }
    }
}

impl QueryLimits {
    /// Names the first limit that cannot work (zero).
    pub fn validate(&self) -> Result<(), String> {
        let fields = [
            ("max_query_bytes", self.max_query_bytes),
            ("max_tokens", self.max_tokens),
            ("max_nesting", self.max_nesting),
            ("max_depth", self.max_depth),
            ("max_fields", self.max_fields),
            ("prepare_timeout_ms", self.prepare_timeout_ms as usize),
        ];
        match fields.iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(format!("graphql.{name} must be at least 1")),
            None if self.max_nesting > 128 => {
                // The parser recurses once per level: this bound is what keeps it off the
                // end of the stack.
                Err("graphql.max_nesting must be at most 128".into())
            }
            None => Ok(()),
        }
    }
}

/// Which limit a document broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Too many bytes or tokens.
    TooLarge,
    /// Brackets or fields nested too deep.
    TooDeep,
    /// Too many fields, fragments, spreads, aliases or directives.
    TooComplex,
    /// Not a valid request (a fragment cycle, a missing variable).
    Invalid,
    /// Parsing and checking took longer than allowed.
    Timeout,
}

impl RefusalKind {
    /// The `extensions.code` clients see.
    pub fn code(self) -> &'static str {
        match self {
            Self::TooLarge => "QUERY_TOO_LARGE",
            Self::TooDeep => "QUERY_TOO_DEEP",
            Self::TooComplex => "QUERY_TOO_COMPLEX",
            Self::Invalid => "GRAPHQL_VALIDATION_FAILED",
            Self::Timeout => "QUERY_TIMEOUT",
        }
    }
}

/// A document refused by a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRefused {
    /// Which limit.
    pub kind: RefusalKind,
    /// For people.
    pub message: String,
}

impl QueryRefused {
    /// A refusal of `kind`.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<QueryRefused> for ServerError {
    fn from(refused: QueryRefused) -> Self {
        let mut error = ServerError::new(refused.message, None);
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", refused.kind.code());
        error.extensions = Some(extensions);
        error
    }
}

/// What the selected operation is, for transports that treat kinds differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationInfo {
    /// Query, mutation or subscription.
    pub kind: OperationType,
    /// Names of the root fields (not aliases), in order.
    pub root_fields: Vec<String>,
}

/// A request that passed every limit: the parsed document travels inside `request`.
#[derive(Debug)]
pub struct Prepared {
    /// Ready for `Schema::execute` once the caller adds its data (the principal).
    pub request: Request,
    /// The selected operation; `None` when `operationName` matches none (the schema says so).
    pub operation: Option<OperationInfo>,
}

/// Checks and parses one request. Blocking work (bounded by the limits): run it off the async
/// workers.
pub fn prepare(
    query: String,
    operation_name: Option<String>,
    variables: Option<Map<String, Value>>,
    limits: &QueryLimits,
) -> Result<Prepared, ServerError> {
    lexical::check(&query, limits)?;
    if let Some(variables) = &variables {
        check_value_nesting(variables, limits.max_nesting)?;
    }
    let document = async_graphql::parser::parse_query(&query).map_err(|e| {
        let mut error = ServerError::from(e);
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", "GRAPHQL_PARSE_FAILED");
        error.extensions = Some(extensions);
        error
    })?;
    document::check(&document, limits)?;
    let operation = selected(&document, operation_name.as_deref());
    if let Some(operation) = operation {
        check_required_variables(operation, variables.as_ref())?;
    }
    let info = operation.map(|operation| OperationInfo {
        kind: operation.ty,
        root_fields: operation
            .selection_set
            .node
            .items
            .iter()
            .filter_map(|item| match &item.node {
                Selection::Field(field) => Some(field.node.name.node.to_string()),
                _ => None,
            })
            .collect(),
    });
    let mut request = Request::new(query);
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = variables {
        request = request.variables(Variables::from_json(Value::Object(variables)));
    }
    request.set_parsed_query(document);
    Ok(Prepared {
        request,
        operation: info,
    })
}

fn selected<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a async_graphql::parser::types::OperationDefinition> {
    match (&document.operations, operation_name) {
        // A single anonymous operation: async-graphql itself checks a name given with it.
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A variable of non-null type without a default must be given: async-graphql would otherwise
/// run the operation and report a field error.
fn check_required_variables(
    operation: &async_graphql::parser::types::OperationDefinition,
    variables: Option<&Map<String, Value>>,
) -> Result<(), QueryRefused> {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let given = variables
            .and_then(|v| v.get(definition.name.node.as_str()))
            .is_some_and(|v| !v.is_null());
        if !definition.var_type.node.nullable && definition.default_value.is_none() && !given {
            return Err(QueryRefused::new(
                RefusalKind::Invalid,
                format!(
                    "variable `${}` of type `{}` is required but not given",
                    definition.name.node, definition.var_type.node
                ),
            ));
        }
    }
    Ok(())
}

/// Lists and objects in variables nest at most `limit` deep. Iterative: the JSON parser already
/// stops at 128 levels, but nothing here should recurse on input.
fn check_value_nesting(variables: &Map<String, Value>, limit: usize) -> Result<(), QueryRefused> {
    let mut stack: Vec<(&Value, usize)> = variables.values().map(|v| (v, 1)).collect();
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth > limit {
            return Err(QueryRefused::new(
                RefusalKind::TooDeep,
                format!("variables nest more than {limit} deep"),
            ));
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(error: &ServerError) -> String {
        error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn deep_values_are_refused_before_the_parser_recurses() {
        let query = format!(
            "{{ quote(symbol: {}\"A\"{}) {{ price }} }}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let error = prepare(query, None, None, &QueryLimits::default()).unwrap_err();
        assert_eq!(code(&error), "\"QUERY_TOO_DEEP\"");
    }

    #[test]
    fn deep_variables_are_refused() {
        let mut value = Value::from(1);
        for _ in 0..70 {
            value = Value::Array(vec![value]);
        }
        let variables = Map::from_iter([("s".to_owned(), value)]);
        let error = prepare(
            "query($s: String) { quote(symbol: $s) { price } }".into(),
            None,
            Some(variables),
            &QueryLimits::default(),
        )
        .unwrap_err();
        assert_eq!(code(&error), "\"QUERY_TOO_DEEP\"");
    }

    #[test]
    fn missing_required_variables_are_request_errors() {
        let query = "query($s: String!) { quote(symbol: $s) { price } }";
        let error = prepare(query.into(), None, None, &QueryLimits::default()).unwrap_err();
        assert_eq!(code(&error), "\"GRAPHQL_VALIDATION_FAILED\"");
        assert!(error.message.contains("$s"), "{}", error.message);
        let given = Map::from_iter([("s".to_owned(), Value::from("A"))]);
        prepare(query.into(), None, Some(given), &QueryLimits::default()).unwrap();
        let defaulted = "query($s: String! = \"A\") { quote(symbol: $s) { price } }";
        prepare(defaulted.into(), None, None, &QueryLimits::default()).unwrap();
    }

    #[test]
    fn finds_the_named_operation_and_its_root_fields() {
        let doc = "query A { symbols } mutation B { x: addToWatchlist(symbol: \"A\") }";
        let limits = QueryLimits::default();
        let b = prepare(doc.into(), Some("B".into()), None, &limits).unwrap();
        let info = b.operation.unwrap();
        assert_eq!(info.kind, OperationType::Mutation);
        assert_eq!(info.root_fields, vec!["addToWatchlist"]);
        assert!(
            prepare(doc.into(), None, None, &limits)
                .unwrap()
                .operation
                .is_none()
        );
        let error = prepare("{".into(), None, None, &limits).unwrap_err();
        assert_eq!(code(&error), "\"GRAPHQL_PARSE_FAILED\"");
        assert!(!error.locations.is_empty());
    }

    #[test]
    fn zero_limits_are_configuration_errors() {
        QueryLimits::default().validate().unwrap();
        let zero = QueryLimits {
            max_depth: 0,
            ..QueryLimits::default()
        };
        assert!(zero.validate().unwrap_err().contains("max_depth"));
    }
}

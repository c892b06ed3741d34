//! What a GraphQL document asks for, found before it runs: HTTP needs to refuse mutations over
//! GET, sockets need to know which subscriptions may be coalesced.

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::parser::{Positioned, parse_query};

/// The operation a request selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationInfo {
    /// Query, mutation or subscription.
    pub kind: OperationType,
    /// Names of the root fields (not aliases), in order.
    pub root_fields: Vec<String>,
}

/// Why the operation could not be determined; the request is invalid either way and the schema
/// would say the same thing with more detail, so callers usually let it run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationProblem {
    /// The document does not parse.
    Syntax(String),
    /// No operation matches `operationName` (or several exist and none was named).
    NotFound,
}

/// Parses `query` and picks the operation `operation_name` names.
pub fn inspect(
    query: &str,
    operation_name: Option<&str>,
) -> Result<OperationInfo, OperationProblem> {
    let document = parse_query(query).map_err(|e| OperationProblem::Syntax(e.to_string()))?;
    let operation = match (&document.operations, operation_name) {
        // A single anonymous operation: async-graphql itself checks a name given with it.
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name).ok_or(OperationProblem::NotFound)?
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().expect("one operation")
        }
        (DocumentOperations::Multiple(_), None) => return Err(OperationProblem::NotFound),
    };
    let operation = &operation.node;
    let root_fields = operation
        .selection_set
        .node
        .items
        .iter()
        .filter_map(|item: &Positioned<Selection>| match &item.node {
            Selection::Field(field) => Some(field.node.name.node.to_string()),
            _ => None,
        })
        .collect();
    Ok(OperationInfo {
        kind: operation.ty,
        root_fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_named_operation_and_its_root_fields() {
        let doc = "query A { symbols } mutation B { x: addToWatchlist(symbol: \"A\") }";
        let b = inspect(doc, Some("B")).unwrap();
        assert_eq!(b.kind, OperationType::Mutation);
        assert_eq!(b.root_fields, vec!["addToWatchlist"]);
        assert_eq!(inspect(doc, None), Err(OperationProblem::NotFound));
        assert!(matches!(
            inspect("{", None),
            Err(OperationProblem::Syntax(_))
        ));
        let s = inspect("subscription { ticks(symbols: [\"A\"]) { price } }", None).unwrap();
        assert_eq!(s.kind, OperationType::Subscription);
    }
}

//! What a parsed document would cost once its fragments are expanded, computed without
//! expanding them.
//!
//! A fragment that spreads the previous one twice, 24 levels deep, is 1 KB of text and 2^24
//! fields once expanded; async-graphql's complexity and depth visitors walk every expansion, so
//! such a document held a worker thread for seconds before it was refused. Here every fragment's
//! cost is computed once, from the costs of the fragments it spreads (in dependency order, so
//! a spread costs a lookup), and a document whose expanded size passes the limits is refused
//! before any visitor runs. Recursion follows only the written nesting of one selection set,
//! which the lexical pass has already bounded.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use super::{QueryLimits, QueryRefused, RefusalKind};

/// The expanded size of a selection set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Fields, every fragment spread counted as the fields it brings.
    pub fields: u64,
    /// Deepest field nesting; fields under `__schema` and `__type` (introspection) do not
    /// count, so GraphiQL's and codegen tools' introspection query is not refused for depth.
    pub depth: u64,
    /// Fields with an alias.
    pub aliases: u64,
    /// Directives.
    pub directives: u64,
}

impl Cost {
    fn absorb(&mut self, other: Cost) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.directives = self.directives.saturating_add(other.directives);
        self.depth = self.depth.max(other.depth);
    }
}

/// What [`check`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocumentStats {
    /// The costliest operation of the document.
    pub cost: Cost,
    /// Fragment definitions.
    pub fragments: usize,
    /// Fragment spreads as written (not expanded).
    pub spreads: usize,
}

fn too_complex(message: String) -> QueryRefused {
    QueryRefused::new(RefusalKind::TooComplex, message)
}

/// Checks every operation of `document` against the limits.
pub fn check(
    document: &ExecutableDocument,
    limits: &QueryLimits,
) -> Result<DocumentStats, QueryRefused> {
    let fragments = document.fragments.len();
    if fragments > limits.max_fragments {
        return Err(too_complex(format!(
            "the document defines {fragments} fragments; at most {} are accepted",
            limits.max_fragments
        )));
    }
    let mut spreads = 0usize;
    for (_, operation) in document.operations.iter() {
        count_spreads(&operation.node.selection_set.node, &mut spreads);
    }
    for fragment in document.fragments.values() {
        count_spreads(&fragment.node.selection_set.node, &mut spreads);
    }
    if spreads > limits.max_spreads {
        return Err(too_complex(format!(
            "the document has {spreads} fragment spreads; at most {} are accepted",
            limits.max_spreads
        )));
    }
    let mut costs: HashMap<&str, Cost> = HashMap::with_capacity(fragments);
    for name in dependency_order(document)? {
        let fragment = &document.fragments[name].node;
        let mut cost = cost_of(&fragment.selection_set.node, &costs);
        cost.directives = cost
            .directives
            .saturating_add(fragment.directives.len() as u64);
        costs.insert(name, cost);
    }
    let mut worst = Cost::default();
    for (_, operation) in document.operations.iter() {
        let mut cost = cost_of(&operation.node.selection_set.node, &costs);
        cost.directives = cost
            .directives
            .saturating_add(operation.node.directives.len() as u64);
        let over = |what: &str, value: u64, limit: usize| {
            (value > limit as u64).then(|| {
                format!("the operation has {value} {what} once fragments are expanded; at most {limit} are accepted")
            })
        };
        let problem = over("fields", cost.fields, limits.max_fields)
            .or_else(|| over("aliases", cost.aliases, limits.max_aliases))
            .or_else(|| over("directives", cost.directives, limits.max_directives));
        if let Some(message) = problem {
            return Err(too_complex(message));
        }
        if cost.depth > limits.max_depth as u64 {
            return Err(QueryRefused::new(
                RefusalKind::TooDeep,
                format!(
                    "the operation nests fields {} deep; at most {} are accepted",
                    cost.depth, limits.max_depth
                ),
            ));
        }
        worst.absorb(cost);
    }
    Ok(DocumentStats {
        cost: worst,
        fragments,
        spreads,
    })
}

fn count_spreads(set: &SelectionSet, count: &mut usize) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => count_spreads(&field.node.selection_set.node, count),
            Selection::FragmentSpread(_) => *count += 1,
            Selection::InlineFragment(inline) => {
                count_spreads(&inline.node.selection_set.node, count)
            }
        }
    }
}

fn spread_names<'a>(set: &'a SelectionSet, names: &mut Vec<&'a str>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => spread_names(&field.node.selection_set.node, names),
            Selection::FragmentSpread(spread) => {
                names.push(spread.node.fragment_name.node.as_str())
            }
            Selection::InlineFragment(inline) => {
                spread_names(&inline.node.selection_set.node, names)
            }
        }
    }
}

/// Fragment names, each after every fragment it spreads; a cycle is refused (the schema would
/// refuse it too, but its visitors must never be handed one to follow).
fn dependency_order(document: &ExecutableDocument) -> Result<Vec<&str>, QueryRefused> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    let mut order = Vec::with_capacity(document.fragments.len());
    for root in document.fragments.keys() {
        if marks.contains_key(root.as_str()) {
            continue;
        }
        // An explicit stack of (fragment, the fragments it spreads, how many are handled), so
        // a long chain of fragments cannot recurse deeply.
        let mut stack: Vec<(&str, Vec<&str>, usize)> = Vec::new();
        let mut deps = Vec::new();
        spread_names(&document.fragments[root].node.selection_set.node, &mut deps);
        marks.insert(root.as_str(), Mark::Open);
        stack.push((root.as_str(), deps, 0));
        while let Some((name, deps, next)) = stack.last_mut() {
            let Some(&dep) = deps.get(*next) else {
                marks.insert(name, Mark::Done);
                order.push(*name);
                stack.pop();
                continue;
            };
            *next += 1;
            let Some((dep_name, fragment)) = document.fragments.get_key_value(dep) else {
                continue; // unknown: validation names it
            };
            match marks.get(dep) {
                Some(Mark::Done) => {}
                Some(Mark::Open) => {
                    return Err(QueryRefused::new(
                        RefusalKind::Invalid,
                        format!("fragment `{dep}` spreads itself"),
                    ));
                }
                None => {
                    let mut deps = Vec::new();
                    spread_names(&fragment.node.selection_set.node, &mut deps);
                    marks.insert(dep_name.as_str(), Mark::Open);
                    stack.push((dep_name.as_str(), deps, 0));
                }
            }
        }
    }
    Ok(order)
}

fn is_introspection(name: &str) -> bool {
    name == "__schema" || name == "__type"
}

fn cost_of(set: &SelectionSet, fragments: &HashMap<&str, Cost>) -> Cost {
    let mut total = Cost::default();
    for item in &set.items {
        let cost = match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let inner = cost_of(&field.selection_set.node, fragments);
                Cost {
                    fields: inner.fields.saturating_add(1),
                    depth: if is_introspection(field.name.node.as_str()) {
                        1
                    } else {
                        inner.depth + 1
                    },
                    aliases: inner.aliases + u64::from(field.alias.is_some()),
                    directives: inner
                        .directives
                        .saturating_add(field.directives.len() as u64),
                }
            }
            Selection::FragmentSpread(spread) => {
                let mut cost = fragments
                    .get(spread.node.fragment_name.node.as_str())
                    .copied()
                    .unwrap_or_default();
                cost.directives = cost
                    .directives
                    .saturating_add(spread.node.directives.len() as u64);
                cost
            }
            Selection::InlineFragment(inline) => {
                let mut cost = cost_of(&inline.node.selection_set.node, fragments);
                cost.directives = cost
                    .directives
                    .saturating_add(inline.node.directives.len() as u64);
                cost
            }
        };
        total.absorb(cost);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn measure(query: &str) -> Result<DocumentStats, QueryRefused> {
        check(&parse_query(query).unwrap(), &QueryLimits::default())
    }

    /// `fragment F{n} on QueryRoot { ...F{n-1} ...F{n-1} }`: 2^levels fields once expanded.
    fn fragment_bomb(levels: usize) -> String {
        let mut query = String::from("query { ...F");
        query.push_str(&levels.to_string());
        query.push_str(" }\nfragment F0 on QueryRoot { symbols }\n");
        for level in 1..=levels {
            let below = level - 1;
            query.push_str(&format!(
                "fragment F{level} on QueryRoot {{ ...F{below} ...F{below} }}\n"
            ));
        }
        query
    }

    #[test]
    fn expands_fragments_without_walking_them() {
        let stats = measure(&fragment_bomb(10)).unwrap();
        assert_eq!(stats.cost.fields, 1024);
        assert_eq!(stats.fragments, 11);
        assert_eq!(stats.spreads, 21);
        // 2^60 fields: computed at once, and refused.
        let refused = measure(&fragment_bomb(60)).unwrap_err();
        assert_eq!(refused.kind, RefusalKind::TooComplex);
        assert!(refused.message.contains("fields"), "{}", refused.message);
    }

    #[test]
    fn counts_depth_aliases_and_directives_through_fragments() {
        let stats = measure(
            "{ a: quote(symbol: \"A\") @skip(if: false) { ...P } }
             fragment P on Quote { price b: symbol ... on Quote { price } }",
        )
        .unwrap();
        assert_eq!(
            stats.cost,
            Cost {
                fields: 4,
                depth: 2,
                aliases: 2,
                directives: 1
            }
        );
    }

    #[test]
    fn introspection_does_not_count_for_depth() {
        let deep = format!(
            "{{ __schema {{ types {{ {} name {} }} }} }}",
            "ofType { ".repeat(14),
            "} ".repeat(14)
        );
        assert_eq!(measure(&deep).unwrap().cost.depth, 1);
        let nested =
            "{ a { b { c { d { e { f { g { h { i { j { k { l { m } } } } } } } } } } } } }";
        assert_eq!(measure(nested).unwrap_err().kind, RefusalKind::TooDeep);
    }

    #[test]
    fn refuses_cycles_and_long_chains_do_not_recurse() {
        let refused =
            measure("{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A }")
                .unwrap_err();
        assert_eq!(refused.kind, RefusalKind::Invalid);
        let mut chain = String::from("{ ...F99 } fragment F0 on QueryRoot { symbols }");
        for i in 1..100 {
            chain.push_str(&format!(" fragment F{i} on QueryRoot {{ ...F{} }}", i - 1));
        }
        assert_eq!(measure(&chain).unwrap().cost.fields, 1);
    }
}

//! HTTP routes: GraphQL, GraphiQL and the operational endpoints.

pub mod graphql;
pub mod identity;
pub mod ops;
pub mod rate;

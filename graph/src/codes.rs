//! `extensions.code` on the errors async-graphql raises itself while validating a document
//! (unknown fields, wrong argument types, "Query is too complex.") or while coercing an
//! argument's value (a `DateTime` that does not parse), which come without one: every error a
//! client sees carries a code it can switch on.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextValidation,
};
use async_graphql::{ErrorExtensionValues, Response, ServerError, ValidationResult};

/// Adds the codes; install it with `SchemaBuilder::extension`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidationCodes;

impl ExtensionFactory for ValidationCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ValidationCodes)
    }
}

/// The code of a validation error by its message.
fn code_of(message: &str) -> &'static str {
    if message.starts_with("Query is too complex") {
        "QUERY_TOO_COMPLEX"
    } else if message.starts_with("Query is nested too deep") {
        "QUERY_TOO_DEEP"
    } else {
        "GRAPHQL_VALIDATION_FAILED"
    }
}

fn ensure_code(error: &mut ServerError, code: &'static str) {
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
}

#[async_trait::async_trait]
impl Extension for ValidationCodes {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        for error in &mut response.errors {
            // Our resolvers always set a code; these are async-graphql's own argument errors.
            if error.message.starts_with("Failed to parse") {
                ensure_code(error, "BAD_USER_INPUT");
            }
        }
        response
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|mut error| {
                    let code = code_of(&error.message);
                    ensure_code(&mut error, code);
                    error
                })
                .collect()
        })
    }
}

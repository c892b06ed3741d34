//! How each subscription field's results may travel, declared by the schema so that transports
//! never need to know field names.
//!
//! - [`Audience::Public`]: the result cannot depend on who asks, so sockets running the same
//!   document (and variables) may share one execution.
//! - [`Audience::PerUser`]: the result depends on the caller (their watchlist, later their
//!   recommendations, their support chats): every socket runs its own execution, with its own
//!   principal. Sharing it would hand one user's data to another.
//!
//! A public field may also be **coalescable by a key**: its results are snapshots (the latest
//! trade, the open candle), so a slow client may be given only the newest per value of that key
//! (`symbol`) instead of every one.
//!
//! Every subscription field must have a policy (a test fails the build otherwise); an operation
//! whose fields have none, or mix audiences, is treated as per-user: the safe default.

/// Who may see the same results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone asking the same thing gets the same results.
    Public,
    /// Results depend on the caller.
    PerUser,
}

/// The policy of one subscription field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPolicy {
    /// The field's name in the schema.
    pub field: &'static str,
    /// Who may share its executions.
    pub audience: Audience,
    /// The result field whose value tells snapshots apart, when older ones may be dropped for
    /// newer ones.
    pub coalesce_by: Option<&'static str>,
}

impl FieldPolicy {
    /// A field whose results are the same for everybody.
    pub const fn public(field: &'static str) -> Self {
        Self {
            field,
            audience: Audience::Public,
            coalesce_by: None,
        }
    }

    /// A field whose results depend on the caller.
    pub const fn per_user(field: &'static str) -> Self {
        Self {
            field,
            audience: Audience::PerUser,
            coalesce_by: None,
        }
    }

    /// The same, with results that are snapshots told apart by `key`.
    pub const fn coalesced_by(mut self, key: &'static str) -> Self {
        self.coalesce_by = Some(key);
        self
    }
}

/// How a socket runs one subscription operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationPolicy {
    /// One execution may serve every socket running the same request.
    pub shared: bool,
    /// Results may be coalesced per value of this field of the first root field's result.
    pub coalesce_by: Option<&'static str>,
}

impl OperationPolicy {
    /// Runs alone, every result delivered.
    pub const PRIVATE: Self = Self {
        shared: false,
        coalesce_by: None,
    };
}

/// The declared policy of subscription field `field`.
pub fn field_policy(field: &str) -> Option<&'static FieldPolicy> {
    crate::POLICIES
        .iter()
        .flat_map(|domain| domain.iter())
        .find(|policy| policy.field == field)
}

/// The policy of a subscription selecting `root_fields`: shared only when every field is public,
/// coalesced only when every field is coalescable by the same key.
pub fn operation_policy(root_fields: &[String]) -> OperationPolicy {
    let policies: Option<Vec<&FieldPolicy>> = root_fields.iter().map(|f| field_policy(f)).collect();
    let Some(policies) = policies.filter(|p| !p.is_empty()) else {
        return OperationPolicy::PRIVATE;
    };
    let shared = policies.iter().all(|p| p.audience == Audience::Public);
    let first_key = policies[0].coalesce_by;
    let coalesce_by = first_key.filter(|_| policies.iter().all(|p| p.coalesce_by == first_key));
    OperationPolicy {
        shared,
        coalesce_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GraphContext, build_schema};
    use std::sync::Arc;

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn operations_are_shared_only_when_every_field_is_public() {
        let ticks = operation_policy(&fields(&["ticks"]));
        assert_eq!(
            ticks,
            OperationPolicy {
                shared: true,
                coalesce_by: Some("symbol")
            }
        );
        let mixed = operation_policy(&fields(&["ticks", "insights"]));
        assert!(mixed.shared);
        assert_eq!(mixed.coalesce_by, None, "insights are never coalesced");
        assert!(!operation_policy(&fields(&["ticks", "watchlistInsights"])).shared);
        assert_eq!(
            operation_policy(&fields(&["noSuchField"])),
            OperationPolicy::PRIVATE
        );
        assert_eq!(operation_policy(&[]), OperationPolicy::PRIVATE);
    }

    /// Fails when a subscription field is added without a policy (or with two, in different
    /// modules), or a policy outlives its field: the transports would otherwise guess.
    #[tokio::test]
    async fn every_subscription_field_declares_its_policy() {
        let store = finpulse_store::SqlStore::connect("sqlite::memory:")
            .await
            .unwrap();
        let store = finpulse_store::Repositories::of(store);
        let schema = build_schema(GraphContext::new(
            &store,
            Arc::new(finpulse_bus::LocalFanOut::default()),
            Default::default(),
        ));
        let response = schema
            .execute("{ __schema { subscriptionType { fields { name } } } }")
            .await;
        let data = response.data.into_json().unwrap();
        let names: Vec<String> = data["__schema"]["subscriptionType"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(!names.is_empty());
        for name in &names {
            let declared = crate::POLICIES
                .iter()
                .flat_map(|domain| domain.iter())
                .filter(|policy| policy.field == name)
                .count();
            assert_eq!(
                declared, 1,
                "subscription field `{name}` must declare one policy beside it (its module's \
                 POLICIES, listed in lib.rs); it has {declared}"
            );
        }
        for policy in crate::POLICIES.iter().flat_map(|domain| domain.iter()) {
            assert!(
                names.iter().any(|n| n == policy.field),
                "policy for `{}`, which is no subscription field",
                policy.field
            );
        }
    }
}

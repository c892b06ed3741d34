//! Who is asking: set by the gateway from a verified token, read by resolvers and guards.
//!
//! A principal is a user id, the roles the token grants (`customer`, `agent`, `admin`) and, when
//! the token says so, the OAuth2 scopes it is limited to. Fields declare what they need with
//! [`Need`] as a guard (`#[graphql(guard = "Need::scope(\"watchlist:write\")")]`), so the check is
//! the same over HTTP and WebSocket and sits beside the field it protects.

use std::collections::BTreeSet;

use async_graphql::{Context, Guard};
use chrono::{DateTime, Utc};

use crate::error::ApiError;

/// What a user is to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A customer of the bank or broker: their own watchlist, portfolio, chats.
    Customer,
    /// A support agent: the support desk's queues and conversations.
    Agent,
    /// An operator: catalogue, experiments, configuration.
    Admin,
}

impl Role {
    /// The name in tokens (`roles` claim).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }

    /// The role a token names, if it is one of ours.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Customer, Self::Agent, Self::Admin]
            .into_iter()
            .find(|role| role.as_str() == name)
    }
}

/// The verified identity behind a request or a socket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principal {
    /// The user id (`sub` claim); `None` for anonymous access.
    pub subject: Option<String>,
    /// When the credential stops being valid.
    pub expires_at: Option<DateTime<Utc>>,
    /// The roles the token grants.
    pub roles: BTreeSet<Role>,
    /// The scopes the token is limited to (its `scope` claim); `None` when it names none, as
    /// first-party tokens do, which limits nothing.
    pub scopes: Option<BTreeSet<String>>,
}

impl Principal {
    /// Somebody without a token: public market data only.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// A signed-in customer with no scope limit.
    pub fn user(subject: impl Into<String>, expires_at: Option<DateTime<Utc>>) -> Self {
        Self {
            subject: Some(subject.into()),
            expires_at,
            roles: BTreeSet::from([Role::Customer]),
            scopes: None,
        }
    }

    /// The same principal with exactly `roles`.
    pub fn with_roles(mut self, roles: impl IntoIterator<Item = Role>) -> Self {
        self.roles = roles.into_iter().collect();
        self
    }

    /// The same principal limited to `scopes`.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = String>) -> Self {
        self.scopes = Some(scopes.into_iter().collect());
        self
    }

    /// The user id, or `UNAUTHENTICATED`.
    pub fn require_user(&self) -> Result<&str, ApiError> {
        self.subject.as_deref().ok_or(ApiError::Unauthenticated)
    }

    /// True when the token grants `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// True when the token is not limited to scopes without `scope`.
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.contains(scope))
    }
}

/// What a field needs of the caller; a guard (`#[graphql(guard = "…")]`).
#[derive(Debug, Clone)]
pub enum Need {
    /// A signed-in user with this role.
    Role(Role),
    /// A signed-in user whose token allows this scope.
    Scope(&'static str),
    /// Every one of these.
    All(Vec<Need>),
    /// At least one of these.
    Any(Vec<Need>),
}

impl Need {
    /// A signed-in user with `role`.
    pub fn role(role: Role) -> Self {
        Self::Role(role)
    }

    /// A signed-in user whose token allows `scope`.
    pub fn scope(scope: &'static str) -> Self {
        Self::Scope(scope)
    }

    /// A customer whose token allows `scope`: what per-customer data needs.
    pub fn customer(scope: &'static str) -> Self {
        Self::All(vec![Self::Role(Role::Customer), Self::Scope(scope)])
    }

    /// A customer or an agent whose token allows `scope`: the support desk's conversations,
    /// which each reads as their role allows.
    pub fn customer_or_agent(scope: &'static str) -> Self {
        Self::All(vec![
            Self::Any(vec![Self::Role(Role::Customer), Self::Role(Role::Agent)]),
            Self::Scope(scope),
        ])
    }

    fn check_principal(&self, principal: &Principal) -> Result<(), ApiError> {
        principal.require_user()?;
        match self {
            Self::Role(role) if !principal.has_role(*role) => Err(ApiError::Forbidden(format!(
                "this needs the `{}` role",
                role.as_str()
            ))),
            Self::Scope(scope) if !principal.allows(scope) => Err(ApiError::Forbidden(format!(
                "this needs the `{scope}` scope"
            ))),
            Self::All(needs) => needs.iter().try_for_each(|n| n.check_principal(principal)),
            Self::Any(needs) => {
                let mut first_refusal = None;
                for need in needs {
                    match need.check_principal(principal) {
                        Ok(()) => return Ok(()),
                        Err(refusal) => {
                            first_refusal.get_or_insert(refusal);
                        }
                    }
                }
                first_refusal.map_or(Ok(()), Err)
            }
            _ => Ok(()),
        }
    }
}

impl Guard for Need {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let anonymous = Principal::anonymous();
        let principal = ctx.data_opt::<Principal>().unwrap_or(&anonymous);
        self.check_principal(principal).map_err(Into::into)
    }
}

/// Who a request's work is charged to: the signed-in user, else the client's address. Model
/// budgets and the models' fair queues are kept per caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller(pub String);

impl Caller {
    /// The caller of a request by `principal` from `address`.
    pub fn of(principal: &Principal, address: Option<std::net::IpAddr>) -> Self {
        match (&principal.subject, address) {
            (Some(user), _) => Self(format!("user:{user}")),
            (None, Some(address)) => Self(format!("ip:{address}")),
            (None, None) => Self("anonymous".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_are_checked_against_roles_and_scopes() {
        let customer = Principal::user("alice", None);
        assert!(
            Need::customer("watchlist:write")
                .check_principal(&customer)
                .is_ok()
        );
        let limited = customer.clone().with_scopes(["market:read".to_owned()]);
        assert!(matches!(
            Need::customer("watchlist:write").check_principal(&limited),
            Err(ApiError::Forbidden(m)) if m.contains("watchlist:write")
        ));
        let agent = Principal::user("bob", None).with_roles([Role::Agent]);
        assert!(Need::role(Role::Agent).check_principal(&agent).is_ok());
        assert!(matches!(
            Need::customer("watchlist:read").check_principal(&agent),
            Err(ApiError::Forbidden(m)) if m.contains("customer")
        ));
        assert!(matches!(
            Need::role(Role::Admin).check_principal(&Principal::anonymous()),
            Err(ApiError::Unauthenticated)
        ));
        let support = Need::customer_or_agent("support:write");
        assert!(support.check_principal(&agent).is_ok());
        assert!(support.check_principal(&customer).is_ok());
        let admin = Principal::user("ops", None).with_roles([Role::Admin]);
        assert!(matches!(
            support.check_principal(&admin),
            Err(ApiError::Forbidden(m)) if m.contains("customer")
        ));
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}

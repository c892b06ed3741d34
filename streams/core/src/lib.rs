//! The data every finpulse crate speaks of, defined once.
//!
//! The store keeps these values, the domain crates compute them, the bus carries them and the
//! schema serves them (mapped with `From` into GraphQL objects). They live here, below all of
//! those, because the store depends on no domain crate and a domain crate depends on the store:
//! a type both need can only sit under both. Nothing here does IO or holds logic beyond naming
//! and parsing its own values; a domain's logic stays in its crate under `streams/`.
//!
//! One module per domain, named like the domain's crate: [`market`], [`recommend`], [`support`];
//! news and portfolio add theirs beside it. [`feature_store`] is the feature store's, which any
//! domain's models may read; [`artifact`] the trained models the store keeps for every replica;
//! [`audit`] the audit trail's entries; [`error`] how every crate's errors are classed for API
//! clients.

pub mod artifact;
pub mod audit;
pub mod error;
pub mod feature_store;
pub mod market;
pub mod recommend;
pub mod redis_tls;
pub mod support;

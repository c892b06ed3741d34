//! The finpulse gateway: configuration, start-up, HTTP and WebSocket serving, identity and
//! operations. The `finpulse` binary is a thin shim over [`cli::main`].
//!
//! [`app::Application`] wires the crates together: the store, the event log and fan-out, the
//! market simulator and processor, and the GraphQL schema behind axum. Tests build the same
//! application on port 0 and talk to it over real sockets.

pub mod app;
pub mod auth;
pub mod backends;
pub mod cli;
pub mod config;
mod graphiql;
pub mod http;
pub mod metrics;
pub mod operation;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod ws;

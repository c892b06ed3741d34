//! The finpulse gateway: configuration, start-up, HTTP and WebSocket serving, identity and
//! operations. The `finpulse` binary is a thin shim over [`cli::main`].
//!
//! [`app::Application`] wires the crates together: [`backends`] opens the store, the event log,
//! the fan-out and the models; [`domains`] opens each domain on them and starts what it runs
//! (processors go to the bus registry, jobs to the application's tasks); the
//! GraphQL schema is served by [`server`] (accept loop, connection limits) through the routes of
//! [`http`] and the sockets of [`ws`], with what they share in [`state`]. Every request, over
//! either transport, gets its identity from [`http::identity`] and passes the query limits of
//! [`operation`]. Tests build the same application on port 0 and talk to it over real sockets.

pub mod app;
pub mod auth;
pub mod backends;
pub mod cli;
pub mod config;
mod dashboard;
pub mod domains;
mod graphiql;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod operation;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod ws;

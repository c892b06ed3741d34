//! The client limits of `[limits]`: rates, connections, sockets, timeouts and model work (the
//! query limits are `[graphql]`, [`finpulse_graph::limits::QueryLimits`]). README, "Limits",
//! lists each with its default.

use serde::{Deserialize, Serialize};

use crate::http::client_address::ProxyNet;

/// What one client may use. Clients are told apart by the peer address of their TCP
/// connection, or behind one of `trusted_proxies` by the address it forwards, and, once signed
/// in, by user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// GraphQL requests (and socket upgrades) per second one IP address may make, sustained.
    pub requests_per_second_per_ip: u32,
    /// Requests one IP address may make at once above the sustained rate.
    pub request_burst_per_ip: u32,
    /// GraphQL requests per second of one signed-in user, across addresses.
    pub requests_per_second_per_user: u32,
    /// Requests one user may make at once above the sustained rate.
    pub request_burst_per_user: u32,
    /// Open HTTP connections from one IP address; more are closed on accept.
    pub connections_per_ip: usize,
    /// Open HTTP connections in all; more are closed on accept.
    pub max_connections: usize,
    /// Open WebSockets from one IP address.
    pub sockets_per_ip: usize,
    /// Open WebSockets of one signed-in user.
    pub sockets_per_user: usize,
    /// Messages per second a client may send on one socket, sustained; past the burst the
    /// socket is closed with 1008.
    pub socket_messages_per_second: u32,
    /// Messages a client may send at once on one socket above the sustained rate.
    pub socket_message_burst: u32,
    /// Seconds a client has to send a whole request head, counted from the connection's start
    /// or the end of its previous response: this closes stalled (slowloris) and idle
    /// keep-alive connections alike.
    pub header_read_timeout_secs: f64,
    /// Model work (sentences embedded) one client may ask for per minute, sustained.
    pub model_units_per_minute: u32,
    /// Model work one client may ask for at once.
    pub model_unit_burst: u32,
    /// Load balancers and proxies in front of finpulse (`["10.0.0.0/8", "192.168.1.5"]`):
    /// behind them the client's address is read from `Forwarded` / `X-Forwarded-For`, and
    /// their own connections count only towards `max_connections`. Empty (the default): every
    /// client is the TCP peer, and those headers are ignored.
    pub trusted_proxies: Vec<ProxyNet>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            requests_per_second_per_ip: 100,
            request_burst_per_ip: 200,
            requests_per_second_per_user: 50,
            request_burst_per_user: 100,
            connections_per_ip: 256,
            max_connections: 50_000,
            sockets_per_ip: 1_000,
            sockets_per_user: 16,
            socket_messages_per_second: 50,
            socket_message_burst: 200,
            header_read_timeout_secs: 10.0,
            model_units_per_minute: 2_000,
            model_unit_burst: 1_000,
            trusted_proxies: Vec::new(),
        }
    }
}

impl LimitsConfig {
    /// The first value that cannot work, named.
    pub fn validate(&self) -> Option<&'static str> {
        let counts = [
            self.requests_per_second_per_ip,
            self.request_burst_per_ip,
            self.requests_per_second_per_user,
            self.request_burst_per_user,
            self.socket_messages_per_second,
            self.socket_message_burst,
            self.model_units_per_minute,
            self.model_unit_burst,
        ];
        let sizes = [
            self.connections_per_ip,
            self.max_connections,
            self.sockets_per_ip,
            self.sockets_per_user,
        ];
        if counts.contains(&0) || sizes.contains(&0) {
            Some("every limits.* rate, burst and connection count must be at least 1")
        } else if !(self.header_read_timeout_secs > 0.0 && self.header_read_timeout_secs <= 3600.0)
        {
            Some("limits.header_read_timeout_secs must be above 0 and at most 3600")
        } else {
            None
        }
    }
}

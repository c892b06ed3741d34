//! The address a request comes from, for rate limits, connection and socket limits and logs.
//!
//! The TCP peer, unless the peer is one of `limits.trusted_proxies`: then the client is read from
//! `Forwarded` (RFC 7239) or, without it, `X-Forwarded-For`, walking from the nearest hop
//! outwards past every trusted proxy, so a client cannot pick its own address by sending the
//! header itself (a proxy appends, it never clears what the client sent). A peer that is not a
//! trusted proxy is its own address whatever it sends.
//!
//! [`client_address`] runs before every other layer and puts the result where the limits read
//! the peer (`ConnectInfo`), so they all key on the same address; the TCP peer stays in
//! [`PeerAddress`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One entry of `limits.trusted_proxies`: an address (`10.0.0.7`) or a network (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(pub IpNet);

impl std::str::FromStr for ProxyNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Self(net.trunc()));
        }
        text.parse::<IpAddr>()
            .map(|ip| Self(IpNet::from(ip)))
            .map_err(|_| format!("`{text}` is neither an address nor a network like 10.0.0.0/8"))
    }
}

impl Serialize for ProxyNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ProxyNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Arc<[IpNet]>,
}

/// The TCP peer of a request, before [`client_address`] replaced it with the client.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub IpAddr);

impl TrustedProxies {
    /// Proxies in `nets`.
    pub fn new(nets: &[ProxyNet]) -> Self {
        Self {
            nets: nets.iter().map(|n| n.0).collect(),
        }
    }

    /// True when `ip` is one of them (an IPv4 address mapped into IPv6 counts as itself).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        // Nearest hop last: what each proxy appended, in order.
        let hops = forwarded_hops(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                // An address a trusted proxy reported: the next hop out, believed so far.
                Some(ip) => {
                    client = canonical(*ip);
                    if !self.trusts(client) {
                        return client;
                    }
                }
                // `unknown` or an obfuscated name: the last trusted hop is all that is known.
                None => return client,
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Every hop named by `Forwarded` (`for=`), or by `X-Forwarded-For` when there is no
/// `Forwarded`, oldest first; `None` for a hop that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|line| line.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| node_address(value))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(','))
        .map(node_address)
        .collect()
}

/// The address of a node: `192.0.2.60`, `"192.0.2.60:4711"`, `"[2001:db8::17]:4711"`, `2001:db8::17`.
fn node_address(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = value.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    value
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(inside, _)| inside.parse().ok())
}

/// Puts the client's address where the limits look for the peer, keeping the peer itself.
pub async fn client_address(
    State(proxies): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    {
        let client = proxies.client_of(peer.ip(), request.headers());
        request.extensions_mut().insert(PeerAddress(peer.ip()));
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        let nets: Vec<ProxyNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
        TrustedProxies::new(&nets)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn entries_are_addresses_or_networks() {
        assert_eq!(
            "10.0.0.7".parse::<ProxyNet>().unwrap().0.to_string(),
            "10.0.0.7/32"
        );
        assert_eq!(
            "10.1.2.3/8".parse::<ProxyNet>().unwrap().0.to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("::1".parse::<ProxyNet>().unwrap().0.to_string(), "::1/128");
        let error = "10.0.0.0/33".parse::<ProxyNet>().unwrap_err();
        assert!(error.contains("10.0.0.0/33"), "{error}");
        assert!("proxy.internal".parse::<ProxyNet>().is_err());
    }

    #[test]
    fn a_peer_that_is_not_a_trusted_proxy_is_its_own_address_whatever_it_sends() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(
            trusted.client_of(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies(&[]).client_of(ip("10.0.0.1"), &spoofed),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_client_is_the_first_hop_outside_the_trusted_proxies() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.5"]);
        // The client claimed 6.6.6.6 itself; the edge proxy appended the real address.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3")]);
        assert_eq!(
            trusted.client_of(ip("192.168.1.5"), &chain),
            ip("198.51.100.7")
        );
        // Two header lines are one list.
        let split = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7, 10.0.0.3"),
        ]);
        assert_eq!(
            trusted.client_of(ip("10.9.9.9"), &split),
            ip("198.51.100.7")
        );
        // Every hop trusted: the farthest one.
        let inside = headers(&[("x-forwarded-for", "10.0.0.8, 10.0.0.3")]);
        assert_eq!(trusted.client_of(ip("10.0.0.1"), &inside), ip("10.0.0.8"));
        // No header at all: the proxy itself.
        assert_eq!(
            trusted.client_of(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_its_forms_are_read() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let both = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            (
                "forwarded",
                "for=192.0.2.60;proto=https;by=10.0.0.2, for=\"[2001:db8:cafe::17]:4711\"",
            ),
        ]);
        assert_eq!(
            trusted.client_of(ip("10.0.0.2"), &both),
            ip("2001:db8:cafe::17")
        );
        let port = headers(&[("forwarded", "For=\"192.0.2.61:8080\"")]);
        assert_eq!(trusted.client_of(ip("10.0.0.2"), &port), ip("192.0.2.61"));
        // An obfuscated hop: the trusted proxy that reported it is all that is known.
        let hidden = headers(&[("forwarded", "for=192.0.2.60, for=_hidden, for=10.0.0.4")]);
        assert_eq!(trusted.client_of(ip("10.0.0.2"), &hidden), ip("10.0.0.4"));
        let garbage = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(trusted.client_of(ip("10.0.0.2"), &garbage), ip("10.0.0.2"));
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_networks() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert!(trusted.trusts(ip("::ffff:10.0.0.1")));
        assert!(!trusted.trusts(ip("::ffff:11.0.0.1")));
    }
}

//! The HTTP server loop: accepting connections within per-address and total limits, and
//! serving each with hyper under a request-head timeout.
//!
//! `axum::serve` sets no header-read timeout (it installs no timer), so a connection that sends
//! nothing, or half a request line, stayed open forever; and it accepts every connection. Here
//! each accepted connection first takes a place in [`ConnectionLimits`] (refused: closed at
//! once, counted), then is served by hyper with `header_read_timeout`, which hyper restarts
//! whenever it waits for a request head: a stalled client and an idle keep-alive connection are
//! both closed when it runs out. Upgraded connections (WebSockets) leave this accounting when
//! hyper hands them over; their sessions have limits and keepalive of their own.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use parking_lot::Mutex;
use prometheus::IntCounterVec;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, warn};

/// Counts open connections (or sockets) per key (a peer address, a user) and in all.
#[derive(Debug)]
pub struct ConnectionLimits<K: Hash + Eq + Clone = IpAddr> {
    per_key: usize,
    total: usize,
    open: Mutex<(HashMap<K, usize>, usize)>,
}

/// A place taken in [`ConnectionLimits`]; dropping it frees the place.
#[derive(Debug)]
pub struct ConnectionPermit<K: Hash + Eq + Clone = IpAddr> {
    limits: Arc<ConnectionLimits<K>>,
    key: K,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its key holds as many as it may.
    PerKey,
    /// The server holds as many as it may.
    Total,
}

impl Refused {
    /// The `reason` label of the refusal counter.
    pub fn label(self) -> &'static str {
        match self {
            Self::PerKey => "per_ip",
            Self::Total => "total",
        }
    }
}

impl<K: Hash + Eq + Clone> ConnectionLimits<K> {
    /// At most `per_key` for one key and `total` in all.
    pub fn new(per_key: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            per_key: per_key.max(1),
            total: total.max(1),
            open: Mutex::new((HashMap::new(), 0)),
        })
    }

    /// Takes a place for `key`, or says why there is none.
    pub fn acquire(self: &Arc<Self>, key: K) -> Result<ConnectionPermit<K>, Refused> {
        self.acquire_within(key, true)
    }

    /// Takes a place for `key` that counts only towards the total: a trusted proxy's, whose
    /// connections carry many clients.
    pub fn acquire_exempt(self: &Arc<Self>, key: K) -> Result<ConnectionPermit<K>, Refused> {
        self.acquire_within(key, false)
    }

    fn acquire_within(
        self: &Arc<Self>,
        key: K,
        per_key_limit: bool,
    ) -> Result<ConnectionPermit<K>, Refused> {
        let mut open = self.open.lock();
        if open.1 >= self.total {
            return Err(Refused::Total);
        }
        let count = open.0.entry(key.clone()).or_default();
        if per_key_limit && *count >= self.per_key {
            return Err(Refused::PerKey);
        }
        *count += 1;
        open.1 += 1;
        Ok(ConnectionPermit {
            limits: self.clone(),
            key,
        })
    }

    /// Open places of `key`.
    pub fn open_for(&self, key: &K) -> usize {
        self.open.lock().0.get(key).copied().unwrap_or_default()
    }
}

impl<K: Hash + Eq + Clone> Drop for ConnectionPermit<K> {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock();
        open.1 = open.1.saturating_sub(1);
        if let Some(count) = open.0.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                // Keys without places are forgotten: the map is the size of what is open.
                open.0.remove(&self.key);
            }
        }
    }
}

/// How the loop serves.
pub struct ServeOptions {
    /// See `limits.header_read_timeout_secs`.
    pub header_read_timeout: Duration,
    /// Connection places.
    pub connections: Arc<ConnectionLimits>,
    /// `finpulse_http_refused_connections_total{reason}`.
    pub refused: IntCounterVec,
    /// Peers whose connections count only towards the total.
    pub proxies: crate::http::client_address::TrustedProxies,
    /// Serve TLS (HTTP/2 and HTTP/1.1 by ALPN) with this acceptor instead of plain HTTP.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// `finpulse_tls_handshake_failures_total`.
    pub tls_failures: prometheus::IntCounter,
    /// Applied to every accepted stream before it is served.
    pub tap: Box<dyn Fn(&TcpStream) + Send + Sync>,
    /// Longest wait for open requests to finish on shutdown.
    pub drain_timeout: Duration,
}

/// Accepts and serves connections until `shutdown` is cancelled, then lets open requests finish
/// (within `drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .max_concurrent_streams(256);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, mostly: wait a moment rather than spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let place = if options.proxies.trusts(peer.ip()) {
            options.connections.acquire_exempt(peer.ip())
        } else {
            options.connections.acquire(peer.ip())
        };
        let permit = match place {
            Ok(permit) => permit,
            Err(refused) => {
                options.refused.with_label_values(&[refused.label()]).inc();
                debug!(%peer, reason = refused.label(), "connection refused");
                drop(stream);
                continue;
            }
        };
        (options.tap)(&stream);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let header_read_timeout = options.header_read_timeout;
        let tls = options.tls.clone();
        let tls_failures = options.tls_failures.clone();
        tokio::spawn(async move {
            // hyper's auto-detection of HTTP/1 or 2 waits for the first bytes with no timer of
            // its own: a client that sends nothing gets the head timeout here.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_read_timeout, stream.peek(&mut first)).await {
                Ok(Ok(1..)) => {}
                _ => {
                    debug!(%peer, "connection sent nothing in time");
                    return;
                }
            }
            let outcome = match tls {
                None => {
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    watcher.watch(connection).await
                }
                Some(acceptor) => {
                    // The handshake is bounded like a request head: a client that opens a
                    // connection and stalls mid-handshake holds a place no longer.
                    let stream =
                        match tokio::time::timeout(header_read_timeout, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tls_failures.inc();
                                debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tls_failures.inc();
                                debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    watcher.watch(connection).await
                }
            };
            if let Err(e) = outcome {
                debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("open requests did not finish in time; closing them");
    }
}

/// The peer address of a request, as the server loop recorded it in its extensions.
pub fn peer_ip_of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_address_and_in_all_and_freed() {
        let limits = ConnectionLimits::<IpAddr>::new(2, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limits.acquire(a).unwrap();
        let _a2 = limits.acquire(a).unwrap();
        assert_eq!(limits.acquire(a).unwrap_err(), Refused::PerKey);
        let _b1 = limits.acquire(b).unwrap();
        assert_eq!(limits.acquire(b).unwrap_err(), Refused::Total);
        drop(a1);
        assert_eq!(limits.open_for(&a), 1);
        let _b2 = limits.acquire(b).unwrap();
    }

    #[test]
    fn exempt_places_count_only_towards_the_total() {
        let limits = ConnectionLimits::<IpAddr>::new(1, 3);
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let _p1 = limits.acquire_exempt(proxy).unwrap();
        let _p2 = limits.acquire_exempt(proxy).unwrap();
        assert_eq!(limits.acquire(proxy).unwrap_err(), Refused::PerKey);
        let _p3 = limits.acquire_exempt(proxy).unwrap();
        assert_eq!(limits.acquire_exempt(proxy).unwrap_err(), Refused::Total);
    }
}

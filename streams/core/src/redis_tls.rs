//! TLS to Redis (`rediss://`): which CAs the server's certificate may chain to, and the
//! client's own certificate when the server asks for one (mutual TLS). Every Redis client of a
//! process (the fan-out, the store's cache, the online features) connects with the same.

/// The PEM files' contents, read once at start.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// CAs to trust instead of the system's (a private CA), PEM.
    pub ca_pem: Option<Vec<u8>>,
    /// The client certificate and its key, PEM, for a server that checks clients.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTls")
            .field("ca", &self.ca_pem.is_some())
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

#[cfg(feature = "redis")]
impl RedisTls {
    /// A client for `url`: with these certificates for `rediss://`, plainly otherwise (a
    /// `redis://` URL ignores them; the system's roots serve `rediss://` when no CA is given).
    pub fn client(&self, url: &str) -> redis::RedisResult<redis::Client> {
        if self.ca_pem.is_none() && self.client.is_none() {
            return redis::Client::open(url);
        }
        redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: self
                    .client
                    .as_ref()
                    .map(|(cert, key)| redis::ClientTlsConfig {
                        client_cert: cert.clone(),
                        client_key: key.clone(),
                    }),
                root_cert: self.ca_pem.clone(),
            },
        )
    }
}

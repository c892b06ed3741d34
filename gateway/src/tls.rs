//! TLS on the listener with rustls: HTTP/1.1 and HTTP/2 (ALPN `h2`, `http/1.1`), and so `wss://`.
//!
//! The certificate and key come from PEM files (`tls.cert`, `tls.key`); the certificate file may
//! hold the whole chain, leaf first. A [`ReloadingCertificate`] hands rustls the current pair for
//! every new handshake, and a watcher ([`ReloadingCertificate::watch`]) reloads both files when
//! either changes on disk (a renewal by certbot or cert-manager): connections already open keep
//! the session they negotiated, so no socket is dropped. A pair that fails to load (a half-written
//! file, a key that does not match) is logged and counted, and the previous pair stays in use.
//!
//! The crypto provider is `ring`, named explicitly so nothing depends on a process default.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use prometheus::IntCounterVec;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// `[tls]`: serve HTTPS and `wss://` instead of plain HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// The certificate chain (PEM, leaf first). Set with `key` to turn TLS on.
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Seconds between checks of the two files for a renewed pair.
    pub reload_secs: f64,
    /// `Strict-Transport-Security: max-age` sent with every answer while TLS is on (0: none).
    pub hsts_max_age_secs: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            reload_secs: 5.0,
            hsts_max_age_secs: 365 * 24 * 3600,
        }
    }
}

impl TlsSettings {
    /// True when a certificate and key are configured.
    pub fn enabled(&self) -> bool {
        self.cert.is_some()
    }

    /// The first problem with the settings, named.
    pub fn validate(&self) -> Result<(), String> {
        if self.cert.is_some() != self.key.is_some() {
            return Err("tls.cert and tls.key go together: set both, or neither".into());
        }
        if !(self.reload_secs >= 0.1 && self.reload_secs <= 86_400.0) {
            return Err("tls.reload_secs must be 0.1 to 86400".into());
        }
        Ok(())
    }

    /// The `Strict-Transport-Security` value, when TLS is on and HSTS wanted.
    pub fn hsts(&self) -> Option<String> {
        (self.enabled() && self.hsts_max_age_secs > 0)
            .then(|| format!("max-age={}; includeSubDomains", self.hsts_max_age_secs))
    }
}

/// Why a certificate and key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or holds no PEM of the right kind.
    #[error("failed to read {what} from {path}: {reason}")]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key is not usable, or not the certificate's.
    #[error("the key in {key} cannot serve the certificate in {cert}: {source}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// The server configuration could not be built.
    #[error("failed to set up TLS: {0}")]
    Setup(#[from] rustls::Error),
}

// rustls marks `ring` deprecated because it offers no post-quantum key exchange (X25519MLKEM768);
// the alternative, aws-lc-rs, is a large C build for every clone. Classical TLS 1.3 and 1.2
// suites are what browsers and clients negotiate with ring; revisit when PQ is required.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// When the leaf certificate of `pair` stops being valid (Unix seconds), if it parses.
pub fn not_after(pair: &CertifiedKey) -> Option<i64> {
    let leaf = pair.cert.first()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

/// Warns when the certificate has expired or expires within two weeks: the gauge
/// `finpulse_tls_certificate_expiry_timestamp_seconds` is what alerts read.
fn warn_if_expiring(pair: &CertifiedKey, cert: &Path) {
    let Some(not_after) = not_after(pair) else {
        return;
    };
    let left = not_after - chrono::Utc::now().timestamp();
    if left <= 0 {
        warn!(cert = %cert.display(), "the TLS certificate has expired: clients will refuse it");
    } else if left < 14 * 24 * 3600 {
        warn!(cert = %cert.display(), days = left / 86_400, "the TLS certificate expires soon");
    }
}

/// Reads the pair at `cert` and `key`, checking that the key is the certificate's.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |what, path: &Path, reason: String| TlsError::Read {
        what,
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| read("certificate", cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read("certificate", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(read(
            "certificate",
            cert,
            "no `BEGIN CERTIFICATE` block".into(),
        ));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| read("private key", key, e.to_string()))?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|source| TlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    })
}

/// The certificate every new handshake gets, replaced when the files change.
#[derive(Debug)]
pub struct ReloadingCertificate {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    seen: RwLock<Option<(SystemTime, SystemTime)>>,
    /// `finpulse_tls_certificate_expiry_timestamp_seconds`: the served leaf's end of validity.
    expiry: prometheus::IntGauge,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ReloadingCertificate {
    /// Loads the pair at `cert` and `key` now (an error here stops the start-up); `expiry` is
    /// set to its leaf's end of validity, and again at every reload.
    pub fn load(
        cert: &Path,
        key: &Path,
        expiry: prometheus::IntGauge,
    ) -> Result<Arc<Self>, TlsError> {
        let pair = load_pair(cert, key)?;
        warn_if_expiring(&pair, cert);
        expiry.set(not_after(&pair).unwrap_or_default());
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(Arc::new(pair)),
            seen: RwLock::new(modified(cert).zip(modified(key))),
            expiry,
        }))
    }

    /// Loads the files again if either changed since the last look; `Some(outcome)` when it
    /// tried.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let now = modified(&self.cert).zip(modified(&self.key));
        if now.is_none() || *self.seen.read() == now {
            return None;
        }
        let outcome = load_pair(&self.cert, &self.key).map(|pair| {
            warn_if_expiring(&pair, &self.cert);
            self.expiry.set(not_after(&pair).unwrap_or_default());
            *self.current.write() = Arc::new(pair);
        });
        // A pair that failed is not retried until a file changes again.
        *self.seen.write() = now;
        Some(outcome)
    }

    /// Checks the files every `every` until `shutdown`, counting reloads in `reloads`
    /// (`finpulse_tls_reloads_total{outcome}`).
    pub async fn watch(
        self: Arc<Self>,
        every: Duration,
        reloads: IntCounterVec,
        shutdown: CancellationToken,
    ) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // Reading two small files: quick, but file IO all the same.
            let this = self.clone();
            let outcome = tokio::task::spawn_blocking(move || this.reload_if_changed()).await;
            match outcome {
                Ok(Some(Ok(()))) => {
                    reloads.with_label_values(&["ok"]).inc();
                    info!(cert = %self.cert.display(), "TLS certificate reloaded");
                }
                Ok(Some(Err(e))) => {
                    reloads.with_label_values(&["failed"]).inc();
                    warn!(error = %e, "TLS certificate not reloaded; the previous one stays");
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "TLS reload check panicked"),
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

/// The acceptor of a server that presents `certificate`, offering HTTP/2 and HTTP/1.1.
pub fn acceptor(
    certificate: Arc<ReloadingCertificate>,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_and_key_go_together_and_hsts_only_with_tls() {
        let mut settings = TlsSettings::default();
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(settings.hsts(), None);
        settings.cert = Some("cert.pem".into());
        assert!(settings.validate().unwrap_err().contains("tls.key"));
        settings.key = Some("key.pem".into());
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(
            settings.hsts().as_deref(),
            Some("max-age=31536000; includeSubDomains")
        );
        settings.hsts_max_age_secs = 0;
        assert_eq!(settings.hsts(), None);
        settings.reload_secs = 0.0;
        assert!(settings.validate().unwrap_err().contains("reload_secs"));
    }

    #[test]
    fn unreadable_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let missing = load_pair(&cert, &key).unwrap_err().to_string();
        assert!(missing.contains("cert.pem"), "{missing}");
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let empty = load_pair(&cert, &key).unwrap_err().to_string();
        assert!(empty.contains("BEGIN CERTIFICATE"), "{empty}");
    }
}

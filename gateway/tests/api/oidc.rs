//! Tokens from an OpenID Connect provider, verified by the running server with the provider's
//! published keys: discovery, roles mapped from a nested claim, the refusals (wrong audience,
//! expired, `alg` confusion, a forged `kid`), and key rotation with a rate-limited refetch.
//!
//! The provider here is a small stand-in served by the test (discovery document and JWKS, keys
//! it rotates on demand, a count of key fetches): what is checked is finpulse's side of the
//! contract. The sign-in flow against a real provider (`oidc-provider`) is the browser tests'.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::routing::get;
use base64::Engine as _;
use finpulse_gateway::auth::oidc::OidcConfig;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

/// An ES256 signing key and its public JWK.
pub(crate) struct ProviderKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl ProviderKey {
    pub(crate) fn new(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate().unwrap();
        let point = pair.public_key_raw();
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Self {
            kid: kid.into(),
            encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]),
                        "kid": kid, "alg": "ES256", "use": "sig"}),
        }
    }

    pub(crate) fn jwk_value(&self) -> Value {
        self.jwk.clone()
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// The stand-in provider: its issuer URL, the keys it publishes, how often they were fetched.
struct Provider {
    issuer: String,
    published: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn provider(keys: &[&ProviderKey]) -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!(
        "http://127.0.0.1:{}/realms/bank",
        listener.local_addr().unwrap().port()
    );
    let published = Arc::new(Mutex::new(
        keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>(),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/certs")});
    let (served, counted) = (published.clone(), fetches.clone());
    let app = axum::Router::new()
        .route(
            "/realms/bank/.well-known/openid-configuration",
            get(move || {
                let discovery = discovery.clone();
                async move { Json(discovery) }
            }),
        )
        .route(
            "/realms/bank/certs",
            get(move || {
                let (served, counted) = (served.clone(), counted.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Json(json!({"keys": *served.lock()}))
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider {
        issuer,
        published,
        fetches,
    }
}

fn claims(provider: &Provider, overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": provider.issuer, "aud": ["finpulse-api", "account"], "sub": "f1c2-customer-42",
        "iat": now, "exp": now + 300,
        "realm_access": {"roles": ["bank-agent", "offline_access"]},
        "scope": "openid profile",
    });
    for (key, value) in overrides.as_object().unwrap() {
        claims[key] = value.clone();
    }
    claims
}

async fn spawn_with_provider(provider: &Provider) -> TestApp {
    let config = OidcConfig {
        issuer: provider.issuer.clone(),
        audience: "finpulse-api".into(),
        roles_claim: "realm_access.roles".into(),
        role_map: [("bank-agent".to_owned(), "agent".to_owned())].into(),
        jwks_max_age_secs: 3600,
        jwks_min_refetch_secs: 30,
        timeout_secs: 5,
        ca_file: None,
        login: None,
    };
    spawn_app_with(move |c| c.auth.oidc = Some(config)).await
}

/// `{ me }` and the agents' `supportAgents` as `token`: the user, or the refusal's message.
async fn who(app: &TestApp, token: &str) -> Result<(String, bool), String> {
    let (status, body) = app.graphql("{ me }", json!({}), Some(token)).await;
    if status == 401 {
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{body}"
        );
        return Err(body["errors"][0]["message"].as_str().unwrap().to_owned());
    }
    let (_, agent) = app
        .graphql("{ supportAgents }", json!({}), Some(token))
        .await;
    Ok((
        body["data"]["me"].as_str().unwrap().to_owned(),
        agent["errors"].is_null(),
    ))
}

#[tokio::test]
async fn provider_tokens_sign_in_with_mapped_roles_and_bad_ones_are_refused() {
    let key = ProviderKey::new("k1");
    let idp = provider(&[&key]).await;
    let app = spawn_with_provider(&idp).await;

    let (user, is_agent) = who(&app, &key.sign(&claims(&idp, json!({}))))
        .await
        .unwrap();
    assert_eq!(user, "f1c2-customer-42");
    assert!(is_agent, "bank-agent maps to agent through role_map");
    // No roles claim: a customer, and only that.
    let plain = claims(&idp, json!({"realm_access": {}}));
    assert!(
        !who(&app, &key.sign(&plain)).await.unwrap().1,
        "a customer, not an agent"
    );
    // finpulse's own tokens still verify beside the provider's.
    assert_eq!(
        who(&app, &app.token("alice", None)).await.unwrap().0,
        "alice"
    );

    let refused = |overrides: Value| key.sign(&claims(&idp, overrides));
    for (token, says) in [
        (refused(json!({"aud": "someone-else"})), "InvalidAudience"),
        (
            refused(json!({"exp": chrono::Utc::now().timestamp() - 60})),
            "ExpiredSignature",
        ),
        (
            refused(json!({"nbf": chrono::Utc::now().timestamp() + 600})),
            "ImmatureSignature",
        ),
        (refused(json!({"sub": ""})), "sub"),
    ] {
        let message = who(&app, &token).await.unwrap_err();
        assert!(message.contains(says), "{says}: {message}");
    }
    // Another issuer's token is not the provider's, and not finpulse's either.
    let elsewhere = key.sign(&claims(
        &idp,
        json!({"iss": "https://evil.example/realms/bank"}),
    ));
    assert!(who(&app, &elsewhere).await.is_err());

    // `alg` confusion: HS256 with the provider's public key as the HMAC secret.
    let public = serde_json::to_vec(&key.jwk).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(
        &header,
        &claims(&idp, json!({})),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    let message = who(&app, &confused).await.unwrap_err();
    assert!(message.contains("asymmetric algorithms only"), "{message}");
    // `alg: none`, hand-made.
    let none = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(&idp, json!({}))).unwrap())
    );
    assert!(who(&app, &none).await.is_err());
    // Signed by a key the provider never published, under its `kid`.
    let impostor = ProviderKey::new("k1");
    let message = who(&app, &impostor.sign(&claims(&idp, json!({}))))
        .await
        .unwrap_err();
    assert!(message.contains("InvalidSignature"), "{message}");
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_forged_kids_do_not_flood_the_provider() {
    let old = ProviderKey::new("2026-11");
    let idp = provider(&[&old]).await;
    let app = spawn_with_provider(&idp).await;
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "keys fetched at start"
    );
    who(&app, &old.sign(&claims(&idp, json!({}))))
        .await
        .unwrap();

    // The provider rotates: the new key is published, the old one withdrawn.
    let new = ProviderKey::new("2026-12");
    *idp.published.lock() = vec![new.jwk.clone()];
    let (user, _) = who(&app, &new.sign(&claims(&idp, json!({}))))
        .await
        .unwrap();
    assert_eq!(user, "f1c2-customer-42");
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        2,
        "one refetch for the new kid"
    );
    // The withdrawn key no longer verifies once the set was refetched.
    let message = who(&app, &old.sign(&claims(&idp, json!({}))))
        .await
        .unwrap_err();
    assert!(message.contains("unknown signing key"), "{message}");

    // Tokens naming kids nobody published: refused, and within the refetch interval no more
    // requests reach the provider however many arrive.
    for n in 0..20 {
        let forged = ProviderKey::new(&format!("forged-{n}"));
        assert!(
            who(&app, &forged.sign(&claims(&idp, json!({}))))
                .await
                .is_err()
        );
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unreachable_or_inconsistent_provider_stops_the_start_with_the_reason() {
    use finpulse_gateway::app::{Application, MarketSource};
    use finpulse_gateway::config::Config;
    let key = ProviderKey::new("k1");
    let idp = provider(&[&key]).await;
    let start = |issuer: String| async move {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_path_buf(),
            ..Config::default()
        };
        config.market.simulator.enabled = false;
        config.inference.enabled = false;
        config.auth.oidc = Some(OidcConfig {
            issuer,
            audience: "finpulse-api".into(),
            roles_claim: "roles".into(),
            role_map: Default::default(),
            jwks_max_age_secs: 3600,
            jwks_min_refetch_secs: 30,
            timeout_secs: 2,
            ca_file: None,
            login: None,
        });
        match Application::build(config, MarketSource::Simulator).await {
            Ok(_) => panic!("started"),
            Err(e) => format!("{e:#}"),
        }
    };
    // Discovery answers for another issuer than configured (a trailing path segment off).
    let wrong = start(format!("{}/", idp.issuer)).await;
    assert!(wrong.contains("says its issuer is"), "{wrong}");
    let unreachable = start("http://127.0.0.1:9/realms/none".into()).await;
    assert!(unreachable.contains("failed to reach"), "{unreachable}");
}

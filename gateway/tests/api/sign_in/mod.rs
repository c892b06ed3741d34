//! The dashboard's sign-in (`/auth/*`) against a stand-in provider served by the test: its
//! token endpoint checks the client's secret, the redirect URI and the PKCE verifier against
//! the challenge of the authorization request, issues short-lived JWT access tokens, rotates
//! refresh tokens and treats a reused one as theft; its revocation endpoint records what it was
//! given. Checked: the authorization request (PKCE S256, state, the login cookie); the callback
//! bound to the browser that started it and usable once; no open redirect; the access token
//! handed to the page and renewed past half its lifetime, by one caller of many at a time; the
//! provider ending the grant ends the session; sign-out revokes and names the provider's logout;
//! other origins refused; an opaque access token or a provider error explained. The same flow
//! against a real provider in a browser is `e2e/web/sign-in.test.mjs`.

use std::collections::HashMap;

use base64::Engine as _;
use finpulse_gateway::auth::oidc::OidcConfig;
use finpulse_gateway::auth::sign_in::LoginConfig;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

mod browser;
mod provider;

use browser::Browser;
use provider::*;

async fn spawn(idp: &StandIn) -> TestApp {
    let config = OidcConfig {
        issuer: idp.issuer.clone(),
        audience: "finpulse-api".into(),
        roles_claim: "roles".into(),
        role_map: Default::default(),
        jwks_max_age_secs: 3600,
        jwks_min_refetch_secs: 30,
        timeout_secs: 5,
        ca_file: None,
        login: Some(LoginConfig {
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.to_owned().into()),
            redirect_url: REDIRECT.into(),
            scopes: vec!["openid".into(), "offline_access".into()],
            params: [("audience".to_owned(), "finpulse-api".to_owned())].into(),
            session_max_age_secs: 3600,
            post_logout_redirect_url: None,
        }),
    };
    spawn_app_with(move |c| c.auth.oidc = Some(config)).await
}

fn claim(token: &str, name: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()[name].clone()
}

#[tokio::test]
async fn login_sends_the_browser_to_the_provider_with_pkce_and_a_browser_bound_state() {
    let idp = stand_in().await;
    let app = spawn(&idp).await;
    let mut browser = Browser::new(&app);
    let (location, query, set) = browser.login("/auth/login?return=/app/markets").await;
    assert!(
        location.starts_with(&format!("{}/authorize?", idp.issuer)),
        "{location}"
    );
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], REDIRECT);
    assert_eq!(query["scope"], "openid offline_access");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43, "a SHA-256, base64url");
    assert_eq!(query["audience"], "finpulse-api", "the configured params");
    assert!(query["state"].len() >= 43);
    let login_cookie = set
        .iter()
        .find(|c| c.starts_with("finpulse_login="))
        .unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/auth/callback",
        "Max-Age=600",
    ] {
        assert!(login_cookie.contains(attribute), "{login_cookie}");
    }
    let (_, again, _) = browser.login("/auth/login").await;
    assert_ne!(again["state"], query["state"]);
    assert_ne!(again["code_challenge"], query["code_challenge"]);
}

#[tokio::test]
async fn the_callback_signs_in_once_and_only_the_browser_that_started_it() {
    let idp = stand_in().await;
    let app = spawn(&idp).await;
    let mut browser = Browser::new(&app);
    let (_, query, _) = browser.login("/auth/login?return=/app/markets").await;
    idp.approve("code-1", &query["code_challenge"], "customer-7");
    let callback = format!("/auth/callback?code=code-1&state={}", query["state"]);

    // An attacker's link with the attacker's code, opened in the victim's browser (no login
    // cookie of that sign-in): refused, and the attempt is spent.
    let mut victim = Browser::new(&app);
    let (refused, _) = victim.get(&callback).await;
    assert_eq!(refused.status(), 400);
    assert!(victim.cookies.keys().all(|k| !k.contains("session")));
    let (spent, _) = browser.get(&callback).await;
    assert_eq!(spent.status(), 400, "the attempt is used up");
    assert!(
        spent
            .text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );

    // A fresh one from the browser that started it.
    let response = browser
        .sign_in(
            &idp,
            "customer-7",
            "code-2",
            "/auth/login?return=/app/markets",
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/app/markets");
    let session_cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("finpulse_session="))
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/auth", "Max-Age=3600"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    assert_eq!(
        browser.get_json("/auth/session").await.1,
        json!({"provider": true, "signedIn": true})
    );
    assert_eq!(
        victim.get_json("/auth/session").await.1,
        json!({"provider": true, "signedIn": false})
    );
    let (status, token) = browser.post("/auth/token", ORIGIN).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["user"], "customer-7");
    assert_eq!(token["roles"], json!(["agent"]));
    let bearer = token["token"].as_str().unwrap();
    let (_, me) = app.graphql("{ me }", json!({}), Some(bearer)).await;
    assert_eq!(me["data"]["me"], "customer-7", "{me}");
    // Half its lifetime is left: the same token again, no call to the provider.
    let (_, again) = browser.post("/auth/token", ORIGIN).await;
    assert_eq!(again["token"], token["token"]);
    assert_eq!(idp.grants.lock().refreshes, 0);
}

#[tokio::test]
async fn no_open_redirect_after_sign_in() {
    let idp = stand_in().await;
    let app = spawn(&idp).await;
    for (n, wanted) in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ]
    .iter()
    .enumerate()
    {
        let mut browser = Browser::new(&app);
        let path = format!("/auth/login?return={}", urlencode(wanted));
        let response = browser
            .sign_in(&idp, "customer-7", &format!("code-{n}"), &path)
            .await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/app/", "{wanted}");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn the_token_is_renewed_past_half_its_life_by_one_caller_at_a_time() {
    let idp = stand_in().await;
    idp.grants.lock().ttl = 2;
    let app = spawn(&idp).await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser
            .sign_in(&idp, "customer-7", "code-1", "/auth/login")
            .await
            .status(),
        303
    );
    let (_, first) = browser.post("/auth/token", ORIGIN).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    // Eight tabs ask together: the provider sees one refresh (a second use of the rotated
    // refresh token would have ended the grant), and every tab gets the new token.
    let cookie = browser.cookie_header();
    let asks = (0..8).map(|_| {
        let (http, url, cookie) = (
            browser.http.clone(),
            format!("{}/auth/token", app.address),
            cookie.clone(),
        );
        async move {
            let response = http
                .post(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.json::<Value>().await.unwrap();
            assert_eq!(status, 200, "{body}");
            body["token"].as_str().unwrap().to_owned()
        }
    });
    let tokens = futures::future::join_all(asks).await;
    assert_eq!(
        idp.grants.lock().refreshes,
        1,
        "one renewal for eight callers"
    );
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "the same new token for all"
    );
    assert_ne!(tokens[0], first["token"].as_str().unwrap());
    assert_eq!(claim(&tokens[0], "n"), 2, "the provider's second token");
    let (_, me) = app.graphql("{ me }", json!({}), Some(&tokens[0])).await;
    assert_eq!(me["data"]["me"], "customer-7");
}

#[tokio::test]
async fn a_grant_the_provider_ended_ends_the_session() {
    let idp = stand_in().await;
    idp.grants.lock().ttl = 2;
    let app = spawn(&idp).await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser
            .sign_in(&idp, "customer-7", "code-1", "/auth/login")
            .await
            .status(),
        303
    );
    // The user's grant is revoked at the provider (an admin, or theft detected).
    idp.grants.lock().refresh.clear();
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let (status, body) = browser.post("/auth/token", ORIGIN).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "UNAUTHENTICATED");
    assert!(
        browser.cookies.is_empty(),
        "the session cookie is cleared: {:?}",
        browser.cookies
    );
}

#[tokio::test]
async fn sign_out_revokes_the_refresh_token_and_names_the_providers_logout() {
    let idp = stand_in().await;
    let app = spawn(&idp).await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser
            .sign_in(&idp, "customer-7", "code-1", "/auth/login")
            .await
            .status(),
        303
    );
    let session = browser.cookie_header();
    let (status, body) = browser.post("/auth/logout", ORIGIN).await;
    assert_eq!(status, 200);
    let logout = reqwest::Url::parse(body["logoutUrl"].as_str().unwrap()).unwrap();
    assert!(
        logout
            .as_str()
            .starts_with(&format!("{}/logout?", idp.issuer))
    );
    let query: HashMap<String, String> = logout.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["id_token_hint"], "id-token-1");
    assert_eq!(query["post_logout_redirect_uri"], format!("{ORIGIN}/app/"));
    assert_eq!(idp.grants.lock().revoked, ["refresh-1"]);
    // The old cookie, replayed, opens nothing.
    let replay = browser
        .http
        .post(format!("{}/auth/token", app.address))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
}

#[tokio::test]
async fn other_origins_may_not_ask_for_the_token_or_sign_out() {
    let idp = stand_in().await;
    let app = spawn(&idp).await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser
            .sign_in(&idp, "customer-7", "code-1", "/auth/login")
            .await
            .status(),
        303
    );
    for path in ["/auth/token", "/auth/logout"] {
        let (status, body) = browser.post(path, "https://evil.example").await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["code"], "FORBIDDEN");
    }
    let (status, _) = browser.post("/auth/token", ORIGIN).await;
    assert_eq!(status, 200, "still signed in");
    let mut nobody = Browser::new(&app);
    assert_eq!(nobody.post("/auth/token", ORIGIN).await.0, 401);
}

#[tokio::test]
async fn a_provider_error_or_an_opaque_access_token_is_explained() {
    let idp = stand_in().await;
    let app = spawn(&idp).await;
    let mut browser = Browser::new(&app);
    let (_, query, _) = browser.login("/auth/login").await;
    let (denied, _) = browser
        .get(&format!(
            "/auth/callback?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E&state={}",
            query["state"]
        ))
        .await;
    assert_eq!(denied.status(), 400);
    let page = denied.text().await.unwrap();
    assert!(
        page.contains("access_denied: &lt;b&gt;no&lt;/b&gt;"),
        "escaped: {page}"
    );

    idp.grants.lock().opaque = true;
    let response = browser
        .sign_in(&idp, "customer-7", "code-1", "/auth/login")
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("must be a JWT for auth.oidc.audience"),
        "{page}"
    );
    assert!(browser.cookies.keys().all(|k| !k.contains("session")));
}

#[tokio::test]
async fn without_login_settings_there_is_no_sign_in_route() {
    let app = crate::helpers::spawn_app().await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/auth/login", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // The page asks how to sign in without meeting an error.
    let (status, state) = Browser::new(&app).get_json("/auth/session").await;
    assert_eq!(status, 200);
    assert_eq!(state, json!({"provider": false, "signedIn": false}));
}

//! Sign-in attempts and sessions on both engines, each test on a fresh database: an attempt
//! is taken once and not after it expired; a session reads back until it ends; one renewal
//! lease at a time, released by the renewal; sign-out of one browser or of every browser of a
//! user; purging what expired.

use chrono::{DateTime, Duration, TimeZone, Utc};
use finpulse_store::sign_in::{LoginAttempt, RenewedTokens, SignInSession};
use finpulse_store::{SignInData, SqlStore};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn attempt(state: &str, created: i64) -> LoginAttempt {
    LoginAttempt {
        state_hash: state.into(),
        browser_hash: format!("browser-of-{state}"),
        pkce_verifier: "verifier-ünïcode".into(),
        return_to: "/app/markets".into(),
        created_at: at(created),
    }
}

fn session(id: &str, subject: &str) -> SignInSession {
    SignInSession {
        id_hash: id.into(),
        subject: subject.into(),
        access_token: format!("access-{id}-1"),
        access_issued_at: at(0),
        access_expires_at: at(300),
        refresh_token: Some(format!("refresh-{id}-1")),
        id_token: Some(format!("id-{id}")),
        created_at: at(0),
        expires_at: at(3_600),
    }
}

async fn a_login_attempt_is_taken_once_and_not_after_it_expired(store: SqlStore) {
    store.begin_login(&attempt("s1", 0)).await.unwrap();
    store.begin_login(&attempt("s2", 0)).await.unwrap();
    assert_eq!(
        store.take_login("s1", at(-600)).await.unwrap(),
        Some(attempt("s1", 0))
    );
    assert_eq!(
        store.take_login("s1", at(-600)).await.unwrap(),
        None,
        "used once"
    );
    assert_eq!(store.take_login("nope", at(-600)).await.unwrap(), None);
    assert_eq!(
        store.take_login("s2", at(1)).await.unwrap(),
        None,
        "made before the oldest allowed"
    );
    assert_eq!(
        store.take_login("s2", at(-600)).await.unwrap(),
        None,
        "an expired attempt is gone, not kept for later"
    );
}

async fn a_session_reads_back_until_it_ends(store: SqlStore) {
    store.create_session(&session("a", "alice")).await.unwrap();
    assert_eq!(
        store.session("a", at(10)).await.unwrap(),
        Some(session("a", "alice"))
    );
    assert_eq!(
        store.session("a", at(3_600)).await.unwrap(),
        None,
        "past its end"
    );
    assert_eq!(store.session("b", at(10)).await.unwrap(), None);
}

async fn one_renewal_lease_at_a_time(store: SqlStore) {
    store.create_session(&session("a", "alice")).await.unwrap();
    assert!(store.lease_renewal("a", at(100), at(110)).await.unwrap());
    assert!(
        !store.lease_renewal("a", at(101), at(111)).await.unwrap(),
        "held"
    );
    assert!(
        store.lease_renewal("a", at(110), at(120)).await.unwrap(),
        "a lease that ran out can be taken"
    );
    let renewed = RenewedTokens {
        access_token: "access-a-2".into(),
        issued_at: at(111),
        expires_at: at(411),
        refresh_token: Some("refresh-a-2".into()),
        id_token: None,
    };
    store.renew_session("a", &renewed).await.unwrap();
    let kept = store.session("a", at(112)).await.unwrap().unwrap();
    assert_eq!(kept.access_token, "access-a-2");
    assert_eq!(kept.access_expires_at, at(411));
    assert_eq!(kept.refresh_token.as_deref(), Some("refresh-a-2"));
    assert_eq!(
        kept.id_token.as_deref(),
        Some("id-a"),
        "no new ID token keeps the old"
    );
    assert!(
        store.lease_renewal("a", at(112), at(122)).await.unwrap(),
        "a renewal releases its lease"
    );
    store.release_renewal("a").await.unwrap();
    assert!(store.lease_renewal("a", at(113), at(123)).await.unwrap());
    // A renewal without a rotated refresh token keeps the one held.
    store
        .renew_session(
            "a",
            &RenewedTokens {
                refresh_token: None,
                access_token: "access-a-3".into(),
                ..renewed
            },
        )
        .await
        .unwrap();
    let kept = store.session("a", at(114)).await.unwrap().unwrap();
    assert_eq!(kept.refresh_token.as_deref(), Some("refresh-a-2"));
    assert!(
        !store.lease_renewal("b", at(114), at(124)).await.unwrap(),
        "no lease on a session that does not exist"
    );
}

async fn sign_out_ends_one_browser_or_every_browser(store: SqlStore) {
    for (id, subject) in [("a1", "alice"), ("a2", "alice"), ("b1", "bob")] {
        store.create_session(&session(id, subject)).await.unwrap();
    }
    let ended = store.end_session("a1").await.unwrap().unwrap();
    assert_eq!(ended.subject, "alice");
    assert_eq!(store.end_session("a1").await.unwrap(), None);
    assert_eq!(store.session("a1", at(1)).await.unwrap(), None);
    assert!(store.session("a2", at(1)).await.unwrap().is_some());
    assert_eq!(store.end_sessions_of("alice").await.unwrap(), 1);
    assert_eq!(store.session("a2", at(1)).await.unwrap(), None);
    assert!(
        store.session("b1", at(1)).await.unwrap().is_some(),
        "bob's stays"
    );
}

async fn purging_removes_only_what_expired(store: SqlStore) {
    store.begin_login(&attempt("old", 0)).await.unwrap();
    store.begin_login(&attempt("new", 1_000)).await.unwrap();
    store.create_session(&session("a", "alice")).await.unwrap();
    let mut later = session("b", "bob");
    later.expires_at = at(7_200);
    store.create_session(&later).await.unwrap();
    let removed = store
        .purge_sign_ins(at(1_000) - Duration::seconds(1), at(3_600))
        .await
        .unwrap();
    assert_eq!(removed, 2, "the old attempt and alice's ended session");
    assert!(store.take_login("new", at(0)).await.unwrap().is_some());
    assert!(store.session("b", at(3_601)).await.unwrap().is_some());
}

use finpulse_store::testing::{fresh_postgres as postgres, fresh_sqlite as sqlite};

macro_rules! sign_in_conformance {
    ($engine:ident) => {
        mod $engine {
            #[tokio::test]
            async fn a_login_attempt_is_taken_once_and_not_after_it_expired() {
                let (store, _keep) = super::$engine().await;
                super::a_login_attempt_is_taken_once_and_not_after_it_expired(store).await;
            }
            #[tokio::test]
            async fn a_session_reads_back_until_it_ends() {
                let (store, _keep) = super::$engine().await;
                super::a_session_reads_back_until_it_ends(store).await;
            }
            #[tokio::test]
            async fn one_renewal_lease_at_a_time() {
                let (store, _keep) = super::$engine().await;
                super::one_renewal_lease_at_a_time(store).await;
            }
            #[tokio::test]
            async fn sign_out_ends_one_browser_or_every_browser() {
                let (store, _keep) = super::$engine().await;
                super::sign_out_ends_one_browser_or_every_browser(store).await;
            }
            #[tokio::test]
            async fn purging_removes_only_what_expired() {
                let (store, _keep) = super::$engine().await;
                super::purging_removes_only_what_expired(store).await;
            }
        }
    };
}

sign_in_conformance!(sqlite);
sign_in_conformance!(postgres);

//! The watchlist book on a real store (SQLite) and the in-process fan-out: what a user's live
//! subscriptions see when the list changes.

use std::sync::Arc;
use std::time::Duration;

use finpulse_bus::LocalFanOut;
use finpulse_bus::fanout::FanOut;
use finpulse_market::events::Channel;
use finpulse_market::watchlist::{MAX_WATCHLIST, WatchlistBook, WatchlistError};
use finpulse_store::{Repositories, SqlStore};
use futures::StreamExt;

async fn book() -> (WatchlistBook, LocalFanOut) {
    let store = SqlStore::connect("sqlite::memory:").await.expect("sqlite");
    store.migrate().await.expect("migrate");
    let fanout = LocalFanOut::default();
    let repositories = Repositories::of(store);
    let book = WatchlistBook::new(repositories.watchlists, Arc::new(fanout.clone()));
    (book, fanout)
}

async fn next(changes: &mut (impl futures::Stream<Item = Vec<String>> + Unpin)) -> Vec<String> {
    tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .expect("a change arrives")
        .expect("the stream goes on")
}

#[tokio::test]
async fn a_follower_sees_the_list_then_every_change() {
    let (book, _fanout) = book().await;
    book.add("alice", "AAPL").await.unwrap();
    let mut followed = book.follow("alice").await.unwrap();
    assert_eq!(followed.current, ["AAPL"]);
    assert_eq!(book.add("alice", "MSFT").await.unwrap(), ["AAPL", "MSFT"]);
    assert_eq!(next(&mut followed.changes).await, ["AAPL", "MSFT"]);
    assert_eq!(book.remove("alice", "AAPL").await.unwrap(), ["MSFT"]);
    assert_eq!(next(&mut followed.changes).await, ["MSFT"]);
    // Another user's change is not announced to alice.
    book.add("bob", "TSLA").await.unwrap();
    book.add("alice", "NVDA").await.unwrap();
    assert_eq!(next(&mut followed.changes).await, ["MSFT", "NVDA"]);
}

#[tokio::test]
async fn an_unreadable_announcement_makes_the_follower_read_the_list_again() {
    let (book, fanout) = book().await;
    let mut followed = book.follow("alice").await.unwrap();
    book.add("alice", "AAPL").await.unwrap();
    assert_eq!(next(&mut followed.changes).await, ["AAPL"]);
    fanout
        .publish(
            &Channel::Watchlist("alice".into()).name(),
            bytes::Bytes::from_static(b"\xffnot json"),
        )
        .await
        .unwrap();
    assert_eq!(next(&mut followed.changes).await, ["AAPL"]);
}

#[tokio::test]
async fn a_full_list_refuses_new_symbols_but_not_ones_it_holds() {
    let (book, _fanout) = book().await;
    for i in 0..MAX_WATCHLIST {
        book.add("alice", &format!("S{i}")).await.unwrap();
    }
    let refused = book.add("alice", "ONE.MORE").await.unwrap_err();
    assert!(matches!(
        refused,
        WatchlistError::Full { max: MAX_WATCHLIST }
    ));
    assert_eq!(refused.to_string(), "a watchlist holds at most 200 symbols");
    assert_eq!(book.add("alice", "S0").await.unwrap().len(), MAX_WATCHLIST);
    assert_eq!(book.list("alice").await.unwrap().len(), MAX_WATCHLIST);
}

//! A browser for the tests: no redirects followed, cookies carried by hand.

use std::collections::HashMap;

use serde_json::Value;

use super::provider::*;
use crate::helpers::TestApp;

/// A browser: no redirects followed, cookies carried by hand.
pub(super) struct Browser {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) cookies: HashMap<String, String>,
}

impl Browser {
    pub(super) fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.address.clone(),
            cookies: HashMap::new(),
        }
    }

    pub(super) fn keep(&mut self, response: &reqwest::Response) -> Vec<String> {
        let set: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for cookie in &set {
            let (pair, _) = cookie.split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.into(), value.into());
            }
        }
        set
    }

    pub(super) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(super) async fn get(&mut self, path: &str) -> (reqwest::Response, Vec<String>) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        let set = self.keep(&response);
        (response, set)
    }

    pub(super) async fn get_json(&mut self, path: &str) -> (u16, Value) {
        let (response, _) = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(super) async fn post(&mut self, path: &str, origin: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `/auth/login`: the provider's URL and its query.
    pub(super) async fn login(
        &mut self,
        path: &str,
    ) -> (String, HashMap<String, String>, Vec<String>) {
        let (response, set) = self.get(path).await;
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let url = reqwest::Url::parse(&location).unwrap();
        let query = url.query_pairs().into_owned().collect();
        (location, query, set)
    }

    /// Signs in as `subject` through the stand-in; returns the callback's answer.
    pub(super) async fn sign_in(
        &mut self,
        idp: &StandIn,
        subject: &str,
        code: &str,
        path: &str,
    ) -> reqwest::Response {
        let (_, query, _) = self.login(path).await;
        idp.approve(code, &query["code_challenge"], subject);
        let (response, _) = self
            .get(&format!(
                "/auth/callback?code={code}&state={}",
                query["state"]
            ))
            .await;
        response
    }
}

//! A browser's view of Ferry for tests: a session cookie from the password form, and
//! requests that carry it with the headers a browser adds.

use ferry_app::model::Role;
use ferry_server::auth::passwords;
use serde_json::{json, Value};

use super::TestApp;

/// A signed-in browser: its session cookie (`name=value`) and the headers it sends.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: String,
    client: reqwest::Client,
}

/// The `Set-Cookie` header of a response, whole.
pub fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string())
}

impl TestApp {
    /// A local account with a password and a global role.
    pub async fn local_user(&self, login: &str, password: &str, role: Role) -> i64 {
        let hash = passwords::hash(password).unwrap();
        self.running.state.store.create_local_user(login, &hash, role).await.unwrap().id
    }

    /// Posts the password form; the response as it came.
    pub async fn password_form(&self, login: &str, password: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(format!("{}/auth/login", self.base))
            .header("origin", &self.base)
            .json(&json!({"login": login, "password": password}));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> Browser<'_> {
        let response = self.password_form(login, password, None).await;
        assert_eq!(response.status().as_u16(), 200, "signing in as {login}");
        let header = set_cookie(&response).expect("a session cookie");
        let cookie = header.split(';').next().unwrap().to_string();
        Browser { app: self, cookie, client: reqwest::Client::new() }
    }
}

impl Browser<'_> {
    pub fn with_cookie(&self, cookie: &str) -> Self {
        Browser { app: self.app, cookie: cookie.into(), client: self.client.clone() }
    }

    /// A request as a page of Ferry itself sends it.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.app.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.app.base)
            .header("sec-fetch-site", "same-origin")
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        json_of(self.request(reqwest::Method::GET, path).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        json_of(self.request(reqwest::Method::POST, path).json(&body).send().await.unwrap()).await
    }

    /// Calls a server function the way the SPA does (a URL-encoded form).
    pub async fn server_fn(&self, name: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self.request(reqwest::Method::POST, &format!("/rpc/{name}")).form(form).send().await.unwrap();
        json_of(response).await
    }
}

pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

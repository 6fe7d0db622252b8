//! Local stand-ins for GitHub, GitLab and an OpenID Connect provider, implementing the
//! endpoints Ferry calls as their documentation describes them, and checking each
//! request. A request that breaks the documented format is written to `problems`
//! (and refused), so a test can assert there were none.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Github,
    Gitlab,
    Oidc,
}

#[derive(Debug, Clone)]
pub struct FakeUser {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub email: String,
    /// GitHub organisations, GitLab group paths, or the OIDC `groups` claim.
    pub groups: Vec<String>,
}

struct Grant {
    challenge: String,
    redirect_uri: String,
    nonce: Option<String>,
}

pub struct FakeState {
    kind: Kind,
    base: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub user: FakeUser,
    /// The scopes the last authorization asked for.
    pub scopes: Vec<String>,
    /// OIDC: sign ID tokens with this nonce instead of the one asked for.
    pub wrong_nonce: bool,
    grants: HashMap<String, Grant>,
    used_codes: HashSet<String>,
    tokens: HashSet<String>,
    pub problems: Vec<String>,
    pub calls: Vec<String>,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub base: String,
    pub state: Arc<Mutex<FakeState>>,
}

const TEST_KEY: &str = include_str!("../fixtures/oidc-test-key.pem");
const TEST_JWKS: &str = include_str!("../fixtures/oidc-test-jwks.json");

impl FakeProvider {
    pub async fn start(kind: Kind, redirect_uri: &str, user: FakeUser) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState {
            kind,
            base: base.clone(),
            client_id: "ferry-client".into(),
            client_secret: "ferry-secret".into(),
            redirect_uri: redirect_uri.into(),
            user,
            scopes: Vec::new(),
            wrong_nonce: false,
            grants: HashMap::new(),
            used_codes: HashSet::new(),
            tokens: HashSet::new(),
            problems: Vec::new(),
            calls: Vec::new(),
        }));
        let app = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(token))
            .route("/api/v3/user", get(github_user))
            .route("/api/v3/user/emails", get(github_emails))
            .route("/api/v3/user/orgs", get(github_orgs))
            .route("/api/v3/user/teams", get(github_teams))
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/token", post(token))
            .route("/api/v4/user", get(gitlab_user))
            .route("/api/v4/groups", get(gitlab_groups))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(|| async { Json(serde_json::from_str::<Value>(TEST_JWKS).unwrap()) }))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, state }
    }

    pub fn problems(&self) -> Vec<String> {
        self.state.lock().unwrap().problems.clone()
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
}

type Shared = State<Arc<Mutex<FakeState>>>;

fn problem(s: &mut FakeState, what: String) -> Response {
    s.problems.push(what.clone());
    (StatusCode::BAD_REQUEST, what).into_response()
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The user approves at once: back to the redirect URI with a code and the state.
async fn authorize(State(shared): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut s = shared.lock().unwrap();
    s.calls.push("authorize".into());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != s.client_id {
        return problem(&mut s, format!("authorize: unknown client_id {:?}", q.get("client_id")));
    }
    if get("redirect_uri") != s.redirect_uri {
        return problem(
            &mut s,
            format!("authorize: redirect_uri {:?} is not the registered one", q.get("redirect_uri")),
        );
    }
    if get("response_type") != "code" || get("state").len() < 16 {
        return problem(&mut s, "authorize: needs response_type=code and an unguessable state".into());
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        return problem(&mut s, "authorize: PKCE with S256 is required".into());
    }
    let scopes: Vec<String> = get("scope").split(' ').map(str::to_string).collect();
    s.scopes = scopes.clone();
    let needed = match s.kind {
        Kind::Github => "read:user",
        Kind::Gitlab => "read_user",
        Kind::Oidc => "openid",
    };
    if !scopes.iter().any(|x| x == needed) {
        return problem(&mut s, format!("authorize: scope {needed} missing from {scopes:?}"));
    }
    if s.kind == Kind::Oidc && get("nonce").len() < 16 {
        return problem(&mut s, "authorize: OIDC needs a nonce".into());
    }
    let code = format!("code-{}", s.grants.len() + s.used_codes.len() + 1);
    let nonce = q.get("nonce").cloned();
    s.grants.insert(code.clone(), Grant { challenge: get("code_challenge"), redirect_uri: get("redirect_uri"), nonce });
    let state = url_encode(&get("state"));
    Redirect::to(&format!("{}?code={code}&state={state}", s.redirect_uri)).into_response()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The client credentials: form fields (GitHub, GitLab) or HTTP Basic (OIDC).
fn credentials(kind: Kind, headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    if kind == Kind::Oidc {
        let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "));
        let decoded = basic.and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()).unwrap_or_default();
        let text = String::from_utf8(decoded).unwrap_or_default();
        let (id, secret) = text.split_once(':').unwrap_or(("", ""));
        return (id.to_string(), secret.to_string());
    }
    (form.get("client_id").cloned().unwrap_or_default(), form.get("client_secret").cloned().unwrap_or_default())
}

async fn token(State(shared): Shared, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut s = shared.lock().unwrap();
    s.calls.push("token".into());
    let refuse = |s: &mut FakeState, why: &str| -> Response {
        // GitHub answers a bad code with 200 and an error body; the others with 400.
        let body = Json(json!({"error": "invalid_grant", "error_description": why}));
        if s.kind == Kind::Github {
            (StatusCode::OK, body).into_response()
        } else {
            (StatusCode::BAD_REQUEST, body).into_response()
        }
    };
    if !headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("application/json")) {
        return problem(&mut s, "token: Accept: application/json is required".into());
    }
    let (id, secret) = credentials(s.kind, &headers, &form);
    if id != s.client_id || secret != s.client_secret {
        return problem(&mut s, format!("token: wrong client credentials ({id})"));
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return problem(&mut s, "token: grant_type must be authorization_code".into());
    }
    let code = form.get("code").cloned().unwrap_or_default();
    if s.used_codes.contains(&code) {
        return refuse(&mut s, "the code was used already");
    }
    let Some(grant) = s.grants.remove(&code) else { return refuse(&mut s, "unknown code") };
    s.used_codes.insert(code);
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return problem(&mut s, "token: redirect_uri differs from the authorization request".into());
    }
    if form.get("code_verifier").map(|v| s256(v)) != Some(grant.challenge.clone()) {
        return problem(&mut s, "token: the code_verifier does not match the code_challenge".into());
    }
    let access = format!("token-{}", s.tokens.len() + 1);
    s.tokens.insert(access.clone());
    match s.kind {
        Kind::Github => Json(json!({"access_token": access, "token_type": "bearer", "scope": "read:user,user:email"}))
            .into_response(),
        Kind::Gitlab => Json(json!({"access_token": access, "token_type": "Bearer", "expires_in": 7200,
            "refresh_token": "r", "scope": "read_user", "created_at": 1}))
        .into_response(),
        Kind::Oidc => {
            let nonce = if s.wrong_nonce { Some("not-the-nonce".to_string()) } else { grant.nonce };
            let now = chrono::Utc::now().timestamp();
            let claims = json!({"iss": s.base, "aud": s.client_id, "sub": s.user.id.to_string(), "exp": now + 300,
                "iat": now, "nonce": nonce, "preferred_username": s.user.login, "name": s.user.name,
                "email": s.user.email, "email_verified": true, "groups": s.user.groups});
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("test-key".into());
            let id_token = encode(&header, &claims, &EncodingKey::from_rsa_pem(TEST_KEY.as_bytes()).unwrap()).unwrap();
            Json(json!({"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
                .into_response()
        }
    }
}

/// The bearer token of an API request, if it is one this provider issued.
fn api_call(s: &mut FakeState, headers: &HeaderMap, path: &str) -> Result<(), Box<Response>> {
    s.calls.push(path.to_string());
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| s.tokens.contains(t)) {
        return Err(Box::new(problem(s, format!("{path}: no valid bearer token"))));
    }
    if s.kind == Kind::Github {
        let accept = headers.get("accept").and_then(|v| v.to_str().ok()).unwrap_or("");
        if accept != "application/vnd.github+json" || !headers.contains_key("user-agent") {
            let why = format!("{path}: GitHub needs Accept: application/vnd.github+json and a User-Agent");
            return Err(Box::new(problem(s, why)));
        }
    }
    Ok(())
}

async fn github_user(State(shared): Shared, headers: HeaderMap) -> Response {
    let mut s = shared.lock().unwrap();
    if let Err(r) = api_call(&mut s, &headers, "/user") {
        return *r;
    }
    let u = &s.user;
    Json(
        json!({"login": u.login, "id": u.id, "node_id": "MDQ6VXNlcjE=", "type": "User", "name": u.name, "email": null}),
    )
    .into_response()
}

async fn github_emails(State(shared): Shared, headers: HeaderMap) -> Response {
    let mut s = shared.lock().unwrap();
    if let Err(r) = api_call(&mut s, &headers, "/user/emails") {
        return *r;
    }
    Json(json!([{"email": s.user.email, "primary": true, "verified": true, "visibility": "private"}])).into_response()
}

async fn github_orgs(State(shared): Shared, headers: HeaderMap) -> Response {
    let mut s = shared.lock().unwrap();
    if let Err(r) = api_call(&mut s, &headers, "/user/orgs") {
        return *r;
    }
    let orgs = s.user.groups.iter().filter(|g| !g.contains('/')).enumerate().map(|(i, g)| json!({"login": g, "id": i}));
    Json(Value::Array(orgs.collect())).into_response()
}

/// Teams are the groups written `org/team`.
async fn github_teams(State(shared): Shared, headers: HeaderMap) -> Response {
    let mut s = shared.lock().unwrap();
    if let Err(r) = api_call(&mut s, &headers, "/user/teams") {
        return *r;
    }
    let teams = s
        .user
        .groups
        .iter()
        .filter_map(|g| g.split_once('/'))
        .map(|(org, team)| json!({"id": 1, "slug": team, "name": team, "organization": {"login": org, "id": 2}}));
    Json(Value::Array(teams.collect())).into_response()
}

async fn gitlab_user(State(shared): Shared, headers: HeaderMap) -> Response {
    let mut s = shared.lock().unwrap();
    if let Err(r) = api_call(&mut s, &headers, "/api/v4/user") {
        return *r;
    }
    let u = &s.user;
    Json(json!({"id": u.id, "username": u.login, "name": u.name, "state": "active", "email": u.email,
        "confirmed_at": "2024-01-01T00:00:00Z"}))
    .into_response()
}

async fn gitlab_groups(
    State(shared): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = shared.lock().unwrap();
    if let Err(r) = api_call(&mut s, &headers, "/api/v4/groups") {
        return *r;
    }
    if !q.contains_key("min_access_level") {
        return problem(&mut s, "/api/v4/groups: without min_access_level it lists every visible group".into());
    }
    Json(Value::Array(s.user.groups.iter().map(|g| json!({"full_path": g, "path": g})).collect())).into_response()
}

async fn discovery(State(shared): Shared) -> Response {
    let s = shared.lock().unwrap();
    Json(json!({"issuer": s.base, "authorization_endpoint": format!("{}/authorize", s.base),
        "token_endpoint": format!("{}/token", s.base), "jwks_uri": format!("{}/jwks", s.base),
        "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"]}))
    .into_response()
}

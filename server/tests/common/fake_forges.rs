//! Local stand-ins for the GitHub REST API (under `/api/v3`, as GitHub Enterprise
//! Server serves it) and the GitLab REST API (`/api/v4`), implementing the endpoints
//! Ferry calls for deployments, statuses, webhooks and access checks as their
//! documentation describes them. Each request is checked (token, headers, the body's
//! fields and values); one that breaks the documented format is written to `problems`
//! and refused. Answers can be scripted to fail, to test retries.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// A request the fake accepted.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path after the API root, as sent (still percent-encoded).
    pub path: String,
    pub body: Value,
}

#[derive(Default)]
pub struct ForgeState {
    pub token: String,
    /// Repositories (GitHub `owner/name`, GitLab `group/project`) the token can see.
    pub repos: Vec<String>,
    pub calls: Vec<Call>,
    pub problems: Vec<String>,
    /// Answers for the next writes, instead of accepting them: (status, headers).
    pub failures: VecDeque<(u16, Vec<(String, String)>)>,
    next_id: u64,
    /// GitHub: the deployments made.
    deployment_ids: Vec<String>,
    /// GitLab: each commit status's current state, by (sha, name).
    commit_states: HashMap<(String, String), String>,
    /// Where git clones a repository, when a test serves it (else a made-up https URL).
    pub clone_urls: HashMap<String, String>,
    /// Comments (GitHub) and notes (GitLab) on requests: id → (request number, body).
    pub comments: HashMap<String, (u64, String)>,
    /// GitLab: environments its deployments made, by name: (id, `available`/`stopped`).
    pub environments: HashMap<String, (u64, String)>,
}

impl ForgeState {
    fn clone_url(&self, repo: &str) -> String {
        self.clone_urls.get(repo).cloned().unwrap_or_else(|| format!("https://forge.invalid/{repo}.git"))
    }

    /// A repository as GitHub's `GET /repos/{owner}/{repo}` and `GET /user/repos` show it.
    fn github_repository(&self, repo: &str) -> Value {
        json!({
            "id": 1296269, "name": repo.rsplit('/').next(), "full_name": repo, "private": true,
            "description": format!("{repo} (fake)"), "default_branch": "main",
            "html_url": format!("https://github.invalid/{repo}"), "clone_url": self.clone_url(repo),
            "owner": {"login": repo.split('/').next()},
        })
    }

    /// A project as GitLab's `GET /projects/:id` and `GET /projects` show it.
    fn gitlab_project(&self, repo: &str) -> Value {
        json!({
            "id": 42, "path_with_namespace": repo, "description": "", "visibility": "private",
            "default_branch": "main", "web_url": format!("https://gitlab.invalid/{repo}"),
            "http_url_to_repo": self.clone_url(repo),
        })
    }
}

#[derive(Clone)]
pub struct FakeForge {
    /// The API root: `…/api/v3` (GitHub) or the instance (GitLab).
    pub base: String,
    pub state: Arc<Mutex<ForgeState>>,
}

impl FakeForge {
    pub async fn github(token: &str, repos: &[&str]) -> Self {
        let forge = Self::start(token, repos, Router::new().route("/api/v3/{*path}", any(github))).await;
        Self { base: format!("{}/api/v3", forge.base), ..forge }
    }

    pub async fn gitlab(token: &str, repos: &[&str]) -> Self {
        Self::start(token, repos, Router::new().route("/api/v4/{*path}", any(gitlab))).await
    }

    async fn start(token: &str, repos: &[&str], router: Router<Arc<Mutex<ForgeState>>>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ForgeState {
            token: token.into(),
            repos: repos.iter().map(|r| r.to_string()).collect(),
            next_id: 1000,
            ..ForgeState::default()
        }));
        let app = router.with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, state }
    }

    /// git clones `repo` from `url` (a test's git server).
    pub fn serve_repo(&self, repo: &str, url: &str) {
        self.state.lock().unwrap().clone_urls.insert(repo.into(), url.into());
    }

    /// GitLab: the state of the environment `name` its deployments made.
    pub fn environment_state(&self, name: &str) -> Option<String> {
        self.state.lock().unwrap().environments.get(name).map(|(_, state)| state.clone())
    }

    /// The comments on request `number`, oldest first.
    pub fn comments_on(&self, number: u64) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut found: Vec<(u64, String)> = state
            .comments
            .iter()
            .filter(|(_, (on, _))| *on == number)
            .map(|(id, (_, body))| (id.parse().unwrap_or_default(), body.clone()))
            .collect();
        found.sort();
        found.into_iter().map(|(_, body)| body).collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn problems(&self) -> Vec<String> {
        self.state.lock().unwrap().problems.clone()
    }

    /// The next writes answer with these statuses and headers.
    pub fn fail_next(&self, answers: &[(u16, &[(&str, &str)])]) {
        let mut state = self.state.lock().unwrap();
        for (status, headers) in answers {
            let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            state.failures.push_back((*status, headers));
        }
    }

    /// Waits until `count` accepted calls match `what`, and returns them.
    pub async fn wait_for(&self, count: usize, what: impl Fn(&Call) -> bool) -> Vec<Call> {
        for _ in 0..300 {
            let matching: Vec<Call> = self.calls().into_iter().filter(|c| what(c)).collect();
            if matching.len() >= count {
                return matching;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the forge did not get {count} such calls; it got {:#?}", self.calls());
    }
}

type Shared = State<Arc<Mutex<ForgeState>>>;

fn refuse(state: &mut ForgeState, status: StatusCode, what: String) -> Response {
    state.problems.push(what.clone());
    (status, Json(json!({"message": what}))).into_response()
}

/// Refuses fields the endpoint does not document, and missing required ones.
fn check_fields(body: &Map<String, Value>, allowed: &[&str], required: &[&str]) -> Result<(), String> {
    if let Some(unknown) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("undocumented field `{unknown}`"));
    }
    match required.iter().find(|r| !body.contains_key(**r)) {
        Some(missing) => Err(format!("missing required field `{missing}`")),
        None => Ok(()),
    }
}

fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn scripted_failure(state: &mut ForgeState, method: &Method) -> Option<Response> {
    if *method == Method::GET {
        return None;
    }
    let (status, headers) = state.failures.pop_front()?;
    let mut response =
        (StatusCode::from_u16(status).unwrap(), Json(json!({"message": "scripted failure"}))).into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    Some(response)
}

async fn github(State(state): Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if header("authorization") != format!("Bearer {}", s.token)
        && header("authorization") != format!("token {}", s.token)
    {
        return (StatusCode::UNAUTHORIZED, Json(json!({"message": "Bad credentials"}))).into_response();
    }
    if header("user-agent").is_empty() {
        return refuse(&mut s, StatusCode::FORBIDDEN, "GitHub requires a User-Agent".into());
    }
    if !header("accept").contains("application/vnd.github+json") {
        return refuse(
            &mut s,
            StatusCode::BAD_REQUEST,
            format!("Accept should be application/vnd.github+json, not `{}`", header("accept")),
        );
    }
    if !matches!(header("x-github-api-version"), "" | "2022-11-28") {
        return refuse(&mut s, StatusCode::BAD_REQUEST, "unsupported X-GitHub-Api-Version".into());
    }
    let path = uri.path().trim_start_matches("/api/v3").to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if method == Method::GET && parts == ["user", "repos"] {
        return github_user_repos(&mut s, uri.query().unwrap_or(""));
    }
    // Who the token belongs to (a sign-in reads it), as GitHub's `GET /user` says.
    if method == Method::GET && parts == ["user"] {
        s.calls.push(Call { method: "GET".into(), path: "/user".into(), body: Value::Null });
        return Json(json!({"id": 583231, "login": "octocat", "name": "The Octocat", "email": null, "type": "User"}))
            .into_response();
    }
    if method == Method::GET && parts == ["user", "emails"] {
        return Json(
            json!([{"email": "octocat@acme.test", "primary": true, "verified": true, "visibility": "public"}]),
        )
        .into_response();
    }
    let repo = match parts.as_slice() {
        ["repos", owner, name, ..] => format!("{owner}/{name}"),
        _ => return refuse(&mut s, StatusCode::NOT_FOUND, format!("no such endpoint {method} {path}")),
    };
    if !s.repos.contains(&repo) {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    }
    let body: Map<String, Value> = if method == Method::GET {
        Map::new()
    } else if !header("content-type").starts_with("application/json") {
        return refuse(&mut s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "GitHub takes JSON bodies".into());
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(e) => return refuse(&mut s, StatusCode::BAD_REQUEST, format!("Problems parsing JSON: {e}")),
        }
    };
    if let Some(failure) = scripted_failure(&mut s, &method) {
        return failure;
    }
    let checked = match (&method, &parts[3..]) {
        (&Method::GET, []) => Ok(s.github_repository(&repo)),
        (&Method::POST, ["deployments"]) => github_deployment(&mut s, &repo, &body),
        (&Method::POST, ["deployments", id, "statuses"]) => github_deployment_status(&mut s, id, &body),
        (&Method::POST, ["statuses", sha]) => github_commit_status(sha, &body),
        (&Method::POST, ["hooks"]) => github_hook(&mut s, &body),
        (&Method::POST, ["issues", number, "comments"]) => comment(&mut s, number, None, &body),
        (&Method::PATCH, ["issues", "comments", id]) => comment(&mut s, "", Some(id), &body),
        _ => Err(format!("no such endpoint {method} {path}")),
    };
    match checked {
        Ok(answer) => {
            s.calls.push(Call { method: method.to_string(), path, body: Value::Object(body) });
            let status = if method == Method::POST { StatusCode::CREATED } else { StatusCode::OK };
            (status, Json(answer)).into_response()
        }
        Err(why) => refuse(&mut s, StatusCode::UNPROCESSABLE_ENTITY, why),
    }
}

/// `GET /user/repos`: the documented query parameters only, pages of `per_page`.
fn github_user_repos(s: &mut ForgeState, query: &str) -> Response {
    let allowed = ["visibility", "affiliation", "type", "sort", "direction", "per_page", "page", "since", "before"];
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return refuse(s, StatusCode::UNPROCESSABLE_ENTITY, format!("GET /user/repos takes no `{key}`"));
    }
    let number = |key: &str, default: usize| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map_or(Ok(default), |(_, v)| v.parse::<usize>().map_err(|_| key.to_string()))
    };
    let (per_page, page) = match (number("per_page", 30), number("page", 1)) {
        (Ok(per_page), Ok(page)) if (1..=100).contains(&per_page) && page >= 1 => (per_page, page),
        _ => return refuse(s, StatusCode::UNPROCESSABLE_ENTITY, format!("bad paging in `{query}`")),
    };
    let listed: Vec<Value> =
        s.repos.iter().skip((page - 1) * per_page).take(per_page).map(|r| s.github_repository(r)).collect();
    s.calls.push(Call { method: "GET".into(), path: format!("/user/repos?{query}"), body: Value::Null });
    Json(listed).into_response()
}

fn github_deployment(s: &mut ForgeState, repo: &str, body: &Map<String, Value>) -> Result<Value, String> {
    let allowed = [
        "ref",
        "task",
        "auto_merge",
        "required_contexts",
        "payload",
        "environment",
        "description",
        "transient_environment",
        "production_environment",
    ];
    check_fields(body, &allowed, &["ref"])?;
    if text(body, "ref").is_none_or(str::is_empty) {
        return Err("ref must be a branch, tag or SHA".into());
    }
    if body.get("required_contexts").is_some_and(|c| !c.is_array()) {
        return Err("required_contexts must be an array".into());
    }
    s.next_id += 1;
    s.deployment_ids.push(s.next_id.to_string());
    Ok(json!({
        "url": format!("https://api.github.com/repos/{repo}/deployments/{}", s.next_id), "id": s.next_id,
        "sha": body.get("ref"), "ref": body.get("ref"), "task": "deploy", "environment": body.get("environment"),
    }))
}

fn github_deployment_status(s: &mut ForgeState, id: &str, body: &Map<String, Value>) -> Result<Value, String> {
    let allowed = ["state", "target_url", "log_url", "description", "environment", "environment_url", "auto_inactive"];
    check_fields(body, &allowed, &["state"])?;
    let states = ["error", "failure", "inactive", "in_progress", "queued", "pending", "success"];
    if !text(body, "state").is_some_and(|state| states.contains(&state)) {
        return Err(format!("state must be one of {states:?}"));
    }
    if !s.deployment_ids.iter().any(|known| known == id) {
        return Err(format!("deployment {id} does not exist"));
    }
    if text(body, "description").is_some_and(|d| d.chars().count() > 140) {
        return Err("description is too long (maximum is 140 characters)".into());
    }
    s.next_id += 1;
    Ok(json!({"id": s.next_id, "state": body.get("state")}))
}

fn github_commit_status(sha: &str, body: &Map<String, Value>) -> Result<Value, String> {
    check_fields(body, &["state", "target_url", "description", "context"], &["state"])?;
    if sha.len() != 40 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("`{sha}` is not a commit SHA"));
    }
    if !text(body, "state").is_some_and(|state| ["error", "failure", "pending", "success"].contains(&state)) {
        return Err("state must be error, failure, pending or success".into());
    }
    Ok(json!({"state": body.get("state"), "context": body.get("context")}))
}

/// A comment on a pull request (GitHub: `POST /issues/{number}/comments`, `PATCH
/// /issues/comments/{id}`) or a note on a merge request (GitLab: `POST
/// /merge_requests/{iid}/notes`, `PUT /merge_requests/{iid}/notes/{id}`): a non-empty
/// `body`, up to 65536 characters; an edit names a comment that exists (on the same
/// request, where the path says it).
fn comment(s: &mut ForgeState, number: &str, edit: Option<&str>, body: &Map<String, Value>) -> Result<Value, String> {
    check_fields(body, &["body"], &["body"])?;
    let text = text(body, "body").filter(|b| !b.trim().is_empty()).ok_or("body must be a non-empty string")?;
    if text.chars().count() > 65536 {
        return Err("body is too long (maximum is 65536 characters)".into());
    }
    let number: Option<u64> = (!number.is_empty()).then(|| number.parse().ok()).flatten();
    match edit {
        Some(id) => {
            let (on, _) = s.comments.get(id).cloned().ok_or(format!("comment {id} does not exist"))?;
            if number.is_some_and(|n| n != on) {
                return Err(format!("note {id} is not on merge request {}", number.unwrap_or_default()));
            }
            s.comments.insert(id.to_string(), (on, text.to_string()));
            Ok(json!({"id": id.parse::<u64>().unwrap_or_default(), "body": text}))
        }
        None => {
            let number = number.filter(|n| *n > 0).ok_or("the request number must be a positive integer")?;
            s.next_id += 1;
            s.comments.insert(s.next_id.to_string(), (number, text.to_string()));
            Ok(json!({"id": s.next_id, "body": text}))
        }
    }
}

fn github_hook(s: &mut ForgeState, body: &Map<String, Value>) -> Result<Value, String> {
    check_fields(body, &["name", "config", "events", "active"], &["config"])?;
    let config = body.get("config").and_then(Value::as_object).ok_or("config must be an object")?;
    check_fields(config, &["url", "content_type", "secret", "insecure_ssl"], &["url"])?;
    if text(body, "name").is_some_and(|n| n != "web") {
        return Err("name must be `web`".into());
    }
    s.next_id += 1;
    Ok(json!({"id": s.next_id, "type": "Repository", "name": "web", "active": true, "config": config}))
}

async fn gitlab(
    State(state): Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(_): Path<String>,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if header("private-token") != s.token {
        return (StatusCode::UNAUTHORIZED, Json(json!({"message": "401 Unauthorized"}))).into_response();
    }
    let path = uri.path().trim_start_matches("/api/v4").to_string();
    if method == Method::GET && path == "/user" {
        return Json(json!({"id": 1, "username": "ferry-bot", "name": "Ferry"})).into_response();
    }
    if method == Method::GET && path == "/projects" {
        return gitlab_projects(&mut s, uri.query().unwrap_or(""));
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let project = match parts.as_slice() {
        ["projects", id, ..] => id.replace("%2F", "/").replace("%2f", "/"),
        _ => return refuse(&mut s, StatusCode::NOT_FOUND, format!("no such endpoint {method} {path}")),
    };
    if parts[1].contains('/') || !s.repos.contains(&project) {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "404 Project Not Found"}))).into_response();
    }
    let mut form = Map::new();
    if method != Method::GET && !body.is_empty() {
        let kind = header("content-type");
        let pairs: Vec<(String, String)> = if kind.starts_with("application/x-www-form-urlencoded") {
            url::form_urlencoded::parse(&body).into_owned().collect()
        } else {
            return refuse(&mut s, StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("unexpected body type `{kind}`"));
        };
        for (key, value) in pairs {
            form.insert(key, Value::String(value));
        }
    }
    if let Some(failure) = scripted_failure(&mut s, &method) {
        return failure;
    }
    let checked = match (&method, &parts[2..]) {
        (&Method::GET, []) => Ok(s.gitlab_project(&project)),
        (&Method::GET, ["environments"]) => {
            let query: HashMap<String, String> =
                url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
            let listed: Vec<Value> = s
                .environments
                .iter()
                .filter(|(name, _)| query.get("name").is_none_or(|wanted| wanted == *name))
                .map(|(name, (id, state))| json!({"id": id, "name": name, "state": state}))
                .collect();
            Ok(Value::Array(listed))
        }
        (&Method::POST, ["environments", id, "stop"]) => {
            let found = s.environments.values_mut().find(|(known, _)| known.to_string() == *id);
            match found {
                Some((_, state)) => {
                    *state = "stopped".into();
                    Ok(json!({"id": id.parse::<u64>().unwrap_or_default(), "state": "stopped"}))
                }
                None => Err(format!("environment {id} does not exist")),
            }
        }
        (&Method::POST, ["statuses", sha]) => gitlab_commit_status(&mut s, sha, &form),
        (&Method::POST, ["deployments"]) => gitlab_deployment(&mut s, &form),
        (&Method::POST, ["merge_requests", iid, "notes"]) => comment(&mut s, iid, None, &form),
        (&Method::PUT, ["merge_requests", iid, "notes", id]) => comment(&mut s, iid, Some(id), &form),
        (&Method::PUT, ["deployments", _]) => check_fields(&form, &["status"], &["status"])
            .and_then(|()| gitlab_status(&form))
            .map(|s| json!({"status": s})),
        (&Method::POST, ["hooks"]) => {
            let allowed = [
                "url",
                "name",
                "token",
                "push_events",
                "tag_push_events",
                "merge_requests_events",
                "pipeline_events",
                "enable_ssl_verification",
            ];
            check_fields(&form, &allowed, &["url"]).map(|()| json!({"id": 7, "url": form.get("url")}))
        }
        _ => Err(format!("no such endpoint {method} {path}")),
    };
    match checked {
        Ok(answer) => {
            s.calls.push(Call { method: method.to_string(), path, body: Value::Object(form) });
            let status = if method == Method::POST { StatusCode::CREATED } else { StatusCode::OK };
            (status, Json(answer)).into_response()
        }
        Err(why) if why.starts_with("Cannot transition") => {
            (StatusCode::BAD_REQUEST, Json(json!({"message": why}))).into_response()
        }
        Err(why) => refuse(&mut s, StatusCode::BAD_REQUEST, why),
    }
}

/// `GET /projects`: a member's projects, filtered by `search`, paged by `page`/`per_page`.
fn gitlab_projects(s: &mut ForgeState, query: &str) -> Response {
    let allowed = [
        "membership",
        "search",
        "search_namespaces",
        "order_by",
        "sort",
        "simple",
        "owned",
        "page",
        "per_page",
        "pagination",
        "visibility",
        "archived",
    ];
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return refuse(s, StatusCode::BAD_REQUEST, format!("GET /projects takes no `{key}`"));
    }
    let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if let Some(order) = value("order_by") {
        let orders = ["id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity"];
        if !orders.contains(&order) {
            return refuse(s, StatusCode::BAD_REQUEST, format!("order_by `{order}` is not one of {orders:?}"));
        }
    }
    let search = value("search").unwrap_or("").to_lowercase();
    let per_page: usize = value("per_page").and_then(|v| v.parse().ok()).unwrap_or(20).clamp(1, 100);
    let page: usize = value("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let matching: Vec<String> = s.repos.iter().filter(|r| r.to_lowercase().contains(&search)).cloned().collect();
    let listed: Vec<Value> =
        matching.iter().skip((page - 1) * per_page).take(per_page).map(|r| s.gitlab_project(r)).collect();
    s.calls.push(Call { method: "GET".into(), path: format!("/projects?{query}"), body: Value::Null });
    let pages = matching.len().div_ceil(per_page).max(1);
    let mut response = Json(listed).into_response();
    let headers = response.headers_mut();
    headers.insert("x-page", page.to_string().parse().unwrap());
    headers.insert("x-per-page", per_page.to_string().parse().unwrap());
    headers.insert("x-total", matching.len().to_string().parse().unwrap());
    headers.insert("x-total-pages", pages.to_string().parse().unwrap());
    if page < pages {
        headers.insert("x-next-page", (page + 1).to_string().parse().unwrap());
    }
    response
}

fn gitlab_status(form: &Map<String, Value>) -> Result<String, String> {
    let status = text(form, "status").unwrap_or_default();
    if ["running", "success", "failed", "canceled"].contains(&status) {
        Ok(status.to_string())
    } else {
        Err(format!("status `{status}` is not running, success, failed or canceled"))
    }
}

fn gitlab_deployment(s: &mut ForgeState, form: &Map<String, Value>) -> Result<Value, String> {
    check_fields(form, &["environment", "sha", "ref", "tag", "status"], &["environment", "sha", "ref", "tag"])?;
    if !matches!(text(form, "tag"), Some("true" | "false")) {
        return Err("tag must be true or false".into());
    }
    let status = gitlab_status(form)?;
    let name = text(form, "environment").unwrap_or_default().to_string();
    if !s.environments.contains_key(&name) {
        s.next_id += 1;
        s.environments.insert(name, (s.next_id, "available".into()));
    }
    s.next_id += 1;
    Ok(json!({"id": s.next_id, "iid": 1, "ref": form.get("ref"), "sha": form.get("sha"), "status": status,
        "environment": {"name": form.get("environment")}}))
}

/// GitLab refuses to set a commit status to the state it has.
fn gitlab_commit_status(s: &mut ForgeState, sha: &str, form: &Map<String, Value>) -> Result<Value, String> {
    let allowed = ["state", "ref", "name", "context", "target_url", "description", "coverage", "pipeline_id"];
    check_fields(form, &allowed, &["state"])?;
    let state = text(form, "state").unwrap_or_default().to_string();
    if !["pending", "running", "success", "failed", "canceled", "skipped"].contains(&state.as_str()) {
        return Err(format!("state `{state}` is not a commit status state"));
    }
    let name = text(form, "name").unwrap_or("default").to_string();
    let key = (sha.to_string(), name.clone());
    if s.commit_states.get(&key) == Some(&state) {
        return Err(format!("Cannot transition status via :{state} from :{state}"));
    }
    s.commit_states.insert(key, state.clone());
    Ok(json!({"id": 1, "sha": sha, "status": state, "name": name}))
}

/// A Ferry whose GitHub and GitLab are these stand-ins, and its data directory
/// (removed when dropped).
pub async fn spawn_with_forges(
    github: Option<&FakeForge>,
    gitlab: Option<&FakeForge>,
) -> (super::TestApp, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut config = super::test_config(data.path());
    if let Some(github) = github {
        config.github_api_url = github.base.clone();
    }
    if let Some(gitlab) = gitlab {
        config.gitlab_url = gitlab.base.clone();
    }
    (super::spawn_with(config).await, data)
}

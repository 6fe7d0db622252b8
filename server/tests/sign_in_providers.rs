//! Signing in with GitHub, GitLab and an OIDC provider, against local stand-ins that
//! check every request against the providers' documented formats; and the attacks
//! that must fail: missing, foreign or reused state, a replayed code, an answer
//! delivered to the other provider, a wrong nonce, and an outsider organisation.

mod common;

use common::browser::set_cookie;
use common::fake_forges::FakeForge;
use common::fake_providers::{FakeProvider, FakeUser, Kind};
use common::git_server::{basic, serve};
use common::{free_port, make_hello_repo, test_config, try_spawn_with, TestApp};
use ferry_server::auth::providers::settings::{ProviderKind, ProviderSettings};
use serde_json::{json, Value};

fn octocat(groups: &[&str]) -> FakeUser {
    FakeUser {
        id: 583231,
        login: "octocat".into(),
        name: "The Octocat".into(),
        email: "octocat@acme.test".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn provider(id: &str, kind: ProviderKind, fake: &FakeProvider) -> ProviderSettings {
    let mut settings: ProviderSettings = toml::from_str(&format!(
        "id = \"{id}\"\nkind = \"{}\"\nclient_id = \"ferry-client\"\nclient_secret = \"ferry-secret\"",
        match kind {
            ProviderKind::Github => "github",
            ProviderKind::Gitlab => "gitlab",
            ProviderKind::Oidc => "oidc",
        }
    ))
    .unwrap();
    match kind {
        ProviderKind::Github => {
            settings.base_url = Some(fake.base.clone());
            settings.api_url = Some(format!("{}/api/v3", fake.base));
        }
        ProviderKind::Gitlab => settings.base_url = Some(fake.base.clone()),
        ProviderKind::Oidc => settings.issuer = Some(fake.base.clone()),
    }
    settings
}

struct World {
    app: TestApp,
    github: FakeProvider,
    gitlab: FakeProvider,
    oidc: FakeProvider,
    _tmp: tempfile::TempDir,
}

/// The server needs its address before it starts (the providers' redirect URIs name
/// it), so it binds a port found free a moment before; should another process take
/// that port in between, it starts again on another.
async fn world(user: FakeUser, adjust: impl Fn(&mut Vec<ProviderSettings>)) -> World {
    world_with(user, adjust, |_| {}).await
}

/// A world whose configuration `configure` adjusts further.
async fn world_with(
    user: FakeUser,
    adjust: impl Fn(&mut Vec<ProviderSettings>),
    configure: impl Fn(&mut ferry_server::config::Config),
) -> World {
    let mut attempts = 0;
    loop {
        match try_world(user.clone(), &adjust, &configure).await {
            Ok(world) => return world,
            Err(why) if why.contains("Address already in use") && attempts < 5 => attempts += 1,
            Err(why) => panic!("server starts: {why}"),
        }
    }
}

async fn try_world(
    user: FakeUser,
    adjust: &impl Fn(&mut Vec<ProviderSettings>),
    configure: &impl Fn(&mut ferry_server::config::Config),
) -> Result<World, String> {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let github = FakeProvider::start(Kind::Github, &format!("{public}/auth/github/callback"), user.clone()).await;
    let gitlab = FakeProvider::start(Kind::Gitlab, &format!("{public}/auth/gitlab/callback"), user.clone()).await;
    let oidc = FakeProvider::start(Kind::Oidc, &format!("{public}/auth/sso/callback"), user).await;
    let mut providers = vec![
        provider("github", ProviderKind::Github, &github),
        provider("gitlab", ProviderKind::Gitlab, &gitlab),
        provider("sso", ProviderKind::Oidc, &oidc),
    ];
    adjust(&mut providers);
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ferry_server::config::Config {
        bind: format!("127.0.0.1:{port}").parse().unwrap(),
        public_url: Some(public),
        sign_in: providers,
        ..test_config(tmp.path())
    };
    configure(&mut config);
    config.check().unwrap();
    Ok(World { app: try_spawn_with(config).await?, github, gitlab, oidc, _tmp: tmp })
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").expect("a redirect").to_str().unwrap().to_string()
}

fn cookie_of(response: &reqwest::Response) -> Option<String> {
    set_cookie(response).map(|c| c.split(';').next().unwrap().to_string())
}

/// A browser that started signing in: its cookie, and the provider's answer (the
/// callback URL with code and state), not yet delivered.
struct Started {
    cookie: String,
    callback: String,
}

async fn start(app: &TestApp, id: &str) -> Started {
    let client = no_redirects();
    let begun = client.get(format!("{}/auth/{id}/start", app.base)).send().await.unwrap();
    assert_eq!(begun.status().as_u16(), 303);
    let cookie = cookie_of(&begun).expect("the flow is kept in a session");
    let answer = client.get(location(&begun)).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 303, "{}", answer.text().await.unwrap());
    Started { cookie, callback: location(&answer) }
}

/// Delivers a callback URL with a cookie: (status, new cookie, body).
async fn deliver(url: &str, cookie: &str) -> (u16, Option<String>, Value) {
    let response = no_redirects().get(url).header("cookie", cookie).send().await.unwrap();
    let status = response.status().as_u16();
    let cookie = cookie_of(&response);
    (status, cookie, response.json().await.unwrap_or(Value::Null))
}

async fn me(app: &TestApp, cookie: &str) -> Value {
    let response =
        reqwest::Client::new().get(format!("{}/auth/me", app.base)).header("cookie", cookie).send().await.unwrap();
    response.json().await.unwrap()
}

#[tokio::test]
async fn github_gitlab_and_oidc_sign_people_in_with_their_roles() {
    let w = world(octocat(&["acme", "acme-ops", "acme/release-managers"]), |p| {
        p[0].allowed_organizations = vec!["acme".into()];
        p[0].role_map.insert("acme-ops".into(), ferry_app::model::Role::Viewer);
        p[0].role_map.insert("acme/release-managers".into(), ferry_app::model::Role::Deployer);
        p[1].role_map.insert("acme-ops".into(), ferry_app::model::Role::Maintainer);
        p[2].role_map.insert("acme-ops".into(), ferry_app::model::Role::Viewer);
    })
    .await;
    let anonymous = me(&w.app, "x=y").await;
    let ids: Vec<&str> = anonymous["providers"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["github", "gitlab", "sso"]);
    assert_eq!(anonymous["local_mode"], false);

    let mut subjects = Vec::new();
    for (id, provider, role) in
        [("github", "github", "deployer"), ("gitlab", "gitlab", "maintainer"), ("sso", "oidc:sso", "viewer")]
    {
        let started = start(&w.app, id).await;
        let (status, cookie, body) = deliver(&started.callback, &started.cookie).await;
        assert_eq!(status, 303, "{id}: {body}");
        let cookie = cookie.expect("a session cookie");
        assert_ne!(cookie, started.cookie, "{id}: the session id changes at sign-in");
        let me = me(&w.app, &cookie).await;
        assert_eq!(me["user"]["login"], "octocat", "{id}");
        assert_eq!(me["user"]["provider"], provider);
        assert_eq!(me["user"]["role"], role, "{id}: from the provider's groups");
        subjects.push(me["user"]["id"].as_i64().unwrap());
    }
    assert_eq!(subjects.iter().collect::<std::collections::HashSet<_>>().len(), 3, "one user per provider");

    // A renamed GitHub account is the same Ferry user: identity is the stable id.
    w.github.state.lock().unwrap().user.login = "octocat-renamed".into();
    let started = start(&w.app, "github").await;
    let (_, cookie, _) = deliver(&started.callback, &started.cookie).await;
    let me = me(&w.app, &cookie.unwrap()).await;
    assert_eq!((me["user"]["id"].as_i64(), me["user"]["login"].as_str()), (Some(subjects[0]), Some("octocat-renamed")));

    for fake in [&w.github, &w.gitlab, &w.oidc] {
        assert!(fake.problems().is_empty(), "{:?}", fake.problems());
    }
    assert!(w.github.calls().contains(&"/user/orgs".to_string()));
    assert!(w.github.calls().contains(&"/user/teams".to_string()), "teams map to roles too");
    let (_, log) = w.app.get("/api/v1/audit?action=sign_in").await;
    let methods: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["detail"]["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["github", "sso", "gitlab", "github"]);
}

#[tokio::test]
async fn forged_replayed_and_misdelivered_answers_are_refused() {
    let w = world(octocat(&[]), |_| {}).await;
    let app = &w.app;
    let refused = |(status, _, body): (u16, Option<String>, Value), what: &str| {
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"], "bad_request", "{what}");
        assert!(body["message"].as_str().unwrap().starts_with("sign-in refused"), "{what}: {body}");
    };

    // Missing state.
    let a = start(app, "github").await;
    let without_state = a.callback.split("&state=").next().unwrap().to_string();
    refused(deliver(&without_state, &a.cookie).await, "missing state");
    // The flow was used up by that attempt, even though it failed.
    refused(deliver(&a.callback, &a.cookie).await, "a flow is answered once");

    // A foreign state: the answer to another browser's sign-in.
    let victim = start(app, "github").await;
    let attacker = start(app, "github").await;
    refused(deliver(&attacker.callback, &victim.cookie).await, "foreign state");
    assert_eq!(me(app, &victim.cookie).await["user"], Value::Null);

    // Reuse after success, then a replayed code with a fresh flow's state.
    let honest = start(app, "github").await;
    let (status, cookie, _) = deliver(&honest.callback, &honest.cookie).await;
    assert_eq!(status, 303);
    refused(deliver(&honest.callback, &cookie.unwrap()).await, "reused answer");
    let fresh = start(app, "github").await;
    let old_code = honest.callback.split("code=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let fresh_state = fresh.callback.split("state=").nth(1).unwrap().to_string();
    let replay = format!("{}/auth/github/callback?code={old_code}&state={fresh_state}", app.base);
    refused(deliver(&replay, &fresh.cookie).await, "replayed code");

    // Mix-up: GitHub's answer delivered to the GitLab callback.
    let mixed = start(app, "github").await;
    let query = mixed.callback.split_once('?').unwrap().1;
    let (status, _, body) = deliver(&format!("{}/auth/gitlab/callback?{query}", app.base), &mixed.cookie).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("different provider"), "{body}");
    assert_eq!(w.gitlab.calls().iter().filter(|c| *c == "token").count(), 0, "GitLab never saw GitHub's code");

    // An ID token minted for another sign-in (nonce).
    w.oidc.state.lock().unwrap().wrong_nonce = true;
    let sso = start(app, "sso").await;
    let (status, _, body) = deliver(&sso.callback, &sso.cookie).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("nonce"), "{body}");

    let (_, log) = app.get("/api/v1/audit?action=sign_in.failed").await;
    assert!(log.as_array().unwrap().len() >= 6, "every refusal is in the audit log: {log}");
    for fake in [&w.github, &w.gitlab, &w.oidc] {
        assert!(fake.problems().is_empty(), "{:?}", fake.problems());
    }
}

#[tokio::test]
async fn outsiders_of_the_allowed_organisation_are_turned_away() {
    let w = world(octocat(&["someone-else"]), |p| p[0].allowed_organizations = vec!["acme".into()]).await;
    let started = start(&w.app, "github").await;
    let (status, _, body) = deliver(&started.callback, &started.cookie).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "forbidden");
    assert_eq!(me(&w.app, &started.cookie).await["user"], Value::Null);
    let (_, users) = w.app.get("/api/v1/users").await;
    assert_eq!(users.as_array().unwrap().len(), 1, "only the local admin: no account for the outsider");
}

/// POSTs `body` to `path` as the browser with `cookie` (from Ferry's own origin).
async fn post_as(app: &TestApp, cookie: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .header("origin", &app.base)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_github_sign_in_with_imports_lists_and_imports_without_a_pasted_token() {
    // The stand-in GitHub API accepts the token the stand-in sign-in hands out first.
    let forge = FakeForge::github("token-1", &["octo-org/shop"]).await;
    let (base, api) = (forge.base.clone(), forge.base.clone());
    let w = world_with(
        octocat(&[]),
        move |p| {
            p[0].imports = true;
            // One GitHub: its API answers the sign-in and the import alike.
            p[0].api_url = Some(api.clone());
            p[0].new_user_role = Some(ferry_app::model::Role::Admin);
            p[1].new_user_role = Some(ferry_app::model::Role::Admin);
        },
        move |c| c.github_api_url = base.clone(),
    )
    .await;
    let shop = serve(
        &w.app.data_dir,
        "shop",
        |src| make_hello_repo(src, [free_port(); 3]),
        &basic("x-access-token", "token-1"),
    )
    .await;
    forge.serve_repo("octo-org/shop", &shop.server.url);

    let started = start(&w.app, "github").await;
    let scopes = w.github.state.lock().unwrap().scopes.clone();
    assert!(scopes.contains(&"repo".into()) && scopes.contains(&"admin:repo_hook".into()), "{scopes:?}");
    let (_, cookie, _) = deliver(&started.callback, &started.cookie).await;
    let cookie = cookie.unwrap();
    assert_eq!(me(&w.app, &cookie).await["forge_sign_in"], "github");

    let (status, listed) =
        post_as(&w.app, &cookie, "/api/v1/imports/repositories", json!({"forge": "github", "search": "shop"})).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed[0]["path"], "octo-org/shop");
    let import =
        json!({"slug": "shop", "name": "Shop", "source": {"kind": "github", "repo": "octo-org/shop"}, "dry_run": true});
    let (status, preview) = post_as(&w.app, &cookie, "/api/v1/imports", import.clone()).await;
    assert_eq!(status, 200, "cloned with the sign-in's token: {preview}");
    assert_eq!(preview["preview"]["pipeline"]["environments"], json!(["development", "staging", "production"]));
    assert!(forge.problems().is_empty(), "{:?}", forge.problems());
    assert!(forge.calls().iter().any(|c| c.path == "/user"), "the sign-in asked this GitHub who it is");
    let session_row: Vec<String> = {
        let db = sqlx::SqlitePool::connect(&format!("sqlite://{}/ferry.db", w.app.data_dir.display())).await.unwrap();
        sqlx::query_scalar("SELECT CAST(data AS TEXT) FROM sessions").fetch_all(&db).await.unwrap()
    };
    assert!(!session_row.iter().any(|d| d.contains("token-1")), "the session keeps the token sealed");

    // Without such a sign-in (GitLab's has imports off; an API token has no session),
    // a token must be pasted.
    let started = start(&w.app, "gitlab").await;
    let (_, gitlab_cookie, _) = deliver(&started.callback, &started.cookie).await;
    let gitlab_cookie = gitlab_cookie.unwrap();
    assert!(me(&w.app, &gitlab_cookie).await["forge_sign_in"].is_null());
    for forge in ["github", "gitlab"] {
        let (status, body) =
            post_as(&w.app, &gitlab_cookie, "/api/v1/imports/repositories", json!({"forge": forge})).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains("paste one, or sign in with"), "{body}");
    }
    let (status, body) = w.app.post("/api/v1/imports", import).await;
    assert_eq!(status, 400, "an API token never uses a browser's sign-in: {body}");
}

#[tokio::test]
async fn a_sign_in_token_of_another_github_is_never_sent_to_the_one_ferry_imports_from() {
    // The sign-in's GitHub (the stand-in provider) is not the one imports go to.
    let forge = FakeForge::github("token-1", &["octo-org/shop"]).await;
    let base = forge.base.clone();
    let w = world_with(
        octocat(&[]),
        |p| {
            p[0].imports = true;
            p[0].new_user_role = Some(ferry_app::model::Role::Admin);
        },
        move |c| c.github_api_url = base.clone(),
    )
    .await;
    let started = start(&w.app, "github").await;
    let (_, cookie, _) = deliver(&started.callback, &started.cookie).await;
    let cookie = cookie.unwrap();
    assert!(me(&w.app, &cookie).await["forge_sign_in"].is_null(), "not offered where it is no good");
    let (status, body) = post_as(&w.app, &cookie, "/api/v1/imports/repositories", json!({"forge": "github"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(forge.calls().is_empty(), "the token went nowhere: {:?}", forge.calls());
}

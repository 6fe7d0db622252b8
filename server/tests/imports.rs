//! Importing a project from where its code lives, against the local GitHub and GitLab
//! stand-ins (which check each request) and real git repositories served over HTTP:
//! the repository is picked from the token's list, cloned with the token into Ferry's
//! own mirror, the project, environments, link and webhook are made in one call, and a
//! push then deploys; a repository without `ferry.yml` gets a starter; bad input and
//! people who may not import are refused, and nothing is left behind.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{admin_token, ferry};
use common::fake_forges::{spawn_with_forges, Call, FakeForge};
use common::git_server::{basic, serve};
use common::hooks::{github_push, send_github, sign};
use common::{assert_error, git, make_hello_repo, TestApp};
use ferry_app::model::Role;
use serde_json::{json, Value};

const GITHUB_TOKEN: &str = "ghp_ImportTestToken0123456789abcdefABCDEF";
const GITLAB_TOKEN: &str = "glpat-ImportTestToken0123";
const TRIGGER: &str = "\ntriggers:\n  - on: push\n    branch: main\n    deploy: development\n";

/// The mirrors Ferry keeps under its data directory.
fn mirrors(app: &TestApp) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(app.data_dir.join("repos")) else { return vec![] };
    entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

#[tokio::test]
async fn a_private_github_repository_picked_from_the_list_is_imported_and_a_push_deploys_it() {
    let github = FakeForge::github(GITHUB_TOKEN, &["octo-org/shop", "octo-org/docs", "someone/else"]).await;
    let (app, _data) = spawn_with_forges(Some(&github), None).await;
    let ports = [common::free_port(), common::free_port(), common::free_port()];
    let fill = |src: &Path| {
        make_hello_repo(src, ports);
        let yml = std::fs::read_to_string(src.join("ferry.yml")).unwrap() + TRIGGER;
        std::fs::write(src.join("ferry.yml"), yml).unwrap();
        git(src, &["commit", "--quiet", "-am", "deploy main on push"]);
    };
    let shop = serve(&app.data_dir, "shop", fill, &basic("x-access-token", GITHUB_TOKEN)).await;
    github.serve_repo("octo-org/shop", &shop.server.url);

    // The list the token reaches, searched by name.
    let wanted = json!({"forge": "github", "token": GITHUB_TOKEN, "search": "SHOP"});
    let (status, listed) = app.post("/api/v1/imports/repositories", wanted).await;
    assert_eq!(status, 200, "{listed}");
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["path"], "octo-org/shop");
    assert_eq!(listed[0]["private"], true);
    assert_eq!(listed[0]["clone_url"], shop.server.url.as_str());
    let (status, body) =
        app.post("/api/v1/imports/repositories", json!({"forge": "github", "token": "ghp_wrong"})).await;
    assert_error(status, &body, 422, "unprocessable");
    assert!(body["message"].as_str().unwrap().contains("GitHub refused"), "{body}");

    // A dry run says what it found and keeps nothing.
    let source = json!({"kind": "github", "repo": "octo-org/shop"});
    let import = json!({"slug": "shop", "name": "Shop", "source": source, "token": GITHUB_TOKEN, "dry_run": true});
    let (status, preview) = app.post("/api/v1/imports", import.clone()).await;
    assert_eq!(status, 200, "{preview}");
    assert!(preview["project"].is_null());
    let found = &preview["preview"]["pipeline"];
    assert_eq!(found["environments"], json!(["development", "staging", "production"]));
    assert_eq!(found["build"], json!(["build: sh build.sh"]));
    assert_eq!(found["triggers"], json!(["push to main → release, deploy to development"]));
    assert_eq!(preview["preview"]["default_branch"], "main");
    assert!(mirrors(&app).is_empty(), "a dry run keeps no clone: {:?}", mirrors(&app));
    let (_, projects) = app.get("/api/v1/projects").await;
    assert_eq!(projects.as_array().unwrap().len(), 0);

    // The import: cloned with the token, the project and its environments made, the
    // webhook created on GitHub and the link kept for statuses.
    let import = json!({"slug": "shop", "name": "Shop", "source": source, "token": GITHUB_TOKEN});
    let (status, imported) = app.post("/api/v1/imports", import).await;
    assert_eq!(status, 201, "{imported}");
    let project = &imported["project"];
    assert_eq!(project["environments"].as_array().unwrap().len(), 3);
    assert_eq!(project["repo_origin"], shop.server.url.as_str());
    let mirror = PathBuf::from(project["repo_url"].as_str().unwrap());
    assert!(mirror.starts_with(app.data_dir.join("repos")), "{mirror:?}");
    assert_eq!(imported["hook_created"], true);
    assert!(imported["hook_secret"].is_null(), "the secret went to GitHub, not to the page");
    assert_eq!(imported["link"]["repo"], "octo-org/shop");
    assert_eq!(imported["link"]["reports_statuses"], true);
    let basic_token = basic("x-access-token", GITHUB_TOKEN);
    assert!(shop.server.seen.lock().unwrap().iter().any(|given| given == &basic_token), "cloned with the token");
    let hooks = github.wait_for(1, |c: &Call| c.method == "POST" && c.path == "/repos/octo-org/shop/hooks").await;
    let hook = &hooks[0].body["config"];
    assert_eq!(hook["url"], format!("{}/hooks/github", app.base));
    let secret = hook["secret"].as_str().unwrap().to_string();
    let mirror_config = std::fs::read_to_string(mirror.join("config")).unwrap();
    assert!(!mirror_config.contains(GITHUB_TOKEN), "the token is in no file of the mirror");
    let (_, audit) = app.get("/api/v1/audit").await;
    assert!(audit.to_string().contains("project.import"), "{audit}");
    assert!(!audit.to_string().contains(GITHUB_TOKEN), "the audit log never holds the token");

    // A push to main: the webhook (signed with the secret GitHub was given) deploys it.
    let before = git(&shop.dev, &["rev-parse", "HEAD"]);
    std::fs::write(shop.dev.join("VERSION"), "2.0.0\n").unwrap();
    git(&shop.dev, &["commit", "--quiet", "-am", "2.0.0"]);
    git(&shop.dev, &["push", "--quiet", "origin", "HEAD"]);
    git(&shop.bare, &["update-server-info"]);
    let sha = git(&shop.dev, &["rev-parse", "HEAD"]);
    let body = serde_json::to_vec(&github_push("octo-org/shop", "refs/heads/main", &before, &sha)).unwrap();
    let (status, answer) = send_github(&app, "push", "0b6a9d2e-0001", &body, &sign(&secret, &body)).await;
    assert_eq!(status, 202, "{answer}");
    let success = format!("/repos/octo-org/shop/statuses/{sha}");
    github.wait_for(1, |c: &Call| c.path == success && c.body["state"] == "success").await;
    assert!(common::page(ports[0]).await.contains("2.0.0"));
    assert_eq!(git(&mirror, &["rev-parse", "main"]), sha, "the mirror follows the forge's branches");
    assert!(github.problems().is_empty(), "{:?}", github.problems());
    common::stop_apps(&app.data_dir);
}

#[tokio::test]
async fn a_repository_without_ferry_yml_gets_a_starter_and_nothing_is_made() {
    let gitlab = FakeForge::gitlab(GITLAB_TOKEN, &["platform/web/storefront", "platform/api"]).await;
    let (app, _data) = spawn_with_forges(None, Some(&gitlab)).await;
    let fill = |src: &Path| {
        std::fs::create_dir_all(src).unwrap();
        std::fs::write(src.join("package.json"), r#"{"name":"storefront","scripts":{"start":"node ."}}"#).unwrap();
        std::fs::write(src.join("index.js"), "require('http').createServer().listen(process.env.PORT)\n").unwrap();
        git(src, &["init", "--quiet"]);
        git(src, &["add", "."]);
        git(src, &["commit", "--quiet", "-m", "storefront"]);
    };
    let store = serve(&app.data_dir, "storefront", fill, &basic("oauth2", GITLAB_TOKEN)).await;
    gitlab.serve_repo("platform/web/storefront", &store.server.url);

    // Listed from GitLab, searched there; then looked at through the CLI.
    let token = admin_token(&app).await;
    let home = tempfile::tempdir().unwrap();
    let env = [("FERRY_URL", app.base.as_str()), ("FERRY_TOKEN", token.as_str()), ("FERRY_FORGE_TOKEN", GITLAB_TOKEN)];
    let repos = ferry(home.path(), &env, &["repos", "--forge", "gitlab", "--search", "store"]).await;
    assert_eq!(repos.code, 0, "{}{}", repos.stdout, repos.stderr);
    assert!(repos.stdout.contains("platform/web/storefront") && !repos.stdout.contains("platform/api"));
    let args = ["import", "--gitlab", "platform/web/storefront", "--slug", "storefront", "--dry-run"];
    let looked = ferry(home.path(), &env, &args).await;
    assert_eq!(looked.code, 0, "{}{}", looked.stdout, looked.stderr);
    assert!(looked.stdout.contains("no ferry.yml; a starter for a Node.js project"), "{}", looked.stdout);
    assert!(looked.stdout.contains("npm ci"), "{}", looked.stdout);

    let source = json!({"kind": "gitlab", "repo": "platform/web/storefront"});
    let import = json!({"slug": "storefront", "name": "Storefront", "source": source, "token": GITLAB_TOKEN});
    let (status, preview) = app.post("/api/v1/imports", json!({"dry_run": true}).merged(&import)).await;
    assert_eq!(status, 200, "{preview}");
    let starter = &preview["preview"]["starter"];
    assert_eq!(starter["detected"], "Node.js");
    assert_eq!(starter["because"], "package.json");
    assert!(starter["explanation"].as_str().unwrap().contains("npm start"), "{starter}");
    let file = starter["file"].as_str().unwrap();
    ferry_engine::pipeline::Pipeline::parse("ferry.yml", file).expect("the starter is a valid pipeline");

    // Importing it anyway is refused, saying where to look, and leaves nothing.
    let (status, body) = app.post("/api/v1/imports", import).await;
    assert_error(status, &body, 422, "unprocessable");
    assert!(body["message"].as_str().unwrap().contains("ferry.yml: not found at `main`"), "{body}");
    assert!(mirrors(&app).is_empty(), "{:?}", mirrors(&app));
    let (_, projects) = app.get("/api/v1/projects").await;
    assert_eq!(projects.as_array().unwrap().len(), 0);
    assert!(!gitlab.calls().iter().any(|c| c.method == "POST"), "no webhook for a project never made");

    // With ferry.yml (the starter, adjusted) it imports; the webhook is created on GitLab.
    let yml = file.replace("\"3001\"", "\"4001\"");
    std::fs::write(store.dev.join("ferry.yml"), yml).unwrap();
    git(&store.dev, &["add", "ferry.yml"]);
    git(&store.dev, &["commit", "--quiet", "-m", "ferry.yml"]);
    git(&store.dev, &["push", "--quiet", "origin", "HEAD"]);
    git(&store.bare, &["update-server-info"]);
    let import = json!({"slug": "storefront", "name": "Storefront", "source": source, "token": GITLAB_TOKEN});
    let (status, imported) = app.post("/api/v1/imports", import).await;
    assert_eq!(status, 201, "{imported}");
    assert_eq!(imported["project"]["environments"][0]["name"], "staging");
    let hooks = gitlab
        .wait_for(1, |c: &Call| c.method == "POST" && c.path == "/projects/platform%2Fweb%2Fstorefront/hooks")
        .await;
    assert_eq!(hooks[0].body["url"], format!("{}/hooks/gitlab", app.base));
    assert!(gitlab.problems().is_empty(), "{:?}", gitlab.problems());
}

#[tokio::test]
async fn a_public_git_url_is_imported_without_a_link_and_refreshed_before_a_release() {
    let (app, _data) = spawn_with_forges(None, None).await;
    let ports = [common::free_port(), common::free_port(), common::free_port()];
    let public = serve(&app.data_dir, "public", |src| make_hello_repo(src, ports), "").await;
    let source = json!({"kind": "git", "url": public.server.url});
    let (status, imported) =
        app.post("/api/v1/imports", json!({"slug": "public", "name": "P", "source": source})).await;
    assert_eq!(status, 201, "{imported}");
    assert!(imported["link"].is_null() && imported["hook_created"] == false);

    // A commit pushed since the import is fetched when a release is cut by hand.
    std::fs::write(public.dev.join("VERSION"), "1.1.0\n").unwrap();
    git(&public.dev, &["commit", "--quiet", "-am", "1.1.0"]);
    git(&public.dev, &["push", "--quiet", "origin", "HEAD"]);
    git(&public.bare, &["update-server-info"]);
    let sha = git(&public.dev, &["rev-parse", "HEAD"]);
    let (status, release) =
        app.post("/api/v1/projects/public/releases", json!({"version": "1.1.0", "git_commit": "main"})).await;
    assert_eq!(status, 201, "{release}");
    assert_eq!(release["git_commit"], sha.as_str());

    // A replica whose disk lacks the mirror (another machine, a restored data
    // directory) clones it again before it builds.
    let mirror = PathBuf::from(imported["project"]["repo_url"].as_str().unwrap());
    std::fs::remove_dir_all(&mirror).unwrap();
    let id = common::deploy(&app, "public", release["id"].as_i64().unwrap(), "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    assert!(common::page(ports[0]).await.contains("1.1.0"));
    assert!(mirror.join("HEAD").exists(), "cloned again where it was");
    common::stop_apps(&app.data_dir);
}

#[tokio::test]
async fn bad_imports_are_refused_with_their_field_and_only_admins_import() {
    let github = FakeForge::github(GITHUB_TOKEN, &["octo-org/shop"]).await;
    let (app, _data) = spawn_with_forges(Some(&github), None).await;
    let ports = [common::free_port(), common::free_port(), common::free_port()];
    let broken = |src: &Path| {
        make_hello_repo(src, ports);
        let yml = std::fs::read_to_string(src.join("ferry.yml")).unwrap().replace("name: staging", "name: Staging");
        std::fs::write(src.join("ferry.yml"), yml).unwrap();
        git(src, &["commit", "--quiet", "-am", "a bad name"]);
    };
    let shop = serve(&app.data_dir, "shop", broken, &basic("x-access-token", GITHUB_TOKEN)).await;
    github.serve_repo("octo-org/shop", &shop.server.url);
    let github_source = json!({"kind": "github", "repo": "octo-org/shop"});

    let cases = [
        (json!({"slug": "a", "name": "A", "source": {"kind": "git", "url": "ext::sh -c touch% /tmp/pwned"}}), 400),
        (json!({"slug": "a", "name": "A", "source": {"kind": "git", "url": "file:///etc"}}), 400),
        (json!({"slug": "a", "name": "A", "source": {"kind": "git", "url": "https://u:p@example.com/a.git"}}), 400),
        (json!({"slug": "a", "name": "A", "source": {"kind": "git", "url": "https://e.com/a.git"}, "token": "x"}), 400),
        (json!({"slug": "a", "name": "A", "source": github_source}), 400),
        (json!({"slug": "a", "name": "A", "source": {"kind": "github", "repo": "../etc"}, "token": "t"}), 400),
        (json!({"slug": "Not A Slug", "name": "A", "source": github_source, "token": GITHUB_TOKEN}), 400),
        (json!({"slug": "a", "name": "A", "source": {"kind": "svn", "url": "x"}}), 400),
        (json!({"slug": "a", "name": "A", "source": github_source, "token": "ghp_wrong"}), 422),
    ];
    for (body, expected) in cases {
        let (status, answer) = app.post("/api/v1/imports", body.clone()).await;
        assert_eq!(status, expected, "{body} → {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }

    // An invalid ferry.yml: the dry run shows where; the import refuses it.
    let import = json!({"slug": "shop", "name": "Shop", "source": github_source, "token": GITHUB_TOKEN});
    let (status, preview) = app.post("/api/v1/imports", json!({"dry_run": true}).merged(&import)).await;
    assert_eq!(status, 200, "{preview}");
    let problem = preview["preview"]["problem"].as_str().unwrap();
    assert!(problem.starts_with("ferry.yml:") && problem.contains("`Staging` is not a valid name"), "{problem}");
    let (status, body) = app.post("/api/v1/imports", import.clone()).await;
    assert_error(status, &body, 422, "unprocessable");

    // People other than admins may not import, nor list a token's repositories.
    let maintainer = app.client_as("mia", Role::Maintainer).await;
    let list = json!({"forge": "github", "token": GITHUB_TOKEN});
    for (path, body) in [("/api/v1/imports", import.clone()), ("/api/v1/imports/repositories", list)] {
        let response = maintainer.post(format!("{}{path}", app.base)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    // A slug that is taken.
    let hello = app.data_dir.join("src-hello");
    make_hello_repo(&hello, ports);
    let local = json!({"slug": "shop", "name": "x", "repo_url": hello.display().to_string()});
    let (status, body) = app.post("/api/v1/projects", local).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.post("/api/v1/imports", import).await;
    assert_error(status, &body, 409, "conflict");
    assert!(mirrors(&app).is_empty(), "{:?}", mirrors(&app));
    assert!(!Path::new("/tmp/pwned").exists());
}

/// `a.merged(b)`: b's fields with a's on top.
trait Merged {
    fn merged(self, base: &Value) -> Value;
}

impl Merged for Value {
    fn merged(self, base: &Value) -> Value {
        let mut out = base.clone();
        for (key, value) in self.as_object().unwrap() {
            out[key] = value.clone();
        }
        out
    }
}

/// Gives a directory to a user (the git host's, to serve it; root's, to push to it).
fn give(path: &Path, user: &str) {
    let given = std::process::Command::new("chown").args(["-R", user, path.to_str().unwrap()]).status();
    assert!(given.unwrap().success());
}

#[tokio::test]
async fn a_repository_over_ssh_is_imported_with_a_deploy_key_and_its_host_key_pinned() {
    let app = common::spawn_app().await;
    let (status, key) = app.post("/api/v1/imports/deploy-keys", json!({})).await;
    assert_eq!(status, 201, "{key}");
    let public = key["public_key"].as_str().unwrap();
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    let (_, audit) = app.get("/api/v1/audit").await;
    assert!(audit.to_string().contains("deploy_key.create"), "{audit}");
    assert!(!audit.to_string().contains("PRIVATE KEY"), "the private half is never shown");

    // A git host: a real OpenSSH server that lets the deploy key in, serving a bare
    // repository as its user.
    let hosts = common::sshd::TestHosts::start(1, public);
    let host = &hosts.hosts[0];
    let src = app.data_dir.join("src-ssh");
    make_hello_repo(&src, [common::free_port(), common::free_port(), common::free_port()]);
    git(&src, &["branch", "-M", "main"]);
    let bare = host.deploy_dir.join("app.git");
    git(&app.data_dir, &["clone", "--quiet", "--bare", src.to_str().unwrap(), bare.to_str().unwrap()]);
    give(&bare, &host.user);
    let url = format!("ssh://{}@{}:{}{}", host.user, host.address, host.port, bare.display());

    // An SSH URL needs a deploy key Ferry made, unused; an https one takes none.
    let import = |key: Value, dry_run: bool| {
        json!({"slug": "ssh-app", "name": "SSH app", "source": {"kind": "git", "url": url}, "deploy_key": key,
            "dry_run": dry_run})
    };
    let (status, body) = app.post("/api/v1/imports", import(Value::Null, true)).await;
    assert_error(status, &body, 400, "bad_request");
    assert!(body["message"].as_str().unwrap().starts_with("deploy_key: an SSH URL"), "{body}");
    let (status, body) = app.post("/api/v1/imports", import(json!(999), true)).await;
    assert_error(status, &body, 400, "bad_request");
    let https = json!({"slug": "x", "name": "x", "source": {"kind": "git", "url": "https://git.example.com/a/b.git"},
        "deploy_key": key["id"]});
    let (status, body) = app.post("/api/v1/imports", https).await;
    assert_error(status, &body, 400, "bad_request");
    let refused = ["ssh://-oProxyCommand=x@host/a.git", "git@-oProxyCommand=x:a.git", "ssh://git@host"];
    for bad in refused.into_iter().chain(["ssh://git@[zz]/a.git", "ssh://git@host:99999/a.git", "ssh://git@h:-p/a.git"])
    {
        let source = json!({"kind": "git", "url": bad});
        let (status, body) = app.post("/api/v1/imports", json!({"slug": "x", "name": "x", "source": source})).await;
        assert_error(status, &body, 400, "bad_request");
        assert!(body["message"].as_str().unwrap().starts_with("source.url"), "{bad}: {body}");
    }

    // A dry run, then the import: cloned over SSH with the key, the host key pinned.
    let (status, preview) = app.post("/api/v1/imports", import(key["id"].clone(), true)).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["preview"]["pipeline"]["environments"], json!(["development", "staging", "production"]));
    assert!(mirrors(&app).is_empty(), "a dry run keeps nothing, the key's copy included: {:?}", mirrors(&app));
    let (status, imported) = app.post("/api/v1/imports", import(key["id"].clone(), false)).await;
    assert_eq!(status, 201, "{imported}");
    let mirror = PathBuf::from(imported["project"]["repo_url"].as_str().unwrap());
    let ssh_command = git(&mirror, &["config", "core.sshCommand"]);
    assert!(ssh_command.contains("StrictHostKeyChecking=yes"), "later fetches require the pinned key: {ssh_command}");
    let pinned = std::fs::read_to_string(format!("{}.ssh/known_hosts", mirror.display())).unwrap();
    let host_key = host.host_key.split_whitespace().nth(1).unwrap();
    assert!(pinned.contains(host_key), "the host's own key is pinned: {pinned}");
    let (status, body) = app.post("/api/v1/imports", import(key["id"].clone(), true)).await;
    assert_error(status, &body, 400, "bad_request");
    assert!(body["message"].as_str().unwrap().contains("no unused deploy key"), "one key, one project: {body}");

    // A commit pushed later is fetched over SSH when a release of `main` is cut.
    std::fs::write(src.join("VERSION"), "1.5.0\n").unwrap();
    git(&src, &["commit", "--quiet", "-am", "1.5.0"]);
    give(&bare, "root");
    git(&src, &["push", "--quiet", bare.to_str().unwrap(), "main"]);
    give(&bare, &host.user);
    let (status, release) =
        app.post("/api/v1/projects/ssh-app/releases", json!({"version": "1.5.0", "git_commit": "main"})).await;
    assert_eq!(status, 201, "{release}");
    assert_eq!(release["git_commit"], git(&src, &["rev-parse", "HEAD"]));

    // A replica without the mirror clones it again with the key, requiring the pinned
    // host key, and builds.
    std::fs::remove_dir_all(&mirror).unwrap();
    std::fs::remove_dir_all(format!("{}.ssh", mirror.display())).unwrap();
    let id = common::deploy(&app, "ssh-app", release["id"].as_i64().unwrap(), "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    assert!(mirror.exists());
    common::stop_apps(&app.data_dir);
}

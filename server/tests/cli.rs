//! The `ferry` command line against a real server: deploy a commit and wait (exit 0),
//! a failing one (exit 1), status, releases, logs, login saved for later commands,
//! a refused token and a usage error, each with a readable message.

mod common;

use common::cli::{admin_token, ferry};
use common::spawn_app;

#[tokio::test]
async fn deploy_wait_succeeds_and_a_failing_deployment_exits_non_zero() {
    let app = spawn_app().await;
    app.hello_project("cli").await;
    let token = admin_token(&app).await;
    let home = tempfile::tempdir().unwrap();
    let env = [("FERRY_URL", app.base.as_str()), ("FERRY_TOKEN", token.as_str())];

    let ok = ferry(
        home.path(),
        &env,
        &["deploy", "--project", "cli", "--env", "development", "--ref", "HEAD", "--version", "2.0", "--wait"],
    )
    .await;
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("cli 2.0 → development (queued)"), "{}", ok.stdout);
    assert!(ok.stdout.contains("succeeded build") && ok.stdout.contains("[build] building"), "{}", ok.stdout);
    assert!(ok.stdout.trim_end().ends_with("succeeded"), "{}", ok.stdout);

    let repo = app.data_dir.join("src-cli");
    let yml = std::fs::read_to_string(repo.join("ferry.yml"))
        .unwrap()
        .replace("run: sh build.sh", "run: \"echo no compiler; exit 4\"");
    std::fs::write(repo.join("ferry.yml"), yml).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "broken"]);
    let failed = ferry(
        home.path(),
        &env,
        &["deploy", "--project", "cli", "--env", "development", "--ref", "HEAD", "--version", "3.0", "--wait"],
    )
    .await;
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(failed.stdout.contains("[build] no compiler") && failed.stdout.contains("failed: "), "{}", failed.stdout);

    let status = ferry(home.path(), &env, &["status", "--project", "cli"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.contains("development    2.0  (latest: #"), "{}", status.stdout);
    let releases = ferry(home.path(), &env, &["releases", "--project", "cli"]).await;
    assert!(releases.stdout.starts_with("3.0 ") && releases.stdout.contains("\n2.0 "), "{}", releases.stdout);
    let id = ok.stdout.split('#').nth(1).unwrap().split(':').next().unwrap();
    let logs = ferry(home.path(), &env, &["logs", id]).await;
    assert!(logs.stdout.contains("[build] building"), "{}", logs.stdout);

    // Promote and roll back by version; an unknown release is named.
    let missing =
        ferry(home.path(), &env, &["promote", "--project", "cli", "--release", "9.9", "--to", "staging"]).await;
    assert_eq!((missing.code, missing.stderr.trim()), (1, "ferry: project `cli` has no release `9.9`"));
    let promoted =
        ferry(home.path(), &env, &["promote", "--project", "cli", "--release", "2.0", "--to", "staging", "--wait"])
            .await;
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
}

#[tokio::test]
async fn login_is_saved_for_later_commands_and_bad_input_reads_clearly() {
    let app = spawn_app().await;
    app.hello_project("saved").await;
    let token = admin_token(&app).await;
    let home = tempfile::tempdir().unwrap();

    let refused = ferry(home.path(), &[], &["login", "--url", &app.base, "--token", "ferry_not-a-token"]).await;
    assert_eq!(refused.code, 1);
    assert_eq!(refused.stderr.trim(), "ferry: the server did not accept the token");
    let nobody = ferry(home.path(), &[], &["status"]).await;
    assert_eq!((nobody.code, nobody.stderr.contains("not logged in")), (1, true), "{}", nobody.stderr);

    let login = ferry(home.path(), &[], &["login", "--url", &app.base, "--token", &token]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(login.stdout.starts_with("Logged in as admin"), "{}", login.stdout);
    let saved = home.path().join(".config/ferry/cli.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o600);
    let status = ferry(home.path(), &[], &["status"]).await;
    assert!(status.code == 0 && status.stdout.starts_with("saved\n"), "{}{}", status.stdout, status.stderr);

    let usage = ferry(home.path(), &[], &["deploy", "--project", "saved"]).await;
    assert_eq!(usage.code, 2);
    assert!(usage.stderr.contains("--env <ENVIRONMENT>"), "{}", usage.stderr);
    let unknown =
        ferry(home.path(), &[], &["deploy", "--project", "saved", "--env", "nowhere", "--release", "1.0.0"]).await;
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("nowhere") && unknown.stderr.contains("(404"), "{}", unknown.stderr);
    let completions = ferry(home.path(), &[], &["completions", "bash"]).await;
    assert!(completions.code == 0 && completions.stdout.contains("_ferry()"), "{}", completions.stderr);
}

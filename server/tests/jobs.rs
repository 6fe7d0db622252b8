//! The durable job queue: what a change asks for is enqueued with the change itself,
//! so a process that dies right after committing loses nothing.

mod common;

use std::time::Duration;

use ferry_app::model::{DeploymentKind, DeploymentState};
use ferry_server::store::{NewDeployment, NewProject, NewRelease, Store};
use serde_json::Value;

#[tokio::test]
async fn a_deployment_end_committed_just_before_a_crash_is_still_notified_once() {
    let tmp = tempfile::tempdir().unwrap();
    // The state a process leaves when it dies right after committing a deployment's end:
    // the change is in the database, nothing that follows from it has happened.
    let url = format!("sqlite://{}?mode=rwc", tmp.path().join("ferry.db").display());
    let store = Store::connect(&url).await.unwrap();
    let project = NewProject {
        repo_origin: None,
        slug: "crashy".into(),
        name: "crashy".into(),
        repo_url: "/nowhere".into(),
        environments: vec!["development".into()],
    };
    let project = store.create_project(&project).await.unwrap();
    let release = NewRelease {
        project_id: project.id,
        version: "1.0.0".into(),
        git_commit: "0".repeat(40),
        source: "test".into(),
        pipeline: String::new(),
        committed_at: None,
        git_ref: None,
    };
    let release = store.create_release(&release).await.unwrap();
    let ids = (project.id, project.environments[0].id, release.id);
    let queued = NewDeployment::queued(ids, DeploymentKind::Deploy, &[], "admin");
    let deployment = store.create_deployment(&queued).await.unwrap();
    store.transition_deployment(deployment.id, DeploymentState::Queued, DeploymentState::Running, None).await.unwrap();
    let ended = store
        .transition_enqueuing(
            deployment.id,
            (DeploymentState::Running, DeploymentState::Failed),
            Some("step deploy: exited with code 1"),
            ferry_server::jobs::DEPLOYMENT_FINISHED,
        )
        .await
        .unwrap();
    assert!(ended.is_some());
    // And one that awaits approval, created just before the crash.
    let awaiting = NewDeployment { state: DeploymentState::AwaitingApproval, ..queued };
    store.create_deployment(&awaiting).await.unwrap();
    drop(store);

    // The next start finds the job and does it, once.
    let app = common::spawn_with(common::test_config(tmp.path())).await;
    let title = "✗ crashy 1.0.0 failed in development";
    let approval = "⏸ crashy 1.0.0 to development needs approval (asked by admin)";
    common::wait_until("the failure's and the approval's notifications", Duration::from_secs(10), || async {
        let (_, listed) = app.get("/api/v1/notifications").await;
        let titles: Vec<&Value> = listed["items"].as_array()?.iter().map(|n| &n["title"]).collect();
        (titles.contains(&&Value::from(title)) && titles.contains(&&Value::from(approval))).then_some(())
    })
    .await;
    common::wait_until("the job to be done", Duration::from_secs(10), || async {
        let pending = app.running.state.store.pending_jobs().await.unwrap();
        // Tomorrow's retention sweep waits for its day.
        pending.iter().all(|(kind, ..)| kind == ferry_server::jobs::RETENTION_SWEEP).then_some(())
    })
    .await;
    let (_, listed) = app.get("/api/v1/notifications").await;
    let count = listed["items"].as_array().unwrap().iter().filter(|n| n["title"] == title).count();
    assert_eq!(count, 1, "{listed}");
}

//! The store contract: one suite, run on SQLite and on PostgreSQL.

mod common;

use ferry_app::model::{
    ChannelKind, DeliveryState, DeploymentKind, DeploymentState, EventPayload, ForgeKind, FreezeWindow, HistoryFilter,
    LogStream, NotificationKind, NotifyEvent, ProjectView, Role, StepState, TargetKind, TargetState, TokenScope,
};
use ferry_server::store::{
    is_unique_violation, now_millis, AgentIdentity, AuditFilter, Identity, JobOrder, LiveDeployments, NewAudit,
    NewDelivery, NewDeployment, NewLogLine, NewProject, NewRelease, NewToken, OpenPreview, StepChange, Store, Stored,
    TargetEnd, TargetPlan,
};

async fn contract(store: Store) {
    // Projects and environments keep their lifecycle order.
    let project = store
        .create_project(&NewProject {
            repo_origin: None,
            slug: "api".into(),
            name: "API".into(),
            repo_url: "/srv/api".into(),
            environments: vec!["dev".into(), "staging".into(), "prod".into()],
        })
        .await
        .unwrap();
    let names: Vec<_> = project.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    assert_eq!(store.project_by_slug("api").await.unwrap().unwrap().id, project.id);
    assert!(store.project_by_slug("nope").await.unwrap().is_none());
    let again = store
        .create_project(&NewProject {
            repo_origin: None,
            slug: "api".into(),
            name: "x".into(),
            repo_url: "/x".into(),
            environments: vec![],
        })
        .await
        .unwrap_err();
    assert!(is_unique_violation(&again), "{again}");

    // Releases are unique per version, listed newest first; an artifact is recorded once.
    let release = |v: &str| NewRelease {
        project_id: project.id,
        version: v.into(),
        git_commit: format!("{v}-commit"),
        source: "test".into(),
        pipeline: "environments: [{name: dev}]".into(),
        committed_at: Some(1_700_000_000_000),
        git_ref: Some("main".into()),
    };
    let r1 = store.create_release(&release("1.0")).await.unwrap();
    let r2 = store.create_release(&release("1.1")).await.unwrap();
    assert!(is_unique_violation(&store.create_release(&release("1.0")).await.unwrap_err()));
    let versions: Vec<_> = store.releases(project.id).await.unwrap().into_iter().map(|r| r.version).collect();
    assert_eq!(versions, ["1.1", "1.0"]);
    store.set_release_artifact(r1.id, "aa11").await.unwrap();
    store.set_release_artifact(r1.id, "bb22").await.unwrap();
    let stored = store.release(r1.id).await.unwrap().unwrap();
    assert_eq!(stored.artifact_sha256.as_deref(), Some("aa11"), "the first build's artifact stays");
    assert_eq!(
        (stored.pipeline.as_str(), stored.committed_at, stored.git_ref.as_deref()),
        ("environments: [{name: dev}]", Some(1_700_000_000_000), Some("main"))
    );

    // Deployments move only along legal transitions.
    let dev = project.environments[0].id;
    let steps = vec!["fetch".to_string(), "build".to_string()];
    let d1 = store
        .create_deployment(&NewDeployment::queued((project.id, dev, r1.id), DeploymentKind::Deploy, &steps, "alex"))
        .await
        .unwrap();
    assert_eq!(
        (d1.state, d1.release_version.as_str(), d1.environment.as_str()),
        (DeploymentState::Queued, "1.0", "dev")
    );
    assert!(store
        .transition_deployment(d1.id, DeploymentState::Queued, DeploymentState::Succeeded, None)
        .await
        .unwrap()
        .is_none());
    let running = store
        .transition_deployment(d1.id, DeploymentState::Queued, DeploymentState::Running, None)
        .await
        .unwrap()
        .unwrap();
    assert!(running.started_at.is_some());
    assert!(
        store
            .transition_deployment(d1.id, DeploymentState::Queued, DeploymentState::Running, None)
            .await
            .unwrap()
            .is_none(),
        "lost race"
    );

    // Steps.
    let change = |position, from, to, exit_code| StepChange { deployment_id: d1.id, position, from, to, exit_code };
    let started = store.change_step(&change(0, StepState::Queued, StepState::Running, None)).await.unwrap().unwrap();
    assert!(started.started_at.is_some() && started.finished_at.is_none());
    let done = store.change_step(&change(0, StepState::Running, StepState::Succeeded, Some(0))).await.unwrap().unwrap();
    assert_eq!((done.state, done.exit_code), (StepState::Succeeded, Some(0)));
    assert!(store.change_step(&change(0, StepState::Running, StepState::Failed, None)).await.unwrap().is_none());

    // Logs page by sequence number.
    let lines = (1..=5)
        .map(|seq| NewLogLine {
            deployment_id: d1.id,
            seq,
            step: 1,
            stream: LogStream::Stdout,
            text: format!("line {seq}"),
        })
        .collect();
    assert_eq!(store.append_logs(lines).await.unwrap().len(), 5);
    let page = store.logs(d1.id, 2, 2).await.unwrap();
    assert_eq!(page.iter().map(|l| l.seq).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(page[0].text, "line 3");

    // Closing open steps: queued ones are skipped.
    let closed = store.close_open_steps(d1.id).await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].state, StepState::Skipped);
    let finished = store
        .transition_deployment(d1.id, DeploymentState::Running, DeploymentState::Failed, Some("boom"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((finished.state, finished.reason.as_deref()), (DeploymentState::Failed, Some("boom")));
    assert!(finished.finished_at.is_some());

    // Latest per environment, history, counts.
    let d2 = store
        .create_deployment(&NewDeployment::queued((project.id, dev, r2.id), DeploymentKind::Rollback, &steps, "ferry"))
        .await
        .unwrap();
    assert_eq!(store.latest_in_environment(dev, false).await.unwrap().unwrap().id, d2.id);
    assert_eq!((d1.kind, d2.kind), (DeploymentKind::Deploy, DeploymentKind::Rollback));
    assert!(store.previous_success(dev, r2.id).await.unwrap().is_none(), "nothing succeeded yet");
    assert!(store.latest_in_environment(dev, true).await.unwrap().is_none());
    let project_filter = HistoryFilter { project: Some("api".into()), ..Default::default() };
    assert_eq!(ids(&store, project_filter.clone()).await, [d2.id, d1.id]);
    assert!(ids(&store, HistoryFilter { project: Some("other".into()), ..Default::default() }).await.is_empty());
    assert_eq!(ids(&store, HistoryFilter { limit: Some(1), ..Default::default() }).await, [d2.id]);
    assert_eq!(ids(&store, HistoryFilter { before: Some(d2.id), ..Default::default() }).await, [d1.id], "next page");
    assert_eq!(
        ids(&store, HistoryFilter { state: Some(DeploymentState::Failed), ..Default::default() }).await,
        [d1.id]
    );
    assert_eq!(ids(&store, HistoryFilter { environment: Some("dev".into()), ..project_filter }).await, [d2.id, d1.id]);
    assert!(ids(&store, HistoryFilter { environment: Some("prod".into()), ..Default::default() }).await.is_empty());
    let by = |who: &str| HistoryFilter { requested_by: Some(who.into()), ..Default::default() };
    assert_eq!(ids(&store, by("alex")).await, [d1.id], "the person who asked");
    assert_eq!(ids(&store, by("ferry")).await, [d2.id]);
    let now = chrono::Utc::now();
    assert_eq!(
        ids(&store, HistoryFilter { until: Some(now + chrono::Duration::hours(1)), ..Default::default() }).await.len(),
        2
    );
    assert!(ids(&store, HistoryFilter { since: Some(now + chrono::Duration::hours(1)), ..Default::default() })
        .await
        .is_empty());
    assert_eq!(store.deployments_in_state(DeploymentState::Queued).await.unwrap()[0].id, d2.id);
    let mut counts = store.count_by_state().await.unwrap();
    counts.sort();
    assert_eq!(counts, [("failed".to_string(), 1), ("queued".to_string(), 1)]);

    // Finished deployments for the insights: only d1 has finished; dev is not the last environment.
    let finished = store.finished_since(0, None).await.unwrap();
    assert_eq!(finished.len(), 1);
    assert_eq!(
        (finished[0].state, finished[0].production, finished[0].environment.as_str()),
        (DeploymentState::Failed, false, "dev")
    );
    assert_eq!(finished[0].committed_at, Some(1_700_000_000_000));
    assert!(store.finished_since(0, Some("other")).await.unwrap().is_empty());
    assert!(store.finished_since(chrono::Utc::now().timestamp_millis() + 1000, None).await.unwrap().is_empty());

    // Notifications: newest first, each person's own read marks, filtered by kind.
    let ana = store.create_local_user("ana", "$argon2id$x", Role::Viewer).await.unwrap().id;
    let who = Identity { provider: "gitlab", subject: "77", login: "ben", name: "Ben", email: Some("ben@example.com") };
    let ben = store.upsert_user(&who, Role::Viewer).await.unwrap().id;
    let n1 =
        store.create_notification(NotificationKind::DeploymentFailed, "✗ api 1.0 failed", Some(d1.id)).await.unwrap();
    let n2 = store.create_notification(NotificationKind::RolledBack, "↩ rolled back", None).await.unwrap();
    let all = NotificationKind::ALL;
    let listed = store.notifications_for(ana, &all, 10).await.unwrap();
    assert_eq!(listed.iter().map(|(n, _)| n.id).collect::<Vec<_>>(), [n2.id, n1.id]);
    assert_eq!((listed[1].1, listed[0].1), (Some(project.id), None), "the project each is about");
    assert_eq!(store.unread_for(ana, &all).await.unwrap(), 2);
    assert_eq!(store.mark_read_for(ana, Some(&[n1.id])).await.unwrap(), [n1.id]);
    assert_eq!(store.mark_read_for(ana, Some(&[n1.id])).await.unwrap(), Vec::<i64>::new(), "already read");
    assert_eq!(store.unread_for(ana, &all).await.unwrap(), 1);
    assert_eq!(store.unread_for(ben, &all).await.unwrap(), 2, "ana's marks are hers");
    assert_eq!(store.unread_for(ben, &[NotificationKind::RolledBack]).await.unwrap(), 1);
    assert_eq!(store.mark_read_for(ana, None).await.unwrap(), [n2.id]);
    let listed = store.notifications_for(ana, &all, 10).await.unwrap();
    assert!(listed.iter().all(|(n, _)| n.read));
    assert_eq!((listed[1].0.kind, listed[1].0.deployment_id), (NotificationKind::DeploymentFailed, Some(d1.id)));
    assert!(store.notifications_for(ben, &[], 10).await.unwrap().is_empty());

    // Preferences: unset, saved, replaced; email subscribers need an address.
    assert_eq!(store.notify_preferences(ben).await.unwrap(), None);
    store
        .set_notify_preferences(ben, &[NotifyEvent::Failed], &[NotifyEvent::Failed, NotifyEvent::RolledBack])
        .await
        .unwrap();
    store.set_notify_preferences(ana, &[], &[NotifyEvent::Failed]).await.unwrap();
    store.set_notify_preferences(ben, &[NotifyEvent::Failed], &[NotifyEvent::RolledBack]).await.unwrap();
    let saved = store.notify_preferences(ben).await.unwrap();
    assert_eq!(saved, Some((vec![NotifyEvent::Failed], vec![NotifyEvent::RolledBack])));
    assert_eq!(store.email_subscribers(NotifyEvent::RolledBack).await.unwrap(), [(ben, "ben@example.com".to_string())]);
    assert!(store.email_subscribers(NotifyEvent::Failed).await.unwrap().is_empty(), "ana has no address");

    // Events are numbered in order and replayable.
    assert_eq!(store.head_seq().await.unwrap(), 0);
    let mut appended = store
        .append_events(vec![EventPayload::Deployment(d2.clone()), EventPayload::Step(done.clone())])
        .await
        .unwrap();
    let (e2, e1) = (appended.pop().unwrap(), appended.pop().unwrap());
    assert!(e2.seq > e1.seq);
    assert_eq!(store.head_seq().await.unwrap(), e2.seq);
    let after = store.events_after(e1.seq, 10).await.unwrap();
    assert_eq!(after, vec![e2]);

    access_contract(&store, project.id).await;
    hosts_contract(&store, (project.id, dev, r2.id)).await;
    freezes_contract(&store, project.id, dev).await;
    notify_contract(&store, project.id).await;
    forges_contract(&store, (project.id, dev, r2.id)).await;
    live_contract(&store, &project, (r1.id, r2.id)).await;
    let prod = project.environments[2].id;
    leases_contract(&store, (project.id, prod, r2.id)).await;
    jobs_contract(&store).await;
    ssh_contract(&store, dev).await;
    previews_contract(&store, project.id, dev).await;
    retention_contract(&store).await;
}

/// Retention: what aged past its project's (or the server's) days goes, work in
/// progress never does, and the totals add up what went, in rows and bytes.
async fn retention_contract(store: &Store) {
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let pending_jobs = store.pending_jobs().await.unwrap();
    // What the contracts above left ages first: their events, logs and done jobs.
    let first = store.sweep_retained(90, now_millis() + 100 * DAY).await.unwrap();
    assert!(first.iter().find(|r| r.kind == "events").unwrap().rows > 0);
    assert!(store.events_after(0, 10).await.unwrap().is_empty());
    assert_eq!(store.pending_jobs().await.unwrap(), pending_jobs, "jobs not done stay");
    let before = store.retention_totals().await.unwrap();
    let logs_before = before.iter().find(|(kind, ..)| kind == "log_lines").map_or((0, 0), |t| (t.1, t.2));
    let mut logged = Vec::new();
    for (slug, days) in
        [("ret-default", None), ("ret-forever", Some(0)), ("ret-long", Some(200)), ("ret-short", Some(7))]
    {
        let project = store
            .create_project(&NewProject {
                repo_origin: None,
                slug: slug.into(),
                name: slug.into(),
                repo_url: "/srv/x".into(),
                environments: vec!["dev".into()],
            })
            .await
            .unwrap();
        store.set_project_retention(project.id, days).await.unwrap();
        assert_eq!(store.project_retention(project.id).await.unwrap(), days);
        let release = NewRelease {
            project_id: project.id,
            version: "1.0".into(),
            git_commit: "c".into(),
            source: "test".into(),
            pipeline: String::new(),
            committed_at: None,
            git_ref: None,
        };
        let release = store.create_release(&release).await.unwrap();
        let steps = vec!["build".to_string()];
        let mut ids = Vec::new();
        for finish in [true, false] {
            let place = (project.id, project.environments[0].id, release.id);
            let d = store
                .create_deployment(&NewDeployment::queued(place, DeploymentKind::Deploy, &steps, "t"))
                .await
                .unwrap();
            if finish {
                store
                    .transition_deployment(d.id, DeploymentState::Queued, DeploymentState::Cancelled, None)
                    .await
                    .unwrap();
            }
            // Ten bytes a line, and one line of two-byte characters (bytes, not characters, count).
            let mut lines: Vec<NewLogLine> = (1..=3)
                .map(|seq| NewLogLine {
                    deployment_id: d.id,
                    seq,
                    step: 0,
                    stream: LogStream::Stdout,
                    text: format!("line {seq:05}"),
                })
                .collect();
            lines.push(NewLogLine {
                deployment_id: d.id,
                seq: 4,
                step: 0,
                stream: LogStream::Stdout,
                text: "ééééé".into(),
            });
            store.append_logs(lines).await.unwrap();
            ids.push(d.id);
        }
        logged.push((slug, ids));
    }
    let lines_of = |id: i64| async move { store.logs(id, 0, 100).await.unwrap().len() };

    // Thirty days on: only the project keeping seven days loses its finished log.
    let removed = store.sweep_retained(90, now_millis() + 30 * DAY).await.unwrap();
    let logs = removed.iter().find(|r| r.kind == "log_lines").unwrap();
    assert_eq!((logs.rows, logs.bytes), (4, 40));
    assert_eq!(lines_of(logged[3].1[0]).await, 0);
    assert!(store.log_removed_at(logged[3].1[0]).await.unwrap().is_some(), "marked as removed");
    assert_eq!(lines_of(logged[3].1[1]).await, 4, "an unfinished deployment keeps its log");
    assert_eq!(store.log_removed_at(logged[3].1[1]).await.unwrap(), None);
    assert_eq!(store.log_removed_at(logged[0].1[0]).await.unwrap(), None);
    assert_eq!(lines_of(logged[0].1[0]).await, 4);

    // A hundred days on: the server's 90 days take the default project's too; forever
    // and 200 days keep theirs.
    let removed = store.sweep_retained(90, now_millis() + 100 * DAY).await.unwrap();
    let logs = removed.iter().find(|r| r.kind == "log_lines").unwrap();
    assert_eq!((logs.rows, logs.bytes), (4, 40));
    for (slug, ids) in &logged {
        let kept = if *slug == "ret-default" || *slug == "ret-short" { 0 } else { 4 };
        assert_eq!(lines_of(ids[0]).await, kept, "{slug}");
        assert_eq!(lines_of(ids[1]).await, 4, "{slug}: unfinished");
    }
    let totals = store.retention_totals().await.unwrap();
    let log_total = totals.iter().find(|(kind, ..)| kind == "log_lines").unwrap();
    assert_eq!((log_total.1 - logs_before.0, log_total.2 - logs_before.1), (8, 80));

    // Nothing left to remove: the next sweep removes nothing, and the totals stand.
    let again = store.sweep_retained(90, now_millis() + 100 * DAY).await.unwrap();
    assert!(again.iter().all(|r| r.rows == 0 && r.bytes == 0), "{again:?}");
    assert_eq!(store.retention_totals().await.unwrap(), totals);
    // The server keeping everything keeps the default project's logs too.
    let forever = store.sweep_retained(0, now_millis() + 1000 * DAY).await.unwrap();
    let logs = forever.iter().find(|r| r.kind == "log_lines").unwrap();
    assert_eq!(logs.rows, 4, "only ret-long's, past its own 200 days");
}

/// Previews: a request's environment is made once and follows the lifecycle; ports of
/// a range go one per preview, the lowest free first, and come back when a preview is
/// retired; a closed preview leaves the projects' view.
async fn previews_contract(store: &Store, project_id: i64, dev: i64) {
    let open = |number: i64, from_fork: bool| OpenPreview {
        project_id,
        number,
        from_environment_id: dev,
        branch: "feature",
        default_branch: "main",
        head_commit: "abc",
        title: "A change",
        author: "mona",
        request_url: "https://github.com/o/r/pull/1",
        from_fork,
    };
    let (seven, new) = store.open_preview(&open(7, false)).await.unwrap();
    assert!(new);
    let (again, new) = store.open_preview(&open(7, true)).await.unwrap();
    assert!(!new, "pushed to, not new");
    assert_eq!((again.environment_id, again.from_fork), (seven.environment_id, 1));
    let (eight, _) = store.open_preview(&open(8, false)).await.unwrap();
    let (nine, _) = store.open_preview(&open(9, false)).await.unwrap();
    assert_eq!(store.claim_preview_port(seven.environment_id, 9100, 9101).await.unwrap(), Some(9100));
    assert_eq!(store.claim_preview_port(seven.environment_id, 9100, 9101).await.unwrap(), Some(9100), "kept");
    assert_eq!(store.claim_preview_port(eight.environment_id, 9100, 9101).await.unwrap(), Some(9101));
    assert_eq!(store.claim_preview_port(nine.environment_id, 9100, 9101).await.unwrap(), None, "all taken");
    let vars = [("PORT".to_string(), "9100".to_string())].into();
    store.set_preview_settings(seven.environment_id, &vars, Some("http://127.0.0.1:9100/"), 3600).await.unwrap();
    let row = store.preview(seven.environment_id).await.unwrap().unwrap();
    assert_eq!((row.vars(), row.url.as_deref(), row.ttl_seconds), (vars, Some("http://127.0.0.1:9100/"), 3600));

    let project = store.project(project_id).await.unwrap().unwrap();
    let names: Vec<&str> = project.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["dev", "staging", "prod", "pr-7", "pr-8", "pr-9"], "previews follow the lifecycle");
    let pr7 = project.environments.iter().find(|e| e.name == "pr-7").unwrap();
    let info = pr7.preview.as_ref().unwrap();
    assert_eq!((info.number, info.from.as_str(), info.port, info.from_fork), (7, "dev", Some(9100), true));
    assert_eq!(pr7.protection.required_approvals, 1, "a fork's code waits for an approval");
    assert_eq!(project.lifecycle().count(), 3);

    let up: Vec<i64> = store.previews_up(project_id).await.unwrap().iter().map(|p| p.number).collect();
    assert_eq!(up, [7, 8, 9]);
    store.preview_waits(nine.environment_id).await.unwrap();
    let waiting: Vec<i64> = store.previews_waiting(project_id).await.unwrap().iter().map(|p| p.number).collect();
    assert_eq!(waiting, [9], "a preview without a place waits for one");
    assert_eq!(store.previews_up(project_id).await.unwrap().len(), 2);
    assert!(store.close_preview(seven.environment_id).await.unwrap());
    assert!(!store.close_preview(seven.environment_id).await.unwrap(), "closed once");
    store.retire_preview(seven.environment_id).await.unwrap();
    let freed = store.pending_jobs().await.unwrap();
    let key = format!("preview-place:{}:", seven.environment_id);
    assert!(freed.iter().any(|(kind, dedupe, ..)| kind == "preview_place_freed" && dedupe.starts_with(&key)));
    assert_eq!(store.claim_preview_port(nine.environment_id, 9100, 9101).await.unwrap(), Some(9100), "freed");
    let project = store.project(project_id).await.unwrap().unwrap();
    assert!(!project.environments.iter().any(|e| e.name == "pr-7"), "a retired preview is gone from view");
    let (reopened, new) = store.open_preview(&open(7, false)).await.unwrap();
    assert!(new && reopened.port.is_none(), "reopened: open again, without a port until it claims one");
    assert_eq!(store.preview_by_number(project_id, 7).await.unwrap().unwrap().state, "open");
    assert!(store.waiting_in_environment(seven.environment_id).await.unwrap().is_empty());
    assert_eq!(store.teardown_release(seven.environment_id).await.unwrap(), None, "nothing ran there");
}

/// The durable job queue: a job is enqueued once per dedupe key; a claimed job is not
/// claimed again until its claim runs out; done jobs are gone from the queue; a failed
/// one is due again when it says; two owners claiming at once take different jobs.
/// SSH hosts and Ferry's key pairs: the first key is made once however often asked,
/// a rotation keeps the one before; a host's new address forgets its trusted key.
async fn ssh_contract(store: &Store, env_id: i64) {
    store.add_ssh_key("first", "sealed-1", true).await.unwrap();
    store.add_ssh_key("again", "sealed-x", true).await.unwrap();
    let keys: Vec<String> = store.ssh_keys().await.unwrap().into_iter().map(|k| k.public_key).collect();
    assert_eq!(keys, ["first"]);
    store.add_ssh_key("second", "sealed-2", false).await.unwrap();
    store.add_ssh_key("third", "sealed-3", false).await.unwrap();
    let keys: Vec<String> = store.ssh_keys().await.unwrap().into_iter().map(|k| k.public_key).collect();
    assert_eq!(keys, ["third", "second"], "the newest, and the one before it");

    let vars = std::collections::BTreeMap::from([("PORT".to_string(), "8080".to_string())]);
    let fields = ferry_server::store::SshHostFields {
        name: "web-1",
        address: "10.0.0.5",
        port: 22,
        login: "deploy",
        deploy_dir: "/srv/ferry",
        jump: None,
        vars: &vars,
    };
    let host = store.add_ssh_host(env_id, &fields, Some("ssh-ed25519 KEY"), None).await.unwrap();
    assert_eq!((host.host_key.as_deref(), host.vars()), (Some("ssh-ed25519 KEY"), vars.clone()));
    let duplicate = store.add_ssh_host(env_id, &fields, None, None).await.unwrap_err();
    assert!(ferry_server::store::is_unique_violation(&duplicate));
    let renamed = ferry_server::store::SshHostFields { name: "web-01", ..fields };
    let kept = store.update_ssh_host(host.id, &renamed, None, Some("sealed")).await.unwrap().unwrap();
    assert_eq!(
        (kept.host_key.as_deref(), kept.sealed_private_key.as_deref()),
        (Some("ssh-ed25519 KEY"), Some("sealed"))
    );
    let moved = ferry_server::store::SshHostFields { address: "10.0.0.6", ..renamed };
    let forgot = store.update_ssh_host(host.id, &moved, None, None).await.unwrap().unwrap();
    assert_eq!(
        (forgot.host_key, forgot.sealed_private_key.as_deref()),
        (None, Some("sealed")),
        "another machine may answer there"
    );
    let trusted = store.trust_ssh_host_key(host.id, false, "ssh-ed25519 NEW").await.unwrap().unwrap();
    assert_eq!(trusted.host_key.as_deref(), Some("ssh-ed25519 NEW"));
    assert_eq!(store.ssh_hosts(env_id).await.unwrap().len(), 1);

    // Turns on the host: at most the limit at once, across every replica, asked at
    // the same time; a turn that ran out (its replica died) frees its place.
    let (now, ttl) = (1_000_000, 30_000);
    let asks = (1..=8).map(|d| store.claim_ssh_turn(host.id, d, if d % 2 == 0 { "r-a" } else { "r-b" }, now, ttl, 3));
    let taken: Vec<i64> = futures::future::join_all(asks)
        .await
        .into_iter()
        .zip(1..)
        .filter(|(t, _)| *t.as_ref().unwrap())
        .map(|(_, d)| d)
        .collect();
    assert_eq!(taken.len(), 3, "three turns of eight asks: {taken:?}");
    assert!(store.claim_ssh_turn(host.id, taken[0], "r-a", now, ttl, 3).await.unwrap(), "a holder asks again");
    assert!(!store.claim_ssh_turn(host.id, 99, "r-a", now, ttl, 3).await.unwrap());
    store.release_ssh_turn(host.id, taken[0]).await.unwrap();
    assert!(store.claim_ssh_turn(host.id, 99, "r-a", now, ttl, 3).await.unwrap(), "a turn given back frees one");
    for d in taken.iter().skip(1).chain([&99]) {
        store.release_ssh_turn(host.id, *d).await.unwrap();
    }
    for (d, owner) in [(10, "r-a"), (11, "r-b"), (12, "r-b")] {
        assert!(store.claim_ssh_turn(host.id, d, owner, now, ttl, 3).await.unwrap());
    }
    assert!(!store.claim_ssh_turn(host.id, 13, "r-c", now + ttl - 1, ttl, 3).await.unwrap(), "full");
    store.renew_leases("r-a", now + ttl - 1, ttl).await.unwrap();
    assert!(store.claim_ssh_turn(host.id, 13, "r-c", now + ttl, ttl, 3).await.unwrap(), "r-b's ran out");
    assert!(store.claim_ssh_turn(host.id, 14, "r-c", now + ttl, ttl, 3).await.unwrap());
    assert!(!store.claim_ssh_turn(host.id, 15, "r-c", now + ttl, ttl, 3).await.unwrap(), "r-a renewed its own");

    assert!(store.remove_ssh_host(host.id).await.unwrap());
    assert!(store.ssh_host(host.id).await.unwrap().is_none());
}

async fn jobs_contract(store: &Store) {
    // From an empty queue: the contract's other parts left jobs (deliveries, reports).
    let later = ferry_server::store::now_millis() + 86_400_000;
    loop {
        let left = store.claim_jobs("setup", later, 1, 100).await.unwrap();
        if left.is_empty() {
            break;
        }
        for job in left {
            assert!(store.complete_job(job.id, "setup").await.unwrap());
        }
    }
    store.enqueue_job("test", "test:1", "one", JobOrder::Any).await.unwrap();
    store.enqueue_job("test", "test:1", "again", JobOrder::Any).await.unwrap();
    store.enqueue_job("test", "test:2", "two", JobOrder::Any).await.unwrap();
    let now = ferry_server::store::now_millis();
    let first = store.claim_jobs("a", now, 1_000, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].payload.as_str(), first[0].attempts), ("one", 1), "the first enqueueing counts");
    let second = store.claim_jobs("b", now, 1_000, 10).await.unwrap();
    assert_eq!(second.iter().map(|j| j.payload.as_str()).collect::<Vec<_>>(), ["two"], "a claimed job is not offered");
    assert!(store.claim_jobs("b", now + 500, 1_000, 10).await.unwrap().is_empty());
    assert!(!store.complete_job(first[0].id, "b").await.unwrap(), "only its claimer completes it");
    assert!(store.complete_job(first[0].id, "a").await.unwrap());
    store.retry_job(second[0].id, "b", now + 5_000, "receiver down").await.unwrap();
    assert!(store.claim_jobs("c", now + 4_000, 1_000, 10).await.unwrap().is_empty(), "not due yet");
    let again = store.claim_jobs("c", now + 5_000, 1_000, 10).await.unwrap();
    assert_eq!((again[0].payload.as_str(), again[0].attempts), ("two", 2));
    // Its claimer died: once the claim runs out, another takes it.
    let taken = store.claim_jobs("d", now + 6_001, 1_000, 10).await.unwrap();
    assert_eq!((taken[0].id, taken[0].attempts), (again[0].id, 3));
    assert!(store.complete_job(taken[0].id, "d").await.unwrap());
    let pending = store.pending_jobs().await.unwrap();
    assert!(pending.iter().all(|(kind, ..)| kind != "test"), "{pending:?}");

    // Jobs of one queue key: one at a time, in order; a retry or a pace holds the key.
    for n in 1..=3 {
        store.enqueue_job("keyed", &format!("keyed:{n}"), &n.to_string(), JobOrder::InOrder("k")).await.unwrap();
    }
    let now = ferry_server::store::now_millis();
    let keyed = |claimed: Vec<ferry_server::store::JobRow>| {
        claimed.into_iter().filter(|j| j.kind == "keyed").collect::<Vec<_>>()
    };
    let head = keyed(store.claim_jobs("a", now, 1_000, 50).await.unwrap());
    assert_eq!(head.iter().map(|j| j.payload.as_str()).collect::<Vec<_>>(), ["1"], "only the oldest of its key");
    assert!(keyed(store.claim_jobs("b", now, 1_000, 50).await.unwrap()).is_empty(), "the key is busy");
    store.retry_job(head[0].id, "a", now + 2_000, "later").await.unwrap();
    assert!(keyed(store.claim_jobs("b", now + 1_000, 1_000, 50).await.unwrap()).is_empty(), "a retry holds it");
    let head = keyed(store.claim_jobs("b", now + 2_000, 1_000, 50).await.unwrap());
    assert_eq!(head[0].payload, "1");
    store.pace_queue("k", now + 3_000).await.unwrap();
    assert!(store.complete_job(head[0].id, "b").await.unwrap());
    assert!(keyed(store.claim_jobs("c", now + 2_500, 1_000, 50).await.unwrap()).is_empty(), "paced");
    let next = keyed(store.claim_jobs("c", now + 3_000, 1_000, 50).await.unwrap());
    assert_eq!(next.iter().map(|j| j.payload.as_str()).collect::<Vec<_>>(), ["2"]);
    assert!(store.complete_job(next[0].id, "c").await.unwrap());
    let last = keyed(store.claim_jobs("c", now + 3_000, 1_000, 50).await.unwrap());
    assert_eq!(last.iter().map(|j| j.payload.as_str()).collect::<Vec<_>>(), ["3"]);
    assert!(store.complete_job(last[0].id, "c").await.unwrap());

    // One at a time, not strictly in order: a job waiting for its retry lets the next
    // by, but never runs beside it.
    let now = now + 10_000;
    for n in 1..=2 {
        let order = JobOrder::OneAtATime("m");
        store.enqueue_job("loose", &format!("loose:{n}"), &n.to_string(), order).await.unwrap();
    }
    let loose = |claimed: Vec<ferry_server::store::JobRow>| {
        claimed.into_iter().filter(|j| j.kind == "loose").map(|j| (j.id, j.payload)).collect::<Vec<_>>()
    };
    let first = loose(store.claim_jobs("a", now, 1_000, 50).await.unwrap());
    assert_eq!(first.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(), ["1"]);
    store.retry_job(first[0].0, "a", now + 500, "later").await.unwrap();
    let second = loose(store.claim_jobs("b", now + 100, 1_000, 50).await.unwrap());
    assert_eq!(second.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(), ["2"], "let by");
    assert!(loose(store.claim_jobs("c", now + 600, 1_000, 50).await.unwrap()).is_empty(), "not beside it");
    assert!(store.complete_job(second[0].0, "b").await.unwrap());
    let again = loose(store.claim_jobs("c", now + 600, 1_000, 50).await.unwrap());
    assert_eq!(again.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(), ["1"]);
    assert!(store.complete_job(again[0].0, "c").await.unwrap());

    // Many jobs, two claimers at once: each job goes to one of them.
    for n in 0..40 {
        store.enqueue_job("race", &format!("race:{n}"), &n.to_string(), JobOrder::Any).await.unwrap();
    }
    let now = ferry_server::store::now_millis();
    let (x, y) = tokio::join!(store.claim_jobs("x", now, 60_000, 100), store.claim_jobs("y", now, 60_000, 100));
    let race = |j: &ferry_server::store::JobRow| j.kind == "race";
    let mut ids: Vec<i64> = x.unwrap().into_iter().chain(y.unwrap()).filter(race).map(|j| j.id).collect();
    assert_eq!(ids.len(), 40, "all 40 claimed between the two");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40, "none claimed twice");
}

/// Replicas and environment leases: one holder per environment, claimed only when
/// free, renewed by its owner, found expired by others, handed to a rollback; queued
/// deployments become runnable in order, when their timer is due, and not while their
/// environment is held; cancels asked from elsewhere are found by the runner.
async fn leases_contract(store: &Store, (project_id, env_id, release_id): (i64, i64, i64)) {
    store.replica_alive("r1", "host-a", 1_000).await.unwrap();
    store.replica_alive("r1", "host-a", 5_000).await.unwrap();
    store.replica_alive("r2", "host-b", 1_000).await.unwrap();
    assert_eq!(store.replicas_forget(2_000).await.unwrap(), 1, "only r2 was not seen since");

    let queued = |not_before: Option<i64>| {
        let steps = ["roll".to_string()];
        async move {
            let mut new =
                NewDeployment::queued((project_id, env_id, release_id), DeploymentKind::Deploy, &steps, "alex");
            new.not_before = not_before;
            store.create_deployment(&new).await.unwrap().id
        }
    };
    let (first, second, later) = (queued(None).await, queued(None).await, queued(Some(i64::MAX)).await);
    let runnable = |now: i64| async move {
        let ids: Vec<i64> = store.runnable_deployments(now, 1000).await.unwrap().iter().map(|d| d.id).collect();
        ids
    };
    let now = 10_000;
    let listed = runnable(now).await;
    assert!(listed.contains(&first) && !listed.contains(&second), "the oldest first: {listed:?}");
    assert!(!listed.contains(&later), "a timer not due yet");

    assert!(store.claim_environment(env_id, first, "r1", now, 3_000).await.unwrap());
    assert!(!store.claim_environment(env_id, second, "r2", now, 3_000).await.unwrap(), "held");
    assert!(!runnable(now).await.iter().any(|id| [first, second].contains(id)), "nothing of a held environment");
    assert_eq!(store.lease_owner(first, now).await.unwrap().as_deref(), Some("r1"));
    assert_eq!(store.renew_leases("r1", 12_000, 3_000).await.unwrap(), 1);
    assert!(store.expired_leases(14_000).await.unwrap().is_empty(), "renewed until 15,000");
    assert!(!store.claim_environment(env_id, second, "r2", 16_000, 3_000).await.unwrap(), "expired is not free");
    let expired = store.expired_leases(16_000).await.unwrap();
    assert_eq!((expired.len(), expired[0].deployment_id, expired[0].owner.as_str()), (1, first, "r1"));
    assert!(store.hand_lease_to(env_id, second, "r1").await.unwrap(), "its owner hands it to a rollback");
    assert!(!store.hand_lease_to(env_id, first, "r2").await.unwrap(), "nobody else can");
    let expired = store.expired_leases(16_000).await.unwrap();
    assert!(store.take_expired_lease(&expired[0], "r3", 16_000, 3_000).await.unwrap());
    assert!(!store.take_expired_lease(&expired[0], "r4", 16_000, 3_000).await.unwrap(), "once");
    assert_eq!(store.lease_owner(second, 16_000).await.unwrap().as_deref(), Some("r3"), "taken with its deployment");
    store.release_environment(env_id, "r3").await.unwrap();
    assert!(store.claim_environment(env_id, second, "r2", 16_000, 3_000).await.unwrap(), "free again");
    store.release_environment(env_id, "r1").await.unwrap();
    assert!(store.lease_owner(second, 16_000).await.unwrap().is_some(), "only its owner releases it");
    store.release_environment(env_id, "r2").await.unwrap();
    assert!(store.lease_owner(second, 16_000).await.unwrap().is_none());
    assert!(store.claim_environment(env_id, first, "r1", 17_000, 3_000).await.unwrap());
    assert_eq!(store.drop_all_leases().await.unwrap(), 1);

    assert!(store.cancels_requested(&[first, second]).await.unwrap().is_empty());
    store.request_cancel(second).await.unwrap();
    assert_eq!(store.cancels_requested(&[first, second]).await.unwrap(), [second]);
    assert!(store.cancels_requested(&[]).await.unwrap().is_empty());
}

/// What each environment runs, read for all environments at once, agrees with the
/// per-environment queries.
async fn live_contract(store: &Store, project: &ProjectView, (r1, r2): (i64, i64)) {
    let (staging, prod) = (project.environments[1].id, project.environments[2].id);
    let steps = vec!["deploy".to_string()];
    let finish = |release: i64, end: DeploymentState| {
        let steps = steps.clone();
        async move {
            let new = NewDeployment::queued((project.id, staging, release), DeploymentKind::Deploy, &steps, "alex");
            let d = store.create_deployment(&new).await.unwrap();
            store.transition_deployment(d.id, DeploymentState::Queued, DeploymentState::Running, None).await.unwrap();
            store.transition_deployment(d.id, DeploymentState::Running, end, None).await.unwrap().unwrap()
        }
    };
    let first = finish(r1, DeploymentState::Succeeded).await;
    let second = finish(r2, DeploymentState::Succeeded).await;
    let again = finish(r2, DeploymentState::Succeeded).await;
    let failed = finish(r1, DeploymentState::Failed).await;
    let live = store.live_deployments().await.unwrap();
    let cells = &live[&staging];
    assert_eq!(cells.current.as_ref().map(|d| d.id), Some(again.id), "the newest success");
    assert_eq!(cells.latest.as_ref().map(|d| d.id), Some(failed.id), "the newest in any state");
    assert_eq!(cells.previous.as_ref().map(|d| d.id), Some(first.id), "the newest success of another release");
    assert_ne!(second.id, first.id);
    assert!(!live.contains_key(&prod), "nothing deployed to prod");
    for environment in &project.environments {
        let current = store.latest_in_environment(environment.id, true).await.unwrap();
        let previous = match &current {
            Some(c) => store.previous_success(environment.id, c.release_id).await.unwrap(),
            None => None,
        };
        let latest = store.latest_in_environment(environment.id, false).await.unwrap();
        let expected = LiveDeployments { current, latest, previous };
        assert_eq!(live.get(&environment.id).cloned().unwrap_or_default(), expected, "{}", environment.name);
    }
    let releases = store.all_releases().await.unwrap();
    assert_eq!(releases.iter().map(|r| r.id).collect::<Vec<_>>(), [r2, r1], "newest first");
}

/// Forge links (replaced, not duplicated), deliveries and trigger claims seen once.
async fn forges_contract(store: &Store, (project_id, env_id, release_id): (i64, i64, i64)) {
    store.set_forge_link(project_id, ForgeKind::Github, "octo/api", "sealed-1", None).await.unwrap();
    store.set_forge_link(project_id, ForgeKind::Github, "octo/api2", "sealed-2", Some("token-2")).await.unwrap();
    let links = store.forge_links(ForgeKind::Github).await.unwrap();
    assert_eq!((links.len(), links[0].repo.as_str(), links[0].sealed_secret.as_str()), (1, "octo/api2", "sealed-2"));
    assert!(store.forge_links(ForgeKind::Gitlab).await.unwrap().is_empty());
    assert_eq!(links[0].view("https://ferry.example.com").hook_url, "https://ferry.example.com/hooks/github");
    assert!(store.record_forge_delivery(ForgeKind::Github, "d-1", project_id, "push").await.unwrap());
    assert!(!store.record_forge_delivery(ForgeKind::Github, "d-1", project_id, "push").await.unwrap());
    assert!(store.record_forge_delivery(ForgeKind::Gitlab, "d-1", project_id, "Push Hook").await.unwrap());
    store.set_forge_delivery_outcome(ForgeKind::Github, "d-1", "release main-abc1234").await.unwrap();
    let outcome = store.forge_delivery_outcome(ForgeKind::Github, "d-1").await.unwrap();
    assert_eq!(outcome.as_deref(), Some("release main-abc1234"));
    assert!(store.claim_forge_trigger("github:octo/api2:push:main:abc", project_id).await.unwrap());
    assert!(!store.claim_forge_trigger("github:octo/api2:push:main:abc", project_id).await.unwrap());
    // Every change of a deployment is queued for the repository with the change itself,
    // with its job in the project's order, while the link has a token.
    let steps = ["deploy".to_string()];
    let key = (project_id, env_id, release_id);
    let d = store.create_deployment(&NewDeployment::queued(key, DeploymentKind::Deploy, &steps, "alex")).await.unwrap();
    store.transition_deployment(d.id, DeploymentState::Queued, DeploymentState::Running, None).await.unwrap();
    let reports = store.forge_reports(project_id, 10).await.unwrap();
    let mut states: Vec<&str> =
        reports.iter().filter(|r| r.deployment_id == d.id).map(|r| r.deployment_state.as_str()).collect();
    states.sort_unstable();
    assert_eq!(states, ["queued", "running"]);
    let jobs = store.pending_jobs().await.unwrap();
    assert_eq!(jobs.iter().filter(|(kind, ..)| kind == "send_forge_report").count(), 2, "{jobs:?}");
    assert!(store.remove_forge_link(project_id).await.unwrap());
    assert!(store.forge_link(project_id).await.unwrap().is_none());
    store.transition_deployment(d.id, DeploymentState::Running, DeploymentState::Failed, Some("x")).await.unwrap();
    assert_eq!(store.forge_reports(project_id, 10).await.unwrap().len(), 2, "no link, no report");
}

/// Channels, rules and the outbox: a key is enqueued once, attempts are counted, a
/// retry waits until it is due, and removing a channel takes its rules and messages.
async fn notify_contract(store: &Store, project_id: i64) {
    let channel = store.add_channel("ops", ChannelKind::Slack, "sealed", "Slack webhook at x", "alex").await.unwrap();
    let duplicate = store.add_channel("ops", ChannelKind::Email, "sealed", "", "alex").await.unwrap_err();
    assert!(is_unique_violation(&duplicate));
    let rule = store.add_rule(channel.id, Some(project_id), Some("production"), &[NotifyEvent::Failed]).await.unwrap();
    let rules = store.rules().await.unwrap();
    assert_eq!(
        (rules[0].id, rules[0].project.as_deref(), &rules[0].events),
        (rule, Some("api"), &vec![NotifyEvent::Failed])
    );

    let message = NewDelivery {
        channel_id: Some(channel.id),
        recipient: None,
        dedupe_key: "k1",
        event: "failed",
        title: "✗",
        notice: "{}",
    };
    assert!(store.enqueue_delivery(&message).await.unwrap());
    assert!(!store.enqueue_delivery(&message).await.unwrap(), "the same key twice");
    let now = ferry_server::store::now_millis();
    // The message and the job that delivers it, in its channel's order.
    let id = store.deliveries(10).await.unwrap()[0].id;
    let jobs = store.pending_jobs().await.unwrap();
    assert!(jobs.iter().any(|(kind, key, ..)| kind == "deliver_notification" && *key == format!("delivery:{id}")));
    let due = store.pending_delivery(id).await.unwrap().unwrap();
    assert_eq!((due.channel_id, due.attempts), (Some(channel.id), 0));
    store.record_attempt(id, DeliveryState::Pending, Some("500"), now + 60_000).await.unwrap();
    assert_eq!(store.pending_delivery(id).await.unwrap().unwrap().attempts, 1);
    store.record_attempt(id, DeliveryState::Delivered, None, now).await.unwrap();
    assert!(store.pending_delivery(id).await.unwrap().is_none(), "delivered: nothing left to do");
    let listed = store.deliveries(10).await.unwrap();
    assert_eq!((listed[0].state, listed[0].attempts, listed[0].channel.as_str()), (DeliveryState::Delivered, 2, "ops"));
    assert!(listed[0].delivered_at.is_some() && listed[0].next_attempt_at.is_none());

    // Personal email has no channel.
    let personal = NewDelivery { channel_id: None, recipient: Some("ben@example.com"), dedupe_key: "k2", ..message };
    assert!(store.enqueue_delivery(&personal).await.unwrap());
    let listed = store.deliveries(10).await.unwrap();
    assert_eq!((listed[0].channel_id, listed[0].channel.as_str()), (0, "email to ben@example.com"));
    let due = store.pending_delivery(listed[0].id).await.unwrap().unwrap();
    assert_eq!((due.channel_id, due.recipient.as_deref()), (None, Some("ben@example.com")));

    assert!(store.remove_channel(channel.id).await.unwrap());
    assert!(store.rules().await.unwrap().is_empty());
    assert_eq!(store.deliveries(10).await.unwrap().len(), 1, "the channel's messages went with it");
}

/// Freeze windows: stored as given, active only while they cover the moment asked about.
async fn freezes_contract(store: &Store, project_id: i64, env_id: i64) {
    let at = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let window = FreezeWindow::Once { from: at("2030-01-01T00:00:00Z"), to: at("2030-01-02T00:00:00Z") };
    let id = store.add_freeze(env_id, &window, "new year", "alex").await.unwrap();
    let listed = store.freezes(project_id).await.unwrap();
    assert_eq!((listed[0].id, &listed[0].window, listed[0].reason.as_str()), (id, &window, "new year"));
    assert!(!listed[0].active);
    assert_eq!(store.active_freezes(env_id, at("2030-01-01T12:00:00Z")).await.unwrap().len(), 1);
    assert!(store.active_freezes(env_id, at("2030-01-02T00:00:00Z")).await.unwrap().is_empty());
    assert!(!store.remove_freeze(project_id + 1, id).await.unwrap(), "another project's id");
    assert!(store.remove_freeze(project_id, id).await.unwrap());
    assert!(store.freezes(project_id).await.unwrap().is_empty());
}

/// A deployment's hosts: per-host steps replace the planned ones, each host moves
/// through its states, and closing a deployment closes its hosts.
async fn hosts_contract(store: &Store, (project_id, env_id, release_id): (i64, i64, i64)) {
    let planned = vec!["unpack".to_string(), "switch".to_string()];
    let d = store
        .create_deployment(&NewDeployment::queued(
            (project_id, env_id, release_id),
            DeploymentKind::Deploy,
            &planned,
            "alex",
        ))
        .await
        .unwrap();
    store.preassign_targets(d.id, &[("web-2".into(), TargetKind::BuiltIn)]).await.unwrap();
    assert_eq!(store.targets(d.id).await.unwrap()[0].name, "web-2");
    let hosts: Vec<TargetPlan> = ["web-1", "web-2"]
        .iter()
        .enumerate()
        .map(|(i, name)| TargetPlan {
            name: name.to_string(),
            kind: TargetKind::BuiltIn,
            batch: i as i32,
            steps: planned.clone(),
        })
        .collect();
    let (targets, steps) = store.assign_targets(d.id, &["pack".to_string()], &hosts).await.unwrap();
    assert_ne!(targets[0].0, targets[1].0, "each host has its own job number");
    let placed: Vec<(i32, &str, Option<i32>)> = steps.iter().map(|s| (s.position, s.name.as_str(), s.target)).collect();
    let expected = [
        (0, "pack", None),
        (1, "unpack", Some(0)),
        (2, "switch", Some(0)),
        (3, "unpack", Some(1)),
        (4, "switch", Some(1)),
    ];
    assert_eq!(placed, expected, "the build's steps first, on no host");
    assert_eq!(targets[1].1.batch, 1);

    let started = store.target_started(d.id, 0).await.unwrap().unwrap();
    assert_eq!(started.state, TargetState::Running);
    assert!(started.started_at.is_some());
    let end = TargetEnd { state: TargetState::Failed, before_release_id: Some(7), moved: true, reason: Some("boom") };
    let ended = store.target_finished(d.id, 0, &end).await.unwrap().unwrap();
    assert_eq!((ended.state, ended.before_release_id, ended.moved), (TargetState::Failed, Some(7), true));
    assert_eq!(ended.reason.as_deref(), Some("boom"));
    // Only from one of the states given.
    let pending_only = [TargetState::Pending];
    assert!(store.set_target_state(d.id, 0, &pending_only, TargetState::Skipped).await.unwrap().is_none());
    let back = [TargetState::Succeeded, TargetState::Failed];
    let rolled = store.set_target_state(d.id, 0, &back, TargetState::RolledBack).await.unwrap().unwrap();
    assert_eq!(rolled.state, TargetState::RolledBack);
    let closed = store.close_open_targets(d.id).await.unwrap();
    assert_eq!(closed.iter().map(|t| (t.position, t.state)).collect::<Vec<_>>(), [(1, TargetState::Skipped)]);

    // What a replica that carries a deployment on reads back: the hosts' plans, and
    // per step its state and how many of its lines were kept.
    assert!(store.resumable_hosts(d.id).await.unwrap().iter().all(|h| h.sealed_plan.is_none()));
    store.save_host_plans(d.id, &[(0, "sealed-0".into(), 1), (1, "sealed-1".into(), 3)]).await.unwrap();
    let saved = store.resumable_hosts(d.id).await.unwrap();
    let read: Vec<(i64, Option<&str>, Option<i64>)> =
        saved.iter().map(|h| (h.job, h.sealed_plan.as_deref(), h.first_step)).collect();
    assert_eq!(read, [(targets[0].0, Some("sealed-0"), Some(1)), (targets[1].0, Some("sealed-1"), Some(3))]);
    let line = |seq: i64, step: i32| NewLogLine {
        deployment_id: d.id,
        seq,
        step,
        stream: LogStream::Stdout,
        text: format!("line {seq}"),
    };
    store.append_logs(vec![line(1, 1), line(2, 1), line(3, 3)]).await.unwrap();
    let recorded = store.recorded_steps(d.id).await.unwrap();
    let counted: Vec<(i32, i64)> = recorded.iter().map(|s| (s.position, s.lines)).collect();
    assert_eq!(counted, [(0, 0), (1, 2), (2, 0), (3, 1), (4, 0)]);
    assert_eq!(store.next_log_seq(d.id).await.unwrap(), 4);

    // Its agent jobs: open until ended; one whose last report is kept is not claimed again.
    let job = targets[1].0;
    store.create_agent_job(job, 42, "sealed-run", 1_000).await.unwrap();
    store.create_agent_job(job, 42, "again", 1_000).await.unwrap();
    assert!(store.agent_job_open(job).await.unwrap());
    assert_eq!(store.agents_with_open_jobs().await.unwrap(), [42]);
    let claimed = store.claim_agent_jobs("r1", &[42], (1_000, 6_000, 11_000)).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.run.as_str()).collect::<Vec<_>>(), ["sealed-run"], "written once");
    assert!(store.claim_agent_jobs("r2", &[42], (2_000, 7_000, 12_000)).await.unwrap().is_empty(), "r1 holds it");
    let renewal = |now: i64| store.claim_agent_jobs("r1", &[42], (now, now + 5_000, now + 10_000));
    assert!(renewal(3_000).await.unwrap().is_empty(), "held until 11,000: not renewed before it is half gone");
    assert_eq!(renewal(7_000).await.unwrap().len(), 1, "renewed, until 17,000");
    store.cancel_agent_job(job).await.unwrap();
    assert_eq!(store.relayed_cancels("r1").await.unwrap(), [job]);
    assert!(store.relayed_cancels("r2").await.unwrap().is_empty());
    store.add_agent_job_reports(job, &[(1, "a".into()), (2, "b".into())], false).await.unwrap();
    store.add_agent_job_reports(job, &[(2, "b".into()), (3, "end".into())], true).await.unwrap();
    assert_eq!(store.last_agent_job_report(job).await.unwrap(), 3);
    assert_eq!(store.agent_job_reports_after(job, 1).await.unwrap().len(), 2, "each number once");
    let late = store.claim_agent_jobs("r2", &[42], (20_000, 25_000, 30_000)).await.unwrap();
    assert!(late.is_empty(), "finished: not sent again");
    assert!(store.agents_with_open_jobs().await.unwrap().is_empty());
    store.end_agent_job(job).await.unwrap();
    assert!(!store.agent_job_open(job).await.unwrap());
}

/// Users, memberships, sessions, tokens and the audit log.
async fn access_contract(store: &Store, project_id: i64) {
    let who = Identity { provider: "github", subject: "583231", login: "octocat", name: "The Octocat", email: None };
    let user = store.upsert_user(&who, Role::Viewer).await.unwrap();
    assert_eq!((user.role(), user.login.as_str()), (Role::Viewer, "octocat"));
    let renamed = Identity { login: "octocat2", ..who };
    let again = store.upsert_user(&renamed, Role::Admin).await.unwrap();
    assert_eq!(again.id, user.id, "keyed on the provider's id, not the login");
    assert_eq!((again.role(), again.login.as_str()), (Role::Viewer, "octocat2"), "an existing role is kept");
    let local = store.create_local_user("admin", "$argon2id$x", Role::Admin).await.unwrap();
    assert_eq!(store.local_user("admin").await.unwrap().unwrap().id, local.id);
    assert!(is_unique_violation(&store.create_local_user("admin", "y", Role::Admin).await.unwrap_err()));

    store.set_membership(user.id, project_id, Role::Deployer).await.unwrap();
    store.set_membership(user.id, project_id, Role::Maintainer).await.unwrap();
    assert_eq!(store.memberships_of(user.id).await.unwrap(), vec![(project_id, Role::Maintainer)]);
    assert_eq!(store.project_members(project_id).await.unwrap().len(), 1);
    store.set_membership(user.id, project_id, Role::None).await.unwrap();
    assert!(store.memberships_of(user.id).await.unwrap().is_empty());

    assert!(store.session_insert("h1", Some(user.id), "{}", 2_000).await.unwrap());
    assert!(!store.session_insert("h1", None, "{}", 2_000).await.unwrap(), "never overwritten");
    store.session_save("h2", Some(user.id), "{\"a\":1}", 3_000).await.unwrap();
    store.session_save("h2", Some(user.id), "{\"a\":2}", 3_000).await.unwrap();
    assert_eq!(store.session_load("h2", 1_000).await.unwrap().unwrap().0, "{\"a\":2}");
    assert!(store.session_load("h2", 3_000).await.unwrap().is_none(), "expired");
    assert_eq!(store.sessions_delete_for_user(user.id).await.unwrap(), 2);
    // Sessions of nobody signed in are bounded (oldest expiry dropped first), expired
    // ones swept; signed-in ones are never trimmed.
    for (n, expires) in [10_000, 10_003, 10_001, 10_002].into_iter().enumerate() {
        assert!(store.session_insert(&format!("anon-{n}"), None, "{}", expires).await.unwrap());
    }
    assert!(store.session_insert("mine", Some(user.id), "{}", 9_000).await.unwrap());
    assert_eq!(store.sessions_trim_anonymous(2).await.unwrap(), 2);
    assert!(
        store.session_load("anon-1", 0).await.unwrap().is_some()
            && store.session_load("anon-3", 0).await.unwrap().is_some()
    );
    assert!(
        store.session_load("anon-0", 0).await.unwrap().is_none()
            && store.session_load("anon-2", 0).await.unwrap().is_none()
    );
    assert_eq!(store.sessions_trim_anonymous(2).await.unwrap(), 0, "at the bound");
    assert_eq!(store.sessions_delete_expired(9_500).await.unwrap(), 1, "the signed-in one expired");
    assert_eq!(store.sessions_delete_expired(20_000).await.unwrap(), 2);

    // Failed sign-ins count within a window, start again after it, and clear.
    store.sign_in_failed("login:gus", 1_000, 500).await.unwrap();
    store.sign_in_failed("login:gus", 1_200, 500).await.unwrap();
    assert_eq!(store.sign_in_failures("login:gus", 1_300, 500).await.unwrap(), Some((2, 1_000)));
    store.sign_in_failed("login:gus", 1_600, 500).await.unwrap();
    assert_eq!(store.sign_in_failures("login:gus", 1_700, 500).await.unwrap(), Some((1, 1_600)), "a new window");
    assert_eq!(store.sign_in_failures("login:gus", 2_200, 500).await.unwrap(), None, "over");
    store.sign_in_failed("login:hal", 2_000, 500).await.unwrap();
    store.sign_in_cleared("login:hal").await.unwrap();
    assert_eq!(store.sign_in_failures("login:hal", 2_000, 500).await.unwrap(), None);
    assert_eq!(store.sign_in_failures_expired(2_200, 500).await.unwrap(), 1);

    let new = NewToken {
        user_id: user.id,
        name: "ci",
        token_hash: "hash-1",
        prefix: "ferry_ab",
        scopes: &[TokenScope::Read, TokenScope::Deploy],
        project_id: Some(project_id),
        expires_at: 9_000,
    };
    let token = store.create_token(&new).await.unwrap();
    assert_eq!(token.scopes(), [TokenScope::Read, TokenScope::Deploy]);
    assert_eq!(token.project.as_deref(), Some("api"));
    assert_eq!(store.token_by_hash("hash-1").await.unwrap().unwrap().id, token.id);
    store.touch_token(token.id, 5_000).await.unwrap();
    assert!(store.revoke_token(user.id, token.id).await.unwrap());
    assert!(!store.revoke_token(user.id, token.id).await.unwrap());
    let listed = store.tokens_of(user.id).await.unwrap();
    assert_eq!((listed[0].last_used_at, listed[0].revoked_at.is_some()), (Some(5_000), true));

    for action in ["sign_in", "deployment.start", "sign_in"] {
        let entry = NewAudit {
            actor_id: Some(user.id),
            actor: "octocat2",
            action,
            target: "api",
            detail: serde_json::json!({"n": 1}),
            address: Some("10.0.0.1".into()),
        };
        store.append_audit(entry).await.unwrap();
    }
    let filter = AuditFilter { action: Some("sign_in".into()), limit: 10, ..Default::default() };
    let entries = store.audit(&filter).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0].id > entries[1].id, "newest first");
    assert_eq!(entries[0].detail["n"], 1);
    let older = AuditFilter { before: Some(entries[0].id), ..filter };
    assert_eq!(store.audit(&older).await.unwrap().len(), 1);

    // Variables: one per (environment, name), project-wide ones ('') first.
    store.set_variable(project_id, "prod", "A", Stored::Plain("1"), "alex").await.unwrap();
    store.set_variable(project_id, "", "A", Stored::Plain("0"), "alex").await.unwrap();
    store.set_variable(project_id, "prod", "A", Stored::Sealed("c2VhbGVk"), "sam").await.unwrap();
    let vars = store.variables(project_id).await.unwrap();
    let seen: Vec<(&str, Option<&str>, Option<&str>)> =
        vars.iter().map(|v| (v.environment.as_str(), v.value.as_deref(), v.sealed.as_deref())).collect();
    assert_eq!(seen, [("", Some("0"), None), ("prod", None, Some("c2VhbGVk"))]);
    assert_eq!(vars[1].updated_by, "sam");
    assert!(store.delete_variable(project_id, "prod", "A").await.unwrap());
    assert!(!store.delete_variable(project_id, "prod", "A").await.unwrap());

    // Agents register once per token, as the token says, then sign in with their
    // credential; only an administrator's change renames or relabels them.
    let labels = std::collections::BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let identity = AgentIdentity { name: "web-1", labels: &labels };
    store.create_registration("reg-hash", "admin", i64::MAX, &identity).await.unwrap();
    let open = store.open_registration("reg-hash").await.unwrap().expect("an open token");
    assert_eq!((open.name.as_str(), open.labels()), ("web-1", labels.clone()));
    let agent = store.register_agent("reg-hash", "cred-hash", "0.1.0").await.unwrap().expect("registered");
    assert_eq!((agent.name.as_str(), agent.labels()), ("web-1", labels.clone()));
    assert!(store.open_registration("reg-hash").await.unwrap().is_none(), "used up");
    assert!(store.register_agent("reg-hash", "cred-2", "0.1.0").await.unwrap().is_none(), "a token registers once");
    assert_eq!(store.agent_by_credential("cred-hash").await.unwrap().unwrap().id, agent.id);
    store.agent_refused(agent.id, "presented other labels").await.unwrap();
    let refused = store.agent_by_credential("cred-hash").await.unwrap().unwrap();
    assert_eq!(refused.problem.as_deref(), Some("presented other labels"));
    store.agent_signed_in(agent.id, "0.2.0").await.unwrap();
    let back = store.agent_by_credential("cred-hash").await.unwrap().unwrap();
    assert_eq!((back.version.as_str(), back.problem), ("0.2.0", None));
    let staging = std::collections::BTreeMap::from([("env".to_string(), "staging".to_string())]);
    let renamed = AgentIdentity { name: "web-9", labels: &staging };
    let changed = store.set_agent_identity(agent.id, &renamed).await.unwrap().unwrap();
    assert_eq!((changed.name.as_str(), changed.labels()), ("web-9", staging.clone()));
    assert!(store.revoke_agent(agent.id).await.unwrap());
    assert!(store.agent_by_credential("cred-hash").await.unwrap().is_none(), "revoked");
    assert!(store.set_agent_identity(agent.id, &renamed).await.unwrap().is_none(), "revoked agents stay as they were");
}

#[tokio::test]
async fn contract_holds_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    contract(Store::connect(&url).await.unwrap()).await;
}

#[tokio::test]
async fn contract_holds_on_postgres() {
    let Some(url) = common::fresh_postgres().await else { return };
    contract(Store::connect(&url).await.unwrap()).await;
}

#[tokio::test]
async fn unsupported_database_urls_are_refused() {
    let error = Store::connect("mysql://localhost/x").await.expect_err("refused").to_string();
    assert!(error.contains("unsupported database URL"), "{error}");
}

async fn ids(store: &Store, filter: HistoryFilter) -> Vec<i64> {
    store.history(&filter).await.unwrap().iter().map(|d| d.id).collect()
}

//! What a GitHub or GitLab webhook says, reduced to what triggers need: the
//! repository, the event (a push to a branch, a tag, CI passing), the commit, who did
//! it, the repository's default branch (whose ferry.yml holds the triggers) and the
//! commit the ref pointed at before; or a pull or merge request opened, pushed to or
//! closed (for previews), with whether its code comes from a fork. Events that never
//! make a release (branch deletions, failed CI, CI that did not run for a push to the
//! repository itself, a request's labels or edits) come back as `ignored` with the
//! reason.

use ferry_engine::pipeline::ForgeEvent;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// `owner/name` (GitHub) or `group/project` (GitLab), as the payload names it.
    pub repo: String,
    pub what: What,
    /// The repository's default branch (`repository.default_branch` on GitHub,
    /// `project.default_branch` on GitLab): its ferry.yml decides the triggers.
    pub default_branch: Option<String>,
    /// The commit the event's ref pointed at before the push, when the payload says
    /// (a push's `before`, a check suite's `before`, a GitLab pipeline's `before_sha`);
    /// none for a new ref.
    pub before: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    Event {
        event: ForgeEvent,
        commit: String,
        actor: String,
    },
    /// A pull request (GitHub) or merge request (GitLab) opened, pushed to or closed.
    Request(RequestEvent),
    Ignored(String),
}

/// What happened to a pull or merge request, as previews need it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEvent {
    /// GitHub's pull request number, GitLab's merge request `iid`.
    pub number: u64,
    pub change: RequestChange,
    /// The commit at the request's head.
    pub commit: String,
    pub branch: String,
    /// The request's code comes from another repository (a fork): never deployed
    /// without a deployer's approval.
    pub from_fork: bool,
    pub author: String,
    pub title: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestChange {
    /// Opened, reopened, or out of draft.
    Opened,
    /// New commits on it.
    Pushed,
    Closed {
        merged: bool,
    },
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key)).and_then(Value::as_str)
}

/// A commit id as forges send it (40 hex digits, or 64 for SHA-256 repositories), not
/// the all-zero one of a deleted ref.
fn commit(sha: Option<&str>) -> Option<String> {
    sha.filter(|s| (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter(|s| s.bytes().any(|b| b != b'0'))
        .map(str::to_ascii_lowercase)
}

/// `refs/heads/x` → a push to x; `refs/tags/v1` → tag v1.
fn pushed(reference: &str) -> Option<ForgeEvent> {
    if let Some(branch) = reference.strip_prefix("refs/heads/") {
        Some(ForgeEvent::Push { branch: branch.into() })
    } else {
        reference.strip_prefix("refs/tags/").map(|tag| ForgeEvent::Tag { name: tag.into() })
    }
}

fn ignored(why: &str) -> What {
    What::Ignored(why.into())
}

/// A GitHub webhook (`X-GitHub-Event: event`).
pub fn github(event: &str, body: &Value) -> Result<Incoming, String> {
    let repo = text(body, &["repository", "full_name"]).ok_or("repository.full_name is missing")?.to_string();
    let actor = |path: &[&str]| text(body, path).unwrap_or("someone").to_string();
    let mut before = None;
    let what = match event {
        "push" => {
            let reference = text(body, &["ref"]).ok_or("ref is missing")?;
            before = commit(text(body, &["before"]));
            match (pushed(reference), commit(text(body, &["after"]))) {
                (_, _) if body["deleted"] == true => ignored("a deleted ref"),
                (Some(event), Some(commit)) => What::Event { event, commit, actor: actor(&["pusher", "name"]) },
                _ => ignored("not a branch or tag push"),
            }
        }
        "workflow_run" | "check_suite" => {
            let run = &body[event];
            let done = body["action"] == "completed" && run["conclusion"] == "success";
            // Only CI that ran for a push to the repository itself stands for that push.
            let pushed_here = if event == "workflow_run" {
                workflow_run_pushed(run, &repo)
            } else {
                before = commit(text(run, &["before"]));
                check_suite_pushed(run, body)
            };
            match (done, pushed_here, text(run, &["head_branch"]), commit(text(run, &["head_sha"]))) {
                (false, _, _, _) => ignored("CI has not passed"),
                (true, Err(why), _, _) => What::Ignored(why),
                (true, Ok(()), Some(branch), Some(commit)) => What::Event {
                    event: ForgeEvent::CiPassed { branch: branch.into(), tag: false },
                    commit,
                    actor: actor(&["sender", "login"]),
                },
                (true, Ok(()), _, _) => ignored("CI passed on no branch"),
            }
        }
        "pull_request" => github_pull_request(body, &repo),
        "create" => ignored("tags arrive as push events"),
        "ping" => ignored("ping"),
        other => ignored(&format!("`{other}` events start no release")),
    };
    let default_branch = text(body, &["repository", "default_branch"]).map(str::to_string);
    Ok(Incoming { repo, what, default_branch, before })
}

/// A pull request opened, pushed to (`synchronize`) or closed; its other changes
/// (labels, edits, reviews) are ignored.
fn github_pull_request(body: &Value, repo: &str) -> What {
    let pr = &body["pull_request"];
    let change = match (text(body, &["action"]), pr["merged"] == true) {
        (Some("opened" | "reopened" | "ready_for_review"), _) => RequestChange::Opened,
        (Some("synchronize"), _) => RequestChange::Pushed,
        (Some("closed"), merged) => RequestChange::Closed { merged },
        (Some(other), _) => return ignored(&format!("a pull request `{other}`: nothing to build")),
        (None, _) => return ignored("a pull request event without an action"),
    };
    let (Some(number), Some(commit), Some(branch)) =
        (body["number"].as_u64(), commit(text(pr, &["head", "sha"])), text(pr, &["head", "ref"]))
    else {
        return ignored("a pull request without a number, head commit or head branch");
    };
    // A fork whose repository was deleted has `head.repo: null`: foreign too.
    let from_fork = !text(pr, &["head", "repo", "full_name"]).is_some_and(|head| head.eq_ignore_ascii_case(repo));
    What::Request(RequestEvent {
        number,
        change,
        commit,
        branch: branch.to_string(),
        from_fork,
        author: text(pr, &["user", "login"]).unwrap_or("someone").to_string(),
        title: text(pr, &["title"]).unwrap_or_default().to_string(),
        url: text(pr, &["html_url"]).map(str::to_string),
    })
}

/// A merge request opened, updated with new commits (`oldrev` present) or closed.
fn gitlab_merge_request(body: &Value) -> What {
    let mr = &body["object_attributes"];
    let change = match text(mr, &["action"]) {
        Some("open" | "reopen") => RequestChange::Opened,
        Some("update") if mr.get("oldrev").is_some_and(|v| !v.is_null()) => RequestChange::Pushed,
        Some("update") => return ignored("a merge request edited without new commits"),
        Some("close") => RequestChange::Closed { merged: false },
        Some("merge") => RequestChange::Closed { merged: true },
        Some(other) => return ignored(&format!("a merge request `{other}`: nothing to build")),
        None => return ignored("a merge request event without an action"),
    };
    let (Some(number), Some(commit), Some(branch)) =
        (mr["iid"].as_u64(), commit(text(mr, &["last_commit", "id"])), text(mr, &["source_branch"]))
    else {
        return ignored("a merge request without an iid, last commit or source branch");
    };
    let (source, target) = (mr["source_project_id"].as_u64(), mr["target_project_id"].as_u64());
    let from_fork = source.is_none() || source != target;
    What::Request(RequestEvent {
        number,
        change,
        commit,
        branch: branch.to_string(),
        from_fork,
        author: text(body, &["user", "username"]).unwrap_or("someone").to_string(),
        title: text(mr, &["title"]).unwrap_or_default().to_string(),
        url: text(mr, &["url"]).map(str::to_string),
    })
}

/// A workflow run counts only when it ran for a push (`event: push`) to the
/// repository itself: a fork's pull request runs the base repository's workflows
/// with `event: pull_request` (or `pull_request_target`) and the fork as
/// `head_repository`, and its branch may well be called `main`.
fn workflow_run_pushed(run: &Value, repo: &str) -> Result<(), String> {
    match text(run, &["event"]) {
        Some("push") => {}
        Some(other) => return Err(format!("a workflow run for a `{other}` event, not for a push to the repository")),
        None => return Err("the workflow run names no event".into()),
    }
    match text(run, &["head_repository", "full_name"]) {
        Some(head) if head.eq_ignore_ascii_case(repo) => Ok(()),
        Some(head) => Err(format!("a workflow run on `{head}`'s commit, not on the repository's own")),
        None => Err("the workflow run names no head repository".into()),
    }
}

/// A check suite has no `event` and no `head_repository`. GitHub documents that a
/// suite whose head branch is in a fork has `head_branch: null` and an empty
/// `pull_requests`; a suite on a branch of the repository itself names that branch,
/// and lists the open pull requests from it (each with `head.repo`). So a suite counts
/// only when it names a head branch and every pull request it lists comes from the
/// repository itself (`head.repo.id` is `repository.id`; a pull request without one
/// counts as foreign): a fork's pull request never passes as a push to the
/// repository, whatever its branch is called.
fn check_suite_pushed(suite: &Value, body: &Value) -> Result<(), String> {
    if text(suite, &["head_branch"]).is_none() {
        return Err("a check suite on no branch of the repository (a fork's pull request)".into());
    }
    let repository = body["repository"]["id"].as_u64();
    let pull_requests = suite["pull_requests"].as_array().map(Vec::as_slice).unwrap_or_default();
    let foreign =
        pull_requests.iter().find(|pr| repository.is_none() || pr["head"]["repo"]["id"].as_u64() != repository);
    match foreign {
        None => Ok(()),
        Some(pr) => Err(format!(
            "a check suite for pull request #{} from another repository",
            pr["number"].as_u64().map_or_else(|| "?".to_string(), |n| n.to_string())
        )),
    }
}

/// A GitLab webhook (`X-Gitlab-Event: Push Hook`, …).
pub fn gitlab(event: &str, body: &Value) -> Result<Incoming, String> {
    let repo = text(body, &["project", "path_with_namespace"]).ok_or("project.path_with_namespace is missing")?;
    let actor = text(body, &["user_username"]).or(text(body, &["user", "username"])).unwrap_or("someone").to_string();
    let mut before = None;
    let what = match event {
        "Push Hook" | "Tag Push Hook" => {
            let reference = text(body, &["ref"]).ok_or("ref is missing")?;
            before = commit(text(body, &["before"]));
            match (pushed(reference), commit(text(body, &["checkout_sha"]))) {
                (Some(event), Some(commit)) => What::Event { event, commit, actor },
                (_, None) => ignored("a deleted ref"),
                _ => ignored("not a branch or tag push"),
            }
        }
        "Pipeline Hook" => {
            let pipeline = &body["object_attributes"];
            before = commit(text(pipeline, &["before_sha"]));
            let passed = pipeline["status"] == "success";
            // Only a pipeline a push made: merge request pipelines (a fork's included),
            // schedules, triggers, the web and API run other refs or other people's code.
            let source = text(pipeline, &["source"]);
            match (passed, source, text(pipeline, &["ref"]), commit(text(pipeline, &["sha"]))) {
                (false, _, _, _) => ignored("the pipeline has not passed"),
                (true, None, _, _) => ignored("the pipeline names no source"),
                (true, Some(source), _, _) if source != "push" => {
                    ignored(&format!("a pipeline from `{source}`, not from a push to the repository"))
                }
                (true, _, Some(reference), Some(commit)) => What::Event {
                    event: ForgeEvent::CiPassed { branch: reference.into(), tag: pipeline["tag"] == true },
                    commit,
                    actor,
                },
                (true, _, _, _) => ignored("the pipeline names no ref"),
            }
        }
        "Merge Request Hook" => gitlab_merge_request(body),
        other => ignored(&format!("`{other}` events start no release")),
    };
    let default_branch = text(body, &["project", "default_branch"]).map(str::to_string);
    Ok(Incoming { repo: repo.to_string(), what, default_branch, before })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

    fn request(incoming: Incoming) -> RequestEvent {
        match incoming.what {
            What::Request(request) => request,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn github_pull_requests_are_opened_pushed_and_closed_and_forks_are_known() {
        let pr = |action: &str, head_repo: Value, merged: bool| {
            json!({"action": action, "number": 42, "repository": {"full_name": "octo-org/hello"},
                "pull_request": {"title": "Faster", "html_url": "https://github.com/octo-org/hello/pull/42",
                    "merged": merged, "user": {"login": "alex"},
                    "head": {"sha": SHA, "ref": "faster", "repo": head_repo},
                    "base": {"ref": "main", "repo": {"full_name": "octo-org/hello"}}}})
        };
        let own = json!({"full_name": "Octo-Org/Hello"});
        let opened = request(github("pull_request", &pr("opened", own.clone(), false)).unwrap());
        assert_eq!((opened.number, opened.change, opened.from_fork), (42, RequestChange::Opened, false));
        assert_eq!((opened.commit.as_str(), opened.branch.as_str(), opened.author.as_str()), (SHA, "faster", "alex"));
        let pushed = request(github("pull_request", &pr("synchronize", own.clone(), false)).unwrap());
        assert_eq!(pushed.change, RequestChange::Pushed);
        let merged = request(github("pull_request", &pr("closed", own.clone(), true)).unwrap());
        assert_eq!(merged.change, RequestChange::Closed { merged: true });
        let fork = request(github("pull_request", &pr("opened", json!({"full_name": "evil/hello"}), false)).unwrap());
        assert!(fork.from_fork);
        let gone = request(github("pull_request", &pr("opened", Value::Null, false)).unwrap());
        assert!(gone.from_fork, "a deleted fork is still a fork");
        let labeled = github("pull_request", &pr("labeled", own, false)).unwrap();
        assert!(matches!(labeled.what, What::Ignored(why) if why.contains("`labeled`")));
    }

    #[test]
    fn gitlab_merge_requests_are_opened_pushed_and_closed_and_forks_are_known() {
        let mr = |action: &str, oldrev: Option<&str>, source: u64| {
            json!({"object_kind": "merge_request", "user": {"username": "alex"},
                "project": {"path_with_namespace": "platform/api", "default_branch": "main"},
                "object_attributes": {"iid": 7, "action": action, "oldrev": oldrev, "title": "Faster",
                    "source_branch": "faster", "target_branch": "main", "source_project_id": source,
                    "target_project_id": 12, "url": "https://gitlab.example.com/platform/api/-/merge_requests/7",
                    "last_commit": {"id": SHA}}})
        };
        let opened = request(gitlab("Merge Request Hook", &mr("open", None, 12)).unwrap());
        assert_eq!((opened.number, opened.change, opened.from_fork), (7, RequestChange::Opened, false));
        let pushed = request(gitlab("Merge Request Hook", &mr("update", Some(SHA), 12)).unwrap());
        assert_eq!(pushed.change, RequestChange::Pushed);
        let edited = gitlab("Merge Request Hook", &mr("update", None, 12)).unwrap();
        assert!(matches!(edited.what, What::Ignored(_)), "an edit without commits builds nothing");
        let merged = request(gitlab("Merge Request Hook", &mr("merge", None, 12)).unwrap());
        assert_eq!(merged.change, RequestChange::Closed { merged: true });
        let fork = request(gitlab("Merge Request Hook", &mr("open", None, 99)).unwrap());
        assert!(fork.from_fork);
    }

    #[test]
    fn github_pushes_tags_and_passing_runs_become_events() {
        let push = json!({"ref": "refs/heads/main", "after": SHA, "deleted": false,
            "repository": {"full_name": "octo-org/hello"}, "pusher": {"name": "octocat"}});
        let got = github("push", &push).unwrap();
        assert_eq!(got.repo, "octo-org/hello");
        let expected = What::Event {
            event: ForgeEvent::Push { branch: "main".into() },
            commit: SHA.into(),
            actor: "octocat".into(),
        };
        assert_eq!(got.what, expected);
        let tag = json!({"ref": "refs/tags/v1.2.0", "after": SHA, "repository": {"full_name": "o/r"}});
        assert!(matches!(github("push", &tag).unwrap().what, What::Event { event: ForgeEvent::Tag { .. }, .. }));
        let deleted = json!({"ref": "refs/heads/old", "after": "0".repeat(40), "deleted": true, "repository": {"full_name": "o/r"}});
        assert_eq!(github("push", &deleted).unwrap().what, What::Ignored("a deleted ref".into()));
        let run = json!({"action": "completed", "workflow_run": {"conclusion": "success", "head_branch": "main", "head_sha": SHA,
            "event": "push", "head_repository": {"full_name": "O/R"}},
            "repository": {"full_name": "o/r"}, "sender": {"login": "octocat"}});
        assert!(matches!(
            github("workflow_run", &run).unwrap().what,
            What::Event { event: ForgeEvent::CiPassed { .. }, .. }
        ));
        let failed = json!({"action": "completed", "workflow_run": {"conclusion": "failure", "head_branch": "main", "head_sha": SHA},
            "repository": {"full_name": "o/r"}});
        assert_eq!(github("workflow_run", &failed).unwrap().what, What::Ignored("CI has not passed".into()));
        assert!(github("push", &json!({"ref": "refs/heads/main"})).unwrap_err().contains("repository.full_name"));
    }

    #[test]
    fn github_pushes_carry_the_default_branch_and_the_commit_before() {
        let before = "a".repeat(40);
        let push = json!({"ref": "refs/heads/main", "before": before, "after": SHA,
            "repository": {"full_name": "o/r", "default_branch": "trunk"}});
        let got = github("push", &push).unwrap();
        assert_eq!((got.default_branch.as_deref(), got.before.as_deref()), (Some("trunk"), Some(before.as_str())));
        let created = json!({"ref": "refs/heads/new", "before": "0".repeat(40), "after": SHA, "repository": {"full_name": "o/r"}});
        let got = github("push", &created).unwrap();
        assert_eq!((got.default_branch, got.before), (None, None), "a new branch has nothing before");
    }

    /// A completed, passing workflow run on `main` of `o/r`, with `changes` applied.
    fn run_with(changes: Value) -> Value {
        let mut run = json!({"action": "completed", "workflow_run": {"conclusion": "success", "head_branch": "main",
            "head_sha": SHA, "event": "push", "head_repository": {"full_name": "o/r"}},
            "repository": {"full_name": "o/r", "default_branch": "main"}, "sender": {"login": "octocat"}});
        for (key, value) in changes.as_object().unwrap() {
            run["workflow_run"][key] = value.clone();
        }
        run
    }

    #[test]
    fn forge_ci_counts_only_for_the_repositorys_own_pushes_on_github() {
        let passed = |body: &Value, event: &str| matches!(github(event, body).unwrap().what, What::Event { .. });
        assert!(passed(&run_with(json!({})), "workflow_run"));
        let reason = |body: &Value, event: &str| match github(event, body).unwrap().what {
            What::Ignored(why) => why,
            other => panic!("{other:?}"),
        };
        // A fork's pull request whose branch is called main.
        let fork = run_with(json!({"event": "pull_request", "head_repository": {"full_name": "evil/r"}}));
        assert!(reason(&fork, "workflow_run").contains("`pull_request` event"), "{}", reason(&fork, "workflow_run"));
        let target = run_with(json!({"event": "pull_request_target"}));
        assert!(reason(&target, "workflow_run").contains("`pull_request_target`"));
        let elsewhere = run_with(json!({"head_repository": {"full_name": "evil/r"}}));
        assert!(reason(&elsewhere, "workflow_run").contains("`evil/r`"));
        assert!(reason(&run_with(json!({"head_repository": null})), "workflow_run").contains("no head repository"));
        assert!(reason(&run_with(json!({"event": null})), "workflow_run").contains("no event"));
        for event in ["schedule", "workflow_dispatch", "release"] {
            assert!(!passed(&run_with(json!({"event": event})), "workflow_run"), "{event}");
        }

        let suite = |fields: Value| {
            let mut suite = json!({"action": "completed", "check_suite": {"conclusion": "success", "head_branch": "main",
                "head_sha": SHA, "before": "b".repeat(40), "after": SHA, "pull_requests": []},
                "repository": {"id": 7, "full_name": "o/r", "default_branch": "main"}, "sender": {"login": "octocat"}});
            for (key, value) in fields.as_object().unwrap() {
                suite["check_suite"][key] = value.clone();
            }
            suite
        };
        let pushed = suite(json!({}));
        assert!(passed(&pushed, "check_suite"));
        assert_eq!(github("check_suite", &pushed).unwrap().before, Some("b".repeat(40)));
        let ours = json!([{"number": 3, "head": {"ref": "main", "repo": {"id": 7}}, "base": {"ref": "main", "repo": {"id": 7}}}]);
        assert!(
            passed(&suite(json!({"pull_requests": ours})), "check_suite"),
            "a pull request from a branch of the repository"
        );
        // GitHub: a fork's branch has no head_branch and no pull requests.
        assert!(reason(&suite(json!({"head_branch": null})), "check_suite").contains("fork"));
        let theirs = json!([{"number": 4, "head": {"ref": "main", "repo": {"id": 99}}, "base": {"ref": "main", "repo": {"id": 7}}}]);
        assert!(reason(&suite(json!({"pull_requests": theirs})), "check_suite").contains("#4 from another repository"));
        let unnamed = json!([{"number": 5, "head": {"ref": "main"}}]);
        assert!(!passed(&suite(json!({"pull_requests": unnamed})), "check_suite"));
        let failed = suite(json!({"conclusion": "failure", "head_branch": null}));
        assert_eq!(reason(&failed, "check_suite"), "CI has not passed");
    }

    #[test]
    fn forge_ci_counts_only_for_gitlab_pipelines_of_pushes() {
        let pipeline = |source: Value| {
            json!({"object_kind": "pipeline", "object_attributes": {"status": "success", "ref": "main", "tag": false,
                "sha": SHA, "before_sha": "c".repeat(40), "source": source},
                "user": {"username": "jsmith"}, "project": {"path_with_namespace": "a/b", "default_branch": "main"}})
        };
        let got = gitlab("Pipeline Hook", &pipeline(json!("push"))).unwrap();
        assert!(matches!(got.what, What::Event { event: ForgeEvent::CiPassed { .. }, .. }));
        assert_eq!((got.default_branch.as_deref(), got.before), (Some("main"), Some("c".repeat(40))));
        for source in ["merge_request_event", "schedule", "trigger", "web", "api", "pipeline", "parent_pipeline"] {
            let what = gitlab("Pipeline Hook", &pipeline(json!(source))).unwrap().what;
            assert_eq!(what, What::Ignored(format!("a pipeline from `{source}`, not from a push to the repository")));
        }
        let what = gitlab("Pipeline Hook", &pipeline(Value::Null)).unwrap().what;
        assert_eq!(what, What::Ignored("the pipeline names no source".into()));
    }

    #[test]
    fn gitlab_pushes_tags_and_pipelines_become_events() {
        let push = json!({"object_kind": "push", "ref": "refs/heads/main", "checkout_sha": SHA, "user_username": "jsmith",
            "project": {"path_with_namespace": "platform/api"}});
        let got = gitlab("Push Hook", &push).unwrap();
        assert_eq!(
            (got.repo.as_str(), got.what.clone()),
            (
                "platform/api",
                What::Event {
                    event: ForgeEvent::Push { branch: "main".into() },
                    commit: SHA.into(),
                    actor: "jsmith".into()
                }
            )
        );
        let removed = json!({"ref": "refs/heads/x", "checkout_sha": null, "project": {"path_with_namespace": "a/b"}});
        assert_eq!(gitlab("Push Hook", &removed).unwrap().what, What::Ignored("a deleted ref".into()));
        let pipeline = json!({"object_attributes": {"status": "success", "ref": "v2.0", "tag": true, "sha": SHA, "source": "push"},
            "user": {"username": "jsmith"}, "project": {"path_with_namespace": "a/b"}});
        let event = ForgeEvent::CiPassed { branch: "v2.0".into(), tag: true };
        assert!(matches!(gitlab("Pipeline Hook", &pipeline).unwrap().what, What::Event { event: e, .. } if e == event));
        let mr = json!({"object_kind": "merge_request", "project": {"path_with_namespace": "a/b"}});
        assert!(matches!(gitlab("Merge Request Hook", &mr).unwrap().what, What::Ignored(_)));
    }
}

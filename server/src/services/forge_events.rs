//! What a GitHub or GitLab webhook says, reduced to what triggers need: the
//! repository, the event (a push to a branch, a tag, CI passing), the commit and who
//! did it. Events that never make a release (pull and merge requests, branch
//! deletions, failed CI) come back as `ignored` with the reason.

use ferry_engine::pipeline::ForgeEvent;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// `owner/name` (GitHub) or `group/project` (GitLab), as the payload names it.
    pub repo: String,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    Event { event: ForgeEvent, commit: String, actor: String },
    Ignored(String),
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
    let what = match event {
        "push" => {
            let reference = text(body, &["ref"]).ok_or("ref is missing")?;
            match (pushed(reference), commit(text(body, &["after"]))) {
                (_, _) if body["deleted"] == true => ignored("a deleted ref"),
                (Some(event), Some(commit)) => What::Event { event, commit, actor: actor(&["pusher", "name"]) },
                _ => ignored("not a branch or tag push"),
            }
        }
        "workflow_run" | "check_suite" => {
            let run = &body[event];
            let done = body["action"] == "completed" && run["conclusion"] == "success";
            match (done, text(run, &["head_branch"]), commit(text(run, &["head_sha"]))) {
                (true, Some(branch), Some(commit)) => What::Event {
                    event: ForgeEvent::CiPassed { branch: branch.into(), tag: false },
                    commit,
                    actor: actor(&["sender", "login"]),
                },
                (true, _, _) => ignored("CI passed on no branch"),
                (false, _, _) => ignored("CI has not passed"),
            }
        }
        "pull_request" => ignored("pull requests start no release"),
        "create" => ignored("tags arrive as push events"),
        "ping" => ignored("ping"),
        other => ignored(&format!("`{other}` events start no release")),
    };
    Ok(Incoming { repo, what })
}

/// A GitLab webhook (`X-Gitlab-Event: Push Hook`, …).
pub fn gitlab(event: &str, body: &Value) -> Result<Incoming, String> {
    let repo = text(body, &["project", "path_with_namespace"]).ok_or("project.path_with_namespace is missing")?;
    let actor = text(body, &["user_username"]).or(text(body, &["user", "username"])).unwrap_or("someone").to_string();
    let what = match event {
        "Push Hook" | "Tag Push Hook" => {
            let reference = text(body, &["ref"]).ok_or("ref is missing")?;
            match (pushed(reference), commit(text(body, &["checkout_sha"]))) {
                (Some(event), Some(commit)) => What::Event { event, commit, actor },
                (_, None) => ignored("a deleted ref"),
                _ => ignored("not a branch or tag push"),
            }
        }
        "Pipeline Hook" => {
            let pipeline = &body["object_attributes"];
            let passed = pipeline["status"] == "success";
            match (passed, text(pipeline, &["ref"]), commit(text(pipeline, &["sha"]))) {
                (true, Some(reference), Some(commit)) => What::Event {
                    event: ForgeEvent::CiPassed { branch: reference.into(), tag: pipeline["tag"] == true },
                    commit,
                    actor,
                },
                (true, _, _) => ignored("the pipeline names no ref"),
                (false, _, _) => ignored("the pipeline has not passed"),
            }
        }
        "Merge Request Hook" => ignored("merge requests start no release"),
        other => ignored(&format!("`{other}` events start no release")),
    };
    Ok(Incoming { repo: repo.to_string(), what })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

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
        let run = json!({"action": "completed", "workflow_run": {"conclusion": "success", "head_branch": "main", "head_sha": SHA},
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
        let pipeline = json!({"object_attributes": {"status": "success", "ref": "v2.0", "tag": true, "sha": SHA},
            "user": {"username": "jsmith"}, "project": {"path_with_namespace": "a/b"}});
        let event = ForgeEvent::CiPassed { branch: "v2.0".into(), tag: true };
        assert!(matches!(gitlab("Pipeline Hook", &pipeline).unwrap().what, What::Event { event: e, .. } if e == event));
        let mr = json!({"object_kind": "merge_request", "project": {"path_with_namespace": "a/b"}});
        assert!(matches!(gitlab("Merge Request Hook", &mr).unwrap().what, What::Ignored(_)));
    }
}

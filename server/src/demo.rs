//! The demo project: on first start, the example app in `examples/hello-web` becomes a
//! git repository with two commits (1.0.0 and 1.1.0), a project and two releases, so
//! a newcomer can deploy something at once.

use std::path::Path;

use crate::config::Config;
use crate::git;
use crate::services::catalog;
use crate::store::Store;

pub const DEMO_SLUG: &str = "hello-web";

pub async fn seed(store: &Store, config: &Config) -> Result<(), String> {
    if !config.demo || !store.projects().await.map_err(|e| e.to_string())?.is_empty() {
        return Ok(());
    }
    let source = &config.demo_source;
    if !source.join("ferry.yml").is_file() {
        tracing::warn!(source = %source.display(), "demo app not found; starting without the demo project");
        return Ok(());
    }
    let repo = config.data_dir.join("repos").join(DEMO_SLUG);
    if repo.exists() {
        // Left from a start that failed half-way: rebuild it.
        std::fs::remove_dir_all(&repo).map_err(|e| format!("cannot reset {}: {e}", repo.display()))?;
    }
    copy_dir(source, &repo).map_err(|e| format!("cannot copy the demo app: {e}"))?;
    let repo = std::fs::canonicalize(&repo).map_err(|e| e.to_string())?;
    let repo_path = repo.display().to_string();
    git::init(&repo_path).await?;
    let mut commits = Vec::new();
    for (version, message) in
        [("1.0.0", "hello-web 1.0.0: first version"), ("1.1.0", "hello-web 1.1.0: friendlier page")]
    {
        std::fs::write(repo.join("VERSION"), format!("{version}\n")).map_err(|e| e.to_string())?;
        commits.push((version, git::commit_all(&repo_path, message).await?));
    }
    let project = match catalog::create_project(store, DEMO_SLUG, "hello-web (demo)", &repo_path, None).await {
        Ok(project) => project,
        // Another replica, starting at the same moment, seeded it first.
        Err(e) if e.error == ferry_app::error::ErrorCode::Conflict => return Ok(()),
        Err(e) => return Err(e.message),
    };
    for (version, commit) in commits {
        catalog::create_release(store, &project, version, &commit, "demo", None).await.map_err(|e| e.message)?;
    }
    tracing::info!(repo = %repo_path, "created the demo project");
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

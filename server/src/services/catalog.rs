//! Projects and releases: registering a project from its repository's `ferry.yml`,
//! cutting releases from commits, and assembling the environment matrix.

use std::collections::HashMap;

use ferry_app::error::AppError;
use ferry_app::model::{
    DeployRequest, EnvironmentView, HistoryFilter, Matrix, MatrixCell, MatrixRow, ProjectView, ReleaseDetail,
    ReleaseView,
};
use ferry_engine::pipeline::{Pipeline, PIPELINE_FILE};

use crate::error::OrInternal;
use crate::git;
use crate::store::{is_unique_violation, LiveDeployments, NewProject, NewRelease, ReleaseRow, Store};

/// Reads and validates the pipeline file at `commit`.
pub async fn pipeline_at(repo: &str, commit: &str) -> Result<(Pipeline, String), AppError> {
    let text = git::file_at(repo, commit, PIPELINE_FILE)
        .await
        .ok_or_else(|| AppError::unprocessable(format!("{PIPELINE_FILE} not found at commit {commit}")))?;
    let pipeline = read_pipeline(&text).map_err(AppError::unprocessable)?;
    for warning in &pipeline.warnings {
        tracing::warn!(repository = repo, commit, "{warning}");
    }
    Ok((pipeline, text))
}

/// The pipeline a `ferry.yml` declares, or why it cannot be used, with file, line and field.
pub fn read_pipeline(text: &str) -> Result<Pipeline, String> {
    Pipeline::parse(PIPELINE_FILE, text).map_err(|e| e.to_string())
}

fn check_slug(slug: &str) -> Result<(), AppError> {
    ferry_engine::pipeline::Name::parse(slug).map(|_| ()).map_err(|e| AppError::bad_request(format!("slug: {e}")))
}

/// Refuses a slug or name a new project cannot have.
pub fn check_new_project(slug: &str, name: &str) -> Result<(), AppError> {
    check_slug(slug)?;
    if name.trim().is_empty() || name.len() > 100 {
        return Err(AppError::bad_request("name: must be 1-100 characters"));
    }
    Ok(())
}

/// Registers a project from a repository on this machine: its environments are those of
/// `ferry.yml` at `HEAD`. `repo_origin` is where a mirror Ferry made is fetched from.
pub async fn create_project(
    store: &Store,
    slug: &str,
    name: &str,
    repo_url: &str,
    repo_origin: Option<&str>,
) -> Result<ProjectView, AppError> {
    check_new_project(slug, name)?;
    if !git::is_repository(repo_url).await {
        return Err(AppError::unprocessable(format!("repo_url: `{repo_url}` is not a git repository on this server")));
    }
    let head = git::resolve_commit(repo_url, "HEAD")
        .await
        .ok_or_else(|| AppError::unprocessable("repo_url: the repository has no commits"))?;
    let (pipeline, _) = pipeline_at(repo_url, &head).await?;
    let environments = pipeline.environments.iter().map(|e| e.name.to_string()).collect();
    let new = NewProject {
        slug: slug.into(),
        name: name.trim().into(),
        repo_url: repo_url.into(),
        repo_origin: repo_origin.map(str::to_string),
        environments,
    };
    match store.create_project(&new).await {
        Ok(project) => Ok(project),
        Err(e) if is_unique_violation(&e) => Err(AppError::conflict(format!("project `{slug}` already exists"))),
        Err(e) => Err(e).or_internal("creating a project"),
    }
}

pub async fn project(store: &Store, slug: &str) -> Result<ProjectView, AppError> {
    store
        .project_by_slug(slug)
        .await
        .or_internal("loading a project")?
        .ok_or_else(|| AppError::not_found(format!("no project `{slug}`")))
}

/// Cuts an immutable release of `project` at `rev`, keeping its pipeline as it is there.
pub async fn create_release(
    store: &Store,
    project: &ProjectView,
    version: &str,
    rev: &str,
    source: &str,
    git_ref: Option<&str>,
) -> Result<ReleaseView, AppError> {
    let version = version.trim();
    if version.is_empty() || version.len() > 64 || version.chars().any(char::is_whitespace) {
        return Err(AppError::bad_request("version: must be 1-64 characters without spaces"));
    }
    if rev.is_empty() || rev.starts_with('-') || rev.len() > 200 {
        return Err(AppError::bad_request("git_commit: not a commit"));
    }
    let commit = git::resolve_commit(&project.repo_url, rev)
        .await
        .ok_or_else(|| AppError::unprocessable(format!("git_commit: `{rev}` is not a commit of the repository")))?;
    let (_, pipeline) = pipeline_at(&project.repo_url, &commit).await?;
    let committed_at = git::commit_time(&project.repo_url, &commit).await;
    // A branch or tag named as the revision is where the commit came from.
    let named = !commit.starts_with(rev) && rev != "HEAD" && !rev.contains(['~', '^', '@', ':']);
    let git_ref = git_ref.map(str::to_string).or_else(|| named.then(|| rev.to_string()));
    let new = NewRelease {
        git_ref,
        committed_at,
        project_id: project.id,
        version: version.into(),
        git_commit: commit,
        source: source.into(),
        pipeline,
    };
    match store.create_release(&new).await {
        Ok(row) => Ok(row.view()),
        Err(e) if is_unique_violation(&e) => Err(AppError::conflict(format!("release {version} already exists"))),
        Err(e) => Err(e).or_internal("creating a release"),
    }
}

/// The project, environment and release a deployment request names, or which is missing.
pub async fn resolve_target(
    store: &Store,
    request: &DeployRequest,
) -> Result<(ProjectView, EnvironmentView, ReleaseRow), AppError> {
    let project = project(store, &request.project).await?;
    let environment =
        project.environments.iter().find(|e| e.name == request.environment).cloned().ok_or_else(|| {
            AppError::not_found(format!("project {} has no environment `{}`", project.slug, request.environment))
        })?;
    let release = store
        .release(request.release_id)
        .await
        .or_internal("loading a release")?
        .filter(|r| r.project_id == project.id)
        .ok_or_else(|| {
            AppError::not_found(format!("project {} has no release {}", project.slug, request.release_id))
        })?;
    Ok((project, environment, release))
}

pub async fn releases(store: &Store, project: &ProjectView) -> Result<Vec<ReleaseView>, AppError> {
    let rows = store.releases(project.id).await.or_internal("listing releases")?;
    Ok(rows.iter().map(|r| r.view()).collect())
}

/// Most commits a changelog lists.
const CHANGELOG_COMMITS: usize = 100;

pub async fn release_detail(store: &Store, id: i64) -> Result<ReleaseDetail, AppError> {
    let not_found = || AppError::not_found(format!("no release {id}"));
    let release = store.release(id).await.or_internal("loading a release")?.ok_or_else(not_found)?;
    let project = store.project(release.project_id).await.or_internal("loading a project")?.ok_or_else(not_found)?;
    // Releases are listed newest first; the previous one is the next older.
    let previous = store.releases(project.id).await.or_internal("listing releases")?.into_iter().find(|r| r.id < id);
    let from = previous.as_ref().map(|p| p.git_commit.as_str());
    let changelog = git::commits_between(&project.repo_url, from, &release.git_commit, CHANGELOG_COMMITS)
        .await
        .or_internal("reading the changelog")?;
    let filter = HistoryFilter { release: Some(id), limit: Some(500), ..Default::default() };
    let deployments = store.history(&filter).await.or_internal("listing deployments")?;
    let pipeline_warnings = read_pipeline(&release.pipeline).map(|p| p.warnings).unwrap_or_default();
    Ok(ReleaseDetail {
        project,
        release: release.view(),
        previous: previous.map(|p| p.view()),
        changelog,
        deployments,
        pipeline_warnings,
    })
}

/// The matrix of the projects `visible` accepts.
pub async fn matrix(store: &Store, visible: impl Fn(&ProjectView) -> bool) -> Result<Matrix, AppError> {
    let projects = store.projects().await.or_internal("listing projects")?;
    let mut live = store.live_deployments().await.or_internal("matrix")?;
    let mut releases: HashMap<i64, Vec<ReleaseView>> = HashMap::new();
    for release in store.all_releases().await.or_internal("listing releases")? {
        releases.entry(release.project_id).or_default().push(release.view());
    }
    let rows = projects
        .into_iter()
        .filter(|p| visible(p))
        .map(|project| {
            let cells = project
                .environments
                .iter()
                .map(|environment| {
                    let LiveDeployments { current, latest, previous } =
                        live.remove(&environment.id).unwrap_or_default();
                    MatrixCell { environment: environment.clone(), current, latest, previous }
                })
                .collect();
            let releases = releases.remove(&project.id).unwrap_or_default();
            MatrixRow { project, cells, releases }
        })
        .collect();
    Ok(Matrix { rows })
}

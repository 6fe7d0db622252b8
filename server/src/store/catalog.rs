//! Projects, their environments in lifecycle order, and their immutable releases.

use ferry_app::model::{EnvironmentView, ProjectView, Protection, Role};

use super::rows::{EnvironmentRow, ProjectRow, ReleaseRow};
use super::{now_millis, Store, StoreResult};

pub struct NewProject {
    pub slug: String,
    pub name: String,
    pub repo_url: String,
    /// Where `repo_url`, a mirror Ferry made, is fetched from.
    pub repo_origin: Option<String>,
    /// Environment names in lifecycle order.
    pub environments: Vec<String>,
}

pub struct NewRelease {
    pub project_id: i64,
    pub version: String,
    pub git_commit: String,
    pub source: String,
    pub pipeline: String,
    /// Unix milliseconds of the commit, when known.
    pub committed_at: Option<i64>,
    /// The branch or tag the commit came from, when known.
    pub git_ref: Option<String>,
}

const RELEASE_COLUMNS: &str =
    "id, project_id, version, git_commit, git_ref, source, pipeline, created_at, committed_at, bad_reason, bad_by, bad_at, \
     artifact_sha256";

impl Store {
    pub async fn create_project(&self, new: &NewProject) -> StoreResult<ProjectView> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO projects (slug, name, repo_url, repo_origin, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id",
        )
        .bind(&new.slug)
        .bind(&new.name)
        .bind(&new.repo_url)
        .bind(&new.repo_origin)
        .bind(now_millis())
        .fetch_one(&mut *tx)
        .await?;
        for (position, name) in new.environments.iter().enumerate() {
            sqlx::query("INSERT INTO environments (project_id, name, position) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(name)
                .bind(position as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(self.project(id).await?.expect("just created"))
    }

    pub async fn projects(&self) -> StoreResult<Vec<ProjectView>> {
        let rows: Vec<ProjectRow> =
            sqlx::query_as("SELECT id, slug, name, repo_url, repo_origin, build_selector FROM projects ORDER BY slug")
                .fetch_all(&self.pool)
                .await?;
        // Previews follow the lifecycle, by number; torn-down ones are gone from view.
        let envs: Vec<EnvironmentRow> = sqlx::query_as(
            "SELECT e.id, e.project_id, e.name, e.position, e.deploy_role, e.required_approvals, e.wait_minutes, \
                    e.agent_selector, p.number AS preview_number, f.name AS preview_from, \
                    p.from_environment_id AS preview_from_id, p.port AS preview_port, p.url AS preview_url, \
                    p.branch AS preview_branch, p.title AS preview_title, p.author AS preview_author, \
                    p.request_url AS preview_request_url, p.from_fork AS preview_from_fork, p.state AS preview_state \
             FROM environments e LEFT JOIN previews p ON p.environment_id = e.id \
             LEFT JOIN environments f ON f.id = p.from_environment_id \
             WHERE p.state IS NULL OR p.state <> 'closed' \
             ORDER BY e.project_id, p.number IS NOT NULL, p.number, e.position",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|p| project_view(p, &envs)).collect())
    }

    pub async fn project(&self, id: i64) -> StoreResult<Option<ProjectView>> {
        Ok(self.projects().await?.into_iter().find(|p| p.id == id))
    }

    pub async fn project_by_slug(&self, slug: &str) -> StoreResult<Option<ProjectView>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM projects WHERE slug = $1").bind(slug).fetch_optional(&self.pool).await?;
        match id {
            Some(id) => self.project(id).await,
            None => Ok(None),
        }
    }

    pub async fn create_release(&self, new: &NewRelease) -> StoreResult<ReleaseRow> {
        let sql = format!(
            "INSERT INTO releases (project_id, version, git_commit, source, pipeline, created_at, committed_at, git_ref) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {RELEASE_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(new.project_id)
            .bind(&new.version)
            .bind(&new.git_commit)
            .bind(&new.source)
            .bind(&new.pipeline)
            .bind(now_millis())
            .bind(new.committed_at)
            .bind(&new.git_ref)
            .fetch_one(&self.pool)
            .await
    }

    /// Records the release's artifact, unless an earlier build recorded one already.
    pub async fn set_release_artifact(&self, id: i64, sha256: &str) -> StoreResult<()> {
        sqlx::query("UPDATE releases SET artifact_sha256 = $1 WHERE id = $2 AND artifact_sha256 IS NULL")
            .bind(sha256)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn release(&self, id: i64) -> StoreResult<Option<ReleaseRow>> {
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = $1");
        sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await
    }

    pub async fn set_protection(&self, environment_id: i64, protection: &Protection) -> StoreResult<()> {
        sqlx::query(
            "UPDATE environments SET deploy_role = $1, required_approvals = $2, wait_minutes = $3 WHERE id = $4",
        )
        .bind(protection.deploy_role.as_str())
        .bind(protection.required_approvals)
        .bind(protection.wait_minutes)
        .bind(environment_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_build_selector(&self, project_id: i64, selector: &str) -> StoreResult<()> {
        sqlx::query("UPDATE projects SET build_selector = $1 WHERE id = $2")
            .bind(selector)
            .bind(project_id)
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn set_agent_selector(&self, environment_id: i64, selector: &str) -> StoreResult<()> {
        sqlx::query("UPDATE environments SET agent_selector = $1 WHERE id = $2")
            .bind(selector)
            .bind(environment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a release bad (with `Some`) or clears the mark (with `None`).
    pub async fn set_release_bad(&self, id: i64, mark: Option<(&str, &str)>) -> StoreResult<()> {
        let (reason, by) = mark.unzip();
        sqlx::query("UPDATE releases SET bad_reason = $1, bad_by = $2, bad_at = $3 WHERE id = $4")
            .bind(reason)
            .bind(by)
            .bind(mark.map(|_| now_millis()))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn releases(&self, project_id: i64) -> StoreResult<Vec<ReleaseRow>> {
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE project_id = $1 ORDER BY id DESC");
        sqlx::query_as(&sql).bind(project_id).fetch_all(&self.pool).await
    }

    /// Every project's releases, newest first.
    pub async fn all_releases(&self) -> StoreResult<Vec<ReleaseRow>> {
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases ORDER BY id DESC");
        sqlx::query_as(&sql).fetch_all(&self.pool).await
    }
}

fn project_view(p: ProjectRow, envs: &[EnvironmentRow]) -> ProjectView {
    ProjectView {
        environments: envs
            .iter()
            .filter(|e| e.project_id == p.id)
            .map(|e| EnvironmentView {
                id: e.id,
                name: e.name.clone(),
                position: e.position as i32,
                protection: Protection {
                    // Only Ferry writes these columns, from validated values.
                    deploy_role: Role::parse(&e.deploy_role).unwrap_or(Role::Admin),
                    required_approvals: e.required_approvals,
                    wait_minutes: e.wait_minutes,
                },
                agent_selector: e.agent_selector.clone(),
                preview: e.preview(),
            })
            .collect(),
        id: p.id,
        slug: p.slug,
        name: p.name,
        repo_url: p.repo_url,
        repo_origin: p.repo_origin,
        build_selector: p.build_selector,
    }
}

/// True when the error is a uniqueness violation (e.g. a release version used twice).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

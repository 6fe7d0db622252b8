//! tower-sessions over Ferry's store, and the session cookie's settings: `__Host-`
//! prefixed and Secure when served over HTTPS, always HttpOnly and SameSite=Lax (Lax,
//! not Strict, so the redirect back from a sign-in provider still carries it).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result};
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};

use super::secrets::sha256_hex;
use crate::store::{now_millis, Store};

/// The session key holding who is signed in.
pub const SIGNED_IN: &str = "signed_in";

/// Who a session belongs to, since when (for the absolute timeout) and when it was
/// last used (refreshed about once a minute, which also pushes the idle expiry on).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedIn {
    pub user_id: i64,
    pub since: i64,
    pub seen: i64,
    /// The API token of a GitHub or GitLab sign-in with `imports` on, sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<ForgeToken>,
}

/// A sign-in's forge API token, sealed to its user (see `ForgeToken::context`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgeToken {
    pub kind: ferry_app::model::ForgeKind,
    /// Where it is good: GitHub's API root, or the GitLab instance.
    #[serde(default)]
    pub api: String,
    pub sealed: String,
}

impl ForgeToken {
    /// The vault binds the token to the user who signed in with it.
    pub fn context(user_id: i64) -> String {
        format!("sign-in-token:{user_id}")
    }
}

/// Sessions of nobody signed in (a sign-in with a provider under way) kept at most:
/// anyone can make one, so there must be a bound.
const ANONYMOUS_SESSIONS: i64 = 10_000;

#[derive(Debug, Clone)]
pub struct DbSessions {
    store: Store,
}

/// What a session is stored under: a hash of its id, so the table holds no cookie.
pub fn key(id: &Id) -> String {
    sha256_hex(&id.to_string())
}

fn parts(record: &Record) -> Result<(Option<i64>, String, i64)> {
    let user_id =
        record.data.get(SIGNED_IN).and_then(|v| serde_json::from_value::<SignedIn>(v.clone()).ok()).map(|s| s.user_id);
    let data = serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
    let expires = (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64;
    Ok((user_id, data, expires))
}

fn backend(e: sqlx::Error) -> Error {
    Error::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let (user_id, data, expires) = parts(record)?;
        // A clash of 128-bit random ids is all but impossible; still, never overwrite.
        while !self.store.session_insert(&key(&record.id), user_id, &data, expires).await.map_err(backend)? {
            record.id = Id::default();
        }
        if user_id.is_none() {
            self.store.sessions_trim_anonymous(ANONYMOUS_SESSIONS).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let (user_id, data, expires) = parts(record)?;
        self.store.session_save(&key(&record.id), user_id, &data, expires).await.map_err(backend)
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let Some((data, expires)) = self.store.session_load(&key(id), now_millis()).await.map_err(backend)? else {
            return Ok(None);
        };
        let data = serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(expires as i128 * 1_000_000)
            .map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.store.session_delete(&key(id)).await.map_err(backend)
    }
}

/// Deletes expired sessions and finished sign-in throttling windows, once a minute.
pub fn sweep_expired(store: Store) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            let now = now_millis();
            if let Err(e) = store.sessions_delete_expired(now).await {
                tracing::warn!(error = %e, "deleting expired sessions");
            }
            if let Err(e) = store.sign_in_failures_expired(now, super::throttle::WINDOW_MS).await {
                tracing::warn!(error = %e, "forgetting old failed sign-ins");
            }
        }
    });
}

/// The session layer: `secure` when Ferry is served over HTTPS; a session expires
/// after `idle_minutes` without a request.
pub fn layer(store: Store, secure: bool, idle_minutes: i64) -> SessionManagerLayer<DbSessions> {
    let name = if secure { "__Host-ferry_session" } else { "ferry_session" };
    SessionManagerLayer::new(DbSessions { store })
        .with_name(name)
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(idle_minutes)))
}

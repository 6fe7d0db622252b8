//! Local accounts: argon2 password hashes and the first-run administrator, so the
//! embedded default is usable with no sign-in provider configured.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ferry_app::model::Role;

use super::secrets::random_text;
use crate::store::{Store, UserRow};

pub const ADMIN_LOGIN: &str = "admin";

pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(random_text(16).as_bytes()).map_err(|e| e.to_string())?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash that matches no password, checked when the login is unknown so that the
/// answer takes as long as for a known one.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash(&random_text(24)).unwrap_or_default());
    let _ = verify(password, dummy);
}

/// Checks a local sign-in; `None` for an unknown login or a wrong password alike.
/// Hashing takes tens of milliseconds of CPU on purpose, so it runs on a blocking
/// thread: a burst of sign-ins does not stall the requests and deployments beside it.
pub async fn check(store: &Store, login: &str, password: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let user = store.local_user(login).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify(&password, &stored),
        // An unknown login (or one without a password) takes as long as a known one.
        None => {
            verify_against_nothing(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    Ok(user.filter(|_| ok))
}

/// Makes sure the local administrator exists. With `configured` (FERRY_ADMIN_PASSWORD),
/// that becomes its password; otherwise a new administrator gets a random password,
/// which is returned so that it can be shown once.
pub async fn ensure_admin(store: &Store, configured: Option<&str>) -> Result<Option<String>, String> {
    let existing = store.local_user(ADMIN_LOGIN).await.map_err(|e| e.to_string())?;
    match (existing, configured) {
        (Some(admin), Some(password)) => {
            if !admin.password_hash.as_deref().is_some_and(|h| verify(password, h)) {
                store.set_password_hash(admin.id, &hash(password)?).await.map_err(|e| e.to_string())?;
            }
            Ok(None)
        }
        (Some(_), None) => Ok(None),
        (None, configured) => {
            let password = configured.map(str::to_string).unwrap_or_else(|| random_text(20));
            match store.create_local_user(ADMIN_LOGIN, &hash(&password)?, Role::Admin).await {
                Ok(_) => Ok(configured.is_none().then_some(password)),
                // Another replica starting at the same moment created it first.
                Err(e) if crate::store::is_unique_violation(&e) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse", &stored));
        assert!(!verify("correct horse!", &stored));
        assert!(!verify("correct horse", "not a hash"));
    }
}

//! Password guessing is throttled: failed sign-ins are counted per login and per client
//! address over a 15-minute window (in the database, so every replica counts together).
//! Past the limit, sign-ins for that login or from that address are refused with 429
//! and `Retry-After` until the window ends, before any password is checked; a success
//! clears the login's count.

use ferry_app::error::AppError;

use crate::error::OrInternal;
use crate::store::{now_millis, Store};

pub const WINDOW_MS: i64 = 15 * 60_000;
/// An address may fail this many times more than one login (several people behind one
/// proxy or NAT sign in from the same address).
const ADDRESS_FACTOR: i64 = 5;

fn keys(login: &str, address: Option<&str>, max_failures: i64) -> Vec<(String, i64)> {
    let mut keys = vec![(format!("login:{}", login.trim().to_lowercase()), max_failures)];
    if let Some(address) = address {
        keys.push((format!("address:{address}"), max_failures * ADDRESS_FACTOR));
    }
    keys
}

/// Refuses the attempt when the login or the address has failed too often lately.
pub async fn check(store: &Store, login: &str, address: Option<&str>, max_failures: i64) -> Result<(), AppError> {
    let now = now_millis();
    for (key, limit) in keys(login, address, max_failures) {
        let counted = store.sign_in_failures(&key, now, WINDOW_MS).await.or_internal("checking sign-in attempts")?;
        if let Some((failures, since)) = counted.filter(|(failures, _)| *failures >= limit) {
            let wait = ((since + WINDOW_MS - now).max(1000) + 999) / 1000;
            let what = if key.starts_with("login:") { "this login" } else { "this address" };
            let message = format!("too many failed sign-ins for {what} ({failures}); try again in {wait} s");
            return Err(AppError::too_many_requests(message, wait as u64));
        }
    }
    Ok(())
}

pub async fn failed(store: &Store, login: &str, address: Option<&str>) -> Result<(), AppError> {
    let now = now_millis();
    for (key, _) in keys(login, address, 0) {
        store.sign_in_failed(&key, now, WINDOW_MS).await.or_internal("counting a failed sign-in")?;
    }
    Ok(())
}

pub async fn succeeded(store: &Store, login: &str) -> Result<(), AppError> {
    let (key, _) = keys(login, None, 0).remove(0);
    store.sign_in_cleared(&key).await.or_internal("clearing sign-in attempts")
}

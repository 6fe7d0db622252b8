//! Ferry's own SSH key pairs: Ed25519, made on first use, the private half sealed by
//! the vault. Rotation makes a new pair; the one before it still signs in until the
//! next rotation, so the new public key can reach the hosts first.

use std::sync::Arc;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{PrivateKey, PublicKey};

use crate::store::{SshKeyRow, Store};
use crate::vault::Vault;

/// What a key pair's private half is sealed to.
const SEALED_AS: &str = "ssh-key";

/// What a host's own private key is sealed to.
pub fn host_key_context(host_id: i64) -> String {
    format!("ssh-host:{host_id}")
}

/// A new Ed25519 key pair: the public line and the private key in OpenSSH format.
pub fn generate(comment: &str) -> Result<(String, String), String> {
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment(comment);
    let private = key.to_openssh(LineEnding::LF).map_err(|e| e.to_string())?.to_string();
    let public = key.public_key().to_openssh().map_err(|e| e.to_string())?;
    Ok((public, private))
}

/// A private key given in OpenSSH format (no passphrase), read and checked.
pub fn parse_private(text: &str) -> Result<PrivateKey, String> {
    let key = PrivateKey::from_openssh(text.trim()).map_err(|e| format!("not an OpenSSH private key: {e}"))?;
    if key.is_encrypted() {
        return Err("the private key has a passphrase: give it without one (it is kept sealed)".into());
    }
    Ok(key)
}

/// Ferry's key pairs, newest first, made when there is none yet.
pub async fn ferry_keys(store: &Store, vault: &Vault) -> Result<Vec<(SshKeyRow, Arc<PrivateKey>)>, String> {
    let mut rows = store.ssh_keys().await.map_err(|e| format!("reading Ferry's SSH key: {e}"))?;
    if rows.is_empty() {
        let (public, private) = generate("ferry")?;
        let sealed = vault.seal(SEALED_AS, &private)?;
        store.add_ssh_key(&public, &sealed, true).await.map_err(|e| format!("keeping Ferry's SSH key: {e}"))?;
        rows = store.ssh_keys().await.map_err(|e| format!("reading Ferry's SSH key: {e}"))?;
    }
    rows.into_iter()
        .map(|row| {
            let private = vault.open_value(SEALED_AS, &row.sealed_private)?;
            let key = parse_private(&private)?;
            Ok((row, Arc::new(key)))
        })
        .collect()
}

/// Makes a new key pair, the one Ferry signs in with from now on.
pub async fn rotate(store: &Store, vault: &Vault) -> Result<(), String> {
    let (public, private) = generate("ferry")?;
    let sealed = vault.seal(SEALED_AS, &private)?;
    store.add_ssh_key(&public, &sealed, false).await.map_err(|e| format!("keeping Ferry's SSH key: {e}"))
}

/// The public half of a stored line, for its fingerprint.
pub fn public_of(line: &str) -> Option<PublicKey> {
    PublicKey::from_openssh(line.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_reads_back_and_matches() {
        let (public, private) = generate("ferry").unwrap();
        assert!(public.starts_with("ssh-ed25519 "), "{public}");
        let key = parse_private(&private).unwrap();
        assert_eq!(key.public_key().to_openssh().unwrap(), public);
        assert!(parse_private("-----BEGIN NONSENSE-----").is_err());
    }
}

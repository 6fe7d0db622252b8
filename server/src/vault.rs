//! Secrets at rest: sealed with ChaCha20-Poly1305 under a key that never enters the
//! database. The key comes from `FERRY_SECRET_KEY` (base64 of 32 bytes) or a key file
//! (by default `<data>/secret.key`, created with mode 0600 on first start). Each value
//! is bound to where it belongs (its project, environment and name), so a sealed value
//! copied to another row does not open.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

pub struct Vault {
    cipher: ChaCha20Poly1305,
}

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

impl Vault {
    /// The key from `FERRY_SECRET_KEY`, else from `key_file`, which is created when missing.
    pub fn open(from_env: Option<&str>, key_file: &Path) -> Result<Self, String> {
        let key = match from_env {
            Some(text) => decode_key(text).map_err(|e| format!("FERRY_SECRET_KEY: {e}"))?,
            None => read_or_create(key_file)?,
        };
        Ok(Self { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() };
        let sealed =
            self.cipher.encrypt(Nonce::from_slice(&nonce), payload).map_err(|_| "cannot encrypt".to_string())?;
        Ok(STANDARD.encode([nonce.as_slice(), &sealed].concat()))
    }

    pub fn open_value(&self, context: &str, sealed: &str) -> Result<String, String> {
        let bytes = STANDARD.decode(sealed).map_err(|_| "the stored value is damaged".to_string())?;
        if bytes.len() <= NONCE_LEN {
            return Err("the stored value is damaged".into());
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let payload = Payload { msg: data, aad: context.as_bytes() };
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| "cannot decrypt: the secret key is not the one it was stored with".to_string())?;
        String::from_utf8(plain).map_err(|_| "the stored value is damaged".into())
    }
}

fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    let key = STANDARD.decode(text.trim()).map_err(|_| "not base64".to_string())?;
    if key.len() != KEY_LEN {
        return Err(format!("must be {KEY_LEN} bytes, base64-encoded (e.g. `openssl rand -base64 32`)"));
    }
    Ok(key)
}

fn read_or_create(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode_key(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_LEN];
            rand::rng().fill_bytes(&mut key);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot create the secret key file {}: {e}", path.display()))?;
            file.write_all(STANDARD.encode(key).as_bytes()).map_err(|e| e.to_string())?;
            Ok(key.to_vec())
        }
        Err(e) => Err(format!("cannot read the secret key file {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.key");
        let vault = Vault::open(None, &file).unwrap();
        let sealed = vault.seal("api/production/DB_PASSWORD", "hunter2").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(vault.open_value("api/production/DB_PASSWORD", &sealed).unwrap(), "hunter2");
        assert!(vault.open_value("api/staging/DB_PASSWORD", &sealed).is_err(), "bound to its place");
        let again = Vault::open(None, &file).unwrap();
        assert_eq!(
            again.open_value("api/production/DB_PASSWORD", &sealed).unwrap(),
            "hunter2",
            "the key file persists"
        );
        let other = Vault::open(Some(&STANDARD.encode([7u8; 32])), &file).unwrap();
        assert!(other.open_value("api/production/DB_PASSWORD", &sealed).unwrap_err().contains("secret key"));
        assert!(Vault::open(Some("c2hvcnQ="), &file).is_err(), "a short key is refused");
        let mode = std::fs::metadata(&file).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    }
}

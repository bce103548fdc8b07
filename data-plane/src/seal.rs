//! Authenticated encryption with a key derived from a fleet secret
//! (`AUTH_ENCRYPTION_SECRET`): session ids, and backend credentials in the
//! registry and in config snapshots. XChaCha20-Poly1305 with a random
//! 192-bit nonce per message, so any number of messages may share the key.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 24;

/// Seals and opens with one key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    /// The key is SHA-256 over `domain` and `secret`: each kind of sealed
    /// thing has its own domain, so one secret never yields the same key
    /// for two of them.
    pub fn new(secret: &str, domain: &[u8]) -> Self {
        let key = Sha256::new()
            .chain_update(domain)
            .chain_update(secret.as_bytes())
            .finalize();
        Self {
            cipher: XChaCha20Poly1305::new(&key),
        }
    }

    /// base64url(nonce ‖ AEAD(plain)), authenticated with `aad`, which binds
    /// the sealed text to what it belongs to.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The plain bytes, or `None` if `sealed` was not sealed with this key
    /// and `aad` (or was altered).
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::Sealer;

    #[test]
    fn opens_only_with_the_same_secret_domain_and_aad() {
        let s = Sealer::new("secret", b"a");
        let sealed = s.seal(b"plain", b"id-1");
        assert_eq!(s.open(&sealed, b"id-1").as_deref(), Some(&b"plain"[..]));
        assert_eq!(s.open(&sealed, b"id-2"), None);
        assert_eq!(Sealer::new("secret", b"b").open(&sealed, b"id-1"), None);
        assert_eq!(Sealer::new("other", b"a").open(&sealed, b"id-1"), None);
        assert_ne!(sealed, s.seal(b"plain", b"id-1"), "a fresh nonce each time");
    }
}

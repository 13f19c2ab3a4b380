//! Secrets kept at rest (the signer's e.firma password): AES-256-GCM with a
//! fresh random nonce per value, through aws-lc-rs. The key belongs to the
//! deployment (a local data folder's key, or one from the secret store),
//! never to the records that hold the sealed values.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("el secreto guardado no se puede abrir con la llave de esta instalación")]
    Unreadable,
    #[error("no hay aleatoriedad disponible para cifrar")]
    NoRandomness,
    #[error("la llave de cifrado de secretos no es válida")]
    BadKey,
}

/// Seals and opens small secrets with one key.
pub struct SecretBox(LessSafeKey);

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Result<Self, SecretError> {
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SecretError::BadKey)?;
        Ok(SecretBox(LessSafeKey::new(key)))
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)`; `context` is bound to the value
    /// (e.g. the tenant and school), so a sealed value cannot be moved to another record.
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SecretError::NoRandomness)?;
        let mut data = plain.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| SecretError::NoRandomness)?;
        Ok(STANDARD.encode([nonce.as_slice(), &data].concat()))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SecretError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SecretError::Unreadable)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Unreadable);
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Unreadable)?;
        let mut data = data.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| SecretError::Unreadable)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let b = SecretBox::new(&[7; 32]).unwrap();
        let sealed = b.seal(b"contrasena-efirma", "uva/norte").unwrap();
        assert!(!sealed.contains("contrasena"));
        assert_ne!(sealed, b.seal(b"contrasena-efirma", "uva/norte").unwrap(), "a fresh nonce each time");
        assert_eq!(b.open(&sealed, "uva/norte").unwrap(), b"contrasena-efirma");
        assert_eq!(b.open(&sealed, "otra/norte"), Err(SecretError::Unreadable));
        assert_eq!(SecretBox::new(&[8; 32]).unwrap().open(&sealed, "uva/norte"), Err(SecretError::Unreadable));
        assert_eq!(b.open("no es base64", "uva/norte"), Err(SecretError::Unreadable));
        assert_eq!(b.open("", "uva/norte"), Err(SecretError::Unreadable));
    }
}

//! Sealing a document with the signer's e.firma: `sello` = Base64 of an RSA
//! PKCS#1 v1.5 SHA-256 signature over the UTF-8 cadena original;
//! `certificadoResponsable` = Base64 of the `.cer` DER; and
//! `noCertificadoResponsable` = the SAT certificate number.

use crate::cadena::{PipeInValue, cadena_original};
use crate::document::Dec;
use crate::efirma::{Efirma, EfirmaError};
use base64::Engine;

/// Why a document could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Cadena(#[from] PipeInValue),
    #[error(transparent)]
    Efirma(#[from] EfirmaError),
    #[error("el documento ya fue timbrado por la autoridad; no se puede volver a sellar")]
    AlreadyStamped,
}

impl SealError {
    pub fn code(&self) -> &'static str {
        match self {
            SealError::Cadena(_) => "caracter_no_permitido",
            SealError::Efirma(e) => e.code(),
            SealError::AlreadyStamped => "ya_timbrado",
        }
    }
}

/// Base64 (standard alphabet, no line breaks).
pub fn to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes Base64 (standard alphabet); `None` when not Base64.
pub fn from_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

/// Seals `dec` in place and returns the cadena original that was signed.
/// The caller checks beforehand that the e.firma may be used (date, CURP).
pub fn seal(dec: &mut Dec, efirma: &Efirma) -> Result<String, SealError> {
    if dec.is_stamped() {
        return Err(SealError::AlreadyStamped);
    }
    let cadena = cadena_original(dec)?;
    let signature = efirma.sign(cadena.as_bytes())?;
    dec.sello = to_base64(&signature);
    dec.certificado_responsable = efirma.certificate().to_base64();
    dec.no_certificado_responsable = efirma.certificate().number().value.clone();
    Ok(cadena)
}

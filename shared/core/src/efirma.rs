//! The signer's e.firma as SAT issues it: a `.cer` (X.509 certificate, DER)
//! and a `.key` (PKCS#8 `EncryptedPrivateKeyInfo`, DER, password-protected;
//! older keys PBES2 with PBKDF2-HMAC-SHA1 + 3DES, newer with AES).
//!
//! Crypto choices: RustCrypto `pkcs8` decrypts the key and `x509-cert` reads
//! the certificate; the private-key operation (RSA PKCS#1 v1.5 SHA-256) runs
//! in **aws-lc-rs**. The pure-Rust `rsa` crate was measured 6–8× slower than
//! openssl-class signing on our machines and carries RUSTSEC-2023-0071 (a
//! timing side channel without a fixed release) — unacceptable for a cloud
//! service that signs on request. aws-lc-rs is constant-time and already in
//! the AWS SDK's TLS stack.

use crate::calendar::date_in_mexico;
use crate::curp::Curp;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use chrono::{DateTime, NaiveDate, Utc};
use der::Decode;
use pkcs8::EncryptedPrivateKeyInfoRef;
use std::fmt;
use x509_cert::Certificate;

/// `rsaEncryption` (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// X.520 `serialNumber` (2.5.4.5): where SAT writes the holder's CURP.
const SUBJECT_SERIAL_NUMBER: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.4.5");

/// Most PBKDF2 iterations a `.key` may ask for: SAT keys use 2,048; this
/// bound (≈ 0.1 s of work) keeps a crafted key from burning minutes of CPU.
pub const MAX_KEY_ITERATIONS: u32 = 100_000;

/// Why an e.firma cannot be used. Messages are for the signer or the clerk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EfirmaError {
    #[error("el archivo .cer no es un certificado X.509 en formato DER")]
    NotACertificate,
    #[error("el certificado no contiene una llave pública RSA")]
    NotRsa,
    #[error("el archivo .key no es una llave privada cifrada PKCS#8 en formato DER")]
    NotAKey,
    #[error("la contraseña de la llave privada es incorrecta")]
    WrongPassword,
    #[error("la llave privada usa un cifrado no soportado ({0})")]
    UnsupportedKeyEncryption(String),
    #[error(
        "la llave privada pide un cálculo desmedido para abrirse ({0}); las llaves del SAT usan 2048 iteraciones de PBKDF2 y el máximo aceptado es {MAX_KEY_ITERATIONS}"
    )]
    KeyTooCostly(String),
    #[error("la llave privada no es una llave RSA utilizable")]
    KeyUnusable,
    #[error("la llave privada no corresponde al certificado")]
    KeyDoesNotMatch,
    #[error("el certificado {number} no es válido el {date} (vigencia del {from} al {to})")]
    NotValidOn { number: String, date: NaiveDate, from: NaiveDate, to: NaiveDate },
    #[error("el certificado no indica la CURP de su titular")]
    NoCurpInCertificate,
    #[error("la CURP del certificado ({certificate}) no coincide con la del responsable ({responsable})")]
    CurpMismatch { certificate: String, responsable: String },
    #[error("no se pudo generar la firma")]
    SigningFailed,
    #[error(
        "esta instalación no tiene configurada ninguna autoridad certificadora de confianza; el administrador debe cargar las AC del SAT"
    )]
    NoTrustedCas,
    #[error(
        "el certificado no fue emitido por una autoridad certificadora de confianza (emisor: {0}); registre la e.firma que el SAT expidió al responsable"
    )]
    UntrustedIssuer(String),
    #[error("la autoridad certificadora que emitió el certificado ({ca}) no está vigente (vigente hasta el {to})")]
    CaNotValid { ca: String, to: NaiveDate },
    #[error(
        "el uso de llave del certificado no permite firmar (le falta firma digital y no repudio); registre la e.firma, no un certificado de otro uso"
    )]
    NotForSigning,
}

impl EfirmaError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            EfirmaError::NotACertificate => "certificado_invalido",
            EfirmaError::NotRsa => "certificado_no_rsa",
            EfirmaError::NotAKey => "llave_invalida",
            EfirmaError::WrongPassword => "contrasena_incorrecta",
            EfirmaError::UnsupportedKeyEncryption(_) => "cifrado_no_soportado",
            EfirmaError::KeyTooCostly(_) => "llave_costosa",
            EfirmaError::KeyUnusable => "llave_no_utilizable",
            EfirmaError::KeyDoesNotMatch => "llave_no_corresponde",
            EfirmaError::NotValidOn { .. } => "certificado_no_vigente",
            EfirmaError::NoCurpInCertificate => "certificado_sin_curp",
            EfirmaError::CurpMismatch { .. } => "curp_no_coincide",
            EfirmaError::SigningFailed => "firma_fallida",
            EfirmaError::NoTrustedCas => "sin_ac_de_confianza",
            EfirmaError::UntrustedIssuer(_) => "certificado_no_confiable",
            EfirmaError::CaNotValid { .. } => "ac_no_vigente",
            EfirmaError::NotForSigning => "certificado_sin_uso_de_firma",
        }
    }
}

/// The certificate number (`noCertificadoResponsable`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateNumber {
    pub value: String,
    /// True when read by SAT's rule (serial bytes are ASCII digits); false
    /// when the serial was not digits and the hex fallback was used.
    pub sat_format: bool,
}

impl CertificateNumber {
    /// SAT writes the ASCII codes of the 20 digits in the X.509 serial:
    /// bytes `30 30 30 30 31 …` read as ASCII give `00001…`. Any other serial
    /// (a test certificate) falls back to upper-case hex.
    pub fn from_serial(serial: &[u8]) -> Self {
        let digits: Vec<u8> = serial.iter().copied().skip_while(|&b| b == 0).collect();
        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
            CertificateNumber { value: String::from_utf8_lossy(&digits).into_owned(), sat_format: true }
        } else {
            let hex: String = serial.iter().map(|b| format!("{b:02X}")).collect();
            CertificateNumber { value: hex, sat_format: false }
        }
    }
}

impl fmt::Display for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// A signer's (or an authority's) certificate, read once.
#[derive(Debug, Clone)]
pub struct SignerCertificate {
    der: Vec<u8>,
    number: CertificateNumber,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    subject_curp: Option<String>,
    subject_name: String,
    /// PKCS#1 `RSAPublicKey` DER.
    public_key: Vec<u8>,
}

impl SignerCertificate {
    /// Reads a DER certificate.
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, EfirmaError> {
        let cert = Certificate::from_der(der_bytes).map_err(|_| EfirmaError::NotACertificate)?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(EfirmaError::NotRsa);
        }
        let to_utc = |t: &x509_cert::time::Time| {
            DateTime::<Utc>::from_timestamp(t.to_unix_duration().as_secs() as i64, 0).unwrap_or_default()
        };
        let mut subject_curp = None;
        let mut subject_name = String::new();
        for atv in tbs.subject().iter() {
            let text = String::from_utf8_lossy(atv.value.value()).into_owned();
            if atv.oid == SUBJECT_SERIAL_NUMBER {
                // SAT: "CURP" for persons, " / CURP" for legal entities' representatives.
                subject_curp = text.split(['/', ' ']).find_map(|part| Curp::parse(part).ok()).map(|c| c.to_string());
            } else if atv.oid == const_oid_cn() && subject_name.is_empty() {
                subject_name = text;
            }
        }
        Ok(SignerCertificate {
            der: der_bytes.to_vec(),
            number: CertificateNumber::from_serial(tbs.serial_number().as_bytes()),
            not_before: to_utc(&tbs.validity().not_before),
            not_after: to_utc(&tbs.validity().not_after),
            subject_curp,
            subject_name,
            public_key: spki.subject_public_key.raw_bytes().to_vec(),
        })
    }

    /// Reads a certificate file as SAT and OpenSSL write them: DER, or PEM (the first certificate).
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, EfirmaError> {
        use der::Encode;
        // Decoded strictly as DER, a certificate encodes back to the same bytes.
        let chain = certificates_in_file(bytes).ok_or(EfirmaError::NotACertificate)?;
        let first = chain.first().ok_or(EfirmaError::NotACertificate)?;
        Self::from_der(&first.to_der().map_err(|_| EfirmaError::NotACertificate)?)
    }

    /// Reads the Base64 of a DER certificate (as in `certificadoResponsable`).
    pub fn from_base64(text: &str) -> Result<Self, EfirmaError> {
        use base64::Engine;
        let der_bytes =
            base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| EfirmaError::NotACertificate)?;
        Self::from_der(&der_bytes)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Base64 (standard, no line breaks) of the DER bytes.
    pub fn to_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }

    pub fn number(&self) -> &CertificateNumber {
        &self.number
    }

    pub fn subject_curp(&self) -> Option<&str> {
        self.subject_curp.as_deref()
    }

    pub fn subject_name(&self) -> &str {
        &self.subject_name
    }

    pub fn not_before(&self) -> DateTime<Utc> {
        self.not_before
    }

    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    /// Whether `date` falls within the validity window (whole days of
    /// Mexico's calendar, the one issue dates are in).
    pub fn check_valid_on(&self, date: NaiveDate) -> Result<(), EfirmaError> {
        let (from, to) = (date_in_mexico(self.not_before), date_in_mexico(self.not_after));
        if date < from || date > to {
            return Err(EfirmaError::NotValidOn { number: self.number.value.clone(), date, from, to });
        }
        Ok(())
    }

    /// Checks this certificate may seal a document issued on `date` for
    /// `responsable`: valid that day, and issued to the responsable's CURP.
    pub fn check_usable(&self, date: NaiveDate, responsable: &Curp) -> Result<(), EfirmaError> {
        self.check_valid_on(date)?;
        match self.subject_curp() {
            None => Err(EfirmaError::NoCurpInCertificate),
            Some(c) if c != responsable.as_str() => {
                Err(EfirmaError::CurpMismatch { certificate: c.to_string(), responsable: responsable.to_string() })
            }
            Some(_) => Ok(()),
        }
    }

    /// Checks an RSA PKCS#1 v1.5 SHA-256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature_bytes: &[u8]) -> bool {
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.public_key)
            .verify(message, signature_bytes)
            .is_ok()
    }
}

/// The certificates of a file as SAT and OpenSSL write them: one DER
/// certificate, or PEM with one or several; `None` when it is neither.
pub(crate) fn certificates_in_file(bytes: &[u8]) -> Option<Vec<Certificate>> {
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        Certificate::load_pem_chain(bytes).ok()
    } else {
        Certificate::from_der(bytes).ok().map(|c| vec![c])
    }
}

/// Refuses, before any work, a key whose derivation would cost more than a
/// SAT key's many times over (scrypt is not compiled in: it is refused as an
/// unsupported encryption when decrypting).
fn check_key_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<(), EfirmaError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    if let Some(Kdf::Pbkdf2(params)) = scheme.pbes2().map(|p| &p.kdf)
        && params.iteration_count > MAX_KEY_ITERATIONS
    {
        return Err(EfirmaError::KeyTooCostly(format!("{} iteraciones de PBKDF2", params.iteration_count)));
    }
    Ok(())
}

fn const_oid_cn() -> der::asn1::ObjectIdentifier {
    der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3")
}

/// A usable e.firma: certificate plus the decrypted private key (shared
/// by its clones: a school's sealing and its own authority node use one key).
#[derive(Clone)]
pub struct Efirma {
    certificate: SignerCertificate,
    key: std::sync::Arc<RsaKeyPair>,
}

impl fmt::Debug for Efirma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Efirma").field("certificate", &self.certificate.number).finish_non_exhaustive()
    }
}

impl Efirma {
    /// Loads a SAT `.cer` and encrypted `.key` with the signer's password and
    /// checks that the key belongs to the certificate.
    pub fn load(cer: &[u8], key: &[u8], password: &[u8]) -> Result<Self, EfirmaError> {
        let certificate = SignerCertificate::from_der(cer)?;
        let encrypted = EncryptedPrivateKeyInfoRef::from_der(key).map_err(|_| EfirmaError::NotAKey)?;
        check_key_cost(&encrypted.encryption_algorithm)?;
        let plain = encrypted.decrypt(password).map_err(|e| match e {
            pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm { oid })
            | pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::AlgorithmParametersInvalid { oid }) => {
                EfirmaError::UnsupportedKeyEncryption(oid.to_string())
            }
            // A wrong password yields bad padding or garbage that is not DER.
            _ => EfirmaError::WrongPassword,
        })?;
        Self::from_pkcs8(certificate, plain.as_bytes())
    }

    /// From a certificate and an unencrypted PKCS#8 key (the simulated authority's own pair).
    pub fn from_pkcs8(certificate: SignerCertificate, pkcs8_der: &[u8]) -> Result<Self, EfirmaError> {
        let key = RsaKeyPair::from_pkcs8(pkcs8_der).map_err(|_| EfirmaError::KeyUnusable)?;
        if key.public_key().as_ref() != certificate.public_key.as_slice() {
            return Err(EfirmaError::KeyDoesNotMatch);
        }
        Ok(Efirma { certificate, key: std::sync::Arc::new(key) })
    }

    pub fn certificate(&self) -> &SignerCertificate {
        &self.certificate
    }

    /// Checks the e.firma can seal a document issued on `date` for `responsable`.
    pub fn check_usable(&self, date: NaiveDate, responsable: &Curp) -> Result<(), EfirmaError> {
        self.certificate.check_usable(date, responsable)
    }

    /// RSA PKCS#1 v1.5 with SHA-256 over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, EfirmaError> {
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| EfirmaError::SigningFailed)?;
        Ok(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sat_serials_read_as_ascii_digits() {
        let n = CertificateNumber::from_serial(b"00001000000504465028");
        assert_eq!(n, CertificateNumber { value: "00001000000504465028".into(), sat_format: true });
    }

    #[test]
    fn other_serials_fall_back_to_hex() {
        let n = CertificateNumber::from_serial(&[0x01, 0xAB, 0x30]);
        assert_eq!(n, CertificateNumber { value: "01AB30".into(), sat_format: false });
    }
}

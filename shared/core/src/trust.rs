//! The certification authorities a school's signer must hold an e.firma
//! from: a registered `.cer` has to be issued (and signed) by one of them,
//! with a key usage that allows signing. In production these are SAT's
//! issuing ACs (assets/trust/README.md says how to load them); locally and
//! in tests, the demo CA of `assets/trust/demo/`.

use crate::efirma::EfirmaError;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use chrono::{DateTime, NaiveDate, Utc};
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

/// `rsaEncryption`.
const RSA_ENCRYPTION: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The demo CA (assets/trust/demo/): it issued the demo e.firma and every
/// test e.firma of scripts/gen-efirma.sh. Its key is in the repository:
/// local mode and tests only, never a deployment.
pub const DEMO_CA_PEM: &[u8] = include_bytes!("../../../assets/trust/demo/ac-pruebas-certifica.pem");

/// One trusted authority, read once.
#[derive(Debug, Clone)]
struct TrustedCa {
    /// The CA's subject name, DER: what an issued certificate's issuer must equal.
    subject: Vec<u8>,
    name: String,
    /// PKCS#1 `RSAPublicKey` DER.
    public_key: Vec<u8>,
    not_before: NaiveDate,
    not_after: NaiveDate,
}

/// Why a file of CA certificates cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustFileError {
    #[error("no contiene certificados X.509 (PEM o DER) legibles")]
    Unreadable,
    #[error("el certificado «{0}» no es de una autoridad certificadora RSA")]
    NotRsa(String),
    #[error("el certificado «{0}» no es de una autoridad certificadora (no puede firmar certificados)")]
    NotACa(String),
}

/// The CAs a signer's certificate may come from.
#[derive(Debug, Clone, Default)]
pub struct SignerCas {
    cas: Vec<TrustedCa>,
}

/// The date of `t` in Mexico, the calendar of the `today` it is compared with.
fn unix_date(t: &x509_cert::time::Time) -> NaiveDate {
    crate::calendar::date_in_mexico(
        DateTime::<Utc>::from_timestamp(t.to_unix_duration().as_secs() as i64, 0).unwrap_or_default(),
    )
}

impl SignerCas {
    /// Trusts nobody: every registration is refused until CAs are added.
    pub fn new() -> Self {
        SignerCas::default()
    }

    /// Only the demo CA ([`DEMO_CA_PEM`]): `certifica serve` and tests.
    pub fn demo() -> Self {
        let mut cas = SignerCas::new();
        // The file is part of the build and read by this module's tests.
        let _ = cas.add(DEMO_CA_PEM);
        cas
    }

    /// Adds the CA certificates of one file, PEM (one or several) or DER (as
    /// SAT publishes them); returns how many it held.
    pub fn add(&mut self, bytes: &[u8]) -> Result<usize, TrustFileError> {
        let certificates = crate::efirma::certificates_in_file(bytes).ok_or(TrustFileError::Unreadable)?;
        if certificates.is_empty() {
            return Err(TrustFileError::Unreadable);
        }
        let mut read = Vec::with_capacity(certificates.len());
        for cert in &certificates {
            let tbs = cert.tbs_certificate();
            let name = tbs.subject().to_string();
            let spki = tbs.subject_public_key_info();
            if spki.algorithm.oid != RSA_ENCRYPTION {
                return Err(TrustFileError::NotRsa(name));
            }
            // A CA says so (basic constraints), and its key usage, when stated, allows signing certificates.
            let is_ca = matches!(tbs.get_extension::<BasicConstraints>(), Ok(Some((_, c))) if c.ca);
            let signs_certificates = match tbs.get_extension::<KeyUsage>() {
                Ok(Some((_, usage))) => usage.key_cert_sign(),
                Ok(None) => true,
                Err(_) => false,
            };
            if !is_ca || !signs_certificates {
                return Err(TrustFileError::NotACa(name));
            }
            read.push(TrustedCa {
                subject: tbs.subject().to_der().map_err(|_| TrustFileError::Unreadable)?,
                name,
                public_key: spki.subject_public_key.raw_bytes().to_vec(),
                not_before: unix_date(&tbs.validity().not_before),
                not_after: unix_date(&tbs.validity().not_after),
            });
        }
        let added = read.len();
        self.cas.extend(read);
        Ok(added)
    }

    /// How many CAs are trusted.
    pub fn len(&self) -> usize {
        self.cas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cas.is_empty()
    }

    /// Checks the signer's certificate (DER) was issued and signed by a
    /// trusted CA valid on `today`, and that its key may sign.
    pub fn check(&self, certificate_der: &[u8], today: NaiveDate) -> Result<(), EfirmaError> {
        let cert = Certificate::from_der(certificate_der).map_err(|_| EfirmaError::NotACertificate)?;
        let tbs = cert.tbs_certificate();
        let issuer = tbs.issuer().to_der().map_err(|_| EfirmaError::NotACertificate)?;
        let issuer_name = tbs.issuer().to_string();
        if self.cas.is_empty() {
            return Err(EfirmaError::NoTrustedCas);
        }
        let algorithm = signature_algorithm(&cert.signature_algorithm().oid)
            .ok_or_else(|| EfirmaError::UntrustedIssuer(issuer_name.clone()))?;
        let signed = tbs.to_der().map_err(|_| EfirmaError::NotACertificate)?;
        let signature_bytes = cert.signature().raw_bytes();
        let ca = self
            .cas
            .iter()
            .filter(|ca| ca.subject == issuer)
            .find(|ca| UnparsedPublicKey::new(algorithm, &ca.public_key).verify(&signed, signature_bytes).is_ok())
            .ok_or_else(|| EfirmaError::UntrustedIssuer(issuer_name.clone()))?;
        if today < ca.not_before || today > ca.not_after {
            return Err(EfirmaError::CaNotValid { ca: ca.name.clone(), to: ca.not_after });
        }
        match tbs.get_extension::<KeyUsage>() {
            Ok(Some((_, usage))) if !(usage.digital_signature() || usage.non_repudiation()) => {
                Err(EfirmaError::NotForSigning)
            }
            Ok(_) => Ok(()),
            Err(_) => Err(EfirmaError::NotACertificate),
        }
    }
}

/// RSA PKCS#1 v1.5 with SHA-2, as SAT signs e.firma certificates (SHA-1 is refused).
fn signature_algorithm(oid: &der::asn1::ObjectIdentifier) -> Option<&'static dyn VerificationAlgorithm> {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.11" => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        "1.2.840.113549.1.1.12" => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        "1.2.840.113549.1.1.13" => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO_CA: &[u8] = DEMO_CA_PEM;
    const DEMO_CER: &[u8] = include_bytes!("../../../assets/demo-efirma/responsable.cer");

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
    }

    #[test]
    fn the_demo_efirma_comes_from_the_demo_ca() {
        let mut cas = SignerCas::new();
        assert_eq!(cas.check(DEMO_CER, today()), Err(EfirmaError::NoTrustedCas));
        assert_eq!(cas.add(DEMO_CA), Ok(1));
        assert_eq!(cas.check(DEMO_CER, today()), Ok(()));
        assert_eq!(SignerCas::demo().len(), 1);
        // After the CA's own validity, nothing it issued is accepted.
        let later = NaiveDate::from_ymd_opt(2050, 1, 1).unwrap();
        assert!(matches!(cas.check(DEMO_CER, later), Err(EfirmaError::CaNotValid { .. })));
    }

    #[test]
    fn a_ca_file_may_be_der_and_nothing_else() {
        let pem = std::str::from_utf8(DEMO_CA).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
        assert_eq!(SignerCas::new().add(&der), Ok(1));
        assert_eq!(SignerCas::new().add(b"no es un certificado"), Err(TrustFileError::Unreadable));
        // A signer's certificate is not an authority.
        assert!(matches!(SignerCas::new().add(DEMO_CER), Err(TrustFileError::NotACa(_))));
    }

    #[test]
    fn a_certificate_signed_by_another_key_under_the_same_name_is_refused() {
        let mut cas = SignerCas::new();
        cas.add(DEMO_CA).unwrap();
        // Flip one bit of the signature: same issuer name, signature no longer the CA's.
        let mut forged = DEMO_CER.to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(matches!(cas.check(&forged, today()), Err(EfirmaError::UntrustedIssuer(_))));
    }
}

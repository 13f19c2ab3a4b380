//! The stamping authority port and the built-in authority nodes.
//!
//! [`Stamper`] is what issuing needs from an authority: take a sealed
//! document, answer with the stamped one (or a transient / permanent
//! failure). [`LocalAuthority`] is an authority that runs in-process:
//! - [`LocalAuthority::simulated_sep`] behaves like SEP's authentication
//!   (checks the school's seal and certificate, refuses what SEP would,
//!   appends `Dreoe` and `SepIpes` with a UUID `folioDigital`), signing with
//!   a bundled **test** key pair (`sim-authority/`, no official validity);
//! - [`LocalAuthority::institution_node`] is an autonomous university's own
//!   authority node, signing with the institution's e.firma.
//!
//! The real authority's own cadenas for its seals are not public; the ones
//! here ([`dreoe_cadena`], [`sep_ipes_cadena`]) are this product's
//! definition, used consistently by the authority nodes and by verification.

use crate::cadena::{PipeInValue, cadena_of, cadena_original};
use crate::catalogs::Cargo;
use crate::checks::value_problems;
use crate::document::{Dec, DocumentError, Dreoe, SepIpes};
use crate::efirma::{Efirma, EfirmaError, SignerCertificate};
use crate::sello::{from_base64, to_base64};
use chrono::{NaiveDateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

const SIM_CER: &[u8] = include_bytes!("../sim-authority/autoridad.cer");
const SIM_KEY: &[u8] = include_bytes!("../sim-authority/autoridad.key");
/// `SepIpes/version` written by the authority nodes.
pub const SEP_IPES_VERSION: &str = "1.0";

/// What the authority answered for one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    /// The returned document, to be stored byte for byte.
    pub xml: String,
    pub folio_digital: String,
    pub stamped_at: NaiveDateTime,
}

impl Stamped {
    /// An authenticated document read back (kept by an earlier attempt, or
    /// returned through the authority's portal): its folio and the
    /// authority's time; `None` when it carries no authentication.
    pub fn from_document(xml: String, dec: &Dec) -> Option<Stamped> {
        let sep = dec.sep_ipes.as_ref().filter(|s| !s.folio_digital.trim().is_empty())?;
        let stamped_at = NaiveDateTime::parse_from_str(sep.fecha_sep_ipes.trim(), "%Y-%m-%dT%H:%M:%S").ok()?;
        Some(Stamped { folio_digital: sep.folio_digital.trim().to_string(), stamped_at, xml })
    }
}

/// Why stamping did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StampError {
    /// Try again later: nothing was stamped.
    #[error("la autoridad de timbrado no está disponible: {0}")]
    Unavailable(String),
    /// The authority refused the document; retrying the same document fails again.
    #[error("la autoridad rechazó el documento ({code}): {message}")]
    Rejected { code: String, message: String },
}

impl StampError {
    fn rejected(code: &str, message: impl Into<String>) -> Self {
        StampError::Rejected { code: code.into(), message: message.into() }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, StampError::Unavailable(_))
    }
}

/// The port: something that stamps sealed documents.
pub trait Stamper: Send + Sync {
    fn stamp(&self, sealed_xml: &str) -> impl Future<Output = Result<Stamped, StampError>> + Send;
}

/// How a [`LocalAuthority`] should misbehave (to exercise Error paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Unavailable,
    Reject(String),
}

/// Who signs for the authority (written into `Dreoe`).
#[derive(Debug, Clone)]
pub struct AuthoritySigner {
    pub curp: String,
    pub nombre_completo: String,
    pub cargo: Cargo,
}

/// An authority node running in-process.
pub struct LocalAuthority {
    efirma: Efirma,
    signer: AuthoritySigner,
    /// Failures queued for the next calls, each for any document or only
    /// for one institution's (by its `idNombreInstitucion`).
    failures: Mutex<Vec<(Option<String>, Failure)>>,
    /// Answers given, by the document's folio de control and sello (the
    /// cadena does not include the folio, so a student's second certificate
    /// may carry the first one's sello): a document is authenticated once,
    /// and asked again the authority answers that same authentication (as a
    /// real authority answers a repeated submission), so an attempt that
    /// lost the answer gets the same folio digital back.
    answered: Mutex<HashMap<String, Stamped>>,
}

/// Answers remembered at most (a simulator's memory stays bounded; the
/// folio, derived from the sello, is the same even after it forgets).
const ANSWERS_KEPT: usize = 10_000;

impl std::fmt::Debug for LocalAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAuthority").field("certificate", self.efirma.certificate().number()).finish()
    }
}

/// The cadena the `Dreoe` seal is made over (this product's definition).
pub fn dreoe_cadena(d: &Dreoe) -> Result<String, PipeInValue> {
    cadena_of([
        ("Dreoe/fechaDreoe".to_string(), d.fecha_dreoe.as_str()),
        ("Dreoe/selloDec".into(), &d.sello_dec),
        ("Dreoe/noCertificadoDreoe".into(), &d.no_certificado_dreoe),
        ("Dreoe/curp".into(), &d.curp),
        ("Dreoe/idCargo".into(), &d.id_cargo),
    ])
}

/// The cadena the `SepIpes` seal is made over (this product's definition).
pub fn sep_ipes_cadena(s: &SepIpes) -> Result<String, PipeInValue> {
    cadena_of([
        ("SepIpes/version".to_string(), s.version.as_str()),
        ("SepIpes/folioDigital".into(), &s.folio_digital),
        ("SepIpes/fechaSepIpes".into(), &s.fecha_sep_ipes),
        ("SepIpes/selloDreoe".into(), &s.sello_dreoe),
        ("SepIpes/noCertificadoSepIpes".into(), &s.no_certificado_sep_ipes),
    ])
}

/// The simulated authority's certificate (to trust it in verification).
pub fn simulated_sep_certificate() -> Result<SignerCertificate, EfirmaError> {
    SignerCertificate::from_der(SIM_CER)
}

impl LocalAuthority {
    /// The simulated SEP authority (test key pair; no official validity).
    pub fn simulated_sep() -> Result<Self, EfirmaError> {
        let efirma = Efirma::from_pkcs8(simulated_sep_certificate()?, SIM_KEY)?;
        Ok(LocalAuthority {
            efirma,
            signer: AuthoritySigner {
                curp: "SIAU800101HDFMTR05".into(),
                nombre_completo: "AUTORIDAD SIMULADA (SIN VALIDEZ OFICIAL)".into(),
                cargo: Cargo::ResponsableExpedicion,
            },
            failures: Mutex::new(Vec::new()),
            answered: Mutex::new(HashMap::new()),
        })
    }

    /// An autonomous institution's own authority node.
    pub fn institution_node(efirma: Efirma, signer: AuthoritySigner) -> Self {
        LocalAuthority { efirma, signer, failures: Mutex::new(Vec::new()), answered: Mutex::new(HashMap::new()) }
    }

    pub fn certificate(&self) -> &SignerCertificate {
        self.efirma.certificate()
    }

    /// Queues a failure for the next call (several calls queue several).
    pub fn fail_next(&self, failure: Failure) {
        if let Ok(mut f) = self.failures.lock() {
            f.push((None, failure));
        }
    }

    /// Queues a failure for the next document of one institution (its
    /// `idNombreInstitucion`): a caller can make only its own stamps fail.
    pub fn fail_next_for(&self, institution: &str, failure: Failure) {
        if let Ok(mut f) = self.failures.lock() {
            f.push((Some(institution.to_string()), failure));
        }
    }

    /// The first queued failure that applies to `dec`, taken off the queue.
    fn queued_failure(&self, dec: &Dec) -> Option<Failure> {
        let mut queue = self.failures.lock().ok()?;
        let at =
            queue.iter().position(|(scope, _)| scope.as_ref().is_none_or(|i| *i == dec.ipes.id_nombre_institucion))?;
        Some(queue.remove(at).1)
    }

    /// Authenticates a sealed document now.
    pub fn authenticate(&self, sealed_xml: &str) -> Result<Stamped, StampError> {
        self.authenticate_at(sealed_xml, Utc::now().naive_utc())
    }

    /// Authenticates a sealed document as of `now`.
    pub fn authenticate_at(&self, sealed_xml: &str, now: NaiveDateTime) -> Result<Stamped, StampError> {
        let mut dec =
            Dec::parse(sealed_xml).map_err(|e: DocumentError| StampError::rejected("ESTRUCTURA", e.to_string()))?;
        match self.queued_failure(&dec) {
            Some(Failure::Unavailable) => return Err(StampError::Unavailable("servicio en mantenimiento".into())),
            Some(Failure::Reject(message)) => return Err(StampError::rejected("RECHAZO", message)),
            None => {}
        }
        if dec.is_stamped() {
            return Err(StampError::rejected("DUPLICADO", "el documento ya está autenticado"));
        }
        if !dec.is_sealed() {
            return Err(StampError::rejected("SIN_SELLO", "el documento no tiene el sello de la institución"));
        }
        let submission = format!("{}|{}", dec.folio_control, dec.sello);
        if let Some(previous) = self.answered.lock().ok().and_then(|a| a.get(&submission).cloned()) {
            return Ok(previous);
        }
        if let Some(p) = value_problems(&dec).first() {
            return Err(StampError::rejected("DATOS", p.to_string()));
        }
        let cadena = cadena_original(&dec).map_err(|e| StampError::rejected("CADENA", e.to_string()))?;
        let cert = SignerCertificate::from_base64(&dec.certificado_responsable)
            .map_err(|e| StampError::rejected("CERTIFICADO", e.to_string()))?;
        if cert.number().value != dec.no_certificado_responsable {
            return Err(StampError::rejected("CERTIFICADO", "el número de certificado no corresponde al certificado"));
        }
        let sello =
            from_base64(&dec.sello).ok_or_else(|| StampError::rejected("SELLO", "el sello no está en Base64"))?;
        if !cert.verify(cadena.as_bytes(), &sello) {
            return Err(StampError::rejected("SELLO", "el sello no corresponde a la cadena original"));
        }
        let issue_date =
            dec.issue_date().ok_or_else(|| StampError::rejected("DATOS", "fecha de expedición ilegible"))?;
        cert.check_valid_on(issue_date).map_err(|e| StampError::rejected("VIGENCIA", e.to_string()))?;
        if cert.subject_curp() != Some(dec.responsable.curp.trim()) {
            return Err(StampError::rejected("CURP", "la CURP del certificado no es la del responsable"));
        }
        let at = now.format("%Y-%m-%dT%H:%M:%S").to_string();
        let number = self.efirma.certificate().number().value.clone();
        let sign = |cadena: String| -> Result<String, StampError> {
            let sig = self.efirma.sign(cadena.as_bytes()).map_err(|e| StampError::Unavailable(e.to_string()))?;
            Ok(to_base64(&sig))
        };
        let mut dreoe = Dreoe {
            fecha_dreoe: at.clone(),
            sello_dec: dec.sello.clone(),
            no_certificado_dreoe: number.clone(),
            curp: self.signer.curp.clone(),
            nombre_completo: self.signer.nombre_completo.clone(),
            id_cargo: self.signer.cargo.code().to_string(),
            cargo: self.signer.cargo.label().into(),
            sello_dreoe: String::new(),
        };
        dreoe.sello_dreoe = sign(dreoe_cadena(&dreoe).map_err(|e| StampError::rejected("CADENA", e.to_string()))?)?;
        // Derived from the submission: the same document always gets the same folio.
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, submission.as_bytes());
        let mut random = [0u8; 16];
        random.copy_from_slice(&digest.as_ref()[..16]);
        let folio = uuid::Builder::from_random_bytes(random).into_uuid().to_string();
        let mut sep = SepIpes {
            version: SEP_IPES_VERSION.into(),
            folio_digital: folio.clone(),
            fecha_sep_ipes: at,
            sello_dreoe: dreoe.sello_dreoe.clone(),
            no_certificado_sep_ipes: number,
            sello_sep_ipes: String::new(),
        };
        sep.sello_sep_ipes = sign(sep_ipes_cadena(&sep).map_err(|e| StampError::rejected("CADENA", e.to_string()))?)?;
        dec.dreoe = Some(dreoe);
        dec.sep_ipes = Some(sep);
        let stamped = Stamped { xml: dec.to_xml(), folio_digital: folio, stamped_at: now };
        if let Ok(mut answered) = self.answered.lock() {
            if answered.len() >= ANSWERS_KEPT {
                answered.clear();
            }
            answered.insert(submission, stamped.clone());
        }
        Ok(stamped)
    }
}

impl Stamper for LocalAuthority {
    async fn stamp(&self, sealed_xml: &str) -> Result<Stamped, StampError> {
        self.authenticate(sealed_xml)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_simulator_key_pair_loads_and_matches() {
        let authority = LocalAuthority::simulated_sep().unwrap();
        assert_eq!(authority.certificate().number().value, "00001000000900000001");
        assert!(authority.certificate().subject_name().contains("SIMULADA"));
    }
}

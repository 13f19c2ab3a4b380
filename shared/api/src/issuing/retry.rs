//! A certificate the authority refused (Error), issued again. It is sealed
//! anew from the records as they are now — the same certificate, so the
//! same folio de control — with every pre-issue rule checked again; when
//! that is the very document already sealed (nothing changed), that
//! document goes to the authority again unchanged.

use super::{Key, Session, Signer, Stage, rules_outcome};
use crate::Adapters;
use crate::outcome::{Outcome, Status};
use certifica_core::document::Dec;
use certifica_core::efirma::SignerCertificate;
use certifica_core::issue::{OfflineSealError, check_offline_sealed, seal_certificate};
use certifica_core::model::Plan;
use certifica_core::ports::{ArtifactKind, ArtifactStore, CertificateStore, StoreError};
use certifica_core::records::{CertificateRecord, StudentRecord, Transition};
use certifica_core::rules::IssueContext;
use chrono::NaiveDate;

impl<X: Adapters> Session<'_, X> {
    pub(super) async fn retry(
        &self,
        record: &StudentRecord,
        plan: &Plan,
        current: CertificateRecord,
        issue_date: NaiveDate,
    ) -> Result<Outcome, StoreError> {
        let stored = self.sealed_document(&current).await?;
        if let Some(signer) = self.signer.filter(|s| matches!(s.key, Key::Offline)) {
            return self.retry_offline(record, plan, signer, current, stored).await;
        }
        let ctx = IssueContext {
            institution: self.institution,
            plan,
            student: &record.student,
            signer: self.signer.and_then(Signer::sealing),
            credits_available: self.credits_hint(),
            issue_date,
        };
        let sealed =
            match self.timings.time(Stage::Seal, || seal_certificate(&ctx, self.school, &current.folio_control)) {
                Ok(sealed) => sealed,
                Err(e) => return Ok(rules_outcome(&current.control_number, e)),
            };
        let unchanged = stored.as_deref() == Some(sealed.xml.as_str());
        if unchanged && self.stamps() {
            // Nothing changed: the same document to the authority again.
            return self.stamp_existing(current, Some(sealed.xml)).await;
        }
        let new_document = (!unchanged).then_some(sealed.xml.as_str());
        let certificate = self.reseal(current, new_document, issue_date, record.grades_edited).await?;
        match certificate {
            Err(outcome) => Ok(outcome),
            Ok(c) if !self.stamps() => Ok(Outcome::done(&c.control_number.clone(), Status::Sellado, Some(c))),
            Ok(c) => self.stamp_existing(c, Some(sealed.xml)).await,
        }
    }

    /// Error → Sellado, ready for the authority again: with `xml` as the
    /// certificate's new document (stored under a key of its own, so the
    /// refused one stays as it was until the record switches), or with the
    /// stored one (`None`). A concurrent attempt that got there first
    /// answers "en proceso".
    pub async fn reseal(
        &self,
        current: CertificateRecord,
        xml: Option<&str>,
        issue_date: NaiveDate,
        grades_edited: bool,
    ) -> Result<Result<CertificateRecord, Outcome>, StoreError> {
        let key = match xml {
            None => current.artifacts.sealed_xml.clone().unwrap_or_default(),
            Some(xml) => {
                let name = format!("{}-{}.xml", current.id, current.version + 1);
                let bytes = xml.as_bytes().to_vec();
                let put = self.api.artifacts.put(self.tenant, ArtifactKind::SealedXml, &name, bytes, "application/xml");
                timed!(self.timings, Stage::Documents, put)?.key
            }
        };
        let change = Transition::Resealed { sealed_xml: key, issue_date, grades_edited };
        let done = self.api.records.transition(self.tenant, &current.id, current.version, change, &self.actor);
        match timed!(self.timings, Stage::Records, done) {
            Ok(c) => Ok(Ok(c)),
            Err(StoreError::Conflict) => Ok(Err(Outcome::one(
                &current.control_number,
                Status::Omitido,
                "en_proceso",
                "otra solicitud está emitiendo este certificado",
            )
            .retry_later())),
            Err(e) => Err(e),
        }
    }

    /// The signer seals offline, so the server cannot seal again: the
    /// stored document goes again only while it still says what the records
    /// say and carries the registered e.firma; otherwise the signer seals
    /// the current data again (the upload then reseals the certificate).
    async fn retry_offline(
        &self,
        record: &StudentRecord,
        plan: &Plan,
        signer: &Signer,
        current: CertificateRecord,
        stored: Option<String>,
    ) -> Result<Outcome, StoreError> {
        let matricula = current.control_number.clone();
        let Some((xml, dec)) = stored.and_then(|xml| Dec::parse(&xml).ok().map(|dec| (xml, dec))) else {
            return Ok(Outcome::one(&matricula, Status::Error, "sin_documento", "no se encontró el XML sellado"));
        };
        let seal_again = |why: String| {
            Outcome::one(
                &matricula,
                Status::Rechazado,
                "sellar_de_nuevo",
                format!(
                    "{why}: exporte de nuevo los datos para sellar de este alumno (export-unsealed), séllelos con \
                     «certifica sign» y suba el XML sellado; el certificado conserva su folio de control {}",
                    current.folio_control
                ),
            )
        };
        let registered = certifica_core::sello::from_base64(&dec.certificado_responsable);
        if registered.as_deref() != Some(signer.cer.as_slice()) {
            return Ok(seal_again("el documento se selló con otra e.firma que la registrada ahora".into()));
        }
        let Ok(certificate) = SignerCertificate::from_der(&signer.cer) else {
            return Ok(seal_again("el certificado registrado del responsable no se puede leer".into()));
        };
        let ctx = IssueContext {
            institution: self.institution,
            plan,
            student: &record.student,
            signer: None,
            credits_available: self.credits_hint(),
            issue_date: dec.issue_date().unwrap_or(current.issue_date),
        };
        match check_offline_sealed(&ctx, self.school, &signer.config.responsable, &certificate, &dec) {
            Ok(_) if self.stamps() => self.stamp_existing(current, Some(xml)).await,
            Ok(_) => {
                let (issue_date, edited) = (current.issue_date, record.grades_edited);
                match self.reseal(current, None, issue_date, edited).await? {
                    Ok(c) => Ok(Outcome::done(&matricula, Status::Sellado, Some(c))),
                    Err(outcome) => Ok(outcome),
                }
            }
            Err(OfflineSealError::Differs { expected, found }) => Ok(seal_again(format!(
                "los datos del alumno cambiaron desde que se selló (los registros dicen «{expected}», el documento «{found}»)"
            ))),
            Err(e) => Ok(Outcome::one(&matricula, Status::Rechazado, e.code(), e.to_string())),
        }
    }

    /// The certificate's sealed document, when it is stored.
    async fn sealed_document(&self, c: &CertificateRecord) -> Result<Option<String>, StoreError> {
        let Some(key) = &c.artifacts.sealed_xml else { return Ok(None) };
        let bytes = timed!(self.timings, Stage::Documents, self.api.artifacts.get(self.tenant, key))?;
        Ok(bytes.and_then(|b| String::from_utf8(b).ok()))
    }
}

//! A certificate's way from sealed to stamped: record it Sellado holding a
//! credit (one write), ask the authority, keep its answer (the stamped XML, under a key
//! derived from the certificate) before anything else, store the PDF, and
//! commit the stamp with the credit in one transaction — or give the credit
//! back and record the authority's message. A stamp kept by an attempt that
//! died before its commit is found and committed by the next attempt or the
//! expiry sweep: the authority is never asked twice for one certificate.

use super::{Session, Stage};
use crate::Adapters;
use crate::outcome::{Outcome, Status};
use certifica_core::document::Dec;
use certifica_core::pdf::{RenderOptions, Variant};
use certifica_core::ports::{ArtifactKind, ArtifactStore, CertificateStore, CreditStore, StoreError};
use certifica_core::records::{
    ArtifactRefs, CertificateRecord, CertificateStatus, Reservation, StampCommit, StudentRecord, Transition,
};
use certifica_core::stamping::{StampError, Stamped, Stamper};
use chrono::{NaiveDate, Utc};
use std::sync::atomic::Ordering;

/// A certificate just recorded Sellado, with the credit for its stamp held
/// in the same write when the session stamps.
pub struct Recorded {
    pub certificate: CertificateRecord,
    held: Option<Reservation>,
}

impl<X: Adapters> Session<'_, X> {
    /// Stores a sealed document and records its certificate as Sellado
    /// (audited as sealed by the session's actor), holding a credit for its
    /// stamp in the same write when the session stamps. A concurrent issue
    /// for the same student answers an "omitido" outcome instead; with no
    /// credit, a "sin créditos" one (the certificate stays Sellado).
    pub async fn record_sealed(
        &self,
        record: &StudentRecord,
        folio_control: &str,
        id: &str,
        issue_date: NaiveDate,
        sealed_xml: String,
    ) -> Result<Result<Recorded, Outcome>, StoreError> {
        let api = self.api;
        let matricula = record.student.control_number.as_str();
        let name = format!("{id}.xml");
        let put =
            api.artifacts.put(self.tenant, ArtifactKind::SealedXml, &name, sealed_xml.into_bytes(), "application/xml");
        let stored = timed!(self.timings, Stage::Documents, put)?;
        let certificate = CertificateRecord {
            id: id.to_string(),
            school_id: self.school.id.clone(),
            cycle_id: self.cycle.to_string(),
            plan_id: record.student.plan_id.clone(),
            control_number: matricula.to_string(),
            status: CertificateStatus::Sellado,
            version: 0,
            folio_control: folio_control.to_string(),
            folio_digital: None,
            issue_date,
            created_at: Utc::now(),
            stamped_at: None,
            artifacts: ArtifactRefs { sealed_xml: Some(stored.key), ..ArtifactRefs::default() },
            grades_edited: record.grades_edited,
            last_error: None,
            cancellation: None,
        };
        let recorded = if self.stamp {
            let ttl = api.config.reservation_ttl;
            let create = api.records.create_holding(self.tenant, &certificate, ttl, &self.actor);
            timed!(self.timings, Stage::Records, create)
        } else {
            timed!(self.timings, Stage::Records, api.records.create(self.tenant, &certificate, &self.actor))
                .map(|()| None)
        };
        match recorded {
            Ok(None) if self.stamp => Ok(Err(no_credits(&certificate))),
            Ok(held) => Ok(Ok(Recorded { certificate, held })),
            Err(StoreError::AlreadyIssued(state)) => Ok(Err(Outcome::one(
                matricula,
                Status::Omitido,
                "ya_emitido",
                format!("otra solicitud ya emitió el certificado (estado {state})"),
            ))),
            Err(e) => Err(e),
        }
    }

    /// Sends a Sellado / Error certificate's sealed XML to the authority and
    /// records the outcome. `sealed_xml` is the document when the caller has
    /// it at hand (just sealed: no earlier attempt can have stamped it);
    /// otherwise it is read from storage, and a stamp an earlier attempt
    /// kept is committed instead of asking the authority again. (A
    /// certificate in Error has none: the authority refused it.)
    pub async fn stamp_existing(
        &self,
        certificate: CertificateRecord,
        sealed_xml: Option<String>,
    ) -> Result<Outcome, StoreError> {
        let sealed_earlier = sealed_xml.is_none();
        let xml = match sealed_xml {
            Some(xml) => xml,
            None => {
                let missing =
                    |detail: &str| Outcome::one(&certificate.control_number, Status::Error, "sin_documento", detail);
                let Some(key) = certificate.artifacts.sealed_xml.clone() else {
                    return Ok(missing("el certificado no tiene XML sellado"));
                };
                let Some(xml) = self.api.artifacts.get(self.tenant, &key).await? else {
                    return Ok(missing("no se encontró el XML sellado"));
                };
                String::from_utf8_lossy(&xml).into_owned()
            }
        };
        // A stamp the authority already gave for this document is committed, not asked for again.
        let kept = if sealed_earlier { self.kept_stamp(&certificate, &xml).await? } else { None };
        if let Some(kept) = kept {
            return match self.hold(&certificate).await? {
                Err(outcome) => Ok(outcome),
                Ok(reservation) => self.commit_held(certificate, (reservation, Ok(kept)), Kept::Already).await,
            };
        }
        // Hold a credit first, so the authority is only called when one is available.
        match self.hold(&certificate).await? {
            Err(outcome) => Ok(outcome),
            Ok(reservation) => self.stamp_held(certificate, &xml, reservation).await,
        }
    }

    /// Sends a just recorded certificate's sealed XML to the authority with
    /// the credit held when it was recorded.
    pub async fn stamp_recorded(&self, recorded: Recorded, sealed_xml: String) -> Result<Outcome, StoreError> {
        match recorded.held {
            Some(reservation) => self.stamp_held(recorded.certificate, &sealed_xml, reservation).await,
            None => self.stamp_existing(recorded.certificate, Some(sealed_xml)).await,
        }
    }

    /// Commits what was stamped elsewhere for a just recorded certificate
    /// (see [`Self::commit`]) with the credit held when it was recorded.
    pub async fn commit_recorded(
        &self,
        recorded: Recorded,
        stamped: Result<Stamped, StampError>,
    ) -> Result<Outcome, StoreError> {
        match recorded.held {
            Some(reservation) => self.commit_held(recorded.certificate, (reservation, stamped), Kept::Not).await,
            None => self.commit(recorded.certificate, stamped).await,
        }
    }

    /// Asks the authority (AUTONOMO: the institution's own node, also on a
    /// retry) with a credit held, and records its answer.
    async fn stamp_held(
        &self,
        certificate: CertificateRecord,
        xml: &str,
        reservation: Reservation,
    ) -> Result<Outcome, StoreError> {
        let stamped = match self.own_node() {
            Some(node) => self.timings.time(Stage::Stamp, || node.authenticate(xml)),
            None => self.timings.time_async(Stage::Stamp, self.api.stamper.stamp(xml)).await,
        };
        self.commit_held(certificate, (reservation, stamped), Kept::Not).await
    }

    /// The stamp kept for `certificate` by an earlier attempt, if it
    /// authenticates this very sealed document (same sello).
    async fn kept_stamp(
        &self,
        certificate: &CertificateRecord,
        sealed_xml: &str,
    ) -> Result<Option<Stamped>, StoreError> {
        let key = ArtifactKind::StampedXml.key(&format!("{}.xml", certificate.id));
        let Some(bytes) = timed!(self.timings, Stage::Documents, self.api.artifacts.get(self.tenant, &key))? else {
            return Ok(None);
        };
        let Ok(xml) = String::from_utf8(bytes) else { return Ok(None) };
        let (Ok(kept), Ok(sealed)) = (Dec::parse(&xml), Dec::parse(sealed_xml)) else { return Ok(None) };
        if kept.sello != sealed.sello {
            return Ok(None);
        }
        Ok(Stamped::from_document(xml, &kept))
    }

    /// Settles the credits held by attempts that died (their reservation
    /// expired): the stamp such an attempt kept is committed with its held
    /// credit; without one, the credit comes back. Run before a batch.
    pub async fn settle_expired(&self) -> Result<(), StoreError> {
        let (api, t) = (self.api, self.tenant);
        for reservation in api.records.expired_reservations(t, Utc::now()).await? {
            let Some(certificate) = api.records.get(t, &reservation.certificate_id).await? else {
                api.records.expire(t, &reservation).await?;
                continue;
            };
            let waiting = matches!(certificate.status, CertificateStatus::Sellado | CertificateStatus::Error);
            let sealed = match (&certificate.artifacts.sealed_xml, waiting) {
                (Some(key), true) => api.artifacts.get(t, key).await?.and_then(|b| String::from_utf8(b).ok()),
                _ => None,
            };
            let kept = match &sealed {
                Some(xml) => self.kept_stamp(&certificate, xml).await?,
                None => None,
            };
            match kept {
                Some(stamped) => {
                    tracing::info!(certificate = %certificate.id, folio = %stamped.folio_digital, "kept stamp committed by the sweep");
                    match self.commit_held(certificate, (reservation.clone(), Ok(stamped)), Kept::Already).await {
                        Ok(_) | Err(StoreError::Conflict | StoreError::ReservationGone(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                None => {
                    api.records.expire(t, &reservation).await?;
                }
            }
        }
        Ok(())
    }

    async fn hold(&self, c: &CertificateRecord) -> Result<Result<Reservation, Outcome>, StoreError> {
        let ttl = self.api.config.reservation_ttl;
        match timed!(self.timings, Stage::Records, self.api.records.reserve(self.tenant, &c.id, ttl, &self.actor)) {
            Ok(r) => Ok(Ok(r)),
            Err(StoreError::NoCredits) => Ok(Err(no_credits(c))),
            Err(StoreError::Conflict) => Ok(Err(Outcome::one(
                &c.control_number,
                Status::Omitido,
                "en_proceso",
                "otra solicitud está timbrando este certificado",
            )
            .retry_later())),
            Err(e) => Err(e),
        }
    }

    /// Holds a credit and commits what was stamped elsewhere: by an AUTONOMO
    /// institution's own node, or by the authority through its portal (an
    /// uploaded authority-returned document).
    pub async fn commit(
        &self,
        certificate: CertificateRecord,
        stamped: Result<Stamped, StampError>,
    ) -> Result<Outcome, StoreError> {
        match self.hold(&certificate).await? {
            Err(outcome) => Ok(outcome),
            Ok(reservation) => self.commit_held(certificate, (reservation, stamped), Kept::Not).await,
        }
    }

    async fn commit_held(
        &self,
        certificate: CertificateRecord,
        (reservation, stamped): (Reservation, Result<Stamped, StampError>),
        kept: Kept,
    ) -> Result<Outcome, StoreError> {
        let (api, t) = (self.api, self.tenant);
        let matricula = certificate.control_number.clone();
        let stamped = match stamped {
            Ok(s) => s,
            Err(e) => {
                // Nothing was stamped: the credit comes back and the certificate shows the authority's message.
                api.records.release(t, &reservation, &self.actor).await?;
                let change = Transition::StampFailed { message: e.to_string() };
                let failed =
                    api.records.transition(t, &certificate.id, certificate.version, change, &self.actor).await?;
                let outcome =
                    Outcome::one(&matricula, Status::Error, "timbrado_fallido", e.to_string()).with_certificate(failed);
                return Ok(if e.is_transient() { outcome.retry_later() } else { outcome });
            }
        };
        let (xml_name, pdf_name) = (format!("{}.xml", certificate.id), format!("{}.pdf", certificate.id));
        // The authority's answer is kept first, under a key derived from the
        // certificate: whatever fails after this, the next attempt commits it.
        let xml_key = match kept {
            Kept::Already => ArtifactKind::StampedXml.key(&xml_name),
            Kept::Not => {
                let bytes = stamped.xml.clone().into_bytes();
                let put = api.artifacts.put(t, ArtifactKind::StampedXml, &xml_name, bytes, "application/xml");
                match timed!(self.timings, Stage::Documents, put) {
                    Ok(stored) => stored.key,
                    Err(e) => {
                        // Not kept: the hold expires and its credit comes back; asked
                        // again, the authority answers the same authentication.
                        tracing::error!(certificate = %certificate.id, folio = %stamped.folio_digital, error = %e, "stamped document not kept");
                        return Err(e);
                    }
                }
            }
        };
        let pdf = self.timings.time(Stage::Pdf, || {
            let dec = Dec::parse(&stamped.xml)
                .map_err(|e| StoreError::Invalid(format!("la autoridad devolvió un XML ilegible: {e}")))?;
            let options = RenderOptions {
                variant: Variant::Normal,
                verify_base_url: api.config.verify_base_url.clone(),
                logo: None,
            };
            api.render_pdf(&dec, &options).map_err(|e| StoreError::Invalid(e.to_string()))
        })?;
        let put = api.artifacts.put(t, ArtifactKind::Pdf, &pdf_name, pdf, "application/pdf");
        let pdf_key = match timed!(self.timings, Stage::Documents, put) {
            Ok(stored) => stored.key,
            Err(e) => {
                // The stamp is kept: the retry or the sweep commits it.
                tracing::error!(certificate = %certificate.id, folio = %stamped.folio_digital, error = %e, "PDF not stored; the kept stamp waits for its commit");
                return Err(e);
            }
        };
        let commit = StampCommit {
            folio_digital: stamped.folio_digital.clone(),
            stamped_at: stamped.stamped_at.and_utc(),
            stamped_xml: xml_key,
            pdf: pdf_key,
            receipt: None,
        };
        let done = api.records.commit_stamp(t, &reservation, certificate.version, commit, &self.actor);
        let done = timed!(self.timings, Stage::Records, done)?;
        let _ = self.credits_hint.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
        Ok(Outcome::done(&matricula, Status::Timbrado, Some(done)))
    }
}

/// A certificate left Sellado for want of a credit.
fn no_credits(c: &CertificateRecord) -> Outcome {
    Outcome::one(
        &c.control_number,
        Status::Sellado,
        "sin_creditos",
        "la institución no tiene créditos de timbrado; el certificado quedó sellado y se timbrará al reintentar con créditos",
    )
    .with_certificate(c.clone())
}

/// Whether the stamped XML is already kept in storage.
#[derive(Clone, Copy)]
enum Kept {
    Already,
    Not,
}

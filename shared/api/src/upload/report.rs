//! What an upload is (its event) and what became of it: the report written
//! beside it, with a result per document.

use crate::inbox::Found;
use crate::outcome::Status;
use certifica_core::ports::StoreError;
use certifica_core::records::CertificateRecord;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One object that landed in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEvent {
    /// The object key, decoded (`inbox/uva/norte/2026/A20001.xml`).
    pub key: String,
    /// The object version (versioned buckets), when the event names one.
    pub version: Option<String>,
    /// The object's ETag, when the event names one.
    pub etag: Option<String>,
    /// The invocation handling it (Lambda's request id, which Lambda's own
    /// retries of a failed or crashed invocation keep): a retry of this very
    /// invocation may take over the claim it left.
    pub invocation: Option<String>,
}

impl UploadEvent {
    /// The upload's identity: a redelivery of the same object has the same one.
    pub fn id(&self) -> String {
        let which = self.version.as_deref().or(self.etag.as_deref()).unwrap_or("-");
        format!("carga:{}#{which}", self.key)
    }
}

/// The upload could not be handled now; nothing was lost and the claim was
/// given back: deliver it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no se pudo procesar «{key}» por ahora (se reintentará): {reason}")]
pub struct RetryLater {
    pub key: String,
    pub reason: String,
    /// The storage answer behind it, when there was one: only an unavailable
    /// store is worth delivering the upload again for (see [`RetryLater::helps`]).
    pub cause: Option<StoreError>,
}

impl RetryLater {
    pub fn new(reason: impl Into<String>) -> Self {
        RetryLater { key: String::new(), reason: reason.into(), cause: None }
    }

    /// Whether delivering the upload again can change the answer: yes for an
    /// unavailable store or authority, or a race (another change won, a hold
    /// lapsed); no for an answer the records will give again (a certificate
    /// already issued, no credits, a record of another institution).
    pub fn helps(&self) -> bool {
        match &self.cause {
            None | Some(StoreError::Unavailable(_) | StoreError::Conflict | StoreError::ReservationGone(_)) => true,
            Some(
                StoreError::NotFound(_) | StoreError::AlreadyIssued(_) | StoreError::NoCredits | StoreError::Invalid(_),
            ) => false,
        }
    }

    /// A race, worth one more attempt at once rather than a redelivery.
    pub fn is_race(&self) -> bool {
        matches!(self.cause, Some(StoreError::Conflict | StoreError::ReservationGone(_)))
    }
}

impl From<StoreError> for RetryLater {
    fn from(e: StoreError) -> Self {
        RetryLater { key: String::new(), reason: e.to_string(), cause: Some(e) }
    }
}

/// What became of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadOutcome {
    /// At least one document was used (moved to `processed/`).
    Procesado,
    /// Nothing could be used (moved to `rejected/`).
    Rechazado,
    /// Handled before: this delivery changed nothing.
    Repetido,
    /// The object is gone (moved by an earlier delivery): nothing to do.
    Inexistente,
}

/// The outcome for one document of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentResult {
    /// The file (or `zip/entry.xml`, or `zip/resultados.csv#folio`).
    pub file: String,
    /// Timbrado, Sellado, Rechazado or Error.
    pub status: Status,
    pub code: Option<String>,
    /// In Spanish: what happened and what to do.
    pub message: Option<String>,
    pub matricula: Option<String>,
    pub folio_control: Option<String>,
    pub certificate_id: Option<String>,
    pub folio_digital: Option<String>,
}

impl DocumentResult {
    pub(crate) fn new(file: &str) -> Self {
        DocumentResult {
            file: file.to_string(),
            status: Status::Rechazado,
            code: None,
            message: None,
            matricula: None,
            folio_control: None,
            certificate_id: None,
            folio_digital: None,
        }
    }

    pub(crate) fn of(found: &Found) -> Self {
        DocumentResult {
            matricula: Some(found.dec.alumno.numero_control.clone()).filter(|m| !m.is_empty()),
            folio_control: Some(found.dec.folio_control.clone()).filter(|f| !f.is_empty()),
            ..DocumentResult::new(&found.name)
        }
    }

    pub(crate) fn refused(mut self, code: &str, message: impl Into<String>) -> Self {
        self.status = Status::Rechazado;
        self.code = Some(code.to_string());
        self.message = Some(message.into());
        self
    }

    /// This document ended as `status`, saying why.
    pub(crate) fn ended(mut self, status: Status, code: &str, message: impl Into<String>) -> Self {
        self.status = status;
        self.code = Some(code.to_string());
        self.message = Some(message.into());
        self
    }

    pub(crate) fn certificate(mut self, c: &CertificateRecord) -> Self {
        self.certificate_id = Some(c.id.clone());
        self.folio_digital = c.folio_digital.clone();
        self
    }

    /// The document moved its certificate on (sealed or stamped).
    pub(crate) fn used(&self) -> bool {
        matches!(self.status, Status::Timbrado | Status::Sellado)
    }
}

/// The report written beside a settled upload (and answered to the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadReport {
    pub key: String,
    pub version: Option<String>,
    pub outcome: UploadOutcome,
    /// Where the upload went (`processed/…` or `rejected/…`).
    pub moved_to: Option<String>,
    /// Why the whole upload was refused, when it was.
    pub code: Option<String>,
    pub message: Option<String>,
    pub documents: Vec<DocumentResult>,
    pub processed_at: DateTime<Utc>,
}

impl UploadReport {
    pub(crate) fn new(event: &UploadEvent, outcome: UploadOutcome) -> Self {
        UploadReport {
            key: event.key.clone(),
            version: event.version.clone(),
            outcome,
            moved_to: None,
            code: None,
            message: None,
            documents: Vec::new(),
            processed_at: Utc::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_can_change_is_delivered_again() {
        let of = |e: StoreError| RetryLater::from(e);
        assert!(of(StoreError::Unavailable("x".into())).helps());
        assert!(RetryLater::new("la autoridad no responde").helps());
        // A race: one more attempt at once.
        assert!(of(StoreError::Conflict).is_race() && of(StoreError::ReservationGone("r".into())).is_race());
        // The records would answer the same on every delivery.
        for permanent in [
            StoreError::AlreadyIssued("Timbrado".into()),
            StoreError::NoCredits,
            StoreError::Invalid("x".into()),
            StoreError::NotFound("x".into()),
        ] {
            let e = of(permanent);
            assert!(!e.helps() && !e.is_race(), "{e}");
        }
    }
}

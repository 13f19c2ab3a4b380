//! What the system remembers about certificates and credits, in domain
//! terms (DESIGN.md, "Certificate life cycle", "Stamping credits").

use crate::catalogs::MotivoCancelacion;
use crate::model::{Grade, Responsable, Student};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The institution a request acts for. Built only from the caller's
/// verified identity (token claims), never from the request body, path or
/// query; every store operation takes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tenant(String);

impl Tenant {
    /// From the institution id of a verified identity.
    pub fn from_verified_identity(institution_id: &str) -> Self {
        Tenant(institution_id.to_string())
    }

    /// From a queued chunk of a job: only the API queues chunks, with the
    /// tenant of the identity it verified (the queue takes nothing else).
    pub fn of_queued_chunk(chunk: &crate::jobs::JobChunk) -> Self {
        Tenant(chunk.tenant.clone())
    }

    pub fn id(&self) -> &str {
        &self.0
    }
}

/// Where a certificate is in its life cycle. A student without an active
/// certificate is "Por certificar".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    Sellado,
    Timbrado,
    Error,
    Cancelado,
}

impl CertificateStatus {
    /// The product's word for it.
    pub fn label(self) -> &'static str {
        match self {
            CertificateStatus::Sellado => "Sellado",
            CertificateStatus::Timbrado => "Timbrado",
            CertificateStatus::Error => "Error en timbrado",
            CertificateStatus::Cancelado => "Cancelado",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Sellado => "sellado",
            CertificateStatus::Timbrado => "timbrado",
            CertificateStatus::Error => "error",
            CertificateStatus::Cancelado => "cancelado",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Sellado, Self::Timbrado, Self::Error, Self::Cancelado].into_iter().find(|v| v.as_str() == s)
    }

    /// Cancelled certificates are history: the student may be certified again.
    pub fn is_active(self) -> bool {
        self != CertificateStatus::Cancelado
    }
}

/// Keys of the stored documents of a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRefs {
    pub sealed_xml: Option<String>,
    pub stamped_xml: Option<String>,
    pub pdf: Option<String>,
    pub receipt: Option<String>,
}

/// Who cancelled, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub motive: MotivoCancelacion,
    pub reason: Option<String>,
    /// The caller's `sub`.
    pub by: String,
    /// The caller's email when the token had one: shown, never trusted as who.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_email: Option<String>,
    pub at: DateTime<Utc>,
}

/// One certificate of one student (in a school, cycle and plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    pub id: String,
    pub school_id: String,
    pub cycle_id: String,
    pub plan_id: String,
    /// The student's matrícula.
    pub control_number: String,
    pub status: CertificateStatus,
    /// Incremented by every change; changes are conditional on it.
    pub version: u64,
    pub folio_control: String,
    pub folio_digital: Option<String>,
    pub issue_date: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub stamped_at: Option<DateTime<Utc>>,
    pub artifacts: ArtifactRefs,
    /// "calificaciones editadas": grades were edited for certification.
    pub grades_edited: bool,
    pub last_error: Option<String>,
    pub cancellation: Option<Cancellation>,
}

/// Who asked for a change and in which request: written to the audit trail
/// and the credit ledger with the change itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The caller's `sub`, from the verified token: who, for good (an email
    /// can change hands or be edited; the subject cannot).
    pub user: String,
    /// The request that made the change (API Gateway request id, S3 event…).
    pub request_id: String,
    /// The caller's email, for display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Actor {
    pub fn new(user: impl Into<String>, request_id: impl Into<String>) -> Self {
        Actor { user: user.into(), request_id: request_id.into(), email: None }
    }

    /// With the email shown beside the `sub`.
    pub fn with_email(mut self, email: Option<String>) -> Self {
        self.email = email;
        self
    }

    /// How people read who it was: the email when known, else the `sub`.
    pub fn display(&self) -> &str {
        shown(&self.user, self.email.as_deref())
    }
}

/// How people read who did something (an actor, an audit entry, a
/// cancellation): the email when known, else the `sub`.
pub fn shown<'a>(user: &'a str, email: Option<&'a str>) -> &'a str {
    email.unwrap_or(user)
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A certificate was sealed and recorded (IPES: Sellado).
    Sealed,
    Stamped,
    StampFailed,
    Resealed,
    Cancelled,
    /// Grades edited for certification (detail: old → new).
    GradesEdited,
    /// Other data of the student changed by an import (detail: old → new).
    DataEdited,
    Emailed,
    /// An uploaded document for this certificate was refused (detail: why).
    UploadRejected,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Sealed => "sealed",
            AuditAction::Stamped => "stamped",
            AuditAction::StampFailed => "stamp_failed",
            AuditAction::Resealed => "resealed",
            AuditAction::Cancelled => "cancelled",
            AuditAction::GradesEdited => "grades_edited",
            AuditAction::DataEdited => "data_edited",
            AuditAction::Emailed => "emailed",
            AuditAction::UploadRejected => "upload_rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        use AuditAction::*;
        [Sealed, Stamped, StampFailed, Resealed, Cancelled, GradesEdited, DataEdited, Emailed, UploadRejected]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// One entry of the audit trail: who did what to which student's
/// certificate, when, from which request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The caller's `sub`.
    pub actor: String,
    /// The caller's email at the time, for display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_email: Option<String>,
    pub request_id: String,
    pub action: AuditAction,
    pub school_id: String,
    pub cycle_id: String,
    pub control_number: String,
    pub certificate_id: Option<String>,
    /// A short Spanish description (the authority's message, the motive, the grade changes).
    pub detail: String,
}

impl AuditEntry {
    /// An entry about certificate `c`, now.
    pub fn of_certificate(by: &Actor, action: AuditAction, c: &CertificateRecord, detail: impl Into<String>) -> Self {
        AuditEntry {
            at: Utc::now(),
            actor: by.user.clone(),
            actor_email: by.email.clone(),
            request_id: by.request_id.clone(),
            action,
            school_id: c.school_id.clone(),
            cycle_id: c.cycle_id.clone(),
            control_number: c.control_number.clone(),
            certificate_id: Some(c.id.clone()),
            detail: detail.into(),
        }
    }

    /// An entry about a student's record (no certificate involved), now.
    pub fn of_student(by: &Actor, action: AuditAction, s: &StudentRecord, detail: impl Into<String>) -> Self {
        AuditEntry {
            at: Utc::now(),
            actor: by.user.clone(),
            actor_email: by.email.clone(),
            request_id: by.request_id.clone(),
            action,
            school_id: s.school_id.clone(),
            cycle_id: s.cycle_id.clone(),
            control_number: s.student.control_number.clone(),
            certificate_id: None,
            detail: detail.into(),
        }
    }
}

/// Why a matrícula cannot be stored: it is a key part (storage keys, URLs,
/// file names), so it is limited to ASCII letters, digits, `-`, `_` and `.`.
pub fn check_control_number(control_number: &str) -> Result<(), String> {
    let ok = !control_number.is_empty()
        && control_number.len() <= 40
        && control_number.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "la matrícula «{control_number}» no es válida: use de 1 a 40 letras sin acento, números, guion, guion bajo o punto"
        ))
    }
}

/// A student of a school in a cycle, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudentRecord {
    pub school_id: String,
    pub cycle_id: String,
    pub student: Student,
    /// Grades were edited for certification ("calificaciones editadas");
    /// carried onto the certificate issued from them.
    pub grades_edited: bool,
    /// Incremented by every change; grade edits are conditional on it.
    pub version: u64,
}

/// "MAT101: 7.00 → 8.00; FIS102: (sin calificación) → 9.00", in subject
/// order of `new`, then removed subjects; empty when nothing changed.
pub fn describe_grade_changes(old: &[Grade], new: &[Grade]) -> String {
    let value = |g: Option<&Grade>| g.map_or_else(|| "(sin calificación)".to_string(), |g| g.value.fixed2());
    let mut changes = Vec::new();
    for g in new {
        let before = old.iter().find(|o| o.subject_clave == g.subject_clave);
        if before != Some(g) {
            let mut line = format!("{}: {} → {}", g.subject_clave, value(before), g.value.fixed2());
            if let Some(b) = before.filter(|b| b.value == g.value) {
                line = format!(
                    "{}: {} ({} → {})",
                    g.subject_clave,
                    g.value.fixed2(),
                    b.observacion.label(),
                    g.observacion.label()
                );
            }
            changes.push(line);
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|g| g.subject_clave == o.subject_clave)) {
        changes.push(format!("{}: {} → (sin calificación)", o.subject_clave, o.value.fixed2()));
    }
    changes.join("; ")
}

/// What an import changes in a student's record, in the audit trail's words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudentChanges {
    /// Values the certificate states (names, CURP, gender, birth date, plan, grades).
    pub certified: Vec<String>,
    /// The rest (emails, group, grade level, active).
    pub other: Vec<String>,
    /// Whether the grades are among the certified changes.
    pub grades: bool,
}

impl StudentChanges {
    pub fn is_empty(&self) -> bool {
        self.certified.is_empty() && self.other.is_empty()
    }

    /// Every change, certified ones first: "nombre: Ana → Anna; grupo: 3A → 3B".
    pub fn describe(&self) -> String {
        self.certified.iter().chain(&self.other).cloned().collect::<Vec<_>>().join("; ")
    }
}

/// What changes from `old` to `new` (the same matrícula).
pub fn student_changes(old: &Student, new: &Student) -> StudentChanges {
    fn text(v: &str) -> String {
        if v.trim().is_empty() { "(vacío)".to_string() } else { v.to_string() }
    }
    fn opt<T: ToString>(v: &Option<T>) -> String {
        v.as_ref().map_or_else(|| "(vacío)".to_string(), ToString::to_string)
    }
    let mut out = StudentChanges::default();
    let mut field = |certified: bool, name: &str, a: String, b: String| {
        if a != b {
            let line = format!("{name}: {a} → {b}");
            if certified { out.certified.push(line) } else { out.other.push(line) }
        }
    };
    field(true, "CURP", text(&old.curp), text(&new.curp));
    field(true, "nombre", text(&old.nombre), text(&new.nombre));
    field(true, "primer apellido", text(&old.primer_apellido), text(&new.primer_apellido));
    field(true, "segundo apellido", text(&old.segundo_apellido), text(&new.segundo_apellido));
    let gender =
        |g: &Option<crate::catalogs::Genero>| g.map_or_else(|| "(vacío)".to_string(), |g| g.letter().to_string());
    field(true, "género", gender(&old.genero), gender(&new.genero));
    field(true, "fecha de nacimiento", opt(&old.fecha_nacimiento), opt(&new.fecha_nacimiento));
    field(true, "plan", text(&old.plan_id), text(&new.plan_id));
    field(false, "correo personal", opt(&old.email_personal), opt(&new.email_personal));
    field(false, "correo institucional", opt(&old.email_institucional), opt(&new.email_institucional));
    field(false, "grupo", text(&old.group), text(&new.group));
    field(false, "grado", old.grade_level.to_string(), new.grade_level.to_string());
    let active = |a: bool| if a { "activo" } else { "inactivo" }.to_string();
    field(false, "estado", active(old.active), active(new.active));
    let grades = describe_grade_changes(&old.grades, &new.grades);
    if !grades.is_empty() {
        out.grades = true;
        out.certified.push(grades);
    }
    out
}

/// An import's change to an existing student, written with its audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentUpdate {
    /// `GradesEdited` when grades change, `DataEdited` otherwise.
    pub action: AuditAction,
    /// Old → new, for the audit trail.
    pub detail: String,
    /// Also marks the student "calificaciones editadas" (grades corrected
    /// for a certificate the authority refused).
    pub flag_grades_edited: bool,
}

/// A school cycle (school year or term) of a school: the filter every list starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    pub id: String,
    pub school_id: String,
    pub name: String,
}

/// The signer registered for a school: who signs and with which e.firma.
/// The `.key` stays encrypted as the SAT issued it; the password is stored
/// only sealed by the application's secret (never in clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerConfig {
    pub school_id: String,
    pub responsable: Responsable,
    /// The 20-digit certificate number (`noCertificadoResponsable`).
    pub certificate_number: String,
    pub cer_base64: String,
    /// Empty when the signer seals offline ([`SignerConfig::is_offline`]).
    pub key_base64: String,
    /// Empty when the signer seals offline.
    pub password_sealed: String,
    pub registered_by: String,
    pub registered_at: DateTime<Utc>,
}

impl SignerConfig {
    /// The signer keeps the e.firma's key offline: only the certificate is
    /// registered, documents are sealed with `certifica sign` and uploaded.
    pub fn is_offline(&self) -> bool {
        self.key_base64.is_empty()
    }
}

/// A change of state, applied only from the state it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Sellado (or Error, on a retry) → Error: the authority refused or failed (no credit consumed).
    StampFailed { message: String },
    /// Error → Sellado: sealed again from the current records for a retry
    /// (the same certificate and folio de control; the new document's key,
    /// issue date and "calificaciones editadas" flag).
    Resealed { sealed_xml: String, issue_date: NaiveDate, grades_edited: bool },
    /// Timbrado → Cancelado, with the re-rendered PDF.
    Cancelled { cancellation: Cancellation, pdf: String },
}

impl Transition {
    /// How the audit trail records this change.
    pub fn audit(&self) -> (AuditAction, String) {
        match self {
            Transition::StampFailed { message } => (AuditAction::StampFailed, message.clone()),
            Transition::Resealed { issue_date, .. } => (
                AuditAction::Resealed,
                format!("sellado de nuevo con los datos actuales, fecha de emisión {issue_date}"),
            ),
            Transition::Cancelled { cancellation, .. } => (
                AuditAction::Cancelled,
                match &cancellation.reason {
                    Some(r) => format!("{} {}: {r}", cancellation.motive.code(), cancellation.motive.label()),
                    None => format!("{} {}", cancellation.motive.code(), cancellation.motive.label()),
                },
            ),
        }
    }

    /// The states this change may start from.
    pub fn allowed_from(&self) -> &'static [CertificateStatus] {
        match self {
            // A retry from Error that fails again records the new message.
            Transition::StampFailed { .. } => &[CertificateStatus::Sellado, CertificateStatus::Error],
            Transition::Resealed { .. } => &[CertificateStatus::Error],
            Transition::Cancelled { .. } => &[CertificateStatus::Timbrado],
        }
    }
}

impl CertificateRecord {
    /// The record after `change`, or `None` when it is no longer at
    /// `expected_version` or the change may not start from its state.
    pub fn after(&self, expected_version: u64, change: Transition) -> Option<CertificateRecord> {
        if self.version != expected_version || !change.allowed_from().contains(&self.status) {
            return None;
        }
        let mut next = self.clone();
        match change {
            Transition::StampFailed { message } => {
                next.status = CertificateStatus::Error;
                next.last_error = Some(message);
            }
            Transition::Resealed { sealed_xml, issue_date, grades_edited } => {
                next.status = CertificateStatus::Sellado;
                next.artifacts.sealed_xml = Some(sealed_xml);
                next.issue_date = issue_date;
                next.grades_edited = grades_edited;
                // The authority's message was about the previous document.
                next.last_error = None;
            }
            Transition::Cancelled { cancellation, pdf } => {
                next.status = CertificateStatus::Cancelado;
                next.cancellation = Some(cancellation);
                next.artifacts.pdf = Some(pdf);
            }
        }
        next.version += 1;
        Some(next)
    }

    /// The record once stamped, or `None` when it is no longer at
    /// `expected_version` or not waiting for a stamp (Sellado or Error).
    pub fn after_stamp(&self, expected_version: u64, stamp: StampCommit) -> Option<CertificateRecord> {
        if self.version != expected_version
            || !matches!(self.status, CertificateStatus::Sellado | CertificateStatus::Error)
        {
            return None;
        }
        let mut next = self.clone();
        next.status = CertificateStatus::Timbrado;
        next.folio_digital = Some(stamp.folio_digital);
        next.stamped_at = Some(stamp.stamped_at);
        next.artifacts.stamped_xml = Some(stamp.stamped_xml);
        next.artifacts.pdf = Some(stamp.pdf);
        next.artifacts.receipt = stamp.receipt;
        next.last_error = None;
        next.version += 1;
        Some(next)
    }
}

/// What stamping produced, committed together with the credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampCommit {
    pub folio_digital: String,
    pub stamped_at: DateTime<Utc>,
    pub stamped_xml: String,
    pub pdf: String,
    pub receipt: Option<String>,
}

/// A credit held for one certificate while the authority is called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: String,
    pub certificate_id: String,
    pub expires_at: DateTime<Utc>,
}

/// The institution's credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditBalance {
    /// Free to reserve.
    pub available: u64,
    /// Held by reservations not yet committed or released.
    pub reserved: u64,
    /// Ever consumed (= certificates that reached Timbrado).
    pub consumed: u64,
}

/// Kinds of credit movements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    Added,
    Reserved,
    Released,
    Expired,
    Consumed,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Added => "added",
            LedgerKind::Reserved => "reserved",
            LedgerKind::Released => "released",
            LedgerKind::Expired => "expired",
            LedgerKind::Consumed => "consumed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Added, Self::Reserved, Self::Released, Self::Expired, Self::Consumed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One credit movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub kind: LedgerKind,
    pub amount: u64,
    pub certificate_id: Option<String>,
    pub reservation_id: Option<String>,
    pub actor: String,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

/// What an idempotency key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdempotencyState {
    /// The key is new: this caller runs the operation.
    Started,
    /// Another call with this key is running.
    InProgress,
    /// Done before: return this answer and change nothing.
    Completed(String),
}

//! The narrow ports the application needs from storage. Adapters (DynamoDB,
//! the embedded database) implement them and pass the same conformance
//! suite. Every operation takes the [`Tenant`] from the verified identity;
//! nothing here can read or write across tenants, except the one public
//! lookup by folio, which answers with the owner.

use crate::jobs::{Job, JobChunk, JobResult};
use crate::model::{Grade, Institution, Plan, School, Student};
use crate::records::*;
use crate::roster::{RosterFilter, RosterPage};
use std::future::Future;

/// Why a store operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no existe {0}")]
    NotFound(String),
    /// The record changed (another request won the race).
    #[error("el certificado ya está siendo procesado o cambió de estado; actualice y vuelva a intentar")]
    Conflict,
    #[error("el alumno ya tiene un certificado {0}; cancélelo antes de emitir otro")]
    AlreadyIssued(String),
    #[error("la institución no tiene créditos de timbrado disponibles")]
    NoCredits,
    #[error("la reservación de crédito {0} ya no es válida (expiró o se liberó)")]
    ReservationGone(String),
    /// The request itself is wrong (e.g. a record of another institution).
    #[error("{0}")]
    Invalid(String),
    /// Storage unreachable or failing: safe to retry.
    #[error("el almacenamiento no está disponible: {0}")]
    Unavailable(String),
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound(_) => "no_encontrado",
            StoreError::Conflict => "conflicto",
            StoreError::AlreadyIssued(_) => "ya_emitido",
            StoreError::NoCredits => "sin_creditos",
            StoreError::ReservationGone(_) => "reservacion_invalida",
            StoreError::Invalid(_) => "dato_invalido",
            StoreError::Unavailable(_) => "almacenamiento_no_disponible",
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Certificates and their state changes.
pub trait CertificateStore: Send + Sync {
    /// Stores a new (Sellado) certificate, audited as sealed by `by`; refused
    /// while the student has an active one for the same school, cycle and plan.
    fn create(
        &self,
        tenant: &Tenant,
        certificate: &CertificateRecord,
        by: &Actor,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    fn get(&self, tenant: &Tenant, id: &str) -> impl Future<Output = StoreResult<Option<CertificateRecord>>> + Send;

    /// The public lookup for verification: the owner and the certificate.
    fn by_folio(
        &self,
        folio_digital: &str,
    ) -> impl Future<Output = StoreResult<Option<(Tenant, CertificateRecord)>>> + Send;

    /// Applies `change` only if the certificate is still at `expected_version`
    /// and in a state the change may start from; the audit entry is written
    /// in the same transaction.
    fn transition(
        &self,
        tenant: &Tenant,
        id: &str,
        expected_version: u64,
        change: Transition,
        by: &Actor,
    ) -> impl Future<Output = StoreResult<CertificateRecord>> + Send;

    /// Every certificate of a student (history included), oldest first.
    fn student_certificates(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> impl Future<Output = StoreResult<Vec<CertificateRecord>>> + Send;

    /// The certificates of a school and cycle in matrícula order, a page of
    /// at most `limit` after position `after` (for bulk downloads); the
    /// second value is where the next page starts.
    fn certificates_page(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<(Vec<CertificateRecord>, Option<String>)>> + Send;
}

/// Credits, with every movement in the ledger.
pub trait CreditStore: Send + Sync {
    fn add_credits(
        &self,
        tenant: &Tenant,
        amount: u64,
        by: &Actor,
    ) -> impl Future<Output = StoreResult<CreditBalance>> + Send;

    fn balance(&self, tenant: &Tenant) -> impl Future<Output = StoreResult<CreditBalance>> + Send;

    /// Holds one credit for `certificate_id` until `ttl` passes. Refused with
    /// `Conflict` when the certificate is not waiting for its stamp (Sellado
    /// or Error) or another attempt already holds a credit for it, so a credit
    /// is only ever held by an attempt that can use it; `NoCredits` when none
    /// is available; `NotFound` for an unknown certificate.
    fn reserve(
        &self,
        tenant: &Tenant,
        certificate_id: &str,
        ttl: chrono::Duration,
        by: &Actor,
    ) -> impl Future<Output = StoreResult<Reservation>> + Send;

    /// In one transaction: stores a new (Sellado) certificate as
    /// [`CertificateStore::create`] does and holds one credit for it as
    /// [`Self::reserve`] does (one write where the two would cost two). With
    /// no credit available the certificate is stored alone and `None` comes
    /// back: it stays Sellado, stamped when credits arrive.
    fn create_holding(
        &self,
        tenant: &Tenant,
        certificate: &CertificateRecord,
        ttl: chrono::Duration,
        by: &Actor,
    ) -> impl Future<Output = StoreResult<Option<Reservation>>> + Send;

    /// Returns a held credit (stamping failed). Releasing twice is harmless.
    fn release(
        &self,
        tenant: &Tenant,
        reservation: &Reservation,
        by: &Actor,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The reservations that expired before `now` and still hold their
    /// credit (a crashed invocation's), for the sweep to settle one by one:
    /// commit the stamp the authority gave, if it was kept, or [`Self::expire`].
    fn expired_reservations(
        &self,
        tenant: &Tenant,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = StoreResult<Vec<Reservation>>> + Send;

    /// Returns a held reservation's credit as expired (ledger: expired);
    /// `false` when it was settled already (committed, released, expired).
    fn expire(&self, tenant: &Tenant, reservation: &Reservation) -> impl Future<Output = StoreResult<bool>> + Send;

    /// In one transaction: the certificate (at `expected_version`, Sellado or
    /// Error) moves to Timbrado, the reservation's credit is consumed, and the
    /// ledger records it. Either all happens or nothing does.
    fn commit_stamp(
        &self,
        tenant: &Tenant,
        reservation: &Reservation,
        expected_version: u64,
        stamp: StampCommit,
        by: &Actor,
    ) -> impl Future<Output = StoreResult<CertificateRecord>> + Send;

    /// Movements, oldest first; only those of one certificate when given
    /// (read from an index: may lag a write by a moment on DynamoDB).
    fn ledger(
        &self,
        tenant: &Tenant,
        certificate_id: Option<&str>,
    ) -> impl Future<Output = StoreResult<Vec<LedgerEntry>>> + Send;
}

/// The institution's configuration: itself, its schools, cycles, plans,
/// groups and signers. Everything is scoped by the tenant; a record naming
/// another institution is refused with `Invalid`.
pub trait InstitutionStore: Send + Sync {
    fn put_institution(
        &self,
        tenant: &Tenant,
        institution: &Institution,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn institution(&self, tenant: &Tenant) -> impl Future<Output = StoreResult<Option<Institution>>> + Send;

    fn put_school(&self, tenant: &Tenant, school: &School) -> impl Future<Output = StoreResult<()>> + Send;
    fn school(&self, tenant: &Tenant, school_id: &str) -> impl Future<Output = StoreResult<Option<School>>> + Send;
    /// All schools, by id.
    fn schools(&self, tenant: &Tenant) -> impl Future<Output = StoreResult<Vec<School>>> + Send;

    fn put_cycle(&self, tenant: &Tenant, cycle: &Cycle) -> impl Future<Output = StoreResult<()>> + Send;
    /// The school's cycles, by id.
    fn cycles(&self, tenant: &Tenant, school_id: &str) -> impl Future<Output = StoreResult<Vec<Cycle>>> + Send;

    fn put_plan(&self, tenant: &Tenant, plan: &Plan) -> impl Future<Output = StoreResult<()>> + Send;
    fn plan(
        &self,
        tenant: &Tenant,
        school_id: &str,
        plan_id: &str,
    ) -> impl Future<Output = StoreResult<Option<Plan>>> + Send;
    /// The school's plans with their subjects, by id.
    fn plans(&self, tenant: &Tenant, school_id: &str) -> impl Future<Output = StoreResult<Vec<Plan>>> + Send;

    fn put_signer(&self, tenant: &Tenant, signer: &SignerConfig) -> impl Future<Output = StoreResult<()>> + Send;
    fn signer(
        &self,
        tenant: &Tenant,
        school_id: &str,
    ) -> impl Future<Output = StoreResult<Option<SignerConfig>>> + Send;
}

/// Students with their grades, and the students table.
pub trait StudentStore: Send + Sync {
    /// Creates or replaces students of a school and cycle (an import of new
    /// students; changes to existing ones go through [`Self::update_student`],
    /// audited). The "calificaciones editadas" flag of an existing student is kept.
    fn put_students(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        students: &[Student],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    fn student(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> impl Future<Output = StoreResult<Option<StudentRecord>>> + Send;

    /// Replaces a student's grades for certification if the record is still
    /// at `expected_version`: flags it "calificaciones editadas" and audits
    /// old → new in the same transaction.
    #[allow(clippy::too_many_arguments, reason = "the student's three-part key, the version, the change and who")]
    fn edit_grades(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
        expected_version: u64,
        grades: Vec<Grade>,
        by: &Actor,
    ) -> impl Future<Output = StoreResult<StudentRecord>> + Send;

    /// Replaces an existing student's data with `student` (an import that
    /// changed it) if the record is still at `expected_version`, writing
    /// `update`'s audit entry in the same transaction. `Conflict` when the
    /// record changed meanwhile, `NotFound` when it does not exist.
    #[allow(clippy::too_many_arguments, reason = "the student's school and cycle, the version, the change and who")]
    fn update_student(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        expected_version: u64,
        student: &Student,
        update: &StudentUpdate,
        by: &Actor,
    ) -> impl Future<Output = StoreResult<StudentRecord>> + Send;

    /// The groups of a school and cycle, sorted.
    fn groups(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<String>>> + Send;

    /// One page of the students table (see [`crate::roster`]), starting after
    /// position `after` (already taken out of a verified cursor).
    fn roster_page(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        filter: &RosterFilter,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<RosterPage>> + Send;
}

/// The audit trail. State changes write their entries themselves (in the
/// same transaction); `record` is for actions that change no state (mail sent).
pub trait AuditStore: Send + Sync {
    fn record(&self, tenant: &Tenant, entry: &AuditEntry) -> impl Future<Output = StoreResult<()>> + Send;

    /// Everything done to a student's records and certificates, oldest first.
    fn audit_of_student(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> impl Future<Output = StoreResult<Vec<AuditEntry>>> + Send;

    /// Everything done to one certificate, oldest first (read from an index:
    /// may lag a write by a moment on DynamoDB).
    fn audit_of_certificate(
        &self,
        tenant: &Tenant,
        certificate_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<AuditEntry>>> + Send;
}

/// Idempotency records (Powertools-style: key, in progress / completed, result, expiry).
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for this call (the claim lapses after `ttl`: a call
    /// that died does not hold the key), or reports what an earlier call did.
    fn begin(
        &self,
        tenant: &Tenant,
        key: &str,
        ttl: chrono::Duration,
    ) -> impl Future<Output = StoreResult<IdempotencyState>> + Send;

    /// Stores the answer of the call that claimed `key`, kept for `keep`.
    fn complete(
        &self,
        tenant: &Tenant,
        key: &str,
        result: &str,
        keep: chrono::Duration,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Forgets a claim whose call failed, so a retry can run.
    fn abandon(&self, tenant: &Tenant, key: &str) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Jobs and their per-student results ([`crate::jobs`]). Every result is
/// recorded once and every chunk counted once, so a redelivered chunk
/// changes nothing it already did.
pub trait JobStore: Send + Sync {
    /// Stores a new job (queued); `Conflict` when its id exists.
    fn create_job(&self, tenant: &Tenant, job: &Job) -> impl Future<Output = StoreResult<()>> + Send;

    /// The job with its progress (read consistently).
    fn job(&self, tenant: &Tenant, id: &str) -> impl Future<Output = StoreResult<Option<Job>>> + Send;

    /// A school and cycle's jobs, newest first, at most `limit`.
    fn cycle_jobs(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Job>>> + Send;

    /// Marks the job started, once (a worker picked up a chunk);
    /// `NotFound` for an unknown job.
    fn start_job(&self, tenant: &Tenant, id: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Records each of `results` whose student has no result yet, all at
    /// once (one write where the store allows): how many this call
    /// recorded. A student listed twice counts once, the first kept.
    fn record_results(
        &self,
        tenant: &Tenant,
        id: &str,
        results: &[JobResult],
    ) -> impl Future<Output = StoreResult<usize>> + Send;

    /// The results of the students from `first` to `last` (matrículas,
    /// inclusive), in matrícula order: what a chunk already did.
    fn results_between(
        &self,
        tenant: &Tenant,
        id: &str,
        first: &str,
        last: &str,
    ) -> impl Future<Output = StoreResult<Vec<JobResult>>> + Send;

    /// At most `limit` results after matrícula `after`, in matrícula order;
    /// the second value is where the next page starts.
    fn results_page(
        &self,
        tenant: &Tenant,
        id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<(Vec<JobResult>, Option<String>)>> + Send;

    /// Counts chunk `chunk` into the job's progress, once: its students
    /// by result status. `false` when it was already counted.
    fn finish_chunk(
        &self,
        tenant: &Tenant,
        id: &str,
        chunk: u32,
        counts: &std::collections::BTreeMap<String, u32>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Asks the job to stop (chunks not started are not worked); answers
    /// the job. Cancelling again changes nothing; `NotFound` for an unknown job.
    fn cancel_job(&self, tenant: &Tenant, id: &str, by: &Actor) -> impl Future<Output = StoreResult<Job>> + Send;
}

/// Where a job's chunks wait for a worker (SQS in the cloud, a table locally).
pub trait JobQueue: Send + Sync {
    /// Queues every chunk; each is delivered at least once.
    fn enqueue(&self, chunks: &[JobChunk]) -> impl Future<Output = StoreResult<()>> + Send;
}

/// What a stored document is; decides where it lives and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    SealedXml,
    /// The legal document as the authority returned it, byte for byte.
    StampedXml,
    Pdf,
    /// The authority's receipt ("constancia").
    Receipt,
    BulkZip,
    /// The folios de control exported together for the authority (one
    /// version per export): what a results sheet may speak about.
    ExportBatch,
}

impl ArtifactKind {
    /// The key prefix of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            ArtifactKind::SealedXml => "sellados",
            ArtifactKind::StampedXml => "timbrados",
            ArtifactKind::Pdf => "pdf",
            ArtifactKind::Receipt => "constancias",
            ArtifactKind::BulkZip => "zips",
            ArtifactKind::ExportBatch => "lotes",
        }
    }

    /// The key (within the tenant) of `name` of this kind.
    pub fn key(self, name: &str) -> String {
        format!("{}/{name}", self.prefix())
    }
}

/// Where a put went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    /// The key within the tenant (`pdf/esc/2026/A001.pdf`).
    pub key: String,
    /// This version; earlier versions of the key are kept.
    pub version: String,
}

/// Why a name cannot be an artifact key.
pub fn check_artifact_name(name: &str) -> StoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && !name.starts_with('/')
        && name.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if ok { Ok(()) } else { Err(StoreError::NotFound(format!("el documento «{name}» (nombre no válido)"))) }
}

/// Documents (XML, PDF, receipts, zips), versioned, under the tenant.
pub trait ArtifactStore: Send + Sync {
    /// A document being written part by part.
    type Writer: ArtifactWriter;

    /// Stores `bytes` as `kind`/`name`; storing a name again adds a version
    /// and keeps the older ones (a cancelled PDF does not erase the original).
    fn put(
        &self,
        tenant: &Tenant,
        kind: ArtifactKind,
        name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = StoreResult<StoredArtifact>> + Send;

    /// Starts storing a large document (a bulk zip) part by part, so it is
    /// never whole in memory; nothing is visible until [`ArtifactWriter::finish`].
    fn writer(
        &self,
        tenant: &Tenant,
        kind: ArtifactKind,
        name: &str,
        content_type: &str,
    ) -> impl Future<Output = StoreResult<Self::Writer>> + Send;

    /// The latest version of `key`, if it exists for this tenant.
    fn get(&self, tenant: &Tenant, key: &str) -> impl Future<Output = StoreResult<Option<Vec<u8>>>> + Send;

    /// Whether `key` exists for this tenant, without reading it (S3: HEAD).
    fn exists(&self, tenant: &Tenant, key: &str) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Every version of `key`, oldest first.
    fn versions(&self, tenant: &Tenant, key: &str) -> impl Future<Output = StoreResult<Vec<String>>> + Send;

    /// One version of `key`.
    fn get_version(
        &self,
        tenant: &Tenant,
        key: &str,
        version: &str,
    ) -> impl Future<Output = StoreResult<Option<Vec<u8>>>> + Send;

    /// A short-lived download link to the latest version of `key`.
    fn link(
        &self,
        tenant: &Tenant,
        key: &str,
        ttl: chrono::Duration,
    ) -> impl Future<Output = StoreResult<String>> + Send;
}

/// A document being stored part by part ([`ArtifactStore::writer`]).
pub trait ArtifactWriter: Send {
    /// Appends `bytes` (any size: the store groups them into its own parts).
    fn write(&mut self, bytes: Vec<u8>) -> impl Future<Output = StoreResult<()>> + Send;

    /// Stores what was written as a new version of the document.
    fn finish(self) -> impl Future<Output = StoreResult<StoredArtifact>> + Send;

    /// Discards what was written; the document does not change.
    fn abort(self) -> impl Future<Output = ()> + Send;
}

/// Sends mail: one message with attachments to several recipients.
pub trait Mailer: Send + Sync {
    fn send(
        &self,
        mail: &crate::mail::Mail,
    ) -> impl Future<Output = Result<crate::mail::SentMail, crate::mail::MailError>> + Send;
}

/// Where an upload ends once handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// At least one document was used: `processed/…`.
    Processed,
    /// Nothing in it could be used: `rejected/…`.
    Rejected,
}

impl Settlement {
    /// The prefix the upload moves to (the `inbox/` prefix replaced).
    pub fn prefix(self) -> &'static str {
        match self {
            Settlement::Processed => "processed",
            Settlement::Rejected => "rejected",
        }
    }
}

/// The upload inbox (`inbox/{institution}/{school}/{cycle}/…`): files
/// dropped by signers and by staff returning the authority's documents.
/// Keys are whole object keys, outside any tenant's documents.
pub trait Inbox: Send + Sync {
    /// The size in bytes of an upload (the given version when known), read
    /// without its content (S3: HEAD); `None` when it no longer exists.
    fn size(&self, key: &str, version: Option<&str>) -> impl Future<Output = StoreResult<Option<u64>>> + Send;

    /// The bytes of an upload (the given version when known); `None` when it
    /// no longer exists (already moved on an earlier delivery).
    fn fetch(&self, key: &str, version: Option<&str>) -> impl Future<Output = StoreResult<Option<Vec<u8>>>> + Send;

    /// Writes `report` (JSON) as `….json` beside where the upload goes, then
    /// moves the upload out of the inbox to `settlement`'s prefix; answers
    /// the new key. An upload already gone was settled before (its report
    /// is there): nothing is written again.
    fn settle(
        &self,
        key: &str,
        version: Option<&str>,
        settlement: Settlement,
        report: &[u8],
    ) -> impl Future<Output = StoreResult<String>> + Send;
}

/// The key an inbox upload moves to (`inbox/a/b` → `rejected/a/b`).
pub fn settled_key(key: &str, settlement: Settlement) -> String {
    let rest = key.strip_prefix("inbox/").unwrap_or(key);
    format!("{}/{rest}", settlement.prefix())
}

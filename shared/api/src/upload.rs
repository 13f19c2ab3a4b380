//! Stamp on upload: what happens when a file lands in the inbox
//! (`inbox/{institution}/{school}/{cycle}/{file}`), in the `stamp-on-upload`
//! Lambda (S3 ObjectCreated) and in `certifica serve`'s inbox watcher.
//!
//! - A **sealed** Dec (sealed offline with `certifica sign`): its sello is
//!   verified, its certificate must be the school's registered signer's, it
//!   must say exactly what the records say (rebuilt and compared), then it is
//!   recorded as Sellado and stamped through the configured stamper.
//! - An **authority-returned** Dec (with `Dreoe` and `SepIpes`), alone or in
//!   a zip with an optional results sheet: verified (school seal, selloDec,
//!   authority seals of a trusted authority), matched by folioControl to its
//!   Sellado/Error certificate, whose sealed document it must carry, and
//!   committed as Timbrado with the authority's folioDigital — one credit.
//!
//! Every upload ends in `processed/…` or `rejected/…` with a JSON report
//! beside it. Delivery is at least once: an upload is claimed before it is
//! handled and remembered after, so a redelivery changes nothing; a
//! transient failure gives the claim back and answers an error (the caller
//! retries); a permanent one is reported and acknowledged. Credits follow
//! the certificates' states, so no path charges twice.

use crate::certification::{self, Batch, Outcome, load_signer};
use crate::inbox::{self, Found};
use crate::{Adapters, Api};
use certifica_core::document::Dec;
use certifica_core::efirma::{Efirma, SignerCertificate};
use certifica_core::issue::check_offline_sealed;
use certifica_core::model::{CertificationMode, Institution, InstitutionType, School};
use certifica_core::ports::{
    ArtifactStore, AuditStore, CertificateStore, IdempotencyStore, Inbox, InstitutionStore, Settlement, StoreError,
    StudentStore, settled_key,
};
use certifica_core::records::{
    Actor, AuditAction, AuditEntry, CertificateRecord, CertificateStatus, IdempotencyState, SignerConfig, Tenant,
    Transition,
};
use certifica_core::roster;
use certifica_core::rules::IssueContext;
use certifica_core::stamping::{AuthoritySigner, LocalAuthority, Stamped};
use certifica_core::verify::{VerificationReport, verify};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// The prefix uploads arrive under.
pub const INBOX_PREFIX: &str = "inbox/";
/// How long a claim on an upload lasts: longer than one invocation may run
/// (15 minutes), so a crashed one's claim lapses and the retry proceeds.
const CLAIM_MINUTES: i64 = 20;
/// How long a handled upload is remembered: S3 redeliveries and Lambda's
/// asynchronous retries (at most 6 hours) fall well within it.
const REMEMBER_DAYS: i64 = 30;
/// Who the audit trail names for changes made by uploads.
const UPLOAD_ACTOR: &str = "bandeja-de-entrada";

/// One object that landed in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEvent {
    /// The object key, decoded (`inbox/uva/norte/2026/A20001.xml`).
    pub key: String,
    /// The object version (versioned buckets), when the event names one.
    pub version: Option<String>,
    /// The object's ETag, when the event names one.
    pub etag: Option<String>,
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
    /// `timbrado`, `sellado`, `rechazado` or `error`.
    pub status: String,
    pub code: Option<String>,
    /// In Spanish: what happened and what to do.
    pub message: Option<String>,
    pub matricula: Option<String>,
    pub folio_control: Option<String>,
    pub certificate_id: Option<String>,
    pub folio_digital: Option<String>,
}

impl DocumentResult {
    fn new(file: &str) -> Self {
        DocumentResult {
            file: file.to_string(),
            status: "rechazado".into(),
            code: None,
            message: None,
            matricula: None,
            folio_control: None,
            certificate_id: None,
            folio_digital: None,
        }
    }

    fn of(found: &Found) -> Self {
        DocumentResult {
            matricula: Some(found.dec.alumno.numero_control.clone()).filter(|m| !m.is_empty()),
            folio_control: Some(found.dec.folio_control.clone()).filter(|f| !f.is_empty()),
            ..DocumentResult::new(&found.name)
        }
    }

    fn refused(mut self, code: &str, message: impl Into<String>) -> Self {
        self.status = "rechazado".into();
        self.code = Some(code.to_string());
        self.message = Some(message.into());
        self
    }

    fn certificate(mut self, c: &CertificateRecord) -> Self {
        self.certificate_id = Some(c.id.clone());
        self.folio_digital = c.folio_digital.clone();
        self
    }

    fn used(&self) -> bool {
        self.status == "timbrado" || self.status == "sellado"
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
    fn new(event: &UploadEvent, outcome: UploadOutcome) -> Self {
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

/// Where an upload says it belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    institution: String,
    school: String,
    cycle: String,
    file: String,
}

impl Location {
    fn parse(key: &str) -> Result<Self, (&'static str, String)> {
        let layout = || {
            (
                "ruta_invalida",
                format!(
                    "la ruta «{key}» no sigue la forma inbox/{{institución}}/{{escuela}}/{{ciclo}}/{{archivo}}; \
                     suba el archivo a la carpeta de su escuela y ciclo"
                ),
            )
        };
        let rest = key.strip_prefix(INBOX_PREFIX).ok_or_else(layout)?;
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        let [institution, school, cycle, file] = parts.as_slice() else { return Err(layout()) };
        // The tenant's segments are ids; the file's own name may be anything printable.
        let ids_ok =
            [institution, school, cycle].iter().all(|id| certifica_core::ports::check_artifact_name(id).is_ok());
        let file_ok = key.len() <= 1024
            && file.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
            && !file.chars().any(char::is_control);
        if !ids_ok || !file_ok {
            return Err((
                "ruta_invalida",
                format!(
                    "la ruta «{key}» no es válida: institución, escuela y ciclo solo llevan letras, números, «.», «_» y «-», \
                     y el nombre del archivo no puede tener «..» ni caracteres de control"
                ),
            ));
        }
        Ok(Location {
            institution: institution.to_string(),
            school: school.to_string(),
            cycle: cycle.to_string(),
            file: file.rsplit('/').next().unwrap_or(file).to_string(),
        })
    }
}

impl From<StoreError> for RetryLater {
    fn from(e: StoreError) -> Self {
        RetryLater { key: String::new(), reason: e.to_string() }
    }
}

/// Handles one upload. `Ok` means it is settled (or was before) and the
/// event can be acknowledged; `Err` means deliver it again.
pub async fn process_upload<X: Adapters, I: Inbox>(
    api: &Api<X>,
    inbox: &I,
    event: &UploadEvent,
) -> Result<UploadReport, RetryLater> {
    let result = claim_and_handle(api, inbox, event).await;
    if let Err(e) = &result {
        tracing::warn!(key = %event.key, reason = %e.reason, "upload to be retried");
    }
    result.map_err(|e| RetryLater { key: event.key.clone(), reason: e.reason })
}

async fn claim_and_handle<X: Adapters, I: Inbox>(
    api: &Api<X>,
    inbox: &I,
    event: &UploadEvent,
) -> Result<UploadReport, RetryLater> {
    let location = match Location::parse(&event.key) {
        Ok(l) => l,
        Err((code, message)) => return refuse_whole(inbox, event, code, message).await,
    };
    // The key names the tenant; everything below is checked against that
    // tenant's own records (its school, its signer), never trusted.
    let t = Tenant::from_verified_identity(&location.institution);
    let Some(institution) = api.records.institution(&t).await? else {
        let message = format!("la institución «{}» no existe", location.institution);
        return refuse_whole(inbox, event, "institucion_desconocida", message).await;
    };
    let Some(school) = api.records.school(&t, &location.school).await? else {
        let message =
            format!("la escuela «{}» no existe en la institución «{}»", location.school, location.institution);
        return refuse_whole(inbox, event, "escuela_desconocida", message).await;
    };
    if !api.records.cycles(&t, &school.id).await?.iter().any(|c| c.id == location.cycle) {
        let message = format!("el ciclo «{}» no existe en la escuela «{}»", location.cycle, school.id);
        return refuse_whole(inbox, event, "ciclo_desconocido", message).await;
    }

    let id = event.id();
    let remembered = format!("{id}/hecho");
    match api.records.begin(&t, &remembered, chrono::Duration::days(REMEMBER_DAYS)).await? {
        IdempotencyState::Completed(report) => return Ok(repeated(event, &report)),
        // Only peeking: the claim below is what excludes concurrent deliveries.
        IdempotencyState::Started => api.records.abandon(&t, &remembered).await?,
        IdempotencyState::InProgress => {}
    }
    match api.records.begin(&t, &id, chrono::Duration::minutes(CLAIM_MINUTES)).await? {
        IdempotencyState::Completed(report) => return Ok(repeated(event, &report)),
        IdempotencyState::InProgress => {
            return Err(RetryLater {
                key: event.key.clone(),
                reason: "otra entrega del mismo archivo se está procesando".into(),
            });
        }
        IdempotencyState::Started => {}
    }
    let scope = Scope { tenant: &t, institution: &institution, school: &school, cycle: &location.cycle, id: &id };
    match handle(api, inbox, event, &scope, &location.file).await {
        Ok(report) => {
            let json = serde_json::to_string(&report).map_err(|e| StoreError::Invalid(e.to_string()))?;
            api.records.complete(&t, &id, &json).await?;
            // Remembered for longer than the claim lasts.
            if !matches!(
                api.records.begin(&t, &remembered, chrono::Duration::days(REMEMBER_DAYS)).await?,
                IdempotencyState::Completed(_)
            ) {
                match api.records.complete(&t, &remembered, &json).await {
                    Ok(()) | Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(report)
        }
        Err(e) => {
            if let Err(abandon) = api.records.abandon(&t, &id).await {
                // The claim lapses after CLAIM_MINUTES anyway.
                tracing::warn!(key = %event.key, error = %abandon, "claim not given back");
            }
            Err(e)
        }
    }
}

fn repeated(event: &UploadEvent, earlier: &str) -> UploadReport {
    match serde_json::from_str::<UploadReport>(earlier) {
        Ok(report) => UploadReport { outcome: UploadOutcome::Repetido, ..report },
        Err(_) => UploadReport::new(event, UploadOutcome::Repetido),
    }
}

async fn refuse_whole<I: Inbox>(
    inbox: &I,
    event: &UploadEvent,
    code: &str,
    message: String,
) -> Result<UploadReport, RetryLater> {
    let mut report = UploadReport::new(event, UploadOutcome::Rechazado);
    report.code = Some(code.to_string());
    report.message = Some(message);
    settle(inbox, event, Settlement::Rejected, report).await
}

async fn settle<I: Inbox>(
    inbox: &I,
    event: &UploadEvent,
    settlement: Settlement,
    mut report: UploadReport,
) -> Result<UploadReport, RetryLater> {
    report.moved_to = Some(settled_key(&event.key, settlement));
    let json = serde_json::to_vec_pretty(&report).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let moved = inbox.settle(&event.key, event.version.as_deref(), settlement, &json).await?;
    report.moved_to = Some(moved);
    tracing::info!(key = %event.key, outcome = ?report.outcome, documents = report.documents.len(), "upload settled");
    Ok(report)
}

/// What every document of one upload shares.
struct Scope<'a> {
    tenant: &'a Tenant,
    institution: &'a Institution,
    school: &'a School,
    cycle: &'a str,
    /// The upload's identity (the audit trail's request id).
    id: &'a str,
}

/// The school's registered signer, as far as uploads need it.
struct Signer {
    config: SignerConfig,
    certificate: SignerCertificate,
    /// AUTONOMO with the key on the server: the institution's own node.
    own_node: Option<LocalAuthority>,
}

async fn handle<X: Adapters, I: Inbox>(
    api: &Api<X>,
    inbox: &I,
    event: &UploadEvent,
    scope: &Scope<'_>,
    file: &str,
) -> Result<UploadReport, RetryLater> {
    let Some(bytes) = inbox.fetch(&event.key, event.version.as_deref()).await? else {
        return Ok(UploadReport::new(event, UploadOutcome::Inexistente));
    };
    let upload = match inbox::read(file, &bytes) {
        Ok(u) => u,
        Err(rejection) => return refuse_whole(inbox, event, rejection.code(), rejection.to_string()).await,
    };
    let signer = signer(api, scope).await?;
    let mut documents = Vec::new();
    for found in &upload.documents {
        // Boxed: each document's future is deep (verification → stamping → storage).
        let result = if found.is_stamped() {
            Box::pin(returned(api, scope, found)).await?
        } else {
            Box::pin(sealed(api, scope, signer.as_ref(), found)).await?
        };
        documents.push(result);
    }
    for (name, rejection) in &upload.refused {
        documents.push(DocumentResult::new(name).refused(rejection.code(), rejection.to_string()));
    }
    if let Some(sheet) = &upload.results_sheet {
        let name = format!("{file}/resultados.csv");
        let results = results_sheet(api, scope, &name, sheet, &documents).await?;
        documents.extend(results);
    }
    let used = documents.iter().any(DocumentResult::used);
    let mut report = UploadReport::new(event, if used { UploadOutcome::Procesado } else { UploadOutcome::Rechazado });
    if !used {
        let first = documents.iter().find(|d| d.code.is_some());
        report.code = Some(first.and_then(|d| d.code.clone()).unwrap_or_else(|| "sin_documentos".into()));
        report.message = Some(match first.and_then(|d| d.message.clone()) {
            Some(m) if documents.len() == 1 => m,
            _ => "ningún documento de la carga se pudo usar; vea el motivo de cada uno".into(),
        });
    }
    report.documents = documents;
    let settlement = if used { Settlement::Processed } else { Settlement::Rejected };
    settle(inbox, event, settlement, report).await
}

async fn signer<X: Adapters>(api: &Api<X>, scope: &Scope<'_>) -> Result<Option<Signer>, RetryLater> {
    let files = match load_signer(api, scope.tenant, &scope.school.id).await {
        Ok(files) => files,
        // The registered e.firma does not open with this deployment's key: as if none were registered.
        Err(problem) => {
            tracing::warn!(school = %scope.school.id, problem = ?problem, "signer unreadable");
            None
        }
    };
    let Some((config, cer, key, password)) = files else { return Ok(None) };
    let Ok(certificate) = SignerCertificate::from_der(&cer) else { return Ok(None) };
    let own_node = match (scope.institution.kind, config.is_offline()) {
        (InstitutionType::Autonomo, false) => Efirma::load(&cer, &key, &password).ok().map(|efirma| {
            LocalAuthority::institution_node(
                efirma,
                AuthoritySigner {
                    curp: config.responsable.curp.clone(),
                    nombre_completo: config.responsable.full_name(),
                    cargo: config.responsable.cargo,
                },
            )
        }),
        _ => None,
    };
    Ok(Some(Signer { config, certificate, own_node }))
}

fn batch<'a>(scope: &Scope<'a>, issue_date: chrono::NaiveDate, own_node: Option<&'a LocalAuthority>) -> Batch<'a> {
    Batch {
        tenant: scope.tenant,
        actor: Actor::new(UPLOAD_ACTOR, scope.id),
        institution: scope.institution,
        school: scope.school,
        cycle: scope.cycle,
        issue_date,
        signer: None,
        own_node,
        stamp: scope.institution.mode != CertificationMode::SemiElectronic,
        offline: false,
        // Uploads check no credit rule up front: holding a credit decides.
        credits_hint: std::sync::atomic::AtomicU64::new(1),
        plans: Default::default(),
        timings: Default::default(),
    }
}

/// The failed checks of a verification, in one sentence.
fn failures(report: &VerificationReport) -> String {
    report.checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.title, c.detail)).collect::<Vec<_>>().join("; ")
}

const AUTHORITY_CHECKS: [&str; 6] =
    ["nodos_autoridad", "sello_dec", "sello_dreoe_copia", "folio_digital", "sello_dreoe", "sello_sep_ipes"];

/// A document sealed offline.
async fn sealed<X: Adapters>(
    api: &Api<X>,
    scope: &Scope<'_>,
    signer: Option<&Signer>,
    found: &Found,
) -> Result<DocumentResult, RetryLater> {
    let result = DocumentResult::of(found);
    let dec = &found.dec;
    if !dec.is_sealed() {
        return Ok(result.refused(
            "sin_sello",
            "el XML no está sellado; séllelo con «certifica sign» y la e.firma del responsable antes de subirlo",
        ));
    }
    let report = verify(&found.xml, &[]);
    if !report.valid {
        return Ok(
            result.refused("sello_invalido", format!("el documento no pasa la verificación: {}", failures(&report)))
        );
    }
    let Some(signer) = signer else {
        return Ok(result.refused(
            "firmante_no_registrado",
            format!(
                "la escuela {} no tiene responsable registrado; registre su certificado (.cer) antes de subir documentos sellados",
                scope.school.id
            ),
        ));
    };
    let uploaded_cer = certifica_core::sello::from_base64(&dec.certificado_responsable).unwrap_or_default();
    if uploaded_cer != signer.certificate.der() {
        return Ok(result.refused(
            "firmante_distinto",
            format!(
                "el documento lo selló el certificado {} y el responsable registrado de la escuela {} usa el {}",
                dec.no_certificado_responsable,
                scope.school.id,
                signer.certificate.number().value
            ),
        ));
    }
    let t = scope.tenant;
    let matricula = dec.alumno.numero_control.as_str();
    let Some(student) = api.records.student(t, &scope.school.id, scope.cycle, matricula).await? else {
        return Ok(result.refused(
            "alumno_no_encontrado",
            format!("no existe el alumno {matricula} en la escuela {} ciclo {}", scope.school.id, scope.cycle),
        ));
    };
    let history = api.records.student_certificates(t, &scope.school.id, scope.cycle, matricula).await?;
    let issue_date = dec.issue_date().unwrap_or_else(certification::today_in_mexico);
    let own_node = signer.own_node.as_ref();
    if scope.institution.kind == InstitutionType::Autonomo && own_node.is_none() {
        return Ok(result.refused(
            "autonomo_sin_nodo",
            "la institución es autónoma y su propio nodo de autenticación necesita la llave de la e.firma registrada; \
             registre la e.firma completa o emita desde el sistema",
        ));
    }
    let b = batch(scope, issue_date, own_node);
    if let Some(existing) = history.iter().find(|c| c.folio_control == dec.folio_control) {
        return match existing.status {
            CertificateStatus::Timbrado if stamped_by(api, t, existing, scope.id).await? => Ok(done(result, existing)),
            CertificateStatus::Timbrado | CertificateStatus::Cancelado => already(api, &b, result, existing).await,
            CertificateStatus::Sellado | CertificateStatus::Error if !b.stamp => Ok(DocumentResult {
                status: "sellado".into(),
                code: Some("ya_sellado".into()),
                message: Some("ya estaba sellado; expórtelo (export-sealed) y entréguelo a la autoridad".into()),
                ..result.certificate(existing)
            }),
            // An earlier attempt recorded it (this upload retried, or the same document again): stamp it.
            CertificateStatus::Sellado | CertificateStatus::Error => {
                let outcome = certification::stamp_existing(api, &b, existing.clone(), None).await?;
                from_outcome(result, outcome)
            }
        };
    }
    if let Some(active) = roster::latest_certificate(&history, matricula).filter(|c| c.status.is_active()) {
        let message = format!(
            "el alumno {matricula} ya tiene el certificado {} en estado {}; este documento (folio {}) no se usará",
            active.folio_control,
            active.status.label(),
            dec.folio_control
        );
        return reject_on(api, &b, result.certificate(active), "certificado_vigente", message).await;
    }
    let Some(plan) = api.records.plan(t, &scope.school.id, &student.student.plan_id).await? else {
        return Ok(
            result.refused("plan_no_encontrado", format!("el plan {} del alumno no existe", student.student.plan_id))
        );
    };
    let ctx = IssueContext {
        institution: scope.institution,
        plan: &plan,
        student: &student.student,
        signer: None,
        // Credits are held when stamping; none left leaves it Sellado.
        credits_available: 1,
        issue_date,
    };
    if let Err(e) = check_offline_sealed(&ctx, scope.school, &signer.config.responsable, &signer.certificate, dec) {
        return Ok(result.refused(e.code(), e.to_string()));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let certificate =
        match certification::record_sealed(api, &b, &student, &dec.folio_control, &id, found.xml.clone()).await? {
            Ok(c) => c,
            Err(outcome) => return from_outcome(result, outcome),
        };
    if !b.stamp {
        return Ok(DocumentResult {
            status: "sellado".into(),
            code: Some("sellado".into()),
            message: Some("quedó sellado; expórtelo (export-sealed) y entréguelo a la autoridad".into()),
            ..result.certificate(&certificate)
        });
    }
    let outcome = match own_node {
        Some(node) => certification::commit(api, &b, certificate.clone(), node.authenticate(&found.xml)).await?,
        None => certification::stamp_existing(api, &b, certificate, Some(found.xml.clone())).await?,
    };
    from_outcome(result, outcome)
}

/// A document the authority returned (stamped).
async fn returned<X: Adapters>(api: &Api<X>, scope: &Scope<'_>, found: &Found) -> Result<DocumentResult, RetryLater> {
    let result = DocumentResult::of(found);
    let dec = &found.dec;
    let t = scope.tenant;
    let matricula = dec.alumno.numero_control.as_str();
    let history = api.records.student_certificates(t, &scope.school.id, scope.cycle, matricula).await?;
    let matched = history.iter().find(|c| c.folio_control == dec.folio_control);
    let b = batch(scope, dec.issue_date().unwrap_or_else(certification::today_in_mexico), None);
    let report = verify(&found.xml, &api.config.authorities);
    if !report.valid {
        let authority = report.checks.iter().any(|c| !c.ok && AUTHORITY_CHECKS.contains(&c.code));
        let code = if authority { "timbre_invalido" } else { "sello_invalido" };
        let message = format!("el documento devuelto no pasa la verificación: {}", failures(&report));
        return match matched {
            Some(c) => reject_on(api, &b, result.certificate(c), code, message).await,
            None => Ok(result.refused(code, message)),
        };
    }
    let Some(certificate) = matched else {
        return Ok(result.refused(
            "certificado_no_encontrado",
            format!(
                "no hay certificado con folio de control «{}» del alumno {matricula} en la escuela {} ciclo {}",
                dec.folio_control, scope.school.id, scope.cycle
            ),
        ));
    };
    let folio = dec.folio_digital().unwrap_or_default().to_string();
    match certificate.status {
        CertificateStatus::Timbrado if certificate.folio_digital.as_deref() == Some(folio.as_str()) => {
            return Ok(done(result, certificate));
        }
        CertificateStatus::Timbrado | CertificateStatus::Cancelado => {
            return already(api, &b, result, certificate).await;
        }
        CertificateStatus::Sellado | CertificateStatus::Error => {}
    }
    // It must be the very document sealed for this certificate.
    let ours = match &certificate.artifacts.sealed_xml {
        Some(key) => api.artifacts.get(t, key).await?,
        None => None,
    };
    let ours = ours.and_then(|bytes| String::from_utf8(bytes).ok()).and_then(|xml| Dec::parse(&xml).ok());
    if ours.as_ref().is_none_or(|ours| ours.sello != dec.sello) {
        let message = format!(
            "el documento devuelto con folio de control «{}» no es el que se selló para este certificado (el sello difiere)",
            dec.folio_control
        );
        return reject_on(api, &b, result.certificate(certificate), "documento_distinto", message).await;
    }
    let stamped_at = dec
        .sep_ipes
        .as_ref()
        .and_then(|s| NaiveDateTime::parse_from_str(&s.fecha_sep_ipes, "%Y-%m-%dT%H:%M:%S").ok())
        .unwrap_or_else(|| Utc::now().naive_utc());
    let stamped = Stamped { xml: found.xml.clone(), folio_digital: folio, stamped_at };
    let outcome = certification::commit(api, &b, certificate.clone(), Ok(stamped)).await?;
    from_outcome(result, outcome)
}

/// Whether this very upload stamped `c` (an earlier, interrupted delivery).
async fn stamped_by<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    c: &CertificateRecord,
    upload: &str,
) -> Result<bool, RetryLater> {
    let audit = api.records.audit_of_certificate(t, &c.id).await?;
    Ok(audit.iter().any(|e| e.action == AuditAction::Stamped && e.request_id == upload))
}

fn done(result: DocumentResult, c: &CertificateRecord) -> DocumentResult {
    DocumentResult {
        status: "timbrado".into(),
        code: Some("ya_registrado".into()),
        message: Some("el certificado ya estaba timbrado con este documento; no se cambió nada".into()),
        ..result.certificate(c)
    }
}

async fn already<X: Adapters>(
    api: &Api<X>,
    b: &Batch<'_>,
    result: DocumentResult,
    c: &CertificateRecord,
) -> Result<DocumentResult, RetryLater> {
    let (code, message) = if c.status == CertificateStatus::Cancelado {
        (
            "ya_cancelado",
            format!("el certificado con folio de control «{}» está cancelado; emita uno nuevo", c.folio_control),
        )
    } else {
        (
            "ya_timbrado",
            format!(
                "el certificado con folio de control «{}» ya está timbrado (folio digital {})",
                c.folio_control,
                c.folio_digital.as_deref().unwrap_or("-")
            ),
        )
    };
    reject_on(api, b, result.certificate(c), code, message).await
}

/// Refuses a document matched to certificate `c`, leaving the refusal in
/// the certificate's audit trail (its state does not change).
async fn reject_on<X: Adapters>(
    api: &Api<X>,
    b: &Batch<'_>,
    result: DocumentResult,
    code: &str,
    message: String,
) -> Result<DocumentResult, RetryLater> {
    if let Some(id) = &result.certificate_id
        && let Some(c) = api.records.get(b.tenant, id).await?
    {
        let detail = format!("{} ({code}): {message}", result.file);
        api.records
            .record(b.tenant, &AuditEntry::of_certificate(&b.actor, AuditAction::UploadRejected, &c, detail))
            .await?;
    }
    Ok(result.refused(code, message))
}

/// Maps an issuing outcome onto the document's result; a transient
/// authority failure means: retry the whole upload.
fn from_outcome(result: DocumentResult, outcome: Outcome) -> Result<DocumentResult, RetryLater> {
    let (code, message) = match outcome.problems.first() {
        Some((code, message)) => (Some(code.clone()), Some(message.clone())),
        None => (None, None),
    };
    if outcome.transient || (outcome.status == "omitido" && code.as_deref() == Some("en_proceso")) {
        return Err(RetryLater { key: String::new(), reason: message.unwrap_or_else(|| "reintentar".into()) });
    }
    let status = match outcome.status {
        "timbrado" | "sellado" | "error" => outcome.status,
        _ => "rechazado",
    };
    let result = match &outcome.certificate {
        Some(c) => result.certificate(c),
        None => result,
    };
    Ok(DocumentResult { status: status.into(), code, message, ..result })
}

/// One row of the authority's results sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SheetRow {
    folio_control: String,
    status: String,
    message: String,
}

/// Lowercase, no accents, no separators: `Folio Control` = `folio_control` = `folioControl`.
fn normalized(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'Ó' => 'o',
            'ú' | 'Ú' | 'ü' | 'Ü' => 'u',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// Reads the results sheet: a CSV with a header naming the folio de control
/// and, optionally, a status and a message column. `None` when there is no
/// folio column.
fn sheet_rows(text: &str) -> Option<Vec<SheetRow>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().ok()?.iter().map(normalized).collect();
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let folio = find(&["foliocontrol", "folio"])?;
    let status = find(&["estatus", "estado", "resultado", "status"]);
    let message = find(&["mensaje", "observaciones", "descripcion", "error", "motivo"]);
    let cell = |row: &csv::StringRecord, i: Option<usize>| {
        i.and_then(|i| row.get(i)).map(|s| s.trim().to_string()).unwrap_or_default()
    };
    Some(
        reader
            .records()
            .filter_map(Result::ok)
            .map(|row| SheetRow {
                folio_control: cell(&row, Some(folio)),
                status: cell(&row, status),
                message: cell(&row, message),
            })
            .filter(|r| !r.folio_control.is_empty())
            .collect(),
    )
}

fn successful(status: &str) -> bool {
    matches!(
        normalized(status).as_str(),
        "" | "ok" | "1" | "exito" | "exitoso" | "correcto" | "autenticado" | "timbrado" | "aceptado" | "valido"
    )
}

/// The authority's refusals listed in the results sheet for documents it did
/// not return: each certificate moves to Error with the authority's message.
async fn results_sheet<X: Adapters>(
    api: &Api<X>,
    scope: &Scope<'_>,
    name: &str,
    sheet: &str,
    documents: &[DocumentResult],
) -> Result<Vec<DocumentResult>, RetryLater> {
    let Some(rows) = sheet_rows(sheet) else {
        return Ok(vec![DocumentResult::new(name).refused(
            "hoja_de_resultados_invalida",
            "la hoja de resultados no tiene una columna «folioControl»; se ignoró",
        )]);
    };
    let returned: Vec<&str> = documents.iter().filter_map(|d| d.folio_control.as_deref()).collect();
    let refusals: Vec<&SheetRow> =
        rows.iter().filter(|r| !returned.contains(&r.folio_control.as_str()) && !successful(&r.status)).collect();
    if refusals.is_empty() {
        return Ok(Vec::new());
    }
    // Certificates of the cycle by folioControl (only read when the sheet reports refusals).
    let t = scope.tenant;
    let mut by_folio = std::collections::HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let (page, next) =
            api.records.certificates_page(t, &scope.school.id, scope.cycle, after.as_deref(), 200).await?;
        for c in page {
            by_folio.insert(c.folio_control.clone(), c);
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let b = batch(scope, certification::today_in_mexico(), None);
    let mut results = Vec::new();
    for row in refusals {
        let mut result = DocumentResult::new(&format!("{name}#{}", row.folio_control));
        result.folio_control = Some(row.folio_control.clone());
        let authority_says = if row.message.is_empty() { row.status.clone() } else { row.message.clone() };
        let message = format!("la autoridad rechazó el documento: {authority_says}");
        let Some(c) = by_folio.get(&row.folio_control) else {
            results.push(result.refused(
                "certificado_no_encontrado",
                format!("la hoja de resultados menciona el folio de control «{}», que no existe", row.folio_control),
            ));
            continue;
        };
        result.matricula = Some(c.control_number.clone());
        let result = result.certificate(c);
        match c.status {
            // Already recorded by an earlier delivery of this upload.
            CertificateStatus::Error if c.last_error.as_deref() == Some(message.as_str()) => {}
            CertificateStatus::Sellado | CertificateStatus::Error => {
                api.records
                    .transition(t, &c.id, c.version, Transition::StampFailed { message: message.clone() }, &b.actor)
                    .await?;
            }
            CertificateStatus::Timbrado | CertificateStatus::Cancelado => {
                results.push(result.refused(
                    "estado_no_permite",
                    format!("{message}; el certificado ya está {}, no se cambió", c.status.label()),
                ));
                continue;
            }
        }
        results.push(DocumentResult {
            status: "error".into(),
            code: Some("rechazado_por_autoridad".into()),
            message: Some(message),
            ..result
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_names_institution_school_cycle_and_file() {
        let l = Location::parse("inbox/uva/norte/2026/lote-1/A20001.xml").unwrap();
        assert_eq!(
            (l.institution.as_str(), l.school.as_str(), l.cycle.as_str(), l.file.as_str()),
            ("uva", "norte", "2026", "A20001.xml")
        );
        assert_eq!(
            Location::parse("inbox/uva/norte/2026/devuelto por la autoridad.zip").unwrap().file,
            "devuelto por la autoridad.zip"
        );
        for bad in [
            "inbox/uva/norte/A1.xml",
            "otra/uva/norte/2026/a.xml",
            "inbox/uva/../x/2026/a.xml",
            "inbox/uva/nor te/2026/a.xml",
            "inbox/uva/norte/2026/x/../a.xml",
        ] {
            assert_eq!(Location::parse(bad).unwrap_err().0, "ruta_invalida", "{bad}");
        }
    }

    #[test]
    fn the_results_sheet_is_read_by_column_name() {
        let rows =
            sheet_rows("Folio Control,Estatus,Mensaje\nF-1,Autenticado,\nF-2,Rechazado,CURP no coincide con RENAPO\n")
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(successful(&rows[0].status));
        assert!(!successful(&rows[1].status));
        assert_eq!(rows[1].message, "CURP no coincide con RENAPO");
        assert!(sheet_rows("nombre,apellido\na,b\n").is_none());
    }

    #[test]
    fn an_upload_is_the_same_upload_when_redelivered() {
        let e = UploadEvent { key: "inbox/a/b/c/d.xml".into(), version: Some("v1".into()), etag: Some("e".into()) };
        assert_eq!(e.id(), e.clone().id());
        assert_ne!(e.id(), UploadEvent { version: Some("v2".into()), ..e.clone() }.id());
        assert_eq!(settled_key(&e.key, Settlement::Rejected), "rejected/a/b/c/d.xml");
    }
}

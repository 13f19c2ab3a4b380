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

mod report;
mod sheet;

pub use report::{DocumentResult, RetryLater, UploadEvent, UploadOutcome, UploadReport};
pub use sheet::record_export_batch;

use crate::inbox::{self, Found};
use crate::issuing::{Session, Signer};
use crate::outcome::{Outcome, Retry, Status};
use crate::{Adapters, Api};
use certifica_core::document::Dec;
use certifica_core::efirma::SignerCertificate;
use certifica_core::issue::check_offline_sealed;
use certifica_core::model::InstitutionType;
use certifica_core::ports::{
    ArtifactStore, AuditStore, CertificateStore, IdempotencyStore, Inbox, InstitutionStore, Settlement, StoreError,
    StudentStore, settled_key,
};
use certifica_core::records::{
    Actor, AuditAction, AuditEntry, CertificateRecord, CertificateStatus, IdempotencyState, StudentRecord, Tenant,
};
use certifica_core::roster;
use certifica_core::rules::IssueContext;
use certifica_core::stamping::Stamped;
use certifica_core::verify::{VerificationReport, verify};
use chrono::{NaiveDateTime, Utc};

/// The prefix uploads arrive under.
pub const INBOX_PREFIX: &str = "inbox/";
/// How long a claim on an upload lasts: longer than one invocation may run
/// (stamp-on-upload's timeout is 5 minutes; scripts/check-infra.py checks
/// the template agrees), so the claim of an invocation that crashed lapses
/// before Lambda's second retry (≈ 3 minutes after the failure, the first
/// ≈ 1 minute after) — and that retry, carrying the same request id, takes
/// the claim over at once anyway. A duplicate S3 event for the same upload
/// (another request id) waits for the claim instead.
pub const CLAIM_MINUTES: i64 = 6;
/// How long a handled upload is remembered: S3 redeliveries and Lambda's
/// asynchronous retries (at most 6 hours) fall well within it.
const REMEMBER_DAYS: i64 = 30;
/// Who the audit trail names for changes made by uploads.
const UPLOAD_ACTOR: &str = "bandeja-de-entrada";

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
    result.map_err(|e| RetryLater { key: event.key.clone(), ..e })
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
    let claim = chrono::Duration::minutes(CLAIM_MINUTES);
    // Who holds the claim: one mark per invocation beside it.
    let held_by = event.invocation.as_ref().map(|invocation| format!("{id}@{invocation}"));
    match api.records.begin(&t, &id, claim).await? {
        IdempotencyState::Completed(report) => return Ok(repeated(event, &report)),
        IdempotencyState::InProgress => {
            let ours = match &held_by {
                Some(mark) => match api.records.begin(&t, mark, claim).await? {
                    // Our own mark: this invocation claimed it, crashed, and Lambda retries it.
                    IdempotencyState::InProgress => true,
                    IdempotencyState::Started => {
                        api.records.abandon(&t, mark).await?;
                        false
                    }
                    IdempotencyState::Completed(_) => false,
                },
                None => false,
            };
            if !ours {
                return Err(RetryLater::new("otra entrega del mismo archivo se está procesando"));
            }
            tracing::info!(key = %event.key, "claim taken over by the retry of the invocation that held it");
        }
        IdempotencyState::Started => {
            if let Some(mark) = &held_by {
                api.records.begin(&t, mark, claim).await?;
            }
        }
    }
    let scope = Scope { tenant: &t, institution: &institution, school: &school, cycle: &location.cycle, id: &id };
    match handle(api, inbox, event, &scope, &location.file).await {
        Ok(report) => {
            let json = serde_json::to_string(&report).map_err(|e| StoreError::Invalid(e.to_string()))?;
            api.records.complete(&t, &id, &json, chrono::Duration::minutes(CLAIM_MINUTES)).await?;
            // Remembered for longer than the claim lasts.
            if !matches!(
                api.records.begin(&t, &remembered, chrono::Duration::days(REMEMBER_DAYS)).await?,
                IdempotencyState::Completed(_)
            ) {
                match api.records.complete(&t, &remembered, &json, chrono::Duration::days(REMEMBER_DAYS)).await {
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

/// Where an upload belongs, as found in the records.
struct Scope<'a> {
    tenant: &'a Tenant,
    institution: &'a certifica_core::model::Institution,
    school: &'a certifica_core::model::School,
    cycle: &'a str,
    /// The upload's identity (the audit trail's request id).
    id: &'a str,
}

async fn handle<X: Adapters, I: Inbox>(
    api: &Api<X>,
    inbox: &I,
    event: &UploadEvent,
    scope: &Scope<'_>,
    file: &str,
) -> Result<UploadReport, RetryLater> {
    // Its size first: a huge upload is refused without being read.
    match inbox.size(&event.key, event.version.as_deref()).await? {
        None => return Ok(UploadReport::new(event, UploadOutcome::Inexistente)),
        Some(size) if size > inbox::MAX_UPLOAD_BYTES as u64 => {
            let rejection = inbox::Rejection::TooLarge(size);
            return refuse_whole(inbox, event, rejection.code(), rejection.to_string()).await;
        }
        Some(_) => {}
    }
    let Some(bytes) = inbox.fetch(&event.key, event.version.as_deref()).await? else {
        return Ok(UploadReport::new(event, UploadOutcome::Inexistente));
    };
    let upload = match inbox::read(file, &bytes) {
        Ok(u) => u,
        Err(rejection) => return refuse_whole(inbox, event, rejection.code(), rejection.to_string()).await,
    };
    let signer = registered_signer(api, scope).await;
    let actor = Actor::new(UPLOAD_ACTOR, scope.id);
    let signer_ref = signer.as_ref().map(|(signer, _)| signer);
    let s = Session::new(api, scope.tenant, actor, scope.institution, scope.school, scope.cycle, signer_ref);
    // A redelivered upload whose first delivery died finds its kept stamp committed here.
    s.settle_expired().await?;
    let certificate = signer.as_ref().map(|(_, certificate)| certificate);
    let mut documents = Vec::new();
    for found in &upload.documents {
        let mut attempt = 1;
        let result = loop {
            // Boxed: each document's future is deep (verification → stamping → storage).
            let result = if found.is_stamped() {
                Box::pin(returned(api, &s, found)).await
            } else {
                Box::pin(sealed(api, &s, certificate, found)).await
            };
            match result {
                Ok(result) => break result,
                // Another change won the race: read again and go once more now.
                Err(e) if e.is_race() && attempt == 1 => attempt += 1,
                // The records would answer the same on every delivery: say so for this document.
                Err(e) if !e.helps() => {
                    let code = e.cause.as_ref().map_or("conflicto", StoreError::code);
                    break DocumentResult::of(found).refused(code, e.reason);
                }
                Err(e) => return Err(e),
            }
        };
        documents.push(result);
    }
    for (name, rejection) in &upload.refused {
        documents.push(DocumentResult::new(name).refused(rejection.code(), rejection.to_string()));
    }
    if let Some(sheet) = &upload.results_sheet {
        let name = format!("{file}/resultados.csv");
        let results = sheet::results_sheet(api, &s, &name, sheet, &documents).await?;
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

/// The school's registered signer and its certificate, as far as uploads
/// need them; one whose files do not open with this deployment's key counts
/// as none registered.
async fn registered_signer<X: Adapters>(api: &Api<X>, scope: &Scope<'_>) -> Option<(Signer, SignerCertificate)> {
    let signer = match Signer::load(api, scope.tenant, &scope.school.id, scope.institution.kind).await {
        Ok(signer) => signer?,
        Err(problem) => {
            tracing::warn!(school = %scope.school.id, problem = ?problem, "signer unreadable");
            return None;
        }
    };
    let certificate = SignerCertificate::from_der(&signer.cer).ok()?;
    Some((signer, certificate))
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
    s: &Session<'_, X>,
    certificate: Option<&SignerCertificate>,
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
    let (Some(signer), Some(certificate)) = (s.signer(), certificate) else {
        return Ok(result.refused(
            "firmante_no_registrado",
            format!(
                "la escuela {} no tiene responsable registrado; registre su certificado (.cer) antes de subir documentos sellados",
                s.school.id
            ),
        ));
    };
    let uploaded_cer = certifica_core::sello::from_base64(&dec.certificado_responsable).unwrap_or_default();
    if uploaded_cer != certificate.der() {
        return Ok(result.refused(
            "firmante_distinto",
            format!(
                "el documento lo selló el certificado {} y el responsable registrado de la escuela {} usa el {}",
                dec.no_certificado_responsable,
                s.school.id,
                certificate.number().value
            ),
        ));
    }
    let t = s.tenant;
    let matricula = dec.alumno.numero_control.as_str();
    let Some(student) = api.records.student(t, &s.school.id, s.cycle, matricula).await? else {
        return Ok(result.refused(
            "alumno_no_encontrado",
            format!("no existe el alumno {matricula} en la escuela {} ciclo {}", s.school.id, s.cycle),
        ));
    };
    let history = api.records.student_certificates(t, &s.school.id, s.cycle, matricula).await?;
    let issue_date = dec.issue_date().unwrap_or_else(crate::dates::today_in_mexico);
    let own_node = s.own_node();
    if s.institution.kind == InstitutionType::Autonomo && own_node.is_none() {
        return Ok(result.refused(
            "autonomo_sin_nodo",
            "la institución es autónoma y su propio nodo de autenticación necesita la llave de la e.firma registrada; \
             registre la e.firma completa o emita desde el sistema",
        ));
    }
    if let Some(existing) = history.iter().find(|c| c.folio_control == dec.folio_control) {
        return match existing.status {
            CertificateStatus::Timbrado if stamped_by(api, t, existing, &s.actor.request_id).await? => {
                Ok(done(result, existing))
            }
            CertificateStatus::Timbrado | CertificateStatus::Cancelado => already(api, s, result, existing).await,
            // Refused by the authority: this upload may be the signer's new seal of corrected data.
            CertificateStatus::Error => {
                reseal_refused(api, s, result, existing.clone(), &student, signer, certificate, found).await
            }
            CertificateStatus::Sellado if !s.stamps() => Ok(result
                .ended(
                    Status::Sellado,
                    "ya_sellado",
                    "ya estaba sellado; expórtelo (export-sealed) y entréguelo a la autoridad",
                )
                .certificate(existing)),
            // An earlier attempt recorded it (this upload retried, or the same document again): stamp it.
            CertificateStatus::Sellado => from_outcome(result, s.stamp_existing(existing.clone(), None).await?),
        };
    }
    if let Some(active) = roster::latest_certificate(&history, matricula).filter(|c| c.status.is_active()) {
        let message = format!(
            "el alumno {matricula} ya tiene el certificado {} en estado {}; este documento (folio {}) no se usará",
            active.folio_control,
            active.status.label(),
            dec.folio_control
        );
        return reject_on(api, s, result.certificate(active), "certificado_vigente", message).await;
    }
    if let Some((code, message)) = against_the_records(api, s, &student, signer, certificate, dec, issue_date).await? {
        return Ok(result.refused(code, message));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let recorded = match s.record_sealed(&student, &dec.folio_control, &id, issue_date, found.xml.clone()).await? {
        Ok(recorded) => recorded,
        Err(outcome) => return from_outcome(result, outcome),
    };
    if !s.stamps() {
        return Ok(result
            .ended(Status::Sellado, "sellado", "quedó sellado; expórtelo (export-sealed) y entréguelo a la autoridad")
            .certificate(&recorded.certificate));
    }
    let outcome = match own_node {
        Some(node) => s.commit_recorded(recorded, node.authenticate(&found.xml)).await?,
        None => s.stamp_recorded(recorded, found.xml.clone()).await?,
    };
    from_outcome(result, outcome)
}

/// Why `dec`, sealed offline for `student`, cannot be used — it does not say
/// exactly what the records say, or the student's plan is gone — as a
/// refusal's code and message; `None` when it can.
async fn against_the_records<X: Adapters>(
    api: &Api<X>,
    s: &Session<'_, X>,
    student: &StudentRecord,
    signer: &Signer,
    certificate: &SignerCertificate,
    dec: &Dec,
    issue_date: chrono::NaiveDate,
) -> Result<Option<(&'static str, String)>, RetryLater> {
    let Some(plan) = api.records.plan(s.tenant, &s.school.id, &student.student.plan_id).await? else {
        return Ok(Some(("plan_no_encontrado", format!("el plan {} del alumno no existe", student.student.plan_id))));
    };
    let ctx = IssueContext {
        institution: s.institution,
        plan: &plan,
        student: &student.student,
        signer: None,
        // Credits are held when stamping; none left leaves it Sellado.
        credits_available: 1,
        issue_date,
    };
    Ok(check_offline_sealed(&ctx, s.school, &signer.config.responsable, certificate, dec)
        .err()
        .map(|e| (e.code(), e.to_string())))
}

/// A document sealed offline for a certificate the authority refused
/// (Error), with that certificate's folio de control. The very document
/// already stored goes to the authority again; a new one (the signer sealed
/// the corrected data) is checked against the records like any upload and
/// becomes the certificate's document before it is stamped.
#[allow(
    clippy::too_many_arguments,
    reason = "the upload's session, result and document, and what it is checked against"
)]
async fn reseal_refused<X: Adapters>(
    api: &Api<X>,
    s: &Session<'_, X>,
    result: DocumentResult,
    existing: CertificateRecord,
    student: &StudentRecord,
    signer: &Signer,
    certificate: &SignerCertificate,
    found: &Found,
) -> Result<DocumentResult, RetryLater> {
    let t = s.tenant;
    let dec = &found.dec;
    let ours = match &existing.artifacts.sealed_xml {
        Some(key) => api.artifacts.get(t, key).await?,
        None => None,
    };
    let ours = ours.and_then(|bytes| String::from_utf8(bytes).ok()).and_then(|xml| Dec::parse(&xml).ok());
    let same = ours.is_some_and(|ours| ours.sello == dec.sello);
    if same && s.stamps() {
        return from_outcome(result, s.stamp_existing(existing, None).await?);
    }
    let issue_date = dec.issue_date().unwrap_or(existing.issue_date);
    if !same
        && let Some((code, message)) =
            against_the_records(api, s, student, signer, certificate, dec, issue_date).await?
    {
        return Ok(result.refused(code, message).certificate(&existing));
    }
    let new_document = (!same).then_some(found.xml.as_str());
    let certificate = match s.reseal(existing, new_document, issue_date, student.grades_edited).await? {
        Ok(c) => c,
        Err(outcome) => return from_outcome(result, outcome),
    };
    if !s.stamps() {
        return Ok(result
            .ended(
                Status::Sellado,
                "sellado",
                "quedó sellado de nuevo; expórtelo (export-sealed) y entréguelo a la autoridad",
            )
            .certificate(&certificate));
    }
    from_outcome(result, s.stamp_existing(certificate, Some(found.xml.clone())).await?)
}

/// A document the authority returned (stamped).
async fn returned<X: Adapters>(api: &Api<X>, s: &Session<'_, X>, found: &Found) -> Result<DocumentResult, RetryLater> {
    let result = DocumentResult::of(found);
    let dec = &found.dec;
    let t = s.tenant;
    let matricula = dec.alumno.numero_control.as_str();
    let history = api.records.student_certificates(t, &s.school.id, s.cycle, matricula).await?;
    let matched = history.iter().find(|c| c.folio_control == dec.folio_control);
    let report = verify(&found.xml, &api.config.authorities);
    if !report.valid {
        let authority = report.checks.iter().any(|c| !c.ok && AUTHORITY_CHECKS.contains(&c.code));
        let code = if authority { "timbre_invalido" } else { "sello_invalido" };
        let message = format!("el documento devuelto no pasa la verificación: {}", failures(&report));
        return match matched {
            Some(c) => reject_on(api, s, result.certificate(c), code, message).await,
            None => Ok(result.refused(code, message)),
        };
    }
    let Some(certificate) = matched else {
        return Ok(result.refused(
            "certificado_no_encontrado",
            format!(
                "no hay certificado con folio de control «{}» del alumno {matricula} en la escuela {} ciclo {}",
                dec.folio_control, s.school.id, s.cycle
            ),
        ));
    };
    let folio = dec.folio_digital().unwrap_or_default().to_string();
    match certificate.status {
        CertificateStatus::Timbrado if certificate.folio_digital.as_deref() == Some(folio.as_str()) => {
            return Ok(done(result, certificate));
        }
        CertificateStatus::Timbrado | CertificateStatus::Cancelado => {
            return already(api, s, result, certificate).await;
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
        return reject_on(api, s, result.certificate(certificate), "documento_distinto", message).await;
    }
    let stamped_at = dec
        .sep_ipes
        .as_ref()
        .and_then(|x| NaiveDateTime::parse_from_str(&x.fecha_sep_ipes, "%Y-%m-%dT%H:%M:%S").ok())
        .unwrap_or_else(|| Utc::now().naive_utc());
    let stamped = Stamped { xml: found.xml.clone(), folio_digital: folio, stamped_at };
    let outcome = s.commit(certificate.clone(), Ok(stamped)).await?;
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
    result
        .ended(
            Status::Timbrado,
            "ya_registrado",
            "el certificado ya estaba timbrado con este documento; no se cambió nada",
        )
        .certificate(c)
}

async fn already<X: Adapters>(
    api: &Api<X>,
    s: &Session<'_, X>,
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
    reject_on(api, s, result.certificate(c), code, message).await
}

/// Refuses a document matched to certificate `c`, leaving the refusal in
/// the certificate's audit trail (its state does not change).
async fn reject_on<X: Adapters>(
    api: &Api<X>,
    s: &Session<'_, X>,
    result: DocumentResult,
    code: &str,
    message: String,
) -> Result<DocumentResult, RetryLater> {
    if let Some(id) = &result.certificate_id
        && let Some(c) = api.records.get(s.tenant, id).await?
    {
        let detail = format!("{} ({code}): {message}", result.file);
        api.records
            .record(s.tenant, &AuditEntry::of_certificate(&s.actor, AuditAction::UploadRejected, &c, detail))
            .await?;
    }
    Ok(result.refused(code, message))
}

/// Maps an issuing outcome onto the document's result; what can succeed
/// later as it is (the authority unavailable, another attempt holding the
/// certificate) means: retry the whole upload.
fn from_outcome(result: DocumentResult, outcome: Outcome) -> Result<DocumentResult, RetryLater> {
    let (code, message) = match outcome.problem() {
        Some(p) => (Some(p.code.clone()), Some(p.detail.clone())),
        None => (None, None),
    };
    if outcome.retry == Retry::Later {
        return Err(RetryLater::new(message.unwrap_or_else(|| "reintentar".into())));
    }
    let status = match outcome.status {
        Status::Timbrado | Status::Sellado | Status::Error => outcome.status,
        _ => Status::Rechazado,
    };
    let result = match &outcome.certificate {
        Some(c) => result.certificate(c),
        None => result,
    };
    Ok(DocumentResult { status, code, message, ..result })
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
    fn an_upload_is_the_same_upload_when_redelivered() {
        let e = UploadEvent {
            key: "inbox/a/b/c/d.xml".into(),
            version: Some("v1".into()),
            etag: Some("e".into()),
            invocation: None,
        };
        assert_eq!(e.id(), e.clone().id());
        assert_ne!(e.id(), UploadEvent { version: Some("v2".into()), ..e.clone() }.id());
        assert_eq!(settled_key(&e.key, Settlement::Rejected), "rejected/a/b/c/d.xml");
    }
}

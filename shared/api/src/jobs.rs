//! Jobs ([`certifica_core::jobs`]) on the API's side: a large selection
//! queued as a job (the route answers 202 with its address), the job as
//! the API shows it, and the worker's part — one chunk of students issued,
//! mailed or cancelled through the same use cases as the inline routes,
//! each student's result recorded once.
//!
//! A chunk is safe to deliver twice: students with a result are skipped,
//! the use cases themselves refuse to stamp a Timbrado student again or
//! cancel a Cancelado one — and what a delivery did before it stopped
//! (its audit entries name the job) is taken as that student's result,
//! so nobody is mailed twice — and the chunk is counted into the job once.
//! What can succeed later (storage or the authority unavailable) is not
//! recorded: the chunk is delivered again, and on its last delivery those
//! students are recorded as [`FAILED`].

use crate::issuing::{Issuer, Session};
use crate::outcome::{Outcome, Retry, Status, StudentProblem};
use crate::problem::json_response;
use crate::router::Answer;
use crate::{Adapters, Api, Problem};
use certifica_core::jobs::{FAILED, IN_ZIP, Job, JobChunk, JobProblem, JobResult, JobStatus, JobWork, count};
use certifica_core::ports::{AuditStore, InstitutionStore, JobQueue, JobStore, Mailer, StoreError, StoreResult};
use certifica_core::records::{Actor, AuditAction, CertificateRecord, Tenant};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use std::collections::HashSet;

/// The queue of a set of adapters that queues nothing (the functions that
/// answer inline only): a job cannot start there.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoQueue;

impl JobQueue for NoQueue {
    async fn enqueue(&self, _: &[JobChunk]) -> StoreResult<()> {
        Err(StoreError::Unavailable("esta instalación no tiene cola de trabajos; seleccione menos alumnos".into()))
    }
}

/// Spaces the mail a worker sends to the configured rate (SES accounts
/// have a sending rate; a class mailed at once would exceed it).
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    next: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl<X: Adapters> Api<X> {
    /// Waits for the next mail's turn, when the deployment sets a rate.
    pub(crate) async fn pace_mail(&self) {
        let Some(interval) = self.config.mail_interval else { return };
        let mut next = self.pacer.next.lock().await;
        let now = tokio::time::Instant::now();
        let at = next.filter(|at| *at > now).unwrap_or(now);
        tokio::time::sleep_until(at).await;
        *next = Some(at + interval);
    }
}

/// Students worked between two looks at the job: a cancellation stops a
/// chunk at most this many students after it was asked. Twice the
/// students issued at once, so a group keeps them all busy until its last
/// round; its results are then recorded in one write.
const BETWEEN_LOOKS: usize = 8;

/// The address of a job.
pub fn job_url(id: &str) -> String {
    format!("/v1/jobs/{id}")
}

/// The address that answers a finished download job's zip.
fn job_download_url(id: &str) -> String {
    format!("{}/download", job_url(id))
}

/// Queues `students` (sorted, each once) as a job of `work`, and answers
/// 202 with its address. Should the queue refuse part of it, the job is
/// cancelled (what was queued finds it so and does nothing) and the
/// request fails as a whole.
pub(crate) async fn queue<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    school: &str,
    cycle: &str,
    work: JobWork,
    students: &[String],
    actor: &Actor,
) -> Answer {
    let job = Job::new(uuid::Uuid::new_v4().to_string(), school, cycle, work, students.len(), actor.clone());
    let chunks = job.chunks_of(t, students);
    queue_job(api, t, job, &chunks, actor).await
}

/// Stores `job` and queues its `chunks`; answers 202 with its address.
pub(crate) async fn queue_job<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    job: Job,
    chunks: &[JobChunk],
    actor: &Actor,
) -> Answer {
    api.records.create_job(t, &job).await?;
    if let Err(e) = api.queue.enqueue(chunks).await {
        if let Err(again) = api.records.cancel_job(t, &job.id, actor).await {
            tracing::error!(job = %job.id, error = %again, "a job whose chunks were not all queued could not be cancelled");
        }
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cola_no_disponible",
            format!("no se pudo encolar el trabajo: {e}"),
        ));
    }
    tracing::info!(job = %job.id, kind = job.work.kind(), students = job.total, chunks = job.chunks, "job queued");
    Ok(accepted(&job))
}

/// 202 with the job and its address (`Location`).
pub(crate) fn accepted(job: &Job) -> http::Response<bytes::Bytes> {
    let mut response = json_response(StatusCode::ACCEPTED, &json!({ "job": job_json(job) }));
    if let Ok(location) = HeaderValue::from_str(&job_url(&job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A job as the API shows it.
pub(crate) fn job_json(job: &Job) -> Value {
    let work = match &job.work {
        JobWork::Issue { issue_date } => json!({ "issueDate": issue_date }),
        JobWork::Email => json!({}),
        JobWork::Cancel { motive, reason } => json!({ "motive": motive, "reason": reason }),
        JobWork::Download { pdf, statuses, .. } => {
            json!({ "format": if *pdf { "xml+pdf" } else { "xml" }, "statuses": statuses })
        }
    };
    // A finished download's zip: a fresh short-lived link at this address.
    let download = matches!(job.work, JobWork::Download { .. } if job.status() == JobStatus::Terminado)
        .then(|| job_download_url(&job.id));
    json!({
        "id": job.id,
        "kind": job.work.kind(),
        "status": job.status().as_str(),
        "schoolId": job.school_id,
        "cycleId": job.cycle_id,
        "parameters": work,
        "total": job.total,
        "done": job.done,
        "counts": job.counts,
        "createdAt": job.created_at,
        "createdBy": job.created_by.display(),
        "startedAt": job.started_at,
        "updatedAt": job.updated_at,
        "cancelledAt": job.cancelled_at,
        "cancelledBy": job.cancelled_by.as_ref().map(Actor::display),
        "url": job_url(&job.id),
        "downloadUrl": download,
    })
}

/// The job, if the caller may see it: only its institution (the token's
/// tenant) has it, and only users with the permission it needed in its
/// school ([`JobWork::permission`]).
pub(crate) async fn visible_job<X: Adapters>(
    api: &Api<X>,
    id: &certifica_core::identity::Identity,
    job_id: &str,
) -> Result<Job, Problem> {
    let job = api.records.job(id.tenant(), job_id).await?.ok_or_else(|| {
        Problem::not_found("trabajo_no_encontrado", format!("no existe el trabajo {}", crate::request::excerpt(job_id)))
    })?;
    id.require(&job.school_id, job.work.permission())?;
    Ok(job)
}

/// One student's result as the API shows it.
pub(crate) fn result_json(r: &JobResult) -> Value {
    json!({
        "matricula": r.matricula,
        "status": r.status,
        "certificateId": r.certificate_id,
        "folioDigital": r.folio_digital,
        "problems": r.problems.iter().map(|p| json!({"code": p.code, "detail": p.detail})).collect::<Vec<_>>(),
    })
}

fn result_of(o: &Outcome, status: &str) -> JobResult {
    JobResult {
        matricula: o.matricula.clone(),
        status: status.to_string(),
        certificate_id: o.certificate.as_ref().map(|c| c.id.clone()),
        folio_digital: o.certificate.as_ref().and_then(|c| c.folio_digital.clone()),
        problems: o.problems.iter().map(|p| JobProblem { code: p.code.clone(), detail: p.detail.clone() }).collect(),
    }
}

/// Why a chunk must be delivered again: part of it can succeed later.
#[derive(Debug, thiserror::Error)]
#[error("el bloque {chunk} del trabajo {job} se reintentará: {cause}")]
pub struct RetryChunk {
    pub job: String,
    pub chunk: u32,
    pub cause: String,
}

/// What one delivery of a chunk did, for the worker's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkReport {
    /// Students without a result this delivery took up (those with one
    /// are skipped; a cancellation may stop it before the last).
    pub worked: usize,
    /// Issue jobs: where this delivery's time went, in `Server-Timing`'s
    /// form (`sello;dur=…, timbre;dur=…, …`, milliseconds summed over its
    /// certificates).
    pub timing: Option<String>,
}

impl std::fmt::Display for ChunkReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} alumnos", self.worked)?;
        match &self.timing {
            Some(timing) => write!(f, " ({timing})"),
            None => Ok(()),
        }
    }
}

/// How a chunk's students went.
enum Flow {
    /// Every student has a result.
    Done,
    /// The job was cancelled before the chunk's last student.
    Cancelled,
    /// Some students can succeed later: the chunk comes again.
    Later(String),
}

impl<X: Adapters> Api<X> {
    /// Works one chunk of a job: each of its students without a result is
    /// issued, mailed or cancelled and its result recorded, then the chunk
    /// is counted into the job. `Err` asks for the chunk again (SQS: report
    /// it as a batch item failure); `last_delivery` records what still
    /// fails as [`FAILED`] instead.
    pub async fn work_chunk(&self, chunk: &JobChunk, last_delivery: bool) -> Result<ChunkReport, RetryChunk> {
        let retry = |cause: String| RetryChunk { job: chunk.job.clone(), chunk: chunk.chunk, cause };
        let store = |e: StoreError| retry(e.to_string());
        let t = Tenant::of_queued_chunk(chunk);
        let Some(job) = self.records.job(&t, &chunk.job).await.map_err(store)? else {
            tracing::warn!(job = %chunk.job, chunk = chunk.chunk, "chunk of an unknown job dropped");
            return Ok(ChunkReport::default());
        };
        if job.cancelled_at.is_some() {
            return Ok(ChunkReport::default());
        }
        if let JobWork::Download { pdf, statuses, zip } = &job.work {
            return self.work_download(&t, &job, (*pdf, statuses, zip), last_delivery).await;
        }
        self.records.start_job(&t, &job.id).await.map_err(store)?;
        let range = chunk.students.first().zip(chunk.students.last());
        let known: HashSet<String> = match range {
            Some((first, last)) => self
                .records
                .results_between(&t, &job.id, first, last)
                .await
                .map_err(store)?
                .into_iter()
                .map(|r| r.matricula)
                .collect(),
            None => HashSet::new(),
        };
        let todo: Vec<String> = chunk.students.iter().filter(|m| !known.contains(*m)).cloned().collect();
        // Who asked, in the job's name: the audit trail tells the job's work
        // from any request's, whichever delivery did it.
        let actor = Actor { request_id: format!("trabajo {}", job.id), ..job.created_by.clone() };
        let work = Work { api: self, t: &t, job: &job, actor: &actor, chunk: chunk.chunk, last_delivery };
        let (flow, timing) = match &job.work {
            _ if todo.is_empty() => (Flow::Done, None),
            JobWork::Issue { issue_date } => work.issue(&todo, *issue_date).await?,
            JobWork::Email => (work.email(&todo).await?, None),
            JobWork::Cancel { motive, reason } => (work.cancel(&todo, motive, reason.as_deref()).await?, None),
            // Worked whole by work_download, above.
            JobWork::Download { .. } => (Flow::Done, None),
        };
        let report = ChunkReport { worked: todo.len(), timing };
        match flow {
            Flow::Cancelled => return Ok(report),
            Flow::Later(cause) => return Err(retry(cause)),
            Flow::Done => {}
        }
        // A chunk is a contiguous run of the job's sorted students: its range holds only its own.
        let results = match range {
            Some((first, last)) => self.records.results_between(&t, &job.id, first, last).await.map_err(store)?,
            None => Vec::new(),
        };
        let counted = self.records.finish_chunk(&t, &job.id, chunk.chunk, &count(&results)).await.map_err(store)?;
        tracing::info!(job = %job.id, chunk = chunk.chunk, students = results.len(), counted, timing = ?report.timing, "chunk worked");
        Ok(report)
    }
}

impl<X: Adapters> Api<X> {
    /// A download job's one chunk: the zip built and stored under the job's
    /// name, the job counted, and its requester told by mail. Delivered
    /// again once counted, it does nothing; before, it builds the zip again
    /// (the same name: the same object).
    async fn work_download(
        &self,
        t: &Tenant,
        job: &Job,
        (pdf, statuses, zip): (bool, &[String], &str),
        last_delivery: bool,
    ) -> Result<ChunkReport, RetryChunk> {
        let retry = |cause: String| RetryChunk { job: job.id.clone(), chunk: 0, cause };
        if job.chunks_done >= job.chunks {
            return Ok(ChunkReport::default());
        }
        self.records.start_job(t, &job.id).await.map_err(|e| retry(e.to_string()))?;
        let built = crate::routes::download::zip_for_job(self, t, job, pdf, statuses, zip).await;
        let counts = match built {
            Ok(rows) => [(IN_ZIP.to_string(), rows as u32)].into(),
            Err(p) if p.status == StatusCode::SERVICE_UNAVAILABLE && !last_delivery => {
                return Err(retry(format!("{}: {}", p.code, p.detail)));
            }
            Err(p) => {
                tracing::error!(job = %job.id, code = p.code, detail = %p.detail, "download job failed");
                [(FAILED.to_string(), job.total)].into()
            }
        };
        let counted = self.records.finish_chunk(t, &job.id, 0, &counts).await.map_err(|e| retry(e.to_string()))?;
        if counted && counts.contains_key(IN_ZIP) {
            self.mail_download_ready(t, job, counts.get(IN_ZIP).copied().unwrap_or(0)).await;
        }
        Ok(ChunkReport { worked: counts.values().sum::<u32>() as usize, timing: None })
    }

    /// Tells a download's requester the zip is ready (where to get it: the
    /// link itself lives minutes). Best effort: the job is done either way.
    async fn mail_download_ready(&self, t: &Tenant, job: &Job, certificates: u32) {
        let Some(to) = job.created_by.email.clone().filter(|a| certifica_core::mail::is_valid_address(a)) else {
            tracing::info!(job = %job.id, "download ready; the requester has no email to be told at");
            return;
        };
        let institution = match self.records.institution(t).await {
            Ok(i) => i.map(|i| i.name).unwrap_or_default(),
            Err(_) => String::new(),
        };
        let mail = certifica_core::mail::download_ready_mail(
            to,
            &certifica_core::mail::DownloadNotice {
                institution: &institution,
                school: &job.school_id,
                cycle: &job.cycle_id,
                certificates,
                job_url: &job_download_url(&job.id),
            },
        );
        self.pace_mail().await;
        if let Err(e) = self.mailer.send(&mail).await {
            tracing::warn!(job = %job.id, error = %e, "the download's requester could not be mailed");
        }
    }
}

/// One chunk's work: the API, whose job, and whether it is its last delivery.
struct Work<'a, X: Adapters> {
    api: &'a Api<X>,
    t: &'a Tenant,
    job: &'a Job,
    /// The job's creator, acting as the job.
    actor: &'a Actor,
    chunk: u32,
    last_delivery: bool,
}

impl<X: Adapters> Work<'_, X> {
    fn retry(&self, cause: impl std::fmt::Display) -> RetryChunk {
        RetryChunk { job: self.job.id.clone(), chunk: self.chunk, cause: cause.to_string() }
    }

    async fn cancelled(&self) -> Result<bool, RetryChunk> {
        let job = self.api.records.job(self.t, &self.job.id).await.map_err(|e| self.retry(e))?;
        Ok(job.is_none_or(|j| j.cancelled_at.is_some()))
    }

    /// Records `outcomes` in one write; what can succeed later is kept back
    /// (or failed, on the last delivery). The cause of the first kept back, if any.
    async fn record(&self, outcomes: &[Outcome]) -> Result<Option<String>, RetryChunk> {
        let mut later = None;
        let mut results = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            results.push(match o.retry {
                Retry::Later if !self.last_delivery => {
                    later.get_or_insert_with(|| {
                        o.problem().map_or_else(|| o.status.to_string(), |p| format!("{}: {}", p.code, p.detail))
                    });
                    continue;
                }
                Retry::Later => result_of(o, FAILED),
                Retry::Pointless => result_of(o, o.status.as_str()),
            });
        }
        if !results.is_empty() {
            self.api.records.record_results(self.t, &self.job.id, &results).await.map_err(|e| self.retry(e))?;
        }
        Ok(later)
    }

    /// Works `todo` in groups, looking at the job between them; `one`
    /// works a group.
    async fn in_groups<F, Fut>(&self, todo: &[String], mut group: F) -> Result<Flow, RetryChunk>
    where
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = Vec<Outcome>>,
    {
        let mut later = None;
        for (n, students) in todo.chunks(BETWEEN_LOOKS).enumerate() {
            if n > 0 && self.cancelled().await? {
                return Ok(Flow::Cancelled);
            }
            let outcomes = group(students.to_vec()).await;
            if let Some(cause) = self.record(&outcomes).await? {
                later.get_or_insert(cause);
            }
        }
        Ok(later.map_or(Flow::Done, Flow::Later))
    }

    /// Every student of `todo` refused for the same reason, or the chunk
    /// again when the reason is passing (a 503).
    async fn refuse_all(&self, todo: &[String], p: Problem) -> Result<Flow, RetryChunk> {
        if p.status == StatusCode::SERVICE_UNAVAILABLE {
            return Ok(Flow::Later(format!("{}: {}", p.code, p.detail)));
        }
        let problem = StudentProblem::from(p);
        let outcomes: Vec<Outcome> =
            todo.iter().map(|m| Outcome::refused(m, Status::Rechazado, vec![problem.clone()])).collect();
        Ok(self.record(&outcomes).await?.map_or(Flow::Done, Flow::Later))
    }

    /// Issues `todo`; with the flow, the stage times of what was issued.
    async fn issue(
        &self,
        todo: &[String],
        issue_date: chrono::NaiveDate,
    ) -> Result<(Flow, Option<String>), RetryChunk> {
        let (api, t, job) = (self.api, self.t, self.job);
        let issuer = match Issuer::load(api, t, &job.school_id, issue_date).await {
            Ok(issuer) => issuer,
            Err(p) => return Ok((self.refuse_all(todo, p).await?, None)),
        };
        let session = Session::new(
            api,
            t,
            self.actor.clone(),
            &issuer.institution,
            &issuer.school,
            &job.cycle_id,
            issuer.signer.as_ref(),
        );
        let ready = async {
            session.settle_expired().await?;
            session.preload().await
        };
        if let Err(e) = ready.await {
            return Ok((Flow::Later(e.to_string()), None));
        }
        let session = &session;
        let flow = self
            .in_groups(todo, |students| async move {
                let mut outcomes = Vec::new();
                for o in session.issue_all(&students, issue_date).await {
                    outcomes.push(passing(self.own_stamp(o).await));
                }
                outcomes
            })
            .await?;
        Ok((flow, Some(session.timings.server_timing())))
    }

    /// "Already stamped" when the stamp was this job's own — a delivery
    /// beside this one, or an earlier one that stopped before recording
    /// it — is the job's stamp: its audit entry names the job.
    async fn own_stamp(&self, o: Outcome) -> Outcome {
        let already = o.status == Status::Omitido && o.problem().is_some_and(|p| p.code == "ya_timbrado");
        let Some(c) = o.certificate.clone().filter(|_| already) else { return o };
        match self.done_by_job(&c.id, AuditAction::Stamped).await {
            Ok(true) => Outcome::done(&o.matricula, Status::Timbrado, Some(c)),
            Ok(false) => o,
            // Unknown yet: asked again rather than recorded as someone else's.
            Err(()) => o.retry_later(),
        }
    }

    /// Whether this job did `action` to the certificate: its audit entry
    /// names the job (`Err`: the trail cannot be read now).
    async fn done_by_job(&self, certificate_id: &str, action: AuditAction) -> Result<bool, ()> {
        let trail = self.api.records.audit_of_certificate(self.t, certificate_id).await.map_err(|_| ())?;
        Ok(trail.iter().any(|e| e.action == action && e.request_id == self.actor.request_id))
    }

    /// The student's latest certificate when this job already did `action`
    /// to it — a delivery beside this one, or one that stopped before
    /// recording the result — so it is not mailed or cancelled twice.
    /// `Err`: unknown now (the outcome to retry later).
    async fn already_by_job(&self, control: &str, action: AuditAction) -> Result<Option<CertificateRecord>, Outcome> {
        let (t, job) = (self.t, self.job);
        // No certificate (or none readable): the use case says why.
        let Ok(c) =
            crate::lookup::latest_certificate(&self.api.records, t, &job.school_id, &job.cycle_id, control).await
        else {
            return Ok(None);
        };
        match self.done_by_job(&c.id, action).await {
            Ok(true) => Ok(Some(c)),
            Ok(false) => Ok(None),
            Err(()) => Err(audit_unreadable(control)),
        }
    }

    async fn email(&self, todo: &[String]) -> Result<Flow, RetryChunk> {
        let (api, t, job) = (self.api, self.t, self.job);
        let institution = match api.records.institution(t).await {
            Ok(i) => i.map(|i| i.name).unwrap_or_default(),
            Err(e) => return Ok(Flow::Later(e.to_string())),
        };
        let (institution, actor) = (&institution, self.actor);
        self.in_groups(todo, |students| async move {
            let mut outcomes = Vec::new();
            for control in &students {
                // The certificate, read once: to see whether this job mailed it already, and to mail it.
                let latest =
                    crate::lookup::latest_certificate(&api.records, t, &job.school_id, &job.cycle_id, control).await;
                let c = match latest {
                    Ok(c) => c,
                    Err(p) => {
                        outcomes.push(passing(Outcome::refused(control, Status::Rechazado, vec![p.into()])));
                        continue;
                    }
                };
                match self.done_by_job(&c.id, AuditAction::Emailed).await {
                    Ok(true) => {
                        outcomes.push(Outcome::done(control, Status::Enviado, Some(c)));
                        continue;
                    }
                    Err(()) => {
                        outcomes.push(audit_unreadable(control));
                        continue;
                    }
                    Ok(false) => {}
                }
                api.pace_mail().await;
                let sent = crate::routes::email::email_certificate(api, t, institution, c, actor).await;
                outcomes.push(match sent {
                    Ok(c) => Outcome::done(control, Status::Enviado, Some(c)),
                    Err(p) => passing(Outcome::refused(control, Status::Rechazado, vec![p])),
                });
            }
            outcomes
        })
        .await
    }

    async fn cancel(&self, todo: &[String], motive: &str, reason: Option<&str>) -> Result<Flow, RetryChunk> {
        let (api, t, job) = (self.api, self.t, self.job);
        let motive = match crate::routes::cancel::motive_of(motive) {
            Ok(m) => m,
            Err(p) => return self.refuse_all(todo, p).await,
        };
        let actor = self.actor;
        self.in_groups(todo, |students| async move {
            let mut outcomes = Vec::new();
            for control in &students {
                let cancellation = crate::routes::cancel::cancellation(motive, reason, actor);
                let done = crate::routes::cancel::cancel_one(
                    api,
                    t,
                    &job.school_id,
                    &job.cycle_id,
                    control,
                    cancellation,
                    actor,
                )
                .await;
                outcomes.push(match done {
                    Ok(c) => Outcome::done(control, Status::Cancelado, Some(c)),
                    Err(p) if p.code == "no_cancelable" => {
                        match self.already_by_job(control, AuditAction::Cancelled).await {
                            Ok(Some(c)) => Outcome::done(control, Status::Cancelado, Some(c)),
                            Ok(None) => Outcome::refused(control, Status::Rechazado, vec![p]),
                            Err(later) => later,
                        }
                    }
                    Err(p) => passing(Outcome::refused(control, Status::Rechazado, vec![p])),
                });
            }
            outcomes
        })
        .await
    }
}

/// A student whose certificate's audit trail could not be read: whether
/// this job already did its work is unknown, so it is tried again later.
fn audit_unreadable(control: &str) -> Outcome {
    Outcome::refused(
        control,
        Status::Rechazado,
        vec![StudentProblem::new("almacenamiento_no_disponible", "no se pudo leer la bitácora del certificado")],
    )
    .retry_later()
}

/// Problems that pass by themselves make the outcome worth trying again:
/// storage or mail unavailable, or another delivery of the same chunk
/// working the student right now (its result is the one to keep).
fn passing(outcome: Outcome) -> Outcome {
    let transient = ["almacenamiento_no_disponible", "correo_no_disponible", "conflicto", "en_proceso", "ya_emitido"];
    if outcome.problem().is_some_and(|p| transient.contains(&p.code.as_str())) {
        outcome.retry_later()
    } else {
        outcome
    }
}

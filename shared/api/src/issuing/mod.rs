//! Issuing certificates, apart from HTTP: a [`Session`] holds what every
//! student of one request (or one upload) shares — tenant, actor,
//! institution, school, cycle, the signer loaded once and the authority
//! node — and seals, stamps and commits each certificate, consuming exactly
//! one credit per certificate that reaches Timbrado. The issue route and
//! the upload inbox both work through it.

/// Awaits `$f`, counting its time to `$stage` of `$timings` — inline, with
/// no future of its own: an extra layer around every storage call deepens
/// the stack of unoptimised builds.
macro_rules! timed {
    ($timings:expr, $stage:expr, $f:expr) => {{
        let started = std::time::Instant::now();
        let out = $f.await;
        $timings.add($stage, started);
        out
    }};
}

mod retry;
mod signer;
mod stamp;
mod timing;

pub(crate) use signer::secret_context;
pub use signer::{Key, Signer};
pub use stamp::Recorded;
pub use timing::{Stage, StageTimes};

use crate::outcome::{Outcome, Status, StudentProblem};
use crate::{Adapters, Api};
use certifica_core::issue::{IssueError, seal_and_stamp_autonomo, seal_certificate};
use certifica_core::model::{CertificationMode, Institution, Plan, School};
use certifica_core::ports::{CertificateStore, CreditStore, InstitutionStore, StoreError, StudentStore};
use certifica_core::records::{Actor, CertificateStatus, StudentRecord, Tenant};
use certifica_core::roster;
use certifica_core::rules::{IssueContext, IssueProblem};
use certifica_core::stamping::LocalAuthority;
use chrono::NaiveDate;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Certificates of one batch issued at once: their storage and authority
/// calls overlap instead of queueing one certificate after another.
const ISSUE_CONCURRENCY: usize = 4;

/// What issuing in a school needs before its first student: the
/// institution, the school and its signer, checked for `issue_date` (the
/// issue route and a job's worker both start here).
pub struct Issuer {
    pub institution: Institution,
    pub school: School,
    pub signer: Option<Signer>,
}

impl Issuer {
    pub async fn load<X: Adapters>(
        api: &Api<X>,
        t: &Tenant,
        school_id: &str,
        issue_date: NaiveDate,
    ) -> Result<Self, crate::Problem> {
        let (institution, school) = crate::lookup::institution_and_school(&api.records, t, school_id).await?;
        let signer = Signer::load(api, t, school_id, institution.kind).await?;
        if let Some(signer) = &signer {
            crate::dates::within_signer(issue_date, &signer.cer)?;
            if signer.sealing().is_some() {
                crate::dates::signer_valid_today(&signer.cer)?;
            }
        }
        Ok(Issuer { institution, school, signer })
    }
}

/// What every student of one request (or one upload) shares.
pub struct Session<'a, X: Adapters> {
    api: &'a Api<X>,
    pub tenant: &'a Tenant,
    pub actor: Actor,
    pub institution: &'a Institution,
    pub school: &'a School,
    pub cycle: &'a str,
    /// The school's registered signer, loaded once.
    signer: Option<&'a Signer>,
    /// Semi-electronic institutions submit through the authority's portal:
    /// issuing seals and stops at Sellado (exported with export-sealed).
    stamp: bool,
    /// Credits available as last known (read once per batch, counted down
    /// as certificates are stamped): the rules' early warning; holding a
    /// credit remains the authority.
    credits_hint: AtomicU64,
    /// Plans already read (students of a class share one).
    plans: Mutex<HashMap<String, Plan>>,
    /// Where the session's time went.
    pub timings: StageTimes,
}

impl<'a, X: Adapters> Session<'a, X> {
    pub fn new(
        api: &'a Api<X>,
        tenant: &'a Tenant,
        actor: Actor,
        institution: &'a Institution,
        school: &'a School,
        cycle: &'a str,
        signer: Option<&'a Signer>,
    ) -> Self {
        Session {
            api,
            tenant,
            actor,
            institution,
            school,
            cycle,
            signer,
            stamp: institution.mode != CertificationMode::SemiElectronic,
            // Uploads check no credit rule up front: holding a credit decides.
            credits_hint: AtomicU64::new(1),
            plans: Mutex::new(HashMap::new()),
            timings: StageTimes::default(),
        }
    }

    /// The school's registered signer, when there is one.
    pub fn signer(&self) -> Option<&'a Signer> {
        self.signer
    }

    /// Whether certificates go on to the authority (not semi-electronic).
    pub fn stamps(&self) -> bool {
        self.stamp
    }

    /// AUTONOMO with the key on the server: the institution's own authority node.
    pub fn own_node(&self) -> Option<&'a LocalAuthority> {
        self.signer.and_then(|s| s.own_node.as_ref())
    }

    /// The credits available as last known, for the rules.
    pub fn credits_hint(&self) -> u64 {
        self.credits_hint.load(Ordering::Relaxed)
    }

    /// Issues every student of `students` on `issue_date` (sorted, distinct),
    /// several at once when there are credits for all of them.
    pub async fn issue_all(&self, students: &[String], issue_date: NaiveDate) -> Vec<Outcome> {
        // A registered e.firma that does not open refuses every student the same way.
        if let Some(Key::Unusable(e)) = self.signer.map(|s| &s.key) {
            let p = IssueProblem::Signer(e.clone());
            return students.iter().map(|m| Outcome::one(m, Status::Rechazado, p.code(), p.to_string())).collect();
        }
        // With fewer credits than students, one at a time: the rules then
        // refuse exactly the last ones of the selection, before sealing them.
        let enough = self.credits_hint() >= students.len() as u64;
        let at_once = if enough || !self.stamp { ISSUE_CONCURRENCY } else { 1 };
        // Collected first: a closure inside the stream would make the handler's future lose `Send`.
        let issues: Vec<_> = students.iter().map(|m| self.issue_one(m, issue_date)).collect();
        futures_util::stream::iter(issues).buffered(at_once).collect().await
    }

    /// Starts the session's credit hint and plans from the records (a batch
    /// of a class reads them once rather than per student).
    pub async fn preload(&self) -> Result<(), StoreError> {
        let available = self.api.records.balance(self.tenant).await?.available;
        self.credits_hint.store(available, Ordering::Relaxed);
        // Read up front, not as the first student needs them: the batch's
        // students are issued several at once.
        let plans = self.api.records.plans(self.tenant, &self.school.id).await?;
        if let Ok(mut cached) = self.plans.lock() {
            cached.extend(plans.into_iter().map(|p| (p.id.clone(), p)));
        }
        Ok(())
    }

    async fn issue_one(&self, matricula: &str, issue_date: NaiveDate) -> Outcome {
        match self.issue_student(matricula, issue_date).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(matricula, error = %e, "issue failed");
                let outcome = Outcome::one(matricula, Status::Error, e.code(), e.to_string());
                if matches!(e, StoreError::Unavailable(_)) { outcome.retry_later() } else { outcome }
            }
        }
    }

    async fn issue_student(&self, matricula: &str, issue_date: NaiveDate) -> Result<Outcome, StoreError> {
        let (api, t) = (self.api, self.tenant);
        let Some(record) = api.records.student(t, &self.school.id, self.cycle, matricula).await? else {
            return Ok(Outcome::one(
                matricula,
                Status::Rechazado,
                "alumno_no_encontrado",
                format!("no existe el alumno {matricula}"),
            ));
        };
        let history = api.records.student_certificates(t, &self.school.id, self.cycle, matricula).await?;
        let current = roster::latest_certificate(&history, matricula).filter(|c| c.status.is_active()).cloned();
        if let Some(c) = &current {
            match c.status {
                CertificateStatus::Timbrado => {
                    return Ok(Outcome::one(
                        matricula,
                        Status::Omitido,
                        "ya_timbrado",
                        format!("el alumno {matricula} ya tiene un certificado timbrado"),
                    )
                    .with_certificate(c.clone()));
                }
                CertificateStatus::Sellado if !self.stamp => {
                    return Ok(Outcome::one(
                        matricula,
                        Status::Omitido,
                        "ya_sellado",
                        "el certificado ya está sellado; expórtelo y entréguelo a la autoridad",
                    )
                    .with_certificate(c.clone()));
                }
                // An interrupted attempt: the very document sealed goes to the authority.
                CertificateStatus::Sellado => return self.stamp_existing(c.clone(), None).await,
                CertificateStatus::Error | CertificateStatus::Cancelado => {}
            }
        }
        if current.is_none() && matches!(self.signer.map(|s| &s.key), Some(Key::Offline)) {
            return Ok(Outcome::one(
                matricula,
                Status::Rechazado,
                "firmante_sin_conexion",
                "el responsable de esta escuela sella sin conexión: exporte los datos para sellar (export-unsealed), \
                 séllelos con «certifica sign» y suba los XML sellados a la bandeja de entrada",
            ));
        }
        let Some(plan) = self.plan_of(&record.student.plan_id).await? else {
            return Ok(Outcome::one(
                matricula,
                Status::Rechazado,
                "plan_no_encontrado",
                format!("el plan {} del alumno no existe", record.student.plan_id),
            ));
        };
        // Error: the authority refused it; issued again from the records as they are now.
        if let Some(c) = current {
            return self.retry(&record, &plan, c, issue_date).await;
        }
        let ctx = IssueContext {
            institution: self.institution,
            plan: &plan,
            student: &record.student,
            signer: self.signer.and_then(Signer::sealing),
            credits_available: self.credits_hint(),
            issue_date,
        };
        let folio_control = format!("{}-{}-{}-{}", self.school.id, self.cycle, matricula, history.len() + 1);
        self.issue_new(&record, &ctx, &folio_control).await
    }

    /// The plan, read once per session.
    async fn plan_of(&self, plan_id: &str) -> Result<Option<Plan>, StoreError> {
        let cached = self.plans.lock().ok().and_then(|plans| plans.get(plan_id).cloned());
        if let Some(plan) = cached {
            return Ok(Some(plan));
        }
        let plan = self.api.records.plan(self.tenant, &self.school.id, plan_id).await?;
        if let (Some(p), Ok(mut plans)) = (&plan, self.plans.lock()) {
            plans.insert(plan_id.to_string(), p.clone());
        }
        Ok(plan)
    }

    async fn issue_new(
        &self,
        record: &StudentRecord,
        ctx: &IssueContext<'_>,
        folio_control: &str,
    ) -> Result<Outcome, StoreError> {
        let matricula = record.student.control_number.as_str();
        let id = uuid::Uuid::new_v4().to_string();
        let sealed_and_stamped = self.timings.time(Stage::Seal, || match self.own_node() {
            Some(node) => seal_and_stamp_autonomo(ctx, self.school, folio_control, node).map(|(s, st)| (s, Some(st))),
            None => seal_certificate(ctx, self.school, folio_control).map(|s| (s, None)),
        });
        let (sealed, stamped) = match sealed_and_stamped {
            Ok(x) => x,
            Err(e) => return Ok(rules_outcome(matricula, e)),
        };
        let recorded = match self.record_sealed(record, folio_control, &id, ctx.issue_date, sealed.xml.clone()).await? {
            Ok(recorded) => recorded,
            Err(outcome) => return Ok(outcome),
        };
        match stamped {
            // AUTONOMO: the institution's own node already stamped it.
            Some(stamped) => self.commit_recorded(recorded, Ok(stamped)).await,
            None if !self.stamp => Ok(Outcome::done(matricula, Status::Sellado, Some(recorded.certificate))),
            None => self.stamp_recorded(recorded, sealed.xml).await,
        }
    }
}

fn rules_outcome(matricula: &str, e: IssueError) -> Outcome {
    match e {
        IssueError::Rules(problems) => Outcome::refused(
            matricula,
            Status::Rechazado,
            problems.iter().map(|p| StudentProblem::new(p.code(), p.to_string())).collect(),
        ),
        IssueError::Seal(e) => Outcome::one(matricula, Status::Rechazado, e.code(), e.to_string()),
        IssueError::Stamp(e) => {
            let outcome = Outcome::one(matricula, Status::Error, "timbrado_fallido", e.to_string());
            if e.is_transient() { outcome.retry_later() } else { outcome }
        }
    }
}

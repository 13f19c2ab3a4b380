//! `list-certificates`: the schools the caller may see, a school's cycles
//! and plans for the filters, the students table with its counts and
//! groups, a student's data ("Ver datos"), and jobs with their results.

use super::{certificate_json, ok};
use crate::jobs::{job_json, result_json, visible_job};
use crate::lookup::{plan_scope, require_cycle, require_student, status_filter};
use crate::request::query;
use crate::router::{self, Answer, Caller, Function, FunctionRoutes, Routes};
use crate::{Adapters, Api, Config, Problem};
use bytes::Bytes;
use certifica_core::identity::{Identity, Permission};
use certifica_core::ports::{AuditStore, CertificateStore, CreditStore, InstitutionStore, JobStore, StudentStore};
use certifica_core::records::CertificateStatus;
use certifica_core::roster::{self, RosterFilter, StatusFilter};
use certifica_core::rules;
use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use http::Request;
use serde_json::{Value, json};

/// The routes of `list-certificates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Schools,
    Cycles {
        school: String,
    },
    Plans {
        school: String,
    },
    Students {
        school: String,
        cycle: String,
    },
    /// Counts by status and the cycle's groups, for the table's header and group filter.
    Summary {
        school: String,
        cycle: String,
    },
    Student {
        school: String,
        cycle: String,
        student: String,
    },
    /// A cycle's recent jobs.
    CycleJobs {
        school: String,
        cycle: String,
    },
    /// A job with a page of its results.
    Job {
        job: String,
    },
}

impl Routes for Route {
    fn of(route: router::Route) -> Option<Self> {
        match route {
            router::Route::List(r) => Some(r),
            _ => None,
        }
    }

    fn writes(&self) -> Option<(&str, Permission)> {
        None
    }

    fn answer<'a, X: Adapters>(
        self,
        api: &'a Api<X>,
        request: &'a Request<Bytes>,
        caller: Caller<'a>,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let id = caller.identity()?;
            let records = &api.records;
            match self {
                Route::Schools => schools(records, id).await,
                Route::Cycles { school } => cycles(records, id, &school).await,
                Route::Plans { school } => plans(records, id, &school).await,
                Route::Students { school, cycle } => students(records, &api.config, id, &school, &cycle, request).await,
                Route::Summary { school, cycle } => summary(records, id, &school, &cycle, request).await,
                Route::Student { school, cycle, student: control } => {
                    student(records, id, &school, &cycle, &control).await
                }
                Route::CycleJobs { school, cycle } => cycle_jobs(api, id, &school, &cycle, request).await,
                Route::Job { job: job_id } => job(api, id, &job_id, request).await,
            }
        })
    }
}

impl FunctionRoutes for Route {
    const FUNCTION: Function = Function::ListCertificates;
}

async fn schools(records: &(impl InstitutionStore + CreditStore), id: &Identity) -> Answer {
    let t = id.tenant();
    let institution = records.institution(t).await?;
    let credits = records.balance(t).await?;
    let mut schools = Vec::new();
    for school_id in id.visible_schools() {
        // Grants for schools that do not exist (any more) show nothing.
        if let Some(s) = records.school(t, school_id).await? {
            schools.push(json!({
                "id": s.id,
                "name": s.name,
                "campus": s.campus,
                "institutionType": institution.as_ref().map(|i| i.kind),
                "certificationMode": institution.as_ref().map(|i| i.mode),
                "creditsAvailable": credits.available,
            }));
        }
    }
    ok(json!({
        "institution": institution.as_ref().map(|i| json!({"id": i.id, "name": i.name})),
        "schools": schools,
    }))
}

async fn cycles(records: &impl InstitutionStore, id: &Identity, school: &str) -> Answer {
    id.require(school, Permission::Ver)?;
    let cycles = records.cycles(id.tenant(), school).await?;
    ok(json!({ "cycles": cycles.iter().map(|c| json!({"id": c.id, "name": c.name})).collect::<Vec<_>>() }))
}

async fn plans(records: &impl InstitutionStore, id: &Identity, school: &str) -> Answer {
    id.require(school, Permission::Ver)?;
    let plans = records.plans(id.tenant(), school).await?;
    ok(json!({ "plans": plans.iter().map(|p| json!({
        "id": p.id,
        "name": p.career.nombre,
        "clavePlan": p.clave_plan,
        "nivel": p.nivel.label(),
        "lastGrade": p.last_grade,
        "recognition": p.recognition,
        "subjects": p.subjects.len(),
        "totalCredits": p.total_credits.fixed2(),
    })).collect::<Vec<_>>() }))
}

/// The plans a list covers: the one asked for, or every plan of the school.
/// The group and search of a list's query.
fn group_and_search(q: &std::collections::HashMap<String, String>) -> (Option<String>, Option<String>) {
    (
        q.get("group").map(|g| g.trim().to_string()).filter(|g| !g.is_empty()),
        q.get("q").map(|s| roster::fold(s)).filter(|s| !s.is_empty()),
    )
}

fn date_param(name: &str, value: Option<&String>) -> Result<Option<NaiveDate>, Problem> {
    value
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                Problem::bad_request(
                    "fecha_invalida",
                    format!("«{v}» no es una fecha válida para {name}; use AAAA-MM-DD"),
                )
            })
        })
        .transpose()
}

async fn students(
    records: &(impl InstitutionStore + StudentStore),
    config: &Config,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let q = query(request, &["plan", "status", "issuedFrom", "issuedTo", "group", "q", "cursor", "limit"])?;
    let t = id.tenant();
    require_cycle(records, id, school, cycle).await?;
    let scope = plan_scope(records, t, school, q.get("plan")).await?;
    let status = status_filter(q.get("status").map(String::as_str))?;
    let (issued_from, issued_to) =
        (date_param("issuedFrom", q.get("issuedFrom"))?, date_param("issuedTo", q.get("issuedTo"))?);
    if let (Some(f), Some(to)) = (issued_from, issued_to)
        && f > to
    {
        return Err(Problem::bad_request(
            "rango_de_fechas",
            format!("issuedFrom ({f}) es posterior a issuedTo ({to})"),
        ));
    }
    let limit = limit(&q, config.default_page, roster::MAX_LIMIT)?;
    let scope_key = format!("{school}/{cycle}");
    let after = q.get("cursor").map(|c| config.cursor_key.open(t, &scope_key, c)).transpose()?;
    let (group, search) = group_and_search(&q);
    let filter = RosterFilter { plans: scope, status, issued_from, issued_to, group, search };
    let page = records.roster_page(t, school, cycle, &filter, after.as_deref(), limit).await?;
    let rows: Vec<Value> = page
        .rows
        .iter()
        .map(|r| {
            let (status, label) = match &r.certificate {
                Some(c) => (c.status.as_str(), c.status.label()),
                None => ("por_certificar", "Por certificar"),
            };
            json!({
                "matricula": r.student.control_number,
                "name": r.student.full_name,
                "group": r.student.group,
                "planId": r.student.plan_id,
                "status": status,
                "statusLabel": label,
                "gradesEdited": r.grades_edited(),
                "certificate": r.certificate.as_ref().map(certificate_json),
            })
        })
        .collect();
    let next = page.next.map(|p| config.cursor_key.seal(t, &scope_key, &p));
    ok(json!({ "students": rows, "nextCursor": next }))
}

/// `GET …/cycles/{cycle}/summary`: how many of the table's students (same
/// plan, group and search) are in each state, and the cycle's groups.
async fn summary(
    records: &(impl InstitutionStore + StudentStore),
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let q = query(request, &["plan", "group", "q"])?;
    let t = id.tenant();
    require_cycle(records, id, school, cycle).await?;
    let scope = plan_scope(records, t, school, q.get("plan")).await?;
    let (group, search) = group_and_search(&q);
    let filter =
        RosterFilter { plans: scope, status: StatusFilter::Todos, issued_from: None, issued_to: None, group, search };
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    let mut total = 0u64;
    let mut after: Option<String> = None;
    loop {
        let page = records.roster_page(t, school, cycle, &filter, after.as_deref(), roster::MAX_LIMIT).await?;
        for row in &page.rows {
            let status = row.certificate.as_ref().map_or("porCertificar", |c| match c.status {
                CertificateStatus::Sellado => "sellado",
                CertificateStatus::Timbrado => "timbrado",
                CertificateStatus::Error => "error",
                CertificateStatus::Cancelado => "cancelado",
            });
            *counts.entry(status).or_default() += 1;
            total += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    let groups = records.groups(t, school, cycle).await?;
    ok(json!({
        "total": total,
        "counts": {
            "porCertificar": count("porCertificar"),
            "sellado": count("sellado"),
            "timbrado": count("timbrado"),
            "error": count("error"),
            "cancelado": count("cancelado"),
        },
        "groups": groups,
    }))
}

async fn student(
    records: &(impl InstitutionStore + StudentStore + CertificateStore + AuditStore),
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let t = id.tenant();
    let record = require_student(records, id, school, cycle, control).await?;
    let s = &record.student;
    let plan = records.plan(t, school, &s.plan_id).await?;
    let history = records.student_certificates(t, school, cycle, control).await?;
    let audit = records.audit_of_student(t, school, cycle, control).await?;
    let summary = plan.as_ref().map(|p| rules::summarize(p, s));
    let subjects: Vec<Value> = plan
        .as_ref()
        .map(|p| {
            p.subjects
                .iter()
                .map(|subject| {
                    let grade = s.grades.iter().find(|g| g.subject_clave == subject.clave);
                    json!({
                        "clave": subject.clave,
                        "nombre": subject.nombre,
                        "grade": grade.map(|g| g.value.fixed2()),
                        "ciclo": grade.map(|g| g.ciclo.clone()),
                        "observacion": grade.map(|g| g.observacion.label()),
                        "observacionCode": grade.map(|g| g.observacion),
                        "approved": grade.map(|g| p.scale.approves(g.value)),
                        "configured": subject.certification.is_some(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let latest = roster::latest_certificate(&history, control);
    ok(json!({
        "matricula": s.control_number,
        "name": s.full_name(),
        "curp": s.curp,
        "gender": s.genero.map(|g| g.letter().to_string()),
        "birthDate": s.fecha_nacimiento,
        "emailPersonal": s.email_personal,
        "emailInstitucional": s.email_institucional,
        "group": s.group,
        "gradeLevel": s.grade_level,
        "active": s.active,
        "planId": s.plan_id,
        "planFound": plan.is_some(),
        "creditsObtained": summary.as_ref().map(|x| x.credits_obtained.fixed2()),
        "creditsTotal": summary.as_ref().map(|x| x.total_credits.fixed2()),
        "average": summary.as_ref().map(|x| x.average.fixed2()),
        "approved": summary.as_ref().map(|x| x.approved),
        "failed": summary.as_ref().map(|x| x.failed),
        "subjects": subjects,
        "gradesEdited": record.grades_edited || latest.is_some_and(|c| c.grades_edited),
        "version": record.version,
        "certificate": latest.map(certificate_json),
        "history": history.iter().map(certificate_json).collect::<Vec<_>>(),
        "audit": audit.iter().map(|e| json!({
            "at": e.at, "by": certifica_core::records::shown(&e.actor, e.actor_email.as_deref()), "actor": e.actor, "action": e.action.as_str(), "detail": e.detail, "certificateId": e.certificate_id,
        })).collect::<Vec<_>>(),
    }))
}

/// A job's results per page when the client does not say, and at most.
const RESULTS_PAGE: usize = 100;
const MAX_RESULTS_PAGE: usize = 500;
/// A cycle's jobs listed when the client does not say, and at most.
const JOBS_LISTED: usize = 20;
const MAX_JOBS_LISTED: usize = 100;

/// The query's `limit`, from 1 to `max` (`default` when not given).
fn limit(q: &std::collections::HashMap<String, String>, default: usize, max: usize) -> Result<usize, Problem> {
    match q.get("limit") {
        Some(l) => l.parse::<usize>().ok().filter(|l| (1..=max).contains(l)).ok_or_else(|| {
            Problem::bad_request(
                "limite_invalido",
                format!("limit debe ser un número entre 1 y {max} (llegó «{}»)", crate::request::excerpt(l)),
            )
        }),
        None => Ok(default),
    }
}

/// `GET /v1/jobs/{job}`: the job, its progress, and a page of results.
async fn job<X: Adapters>(api: &Api<X>, id: &Identity, job_id: &str, request: &Request<Bytes>) -> Answer {
    let q = query(request, &["cursor", "limit"])?;
    let job = visible_job(api, id, job_id).await?;
    let limit = limit(&q, RESULTS_PAGE, MAX_RESULTS_PAGE)?;
    let (t, scope) = (id.tenant(), format!("jobs/{job_id}"));
    let after = q.get("cursor").map(|c| api.config.cursor_key.open(t, &scope, c)).transpose()?;
    let (results, next) = api.records.results_page(t, &job.id, after.as_deref(), limit).await?;
    ok(json!({
        "job": job_json(&job),
        "results": results.iter().map(result_json).collect::<Vec<_>>(),
        "nextCursor": next.map(|n| api.config.cursor_key.seal(t, &scope, &n)),
    }))
}

/// `GET …/cycles/{cycle}/jobs`: the cycle's recent jobs the caller may
/// read (downloads with "ver"; the others with "timbrar"), newest first.
async fn cycle_jobs<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let q = query(request, &["limit"])?;
    let limit = limit(&q, JOBS_LISTED, MAX_JOBS_LISTED)?;
    require_cycle(&api.records, id, school, cycle).await?;
    let jobs = api.records.cycle_jobs(id.tenant(), school, cycle, limit).await?;
    let readable = jobs.iter().filter(|j| id.require(school, j.work.permission()).is_ok());
    ok(json!({ "jobs": readable.map(job_json).collect::<Vec<_>>() }))
}

//! Reads the routes share, each with the Spanish answer for what is
//! missing: the cycle, the student, their plan, the institution and school,
//! a student's current certificate, a stored document, and a cycle's
//! certificates page by page; the table's filters.

use crate::Problem;
use certifica_core::identity::Identity;
use certifica_core::model::{Institution, Plan, School};
use certifica_core::ports::{ArtifactStore, CertificateStore, InstitutionStore, StoreError, StudentStore};
use certifica_core::records::{CertificateRecord, StudentRecord, Tenant};
use certifica_core::roster::{self, PlanScope, StatusFilter};
use http::StatusCode;

/// The cycle must be one of the school's.
pub(crate) async fn require_cycle(
    records: &impl InstitutionStore,
    id: &Identity,
    school: &str,
    cycle: &str,
) -> Result<(), Problem> {
    let cycles = records.cycles(id.tenant(), school).await?;
    if cycles.iter().any(|c| c.id == cycle) {
        Ok(())
    } else {
        Err(Problem::not_found("ciclo_no_encontrado", format!("la escuela {school} no tiene el ciclo {cycle}")))
    }
}

/// The student, or a 404 naming where it was looked for.
pub(crate) async fn require_student(
    records: &impl StudentStore,
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
) -> Result<StudentRecord, Problem> {
    records.student(id.tenant(), school, cycle, control).await?.ok_or_else(|| {
        Problem::not_found(
            "alumno_no_encontrado",
            format!("no existe el alumno {control} en la escuela {school}, ciclo {cycle}"),
        )
    })
}

/// The student's plan, which must exist to work with their grades.
pub(crate) async fn require_plan_of(
    records: &impl InstitutionStore,
    id: &Identity,
    school: &str,
    record: &StudentRecord,
) -> Result<Plan, Problem> {
    records.plan(id.tenant(), school, &record.student.plan_id).await?.ok_or_else(|| {
        Problem::unprocessable("plan_no_encontrado", format!("el plan {} del alumno no existe", record.student.plan_id))
    })
}

/// The caller's institution and the school, or why certificates cannot be made there.
pub(crate) async fn institution_and_school(
    records: &impl InstitutionStore,
    t: &Tenant,
    school_id: &str,
) -> Result<(Institution, School), Problem> {
    let institution = records.institution(t).await?.ok_or_else(|| {
        Problem::unprocessable(
            "institucion_no_configurada",
            "la institución no está configurada; cárguela antes de emitir",
        )
    })?;
    let school = require_school(records, t, school_id).await?;
    Ok((institution, school))
}

/// The school, or a 404.
pub(crate) async fn require_school(
    records: &impl InstitutionStore,
    t: &Tenant,
    school_id: &str,
) -> Result<School, Problem> {
    records
        .school(t, school_id)
        .await?
        .ok_or_else(|| Problem::not_found("escuela_no_encontrada", format!("no existe la escuela {school_id}")))
}

/// The student's current certificate in the cycle (the latest), or a 404.
pub(crate) async fn latest_certificate(
    records: &impl CertificateStore,
    t: &Tenant,
    school: &str,
    cycle: &str,
    control: &str,
) -> Result<CertificateRecord, Problem> {
    let history = records.student_certificates(t, school, cycle, control).await?;
    roster::latest_certificate(&history, control).cloned().ok_or_else(|| {
        Problem::not_found("sin_certificado", format!("el alumno {control} no tiene certificado en el ciclo {cycle}"))
    })
}

/// A stored document, which must exist.
pub(crate) async fn document(artifacts: &impl ArtifactStore, t: &Tenant, key: &str) -> Result<Vec<u8>, Problem> {
    artifacts
        .get(t, key)
        .await?
        .ok_or_else(|| Problem::new(StatusCode::CONFLICT, "documento_faltante", format!("falta el documento {key}")))
}

/// A school and cycle's certificates in matrícula order, a page at a time
/// (`while let Some(page) = pages.next().await? { … }`).
pub(crate) struct CyclePages<'a, S> {
    records: &'a S,
    tenant: &'a Tenant,
    school: &'a str,
    cycle: &'a str,
    size: usize,
    /// Where the next page starts; `None` once the last page was read.
    next: Option<Option<String>>,
}

impl<'a, S: CertificateStore> CyclePages<'a, S> {
    pub(crate) fn new(records: &'a S, tenant: &'a Tenant, school: &'a str, cycle: &'a str, size: usize) -> Self {
        CyclePages { records, tenant, school, cycle, size, next: Some(None) }
    }

    pub(crate) async fn next(&mut self) -> Result<Option<Vec<CertificateRecord>>, StoreError> {
        let Some(after) = self.next.take() else { return Ok(None) };
        let (page, next) =
            self.records.certificates_page(self.tenant, self.school, self.cycle, after.as_deref(), self.size).await?;
        self.next = next.map(Some);
        Ok(Some(page))
    }
}

/// The plans a table's `plan` filter means: that one, or every plan of the school.
pub(crate) async fn plan_scope(
    records: &impl InstitutionStore,
    t: &Tenant,
    school: &str,
    plan: Option<&String>,
) -> Result<Vec<PlanScope>, Problem> {
    let plans = records.plans(t, school).await?;
    Ok(match plan {
        Some(plan) => {
            let p = plans.iter().find(|p| &p.id == plan).ok_or_else(|| {
                Problem::not_found("plan_no_encontrado", format!("la escuela {school} no tiene el plan {plan}"))
            })?;
            vec![PlanScope { plan_id: p.id.clone(), last_grade: p.last_grade }]
        }
        None => plans.iter().map(|p| PlanScope { plan_id: p.id.clone(), last_grade: p.last_grade }).collect(),
    })
}

/// A table's `status` filter (`todos` when not given).
pub(crate) fn status_filter(status: Option<&str>) -> Result<StatusFilter, Problem> {
    match status {
        Some(s) => StatusFilter::parse(s).ok_or_else(|| {
            Problem::bad_request(
                "estado_invalido",
                format!(
                    "el estado «{}» no existe; use por_certificar, sellado, timbrado, error, cancelado o todos",
                    crate::request::excerpt(s)
                ),
            )
        }),
        None => Ok(StatusFilter::Todos),
    }
}

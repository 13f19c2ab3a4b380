//! The records routes: schools, cycles, plans, the students table, a
//! student's data, loading plans and students, editing grades, and the
//! public verification of a folio.

use crate::problem::{Problem, json_response};
use crate::request::{json_body, query};
use crate::{Adapters, Api};
use bytes::Bytes;
use certifica_core::identity::{Identity, Permission};
use certifica_core::model::{Grade, Plan, Student};
use certifica_core::ports::{AuditStore, CertificateStore, CreditStore, InstitutionStore, StudentStore};
use certifica_core::records::{CertificateRecord, CertificateStatus, Cycle, StudentRecord, check_control_number};
use certifica_core::roster::{self, PlanScope, RosterFilter, StatusFilter};
use certifica_core::rules;
use chrono::NaiveDate;
use http::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

type Answer = Result<Response<Bytes>, Problem>;

/// Students per import request.
pub const MAX_IMPORT: usize = 5_000;

fn ok(value: Value) -> Answer {
    Ok(json_response(StatusCode::OK, &value))
}

fn certificate_json(c: &CertificateRecord) -> Value {
    json!({
        "id": c.id,
        "status": c.status.as_str(),
        "statusLabel": c.status.label(),
        "folioControl": c.folio_control,
        "folioDigital": c.folio_digital,
        "issueDate": c.issue_date,
        "stampedAt": c.stamped_at,
        "gradesEdited": c.grades_edited,
        "lastError": c.last_error,
        "cancellation": c.cancellation.as_ref().map(|x| json!({
            "motive": x.motive.code(),
            "motiveLabel": x.motive.label(),
            "reason": x.reason,
            "by": x.by,
            "at": x.at,
        })),
        "version": c.version,
    })
}

pub(crate) async fn require_cycle<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
) -> Result<(), Problem> {
    let cycles = api.records.cycles(id.tenant(), school).await?;
    if cycles.iter().any(|c| c.id == cycle) {
        Ok(())
    } else {
        Err(Problem::not_found("ciclo_no_encontrado", format!("la escuela {school} no tiene el ciclo {cycle}")))
    }
}

/// The student, or a 404 naming where it was looked for.
pub(crate) async fn require_student<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
) -> Result<StudentRecord, Problem> {
    api.records.student(id.tenant(), school, cycle, control).await?.ok_or_else(|| {
        Problem::not_found(
            "alumno_no_encontrado",
            format!("no existe el alumno {control} en la escuela {school}, ciclo {cycle}"),
        )
    })
}

/// The student's plan, which must exist to work with their grades.
pub(crate) async fn require_plan_of<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    record: &StudentRecord,
) -> Result<Plan, Problem> {
    api.records.plan(id.tenant(), school, &record.student.plan_id).await?.ok_or_else(|| {
        Problem::unprocessable("plan_no_encontrado", format!("el plan {} del alumno no existe", record.student.plan_id))
    })
}

pub async fn schools<X: Adapters>(api: &Api<X>, id: &Identity) -> Answer {
    let t = id.tenant();
    let institution = api.records.institution(t).await?;
    let credits = api.records.balance(t).await?;
    let mut schools = Vec::new();
    for school_id in id.visible_schools() {
        // Grants for schools that do not exist (any more) show nothing.
        if let Some(s) = api.records.school(t, school_id).await? {
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

pub async fn cycles<X: Adapters>(api: &Api<X>, id: &Identity, school: &str) -> Answer {
    id.require(school, Permission::Ver)?;
    let cycles = api.records.cycles(id.tenant(), school).await?;
    ok(json!({ "cycles": cycles.iter().map(|c| json!({"id": c.id, "name": c.name})).collect::<Vec<_>>() }))
}

pub async fn plans<X: Adapters>(api: &Api<X>, id: &Identity, school: &str) -> Answer {
    id.require(school, Permission::Ver)?;
    let plans = api.records.plans(id.tenant(), school).await?;
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

pub async fn students<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let q = query(request, &["plan", "status", "issuedFrom", "issuedTo", "group", "q", "cursor", "limit"])?;
    let t = id.tenant();
    require_cycle(api, id, school, cycle).await?;
    let plans = api.records.plans(t, school).await?;
    let scope: Vec<PlanScope> = match q.get("plan") {
        Some(plan) => {
            let p = plans.iter().find(|p| &p.id == plan).ok_or_else(|| {
                Problem::not_found("plan_no_encontrado", format!("la escuela {school} no tiene el plan {plan}"))
            })?;
            vec![PlanScope { plan_id: p.id.clone(), last_grade: p.last_grade }]
        }
        None => plans.iter().map(|p| PlanScope { plan_id: p.id.clone(), last_grade: p.last_grade }).collect(),
    };
    let status = match q.get("status") {
        Some(s) => StatusFilter::parse(s).ok_or_else(|| {
            Problem::bad_request(
                "estado_invalido",
                format!("el estado «{s}» no existe; use por_certificar, sellado, timbrado, error, cancelado o todos"),
            )
        })?,
        None => StatusFilter::Todos,
    };
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
    let limit = match q.get("limit") {
        Some(l) => l.parse::<usize>().ok().filter(|l| (1..=roster::MAX_LIMIT).contains(l)).ok_or_else(|| {
            Problem::bad_request(
                "limite_invalido",
                format!("limit debe ser un número entre 1 y {} (llegó «{l}»)", roster::MAX_LIMIT),
            )
        })?,
        None => api.config.default_page,
    };
    let scope_key = format!("{school}/{cycle}");
    let after = q.get("cursor").map(|c| api.config.cursor_key.open(t, &scope_key, c)).transpose()?;
    let filter = RosterFilter {
        plans: scope,
        status,
        issued_from,
        issued_to,
        group: q.get("group").map(|g| g.trim().to_string()).filter(|g| !g.is_empty()),
        search: q.get("q").map(|s| roster::fold(s)).filter(|s| !s.is_empty()),
    };
    let page = api.records.roster_page(t, school, cycle, &filter, after.as_deref(), limit).await?;
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
    let next = page.next.map(|p| api.config.cursor_key.seal(t, &scope_key, &p));
    ok(json!({ "students": rows, "nextCursor": next }))
}

pub async fn student<X: Adapters>(api: &Api<X>, id: &Identity, school: &str, cycle: &str, control: &str) -> Answer {
    id.require(school, Permission::Ver)?;
    let t = id.tenant();
    let record = require_student(api, id, school, cycle, control).await?;
    let s = &record.student;
    let plan = api.records.plan(t, school, &s.plan_id).await?;
    let history = api.records.student_certificates(t, school, cycle, control).await?;
    let audit = api.records.audit_of_student(t, school, cycle, control).await?;
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
            "at": e.at, "by": e.actor, "action": e.action.as_str(), "detail": e.detail, "certificateId": e.certificate_id,
        })).collect::<Vec<_>>(),
    }))
}

pub async fn put_plan<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    plan_id: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Editar)?;
    let mut body: serde_json::Map<String, Value> = json_body(request)?;
    // The plan's identity is the path; a body naming another one is a mistake.
    for (field, expected) in [("id", plan_id), ("schoolId", school)] {
        match body.get(field) {
            Some(Value::String(v)) if v != expected => {
                return Err(Problem::unprocessable(
                    "identificador_distinto",
                    format!("el campo «{field}» ({v}) no coincide con la ruta ({expected})"),
                ));
            }
            _ => {
                body.insert(field.to_string(), Value::String(expected.to_string()));
            }
        }
    }
    let plan: Plan = serde_json::from_value(Value::Object(body))
        .map_err(|e| Problem::bad_request("plan_invalido", format!("el plan no es válido: {e}")))?;
    let problems = plan_problems(&plan);
    if !problems.is_empty() {
        return Err(Problem::unprocessable(
            "plan_invalido",
            format!("el plan {plan_id} tiene {} problema(s)", problems.len()),
        )
        .with("problems", json!(problems)));
    }
    api.records.put_plan(id.tenant(), &plan).await?;
    ok(json!({ "id": plan.id, "subjects": plan.subjects.len() }))
}

/// What makes a plan unusable before any student is checked against it.
fn plan_problems(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if plan.scale.min > plan.scale.max || plan.scale.passing < plan.scale.min || plan.scale.passing > plan.scale.max {
        out.push(format!(
            "la escala ({} a {}, aprobatoria {}) no es coherente",
            plan.scale.min, plan.scale.max, plan.scale.passing
        ));
    }
    if plan.last_grade == 0 {
        out.push("lastGrade debe ser 1 o mayor".into());
    }
    let mut claves = std::collections::BTreeSet::new();
    for s in &plan.subjects {
        if s.clave.trim().is_empty() {
            out.push(format!("la materia «{}» no tiene clave", s.nombre));
        } else if !claves.insert(s.clave.as_str()) {
            out.push(format!("la clave de materia {} está repetida", s.clave));
        }
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportStudents {
    /// The cycle's display name, when the import creates it.
    cycle_name: Option<String>,
    students: Vec<Student>,
}

pub async fn import_students<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Editar)?;
    let is_csv = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/csv"));
    let body: ImportStudents = if is_csv {
        let students = crate::csv_import::students(request.body()).map_err(|problems| {
            Problem::unprocessable(
                "csv_invalido",
                format!("el CSV tiene {} problema(s); no se importó nada", problems.len()),
            )
            .with("problems", json!(problems))
        })?;
        // A CSV carries no grades: existing students keep theirs.
        let mut with_grades = Vec::with_capacity(students.len());
        for mut s in students {
            if let Some(existing) = api.records.student(id.tenant(), school, cycle, &s.control_number).await? {
                s.grades = existing.student.grades;
            }
            with_grades.push(s);
        }
        ImportStudents { cycle_name: None, students: with_grades }
    } else {
        json_body(request)?
    };
    if body.students.is_empty() || body.students.len() > MAX_IMPORT {
        return Err(Problem::unprocessable(
            "importacion_vacia_o_grande",
            format!("envíe de 1 a {MAX_IMPORT} alumnos por solicitud (llegaron {})", body.students.len()),
        ));
    }
    let t = id.tenant();
    let plans = api.records.plans(t, school).await?;
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in body.students.iter().enumerate() {
        if let Err(e) = check_control_number(&s.control_number) {
            problems.push(json!({"index": i, "matricula": s.control_number, "detail": e}));
        } else if !seen.insert(s.control_number.as_str()) {
            problems.push(json!({"index": i, "matricula": s.control_number, "detail": "la matrícula está repetida en la importación"}));
        }
        if !plans.iter().any(|p| p.id == s.plan_id) {
            problems.push(json!({"index": i, "matricula": s.control_number,
                "detail": format!("el plan {} no existe en la escuela {school}; cárguelo antes", s.plan_id)}));
        }
    }
    if !problems.is_empty() {
        // Nothing is written when any student is wrong: fix and resend the whole file.
        return Err(Problem::unprocessable(
            "importacion_invalida",
            format!("{} alumno(s) con problemas; no se importó nada", problems.len()),
        )
        .with("problems", Value::Array(problems)));
    }
    if !api.records.cycles(t, school).await?.iter().any(|c| c.id == cycle) {
        let name = body.cycle_name.clone().unwrap_or_else(|| cycle.to_string());
        api.records.put_cycle(t, &Cycle { id: cycle.to_string(), school_id: school.to_string(), name }).await?;
    }
    api.records.put_students(t, school, cycle, &body.students).await?;
    ok(json!({ "imported": body.students.len() }))
}

/// Checks `grades` against the student's plan: known subjects, within the scale, with a cycle.
fn grade_problems(plan: &Plan, grades: &[Grade]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for g in grades {
        if !plan.subjects.iter().any(|s| s.clave == g.subject_clave) {
            out.push(format!("la materia {} no pertenece al plan {}", g.subject_clave, plan.id));
        }
        if !seen.insert(g.subject_clave.as_str()) {
            out.push(format!("la materia {} aparece más de una vez", g.subject_clave));
        }
        if !plan.scale.contains(g.value) {
            out.push(format!(
                "la calificación {} de {} está fuera de la escala ({} a {})",
                g.value, g.subject_clave, plan.scale.min, plan.scale.max
            ));
        }
        if g.ciclo.trim().is_empty() {
            out.push(format!("falta el ciclo en que se cursó {}", g.subject_clave));
        }
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EditGrades {
    /// The student's version as last read (from "Ver datos").
    version: u64,
    grades: Vec<Grade>,
}

/// Whether the student's certificate still allows editing (nothing issued,
/// or the last one cancelled).
async fn editable<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
) -> Result<(), String> {
    let history =
        api.records.student_certificates(id.tenant(), school, cycle, control).await.map_err(|e| e.to_string())?;
    match roster::latest_certificate(&history, control) {
        Some(c) if c.status != CertificateStatus::Cancelado => Err(format!(
            "el alumno {control} ya tiene un certificado {}; cancélelo antes de editar sus calificaciones",
            c.status.label().to_lowercase()
        )),
        _ => Ok(()),
    }
}

pub async fn edit_grades<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
    request: &Request<Bytes>,
    request_id: &str,
) -> Answer {
    id.require(school, Permission::Editar)?;
    let body: EditGrades = json_body(request)?;
    let t = id.tenant();
    let record = require_student(api, id, school, cycle, control).await?;
    let plan = require_plan_of(api, id, school, &record).await?;
    let problems = grade_problems(&plan, &body.grades);
    if !problems.is_empty() {
        return Err(Problem::unprocessable(
            "calificaciones_invalidas",
            "las calificaciones no son válidas para el plan",
        )
        .with("problems", json!(problems)));
    }
    editable(api, id, school, cycle, control)
        .await
        .map_err(|d| Problem::new(StatusCode::CONFLICT, "certificado_vigente", d))?;
    let updated = api
        .records
        .edit_grades(t, school, cycle, control, body.version, body.grades, &id.actor(request_id))
        .await
        .map_err(|e| match e {
            certifica_core::ports::StoreError::Conflict => Problem::new(
                StatusCode::CONFLICT,
                "version_desactualizada",
                "los datos del alumno cambiaron desde que los consultó; vuelva a abrir «Ver datos» y repita el cambio",
            ),
            other => other.into(),
        })?;
    ok(json!({ "matricula": control, "version": updated.version, "gradesEdited": updated.grades_edited }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BulkGrades {
    students: Vec<String>,
    /// Set (or replace) these subjects' grades; other subjects are kept.
    grades: Vec<Grade>,
}

pub async fn bulk_grades<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
    request_id: &str,
) -> Answer {
    id.require(school, Permission::Editar)?;
    let body: BulkGrades = json_body(request)?;
    let mut selected = body.students.clone();
    selected.sort();
    selected.dedup();
    if selected.len() < 2 {
        return Err(Problem::unprocessable(
            "seleccion_insuficiente",
            "seleccione dos o más alumnos para aplicar calificaciones en bloque; para uno solo edite sus calificaciones",
        ));
    }
    if selected.len() > crate::records::MAX_IMPORT || body.grades.is_empty() {
        return Err(Problem::unprocessable("datos_en_bloque", "envíe al menos una calificación y hasta 5,000 alumnos"));
    }
    let t = id.tenant();
    let actor = id.actor(request_id);
    let mut results = Vec::new();
    for control in &selected {
        let outcome: Result<u64, String> = async {
            let record = api
                .records
                .student(t, school, cycle, control)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no existe el alumno {control}"))?;
            let plan = api
                .records
                .plan(t, school, &record.student.plan_id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("el plan {} del alumno no existe", record.student.plan_id))?;
            let problems = grade_problems(&plan, &body.grades);
            if !problems.is_empty() {
                return Err(problems.join("; "));
            }
            editable(api, id, school, cycle, control).await?;
            let mut grades = record.student.grades.clone();
            for g in &body.grades {
                grades.retain(|x| x.subject_clave != g.subject_clave);
                grades.push(g.clone());
            }
            api.records
                .edit_grades(t, school, cycle, control, record.version, grades, &actor)
                .await
                .map(|r| r.version)
                .map_err(|e| e.to_string())
        }
        .await;
        results.push(match outcome {
            Ok(version) => json!({"matricula": control, "ok": true, "version": version}),
            Err(detail) => json!({"matricula": control, "ok": false, "detail": detail}),
        });
    }
    let applied = results.iter().filter(|r| r["ok"] == json!(true)).count();
    ok(json!({ "applied": applied, "results": results }))
}

/// "A** N**** R***": initials kept, the rest hidden.
fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            first + &"*".repeat(chars.count())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn verify<X: Adapters>(api: &Api<X>, folio: &str) -> Answer {
    let well_formed =
        !folio.is_empty() && folio.len() <= 64 && folio.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !well_formed {
        return Err(Problem::bad_request("folio_invalido", format!("«{folio}» no tiene la forma de un folio digital")));
    }
    let Some((tenant, c)) = api.records.by_folio(folio).await? else {
        return Err(Problem::not_found("folio_desconocido", format!("no existe un certificado con el folio {folio}"))
            .with("status", json!("desconocido")));
    };
    let institution = api.records.institution(&tenant).await?;
    let school = api.records.school(&tenant, &c.school_id).await?;
    let holder = api.records.student(&tenant, &c.school_id, &c.cycle_id, &c.control_number).await?;
    let status = match c.status {
        CertificateStatus::Cancelado => "cancelado",
        CertificateStatus::Timbrado => "valido",
        // A folio exists only once stamped; anything else is not a valid certificate.
        _ => "desconocido",
    };
    ok(json!({
        "status": status,
        "folioDigital": folio,
        "institution": institution.map(|i| i.name),
        "school": school.map(|s| s.name),
        "holder": holder.map(|h| mask_name(&h.student.full_name())),
        "issueDate": c.issue_date,
        "cancelledAt": c.cancellation.as_ref().map(|x| x.at),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_masked_to_initials() {
        assert_eq!(super::mask_name("Ana  Núñez Ruiz"), "A** N**** R***");
    }
}

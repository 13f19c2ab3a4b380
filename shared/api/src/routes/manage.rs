//! `manage-records`: loading plans and students (JSON, or CSV for
//! students), editing a student's grades for certification, and applying
//! grade data to several students at once.

use super::ok;
use crate::batch::{self, Selects};
use crate::lookup::{require_plan_of, require_student};
use crate::outcome::{Outcome, Status, StudentProblem};
use crate::request::json_body;
use crate::router::{self, Answer, Caller, Function, FunctionRoutes, Routes};
use crate::{Adapters, Api, Problem};
use bytes::Bytes;
use certifica_core::identity::{Identity, Permission};
use certifica_core::model::{Grade, Plan, Student};
use certifica_core::ports::{CertificateStore, InstitutionStore, StoreError, StudentStore};
use certifica_core::records::{Actor, CertificateStatus, Cycle, check_control_number};
use certifica_core::roster;
use futures_util::future::BoxFuture;
use http::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

/// Students per import request.
pub const MAX_IMPORT: usize = 5_000;
/// Students per bulk-grades request: each is a read and a conditional write
/// with its audit (≈ 3 DynamoDB calls, 10–30 ms in AWS), so 500 finish in
/// well under the HTTP API's 29 s; the web client sends larger selections in
/// parts.
pub const MAX_BULK_STUDENTS: usize = 500;
/// Grades per bulk-grades request (a plan's subjects; SEP plans have far fewer).
pub const MAX_BULK_GRADES: usize = 200;

/// The routes of `manage-records`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    PutPlan { school: String, plan: String },
    ImportStudents { school: String, cycle: String },
    EditGrades { school: String, cycle: String, student: String },
    BulkGrades { school: String, cycle: String },
}

impl Routes for Route {
    fn of(route: router::Route) -> Option<Self> {
        match route {
            router::Route::Manage(r) => Some(r),
            _ => None,
        }
    }

    fn writes(&self) -> Option<(&str, Permission)> {
        match self {
            Route::PutPlan { school, .. }
            | Route::ImportStudents { school, .. }
            | Route::EditGrades { school, .. }
            | Route::BulkGrades { school, .. } => Some((school, Permission::Editar)),
        }
    }

    fn answer<'a, X: Adapters>(
        self,
        api: &'a Api<X>,
        request: &'a Request<Bytes>,
        caller: Caller<'a>,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let id = caller.identity()?;
            let (records, actor) = (&api.records, || id.actor(caller.request_id));
            match self {
                Route::PutPlan { school, plan } => put_plan(records, id, &school, &plan, request).await,
                Route::ImportStudents { school, cycle } => {
                    import_students(records, id, &school, &cycle, request, &actor()).await
                }
                Route::EditGrades { school, cycle, student } => {
                    edit_grades(records, id, &school, &cycle, &student, request, &actor()).await
                }
                Route::BulkGrades { school, cycle } => {
                    bulk_grades(records, id, &school, &cycle, request, &actor()).await
                }
            }
        })
    }
}

impl FunctionRoutes for Route {
    const FUNCTION: Function = Function::ManageRecords;
}

async fn put_plan(
    records: &impl InstitutionStore,
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
    records.put_plan(id.tenant(), &plan).await?;
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

async fn import_students(
    records: &(impl InstitutionStore + StudentStore + CertificateStore),
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
    actor: &Actor,
) -> Answer {
    id.require(school, Permission::Editar)?;
    let is_csv = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/csv"));
    let body: ImportStudents = if is_csv {
        let students = crate::csv_import::students(request.body(), MAX_IMPORT).map_err(|problems| {
            Problem::unprocessable(
                "csv_invalido",
                format!("el CSV tiene {} problema(s); no se importó nada", problems.len()),
            )
            .with("problems", json!(problems))
        })?;
        // A CSV carries no grades: existing students keep theirs.
        let mut with_grades = Vec::with_capacity(students.len());
        for mut s in students {
            if let Some(existing) = records.student(id.tenant(), school, cycle, &s.control_number).await? {
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
    let plans = records.plans(t, school).await?;
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
    if !records.cycles(t, school).await?.iter().any(|c| c.id == cycle) {
        let name = body.cycle_name.clone().unwrap_or_else(|| cycle.to_string());
        records.put_cycle(t, &Cycle { id: cycle.to_string(), school_id: school.to_string(), name }).await?;
    }
    let report = crate::importing::import_students(records, t, school, cycle, body.students, actor).await?;
    let imported = report.created + report.updated + report.unchanged;
    ok(json!({
        "imported": imported,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "refused": report.refused,
    }))
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

/// Whether the student's grades may change: not while a Sellado or
/// Timbrado certificate states them (cancel it first); nothing issued, the
/// last one cancelled, or one the authority refused (Error: correct, then
/// retry) may be edited. `Err` with why not.
async fn editable(
    records: &impl CertificateStore,
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
) -> Result<Result<(), String>, StoreError> {
    let history = records.student_certificates(id.tenant(), school, cycle, control).await?;
    Ok(match roster::latest_certificate(&history, control) {
        Some(c) if matches!(c.status, CertificateStatus::Sellado | CertificateStatus::Timbrado) => Err(format!(
            "el alumno {control} ya tiene un certificado {}; cancélelo antes de editar sus calificaciones",
            c.status.label().to_lowercase()
        )),
        _ => Ok(()),
    })
}

async fn edit_grades(
    records: &(impl InstitutionStore + StudentStore + CertificateStore),
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
    request: &Request<Bytes>,
    actor: &Actor,
) -> Answer {
    id.require(school, Permission::Editar)?;
    let body: EditGrades = json_body(request)?;
    let t = id.tenant();
    let record = require_student(records, id, school, cycle, control).await?;
    let plan = require_plan_of(records, id, school, &record).await?;
    let problems = grade_problems(&plan, &body.grades);
    if !problems.is_empty() {
        return Err(Problem::unprocessable(
            "calificaciones_invalidas",
            "las calificaciones no son válidas para el plan",
        )
        .with("problems", json!(problems)));
    }
    editable(records, id, school, cycle, control)
        .await?
        .map_err(|d| Problem::new(StatusCode::CONFLICT, "certificado_vigente", d))?;
    let updated = records.edit_grades(t, school, cycle, control, body.version, body.grades, actor).await.map_err(
        |e| match e {
            StoreError::Conflict => Problem::new(
                StatusCode::CONFLICT,
                "version_desactualizada",
                "los datos del alumno cambiaron desde que los consultó; vuelva a abrir «Ver datos» y repita el cambio",
            ),
            other => other.into(),
        },
    )?;
    ok(json!({ "matricula": control, "version": updated.version, "gradesEdited": updated.grades_edited }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BulkGrades {
    students: Vec<String>,
    /// Set (or replace) these subjects' grades; other subjects are kept.
    grades: Vec<Grade>,
}

impl Selects for BulkGrades {
    fn students(&self) -> &[String] {
        &self.students
    }
}

async fn bulk_grades(
    records: &(impl InstitutionStore + StudentStore + CertificateStore),
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
    actor: &Actor,
) -> Answer {
    let (body, selected) = batch::read::<BulkGrades>(id, school, Permission::Editar, request, |s| {
        if s.len() < 2 {
            return Err(Problem::unprocessable(
                "seleccion_insuficiente",
                "seleccione dos o más alumnos para aplicar calificaciones en bloque; para uno solo edite sus calificaciones",
            ));
        }
        Ok(())
    })?;
    if selected.len() > MAX_BULK_STUDENTS {
        return Err(Problem::unprocessable(
            "seleccion_demasiado_grande",
            format!(
                "se seleccionaron {} alumnos; aplique calificaciones en bloque a {MAX_BULK_STUDENTS} como máximo por solicitud",
                selected.len()
            ),
        ));
    }
    if body.grades.is_empty() || body.grades.len() > MAX_BULK_GRADES {
        return Err(Problem::unprocessable(
            "datos_en_bloque",
            format!("envíe de 1 a {MAX_BULK_GRADES} calificaciones (llegaron {})", body.grades.len()),
        ));
    }
    let mut outcomes = Vec::new();
    for control in &selected {
        outcomes.push(match apply_grades(records, id, school, cycle, control, &body.grades, actor).await {
            Ok(version) => Outcome { version: Some(version), ..Outcome::done(control, Status::Aplicado, None) },
            Err(detail) => {
                Outcome::refused(control, Status::Rechazado, vec![StudentProblem::new("no_aplicado", detail)])
            }
        });
    }
    let applied = outcomes.iter().filter(|o| o.status == Status::Aplicado).count();
    let results: Vec<Value> = outcomes
        .iter()
        .map(|o| match (o.status, o.problem()) {
            (Status::Aplicado, _) => json!({"matricula": o.matricula, "ok": true, "version": o.version}),
            (_, p) => json!({"matricula": o.matricula, "ok": false, "detail": p.map(|p| p.detail.as_str())}),
        })
        .collect();
    ok(json!({ "applied": applied, "results": results }))
}

/// Sets `grades` on one student's record (other subjects kept); the new version, or why not.
async fn apply_grades(
    records: &(impl InstitutionStore + StudentStore + CertificateStore),
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
    grades: &[Grade],
    actor: &Actor,
) -> Result<u64, String> {
    let t = id.tenant();
    let record = records
        .student(t, school, cycle, control)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no existe el alumno {control}"))?;
    let plan = records
        .plan(t, school, &record.student.plan_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("el plan {} del alumno no existe", record.student.plan_id))?;
    let problems = grade_problems(&plan, grades);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    editable(records, id, school, cycle, control).await.map_err(|e| e.to_string())??;
    let mut updated = record.student.grades.clone();
    for g in grades {
        updated.retain(|x| x.subject_clave != g.subject_clave);
        updated.push(g.clone());
    }
    records
        .edit_grades(t, school, cycle, control, record.version, updated, actor)
        .await
        .map(|r| r.version)
        .map_err(|e| e.to_string())
}

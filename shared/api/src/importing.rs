//! Importing students, apart from HTTP. New students are created; a change
//! to an existing one is written with its audit entry (old → new); values a
//! certificate states (names, CURP, gender, birth date, plan, grades) are
//! not changed while a Sellado or Timbrado certificate states them — that
//! student is refused, nothing of it imported — and are corrected, flagged
//! "calificaciones editadas" when grades change, for a certificate the
//! authority refused (Error), which a retry then seals again.

use certifica_core::model::Student;
use certifica_core::ports::{CertificateStore, StoreError, StudentStore};
use certifica_core::records::{Actor, AuditAction, CertificateStatus, StudentUpdate, Tenant, student_changes};
use certifica_core::roster;
use futures_util::StreamExt;
use serde::Serialize;

/// Students read or written at once.
const CONCURRENCY: usize = 8;

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Students not imported, each with why.
    pub refused: Vec<Refusal>,
}

#[derive(Debug, Serialize)]
pub struct Refusal {
    pub matricula: String,
    pub code: &'static str,
    pub detail: String,
}

enum Step {
    Unchanged,
    Updated,
    Refused(Refusal),
}

/// Imports `students` (validated: distinct matrículas, known plans) into a school's cycle.
pub async fn import_students<R: StudentStore + CertificateStore>(
    records: &R,
    t: &Tenant,
    school: &str,
    cycle: &str,
    students: Vec<Student>,
    by: &Actor,
) -> Result<ImportReport, StoreError> {
    // Futures collected first: a closure inside the stream would make the handler's future lose `Send`.
    let reads: Vec<_> = students.iter().map(|s| records.student(t, school, cycle, &s.control_number)).collect();
    let existing: Vec<_> = futures_util::stream::iter(reads).buffered(CONCURRENCY).collect().await;
    let mut new = Vec::new();
    let mut changed = Vec::new();
    for (student, old) in students.into_iter().zip(existing) {
        match old? {
            None => new.push(student),
            Some(old) => changed.push((old, student)),
        }
    }
    let mut report = ImportReport { created: new.len(), ..ImportReport::default() };
    if !new.is_empty() {
        records.put_students(t, school, cycle, &new).await?;
    }
    let updates: Vec<_> =
        changed.into_iter().map(|(old, student)| update_one(records, t, school, cycle, old, student, by)).collect();
    let steps: Vec<_> = futures_util::stream::iter(updates).buffered(CONCURRENCY).collect().await;
    for step in steps {
        match step? {
            Step::Unchanged => report.unchanged += 1,
            Step::Updated => report.updated += 1,
            Step::Refused(r) => report.refused.push(r),
        }
    }
    Ok(report)
}

async fn update_one<R: StudentStore + CertificateStore>(
    records: &R,
    t: &Tenant,
    school: &str,
    cycle: &str,
    old: certifica_core::records::StudentRecord,
    student: Student,
    by: &Actor,
) -> Result<Step, StoreError> {
    let changes = student_changes(&old.student, &student);
    if changes.is_empty() {
        return Ok(Step::Unchanged);
    }
    let matricula = student.control_number.clone();
    let mut correcting = false;
    if !changes.certified.is_empty() {
        let history = records.student_certificates(t, school, cycle, &matricula).await?;
        let current = roster::latest_certificate(&history, &matricula).filter(|c| c.status.is_active());
        match current.map(|c| c.status) {
            Some(status @ (CertificateStatus::Sellado | CertificateStatus::Timbrado)) => {
                return Ok(Step::Refused(Refusal {
                    matricula: matricula.clone(),
                    code: "datos_certificados",
                    detail: format!(
                        "el alumno {matricula} tiene un certificado {} con sus datos actuales: cancele el certificado \
                         antes de cambiar sus datos certificados (la importación trae {}); no se importó nada de este alumno",
                        status.label().to_lowercase(),
                        changes.certified.join("; ")
                    ),
                }));
            }
            Some(CertificateStatus::Error) => correcting = true,
            _ => {}
        }
    }
    let update = StudentUpdate {
        action: if changes.grades { AuditAction::GradesEdited } else { AuditAction::DataEdited },
        detail: changes.describe(),
        flag_grades_edited: correcting && changes.grades,
    };
    match records.update_student(t, school, cycle, old.version, &student, &update, by).await {
        Ok(_) => Ok(Step::Updated),
        Err(StoreError::Conflict) => Ok(Step::Refused(Refusal {
            matricula: matricula.clone(),
            code: "version_desactualizada",
            detail: format!("los datos del alumno {matricula} cambiaron mientras se importaban; vuelva a importarlo"),
        })),
        Err(e) => Err(e),
    }
}

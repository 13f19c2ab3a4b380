//! Academic rules: the figures a certificate states (credits obtained,
//! average, approved/failed counts, cycles, total vs partial) and the checks
//! run before issuing (DESIGN.md, "Rules checked before issuing").
//!
//! - Credits obtained: the sum of the credits of approved subjects.
//! - Average: over every subject on the certificate by default, or over the
//!   approved ones when the plan says so ([`AverageRule`]); rounded half-up
//!   to two decimals.
//! - Subjects on the certificate: those of the plan the student has a grade for.
//! - Total certificate when every credit of the plan is obtained, partial otherwise.
//! - Cycles: the number of distinct cycle labels among those grades.

use crate::catalogs::TipoCertificacion;
use crate::curp::{Curp, CurpError};
use crate::efirma::{Efirma, EfirmaError};
use crate::model::{
    AverageRule, CertificationMode, Grade, Institution, Plan, Responsable, Student, Subject, SubjectCertification,
};
use crate::numbers::Decimal2;
use chrono::NaiveDate;
use std::collections::{BTreeSet, HashMap};

/// One subject as it appears on the certificate.
#[derive(Debug, Clone)]
pub struct CertifiedSubject<'a> {
    pub subject: &'a Subject,
    pub config: SubjectCertification,
    pub grade: &'a Grade,
    pub approved: bool,
}

/// The figures of a student's certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AcademicSummary {
    /// Subjects in the plan (`Asignaturas/total`).
    pub total_subjects: usize,
    /// Subjects on the certificate (`Asignaturas/asignadas`).
    pub assigned: usize,
    pub approved: usize,
    pub failed: usize,
    pub average: Decimal2,
    pub total_credits: Decimal2,
    pub credits_obtained: Decimal2,
    pub cycles: usize,
    pub tipo: TipoCertificacion,
}

/// The plan's subjects the student has a grade for, in plan order, with
/// their configuration. Unconfigured subjects are left out (the checks
/// report them).
pub fn certified_subjects<'a>(plan: &'a Plan, student: &'a Student) -> Vec<CertifiedSubject<'a>> {
    let grades: HashMap<&str, &Grade> = student.grades.iter().map(|g| (g.subject_clave.as_str(), g)).collect();
    plan.subjects
        .iter()
        .filter_map(|subject| {
            let grade = *grades.get(subject.clave.as_str())?;
            let config = subject.certification?;
            Some(CertifiedSubject { subject, config, grade, approved: plan.scale.approves(grade.value) })
        })
        .collect()
}

/// Computes the certificate's figures (tolerant: used for "Ver datos" too).
pub fn summarize(plan: &Plan, student: &Student) -> AcademicSummary {
    let subjects = certified_subjects(plan, student);
    let approved = subjects.iter().filter(|s| s.approved).count();
    let credits_obtained: Decimal2 = subjects.iter().filter(|s| s.approved).map(|s| s.config.creditos).sum();
    let averaged =
        subjects.iter().filter(|s| plan.average_rule == AverageRule::AllSubjects || s.approved).map(|s| s.grade.value);
    let cycles: BTreeSet<&str> = subjects.iter().map(|s| s.grade.ciclo.trim()).collect();
    AcademicSummary {
        total_subjects: plan.subjects.len(),
        assigned: subjects.len(),
        approved,
        failed: subjects.len() - approved,
        average: Decimal2::mean_half_up(averaged),
        total_credits: plan.total_credits,
        credits_obtained,
        cycles: cycles.len(),
        tipo: if credits_obtained >= plan.total_credits {
            TipoCertificacion::Total
        } else {
            TipoCertificacion::Parcial
        },
    }
}

/// A reason a student's certificate cannot be issued. Each message names
/// what to fix; `code()` is stable for machines.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IssueProblem {
    #[error("la certificación electrónica no está activa para la institución; actívela antes de emitir")]
    CertificationInactive,
    #[error("el alumno {0} no está activo")]
    StudentInactive(String),
    #[error("el alumno {student} no pertenece al plan {plan}")]
    WrongPlan { student: String, plan: String },
    #[error("el alumno {student} está en el grado {grade} y solo se certifica el último grado del plan ({last})")]
    NotInLastGrade { student: String, grade: u32, last: u32 },
    #[error("falta {0} del alumno")]
    MissingField(&'static str),
    #[error("CURP del alumno inválida: {0}")]
    InvalidCurp(CurpError),
    #[error("la fecha de nacimiento {0} no es posible (debe ser anterior a la fecha de expedición)")]
    ImplausibleBirthDate(NaiveDate),
    #[error("el valor «{value}» de {field} contiene el carácter «|», que no se permite")]
    ForbiddenCharacter { field: String, value: String },
    #[error("la materia {clave} «{nombre}» no tiene configuración de certificación (idAsignatura, tipo y créditos)")]
    SubjectWithoutConfiguration { clave: String, nombre: String },
    #[error("el idAsignatura {id} está repetido en las materias {first} y {second}; debe ser único en el plan")]
    DuplicateIdAsignatura { id: u64, first: String, second: String },
    #[error("la calificación {value} de la materia {clave} está fuera de la escala del plan ({min} a {max})")]
    GradeOutOfScale { clave: String, value: Decimal2, min: Decimal2, max: Decimal2 },
    #[error("hay una calificación para la materia {0}, que no pertenece al plan")]
    GradeForUnknownSubject(String),
    #[error("falta el ciclo en que se cursó la materia {0}")]
    MissingCycle(String),
    #[error("el alumno no tiene materias calificadas en el plan; no hay nada que certificar")]
    NothingToCertify,
    #[error(
        "los créditos obtenidos ({obtained}) superan el total del plan ({total}); revise los créditos de las materias"
    )]
    CreditsExceedPlan { obtained: Decimal2, total: Decimal2 },
    #[error("no hay firmante (responsable) con e.firma registrado para la escuela")]
    SignerMissing,
    #[error("la CURP del responsable es inválida: {0}")]
    InvalidSignerCurp(CurpError),
    #[error("e.firma del responsable: {0}")]
    Signer(EfirmaError),
    #[error("la institución no tiene créditos de timbrado disponibles; adquiera créditos para continuar")]
    NoCredits,
}

impl IssueProblem {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            IssueProblem::CertificationInactive => "certificacion_inactiva",
            IssueProblem::StudentInactive(_) => "alumno_inactivo",
            IssueProblem::WrongPlan { .. } => "alumno_otro_plan",
            IssueProblem::NotInLastGrade { .. } => "alumno_no_en_ultimo_grado",
            IssueProblem::MissingField(_) => "dato_faltante",
            IssueProblem::InvalidCurp(_) => "curp_invalida",
            IssueProblem::ImplausibleBirthDate(_) => "fecha_nacimiento_invalida",
            IssueProblem::ForbiddenCharacter { .. } => "caracter_no_permitido",
            IssueProblem::SubjectWithoutConfiguration { .. } => "materia_sin_configuracion",
            IssueProblem::DuplicateIdAsignatura { .. } => "id_asignatura_repetido",
            IssueProblem::GradeOutOfScale { .. } => "calificacion_fuera_de_escala",
            IssueProblem::GradeForUnknownSubject(_) => "materia_desconocida",
            IssueProblem::MissingCycle(_) => "ciclo_faltante",
            IssueProblem::NothingToCertify => "sin_materias",
            IssueProblem::CreditsExceedPlan { .. } => "creditos_inconsistentes",
            IssueProblem::SignerMissing => "firmante_faltante",
            IssueProblem::InvalidSignerCurp(_) => "curp_responsable_invalida",
            IssueProblem::Signer(e) => e.code(),
            IssueProblem::NoCredits => "sin_creditos",
        }
    }
}

/// Everything the pre-issue checks look at.
pub struct IssueContext<'a> {
    pub institution: &'a Institution,
    pub plan: &'a Plan,
    pub student: &'a Student,
    pub signer: Option<(&'a Responsable, &'a Efirma)>,
    pub credits_available: u64,
    pub issue_date: NaiveDate,
}

/// Runs every check and returns all problems found (not just the first), or
/// the certificate's figures when it can be issued.
pub fn check_before_issue(ctx: &IssueContext<'_>) -> Result<AcademicSummary, Vec<IssueProblem>> {
    let mut problems = Vec::new();
    let (plan, student) = (ctx.plan, ctx.student);
    if ctx.institution.mode == CertificationMode::Inactive {
        problems.push(IssueProblem::CertificationInactive);
    }
    if !student.active {
        problems.push(IssueProblem::StudentInactive(student.control_number.clone()));
    }
    if student.plan_id != plan.id {
        problems.push(IssueProblem::WrongPlan { student: student.control_number.clone(), plan: plan.id.clone() });
    }
    if student.grade_level != plan.last_grade {
        problems.push(IssueProblem::NotInLastGrade {
            student: student.control_number.clone(),
            grade: student.grade_level,
            last: plan.last_grade,
        });
    }
    check_personal_data(student, ctx.issue_date, &mut problems);
    check_subjects(plan, student, &mut problems);
    let summary = summarize(plan, student);
    if summary.assigned == 0 {
        problems.push(IssueProblem::NothingToCertify);
    }
    if summary.credits_obtained > plan.total_credits {
        problems
            .push(IssueProblem::CreditsExceedPlan { obtained: summary.credits_obtained, total: plan.total_credits });
    }
    match ctx.signer {
        None => problems.push(IssueProblem::SignerMissing),
        Some((responsable, efirma)) => match Curp::parse(&responsable.curp) {
            Err(e) => problems.push(IssueProblem::InvalidSignerCurp(e)),
            Ok(curp) => {
                if let Err(e) = efirma.check_usable(ctx.issue_date, &curp) {
                    problems.push(IssueProblem::Signer(e));
                }
            }
        },
    }
    if ctx.credits_available == 0 {
        problems.push(IssueProblem::NoCredits);
    }
    if problems.is_empty() { Ok(summary) } else { Err(problems) }
}

fn check_personal_data(student: &Student, issue_date: NaiveDate, problems: &mut Vec<IssueProblem>) {
    let required = [
        ("la matrícula (número de control)", &student.control_number),
        ("el nombre", &student.nombre),
        ("el primer apellido", &student.primer_apellido),
        ("la CURP", &student.curp),
    ];
    for (what, value) in required {
        if value.trim().is_empty() {
            problems.push(IssueProblem::MissingField(what));
        }
    }
    if !student.curp.trim().is_empty()
        && let Err(e) = Curp::parse(&student.curp)
    {
        problems.push(IssueProblem::InvalidCurp(e));
    }
    if student.genero.is_none() {
        problems.push(IssueProblem::MissingField("el género"));
    }
    match student.fecha_nacimiento {
        None => problems.push(IssueProblem::MissingField("la fecha de nacimiento")),
        Some(d) if d >= issue_date || issue_date.years_since(d).unwrap_or(0) > 120 => {
            problems.push(IssueProblem::ImplausibleBirthDate(d))
        }
        Some(_) => {}
    }
    let texts = [
        ("la matrícula", &student.control_number),
        ("el nombre", &student.nombre),
        ("el primer apellido", &student.primer_apellido),
        ("el segundo apellido", &student.segundo_apellido),
    ];
    for (field, value) in texts {
        if value.contains('|') {
            problems.push(IssueProblem::ForbiddenCharacter { field: field.to_string(), value: value.clone() });
        }
    }
}

fn check_subjects(plan: &Plan, student: &Student, problems: &mut Vec<IssueProblem>) {
    let mut ids: HashMap<u64, &str> = HashMap::new();
    for subject in &plan.subjects {
        match &subject.certification {
            None => problems.push(IssueProblem::SubjectWithoutConfiguration {
                clave: subject.clave.clone(),
                nombre: subject.nombre.clone(),
            }),
            Some(cfg) => {
                if let Some(first) = ids.insert(cfg.id_asignatura, &subject.clave) {
                    problems.push(IssueProblem::DuplicateIdAsignatura {
                        id: cfg.id_asignatura,
                        first: first.to_string(),
                        second: subject.clave.clone(),
                    });
                }
            }
        }
    }
    for grade in &student.grades {
        if !plan.subjects.iter().any(|s| s.clave == grade.subject_clave) {
            problems.push(IssueProblem::GradeForUnknownSubject(grade.subject_clave.clone()));
            continue;
        }
        if !plan.scale.contains(grade.value) {
            problems.push(IssueProblem::GradeOutOfScale {
                clave: grade.subject_clave.clone(),
                value: grade.value,
                min: plan.scale.min,
                max: plan.scale.max,
            });
        }
        if grade.ciclo.trim().is_empty() {
            problems.push(IssueProblem::MissingCycle(grade.subject_clave.clone()));
        } else if grade.ciclo.contains('|') {
            problems.push(IssueProblem::ForbiddenCharacter {
                field: format!("el ciclo de la materia {}", grade.subject_clave),
                value: grade.ciclo.clone(),
            });
        }
    }
}

//! What the checks build their records from: actors, fresh tenants, a
//! sealed certificate, an institution with schools, plans and students.

use certifica_core::catalogs::{EntidadFederativa, NivelEstudios, Observacion, TipoPeriodo};
use certifica_core::model::{
    AverageRule, Career, CertificationMode, Grade, GradeScale, Institution, InstitutionType, Plan, Recognition, Rvoe,
    School, Student, Subject,
};
use certifica_core::numbers::Decimal2;
use certifica_core::ports::{CertificateStore, CreditStore};
use certifica_core::records::{
    Actor, ArtifactRefs, CertificateRecord, CertificateStatus, StampCommit, Tenant, Transition,
};
use chrono::{Duration, NaiveDate, Utc};

/// The actor of a check's changes.
pub fn by(user: &str) -> Actor {
    Actor::new(user, format!("req-{}", uuid::Uuid::new_v4().simple()))
}

/// A tenant no other check uses.
pub fn fresh_tenant(label: &str) -> Tenant {
    Tenant::from_verified_identity(&format!("{label}-{}", uuid::Uuid::new_v4().simple()))
}

/// A just-sealed certificate of student `control` (school `esc`, cycle `2026`, plan `lae`).
/// Error → Sellado with a new sealed document `key`, issued on 2026-07-20
/// from edited grades.
pub fn resealed(key: &str) -> Transition {
    Transition::Resealed {
        sealed_xml: key.into(),
        issue_date: chrono::NaiveDate::from_ymd_opt(2026, 7, 20).expect("date"),
        grades_edited: true,
    }
}

pub fn sealed_certificate(control: &str) -> CertificateRecord {
    CertificateRecord {
        id: uuid::Uuid::new_v4().to_string(),
        school_id: "esc".into(),
        cycle_id: "2026".into(),
        plan_id: "lae".into(),
        control_number: control.into(),
        status: CertificateStatus::Sellado,
        version: 0,
        folio_control: format!("FC-{control}"),
        folio_digital: None,
        issue_date: NaiveDate::from_ymd_opt(2026, 7, 15).unwrap_or_default(),
        created_at: Utc::now(),
        stamped_at: None,
        artifacts: ArtifactRefs { sealed_xml: Some(format!("sealed/{control}.xml")), ..ArtifactRefs::default() },
        grades_edited: false,
        last_error: None,
        cancellation: None,
    }
}

pub(crate) fn stamp_of(c: &CertificateRecord) -> StampCommit {
    StampCommit {
        folio_digital: uuid::Uuid::new_v4().to_string(),
        stamped_at: Utc::now(),
        stamped_xml: format!("stamped/{}.xml", c.control_number),
        pdf: format!("pdf/{}.pdf", c.control_number),
        receipt: None,
    }
}

pub(crate) const TTL: i64 = 900;

/// Reserves, stamps and commits one certificate; returns the stamped record.
pub(crate) async fn stamp<S: CertificateStore + CreditStore>(
    s: &S,
    t: &Tenant,
    c: &CertificateRecord,
) -> CertificateRecord {
    let r = s.reserve(t, &c.id, Duration::seconds(TTL), &by("prueba")).await.expect("reserve");
    s.commit_stamp(t, &r, c.version, stamp_of(c), &by("prueba")).await.expect("commit")
}

// ---------------------------------------------------------------- records
pub(crate) fn institution(t: &Tenant) -> Institution {
    Institution {
        id: t.id().to_string(),
        mec_id: "090001".into(),
        name: "Universidad del Valle de Anáhuac".into(),
        kind: InstitutionType::Ipes,
        mode: CertificationMode::Electronic,
    }
}

pub(crate) fn school(t: &Tenant, id: &str) -> School {
    School {
        id: id.into(),
        institution_id: t.id().to_string(),
        name: format!("Campus {id}"),
        mec_campus_id: "110001".into(),
        campus: "ÚNICO".into(),
        entidad: EntidadFederativa::CiudadDeMexico,
    }
}

pub(crate) fn plan(school_id: &str, id: &str, last_grade: u32) -> Plan {
    Plan {
        id: id.into(),
        school_id: school_id.into(),
        career: Career { mec_id: 101, clave: id.to_uppercase(), nombre: format!("Licenciatura {id}") },
        clave_plan: "2020".into(),
        tipo_periodo: TipoPeriodo::Semestre,
        nivel: NivelEstudios::Licenciatura,
        scale: GradeScale { min: Decimal2::from_int(5), max: Decimal2::from_int(10), passing: Decimal2::from_int(6) },
        total_credits: Decimal2::from_int(16),
        recognition: Recognition::Rvoe,
        rvoe: Rvoe {
            numero: "RVOE-2020-01".into(),
            fecha_expedicion: NaiveDate::from_ymd_opt(2020, 1, 10).unwrap_or_default(),
        },
        average_rule: AverageRule::AllSubjects,
        last_grade,
        subjects: vec![
            Subject { clave: "MAT1".into(), nombre: "Matemáticas".into(), certification: None },
            Subject { clave: "FIS1".into(), nombre: "Física".into(), certification: None },
        ],
    }
}

pub(crate) fn grade(clave: &str, value: u64) -> Grade {
    Grade {
        subject_clave: clave.into(),
        value: Decimal2::from_int(value),
        ciclo: "2025-2".into(),
        observacion: Observacion::Normal,
    }
}

/// A student of plan `plan_id` (last grade 8 unless said), group `group`.
pub fn student(control: &str, nombre: &str, apellido: &str, plan_id: &str, group: &str, grade_level: u32) -> Student {
    Student {
        control_number: control.into(),
        curp: String::new(),
        nombre: nombre.into(),
        primer_apellido: apellido.into(),
        segundo_apellido: String::new(),
        genero: None,
        fecha_nacimiento: None,
        email_personal: None,
        email_institucional: None,
        group: group.into(),
        grade_level,
        active: true,
        plan_id: plan_id.into(),
        grades: vec![grade("MAT1", 8), grade("FIS1", 9)],
    }
}

pub(crate) fn certificate_for(school_id: &str, plan_id: &str, control: &str, issue_day: u32) -> CertificateRecord {
    CertificateRecord {
        school_id: school_id.into(),
        plan_id: plan_id.into(),
        issue_date: NaiveDate::from_ymd_opt(2026, 7, issue_day).unwrap_or_default(),
        ..sealed_certificate(control)
    }
}

//! What the API benches share: one school and cycle of 5,000 students with
//! a 40-subject plan, in the embedded adapters, and the API over them.
#![allow(dead_code, reason = "each bench uses part of it")]

use certifica_api::{Api, Config};
use certifica_core::catalogs::{EntidadFederativa, Genero, NivelEstudios, Observacion, TipoAsignatura, TipoPeriodo};
use certifica_core::identity::{Identity, Permission};
use certifica_core::model::*;
use certifica_core::numbers::Decimal2;
use certifica_core::ports::{InstitutionStore, StudentStore};
use certifica_core::records::{ArtifactRefs, CertificateRecord, CertificateStatus, Cycle, Tenant};
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::LocalAuthority;
use certifica_local::{Local, LocalArtifacts, LocalOutbox, LocalRecords};
use std::path::Path;
use std::time::Duration;

pub const STUDENTS: usize = 5_000;

pub fn plan() -> Plan {
    let subjects = (0..40)
        .map(|i| Subject {
            clave: format!("M{i:02}"),
            nombre: format!("Materia {i}"),
            certification: Some(SubjectCertification {
                id_asignatura: i + 1,
                tipo: TipoAsignatura::Obligatoria,
                creditos: Decimal2::from_int(8),
            }),
        })
        .collect();
    Plan {
        id: "lae".into(),
        school_id: "norte".into(),
        career: Career { mec_id: 101, clave: "LAE".into(), nombre: "Licenciatura en Administración".into() },
        clave_plan: "2020".into(),
        tipo_periodo: TipoPeriodo::Semestre,
        nivel: NivelEstudios::Licenciatura,
        scale: GradeScale { min: Decimal2::from_int(5), max: Decimal2::from_int(10), passing: Decimal2::from_int(6) },
        total_credits: Decimal2::from_int(320),
        recognition: Recognition::Rvoe,
        rvoe: Rvoe { numero: "RVOE-1".into(), fecha_expedicion: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() },
        average_rule: AverageRule::AllSubjects,
        last_grade: 8,
        subjects,
    }
}

pub fn student(n: usize) -> Student {
    let nombres = ["María José", "Juan Pablo", "Sofía", "Ángel", "Valentina", "Íñigo", "Renata", "Diego"];
    Student {
        control_number: format!("A{n:05}"),
        curp: format!("NUXA990101MDFNXN{:02}", n % 100),
        nombre: nombres[n % nombres.len()].into(),
        primer_apellido: ["Núñez", "Pérez", "Ibáñez", "García"][n % 4].into(),
        segundo_apellido: format!("Ruiz {n}"),
        genero: Some(if n.is_multiple_of(2) { Genero::Mujer } else { Genero::Hombre }),
        fecha_nacimiento: chrono::NaiveDate::from_ymd_opt(1999, 1 + (n % 12) as u32, 1 + (n % 28) as u32),
        email_personal: None,
        email_institucional: None,
        group: format!("8{}", ["A", "B", "C", "D"][n % 4]),
        grade_level: 8,
        active: true,
        plan_id: "lae".into(),
        grades: (0..40)
            .map(|i| Grade {
                subject_clave: format!("M{i:02}"),
                value: Decimal2::from_int(6 + (i + n as u64) % 5),
                ciclo: "2022-1".into(),
                observacion: Observacion::Normal,
            })
            .collect(),
    }
}

/// Institution `uva`, school `norte`, cycle `2026`, plan `lae` and
/// [`STUDENTS`] students, in the embedded database at `dir/db`.
pub async fn seed_school(dir: &Path) -> (LocalRecords, Tenant) {
    let records = LocalRecords::open(&dir.join("db")).unwrap();
    let t = Tenant::from_verified_identity("uva");
    records
        .put_institution(
            &t,
            &Institution {
                id: "uva".into(),
                mec_id: "090456".into(),
                name: "Universidad".into(),
                kind: InstitutionType::Ipes,
                mode: CertificationMode::Electronic,
            },
        )
        .await
        .unwrap();
    records
        .put_school(
            &t,
            &School {
                id: "norte".into(),
                institution_id: "uva".into(),
                name: "Campus Norte".into(),
                mec_campus_id: "150".into(),
                campus: "NORTE".into(),
                entidad: EntidadFederativa::CiudadDeMexico,
            },
        )
        .await
        .unwrap();
    records
        .put_cycle(&t, &Cycle { id: "2026".into(), school_id: "norte".into(), name: "2025-2026".into() })
        .await
        .unwrap();
    records.put_plan(&t, &plan()).await.unwrap();
    let students: Vec<Student> = (0..STUDENTS).map(student).collect();
    for chunk in students.chunks(500) {
        records.put_students(&t, "norte", "2026", chunk).await.unwrap();
    }
    (records, t)
}

/// The documents folder of `dir`, as the API opens it.
pub fn artifacts(dir: &Path) -> LocalArtifacts {
    LocalArtifacts::new(&dir.join("docs"), "http://127.0.0.1:9/files/", &[1u8; 32]).unwrap()
}

/// The API over the embedded adapters in `dir` (documents in `dir/docs`).
pub fn api(dir: &Path, records: LocalRecords) -> Api<Local> {
    let artifacts = artifacts(dir);
    let sender = certifica_core::mail::Sender { name: "x".into(), address: "x@x.mx".into() };
    let outbox = LocalOutbox::new(&dir.join("outbox"), sender).unwrap();
    let config = Config::new(&[2u8; 32], SecretBox::new(&[3u8; 32]).unwrap(), "http://127.0.0.1:9/v1/verify/")
        .trusting_signer_cas(certifica_core::trust::SignerCas::demo());
    Api::with_queue(records.clone(), artifacts, LocalAuthority::simulated_sep().unwrap(), outbox, records, config)
}

/// Someone who may see school `norte` of `uva`.
pub fn viewer() -> Identity {
    Identity::from_claims("bench", None, Some("uva"), Some(&Identity::permissions_claim(&[("norte", Permission::Ver)])))
        .unwrap()
}

/// Student `n`'s certificate, just sealed on `issue_date`.
pub fn sealed_certificate(n: usize, issue_date: chrono::NaiveDate) -> CertificateRecord {
    CertificateRecord {
        id: format!("c{n}"),
        school_id: "norte".into(),
        cycle_id: "2026".into(),
        plan_id: "lae".into(),
        control_number: format!("A{n:05}"),
        status: CertificateStatus::Sellado,
        version: 0,
        folio_control: format!("norte-2026-A{n:05}-1"),
        folio_digital: None,
        issue_date,
        created_at: chrono::Utc::now(),
        stamped_at: None,
        artifacts: ArtifactRefs::default(),
        grades_edited: false,
        last_error: None,
        cancellation: None,
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

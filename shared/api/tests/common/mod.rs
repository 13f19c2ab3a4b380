//! Shared fixture of the API tests: two institutions over the embedded
//! adapters and the simulated authority, and request helpers.
#![allow(dead_code)]

use bytes::Bytes;
use certifica_api::{Api, Config};
use certifica_core::catalogs::{EntidadFederativa, NivelEstudios, Observacion, TipoAsignatura, TipoPeriodo};
use certifica_core::identity::{AccessError, Identity, Permission};
use certifica_core::model::*;
use certifica_core::numbers::Decimal2;
use certifica_core::ports::{CreditStore, InstitutionStore, StudentStore};
use certifica_core::records::{Actor, Cycle, Tenant};
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::LocalAuthority;
use certifica_local::{LocalArtifacts, LocalOutbox, LocalRecords};
use http::{Method, Request, StatusCode};
use serde_json::Value;

/// The embedded adapters, as `certifica serve` uses them.
pub use certifica_local::Local;

pub type LocalApi = Api<Local>;

pub struct Fixture {
    pub api: LocalApi,
    pub _dir: tempfile::TempDir,
}

pub fn plan(school: &str, id: &str) -> Plan {
    let subject = |clave: &str, id: u64| Subject {
        clave: clave.into(),
        nombre: format!("Materia {clave}"),
        certification: Some(SubjectCertification {
            id_asignatura: id,
            tipo: TipoAsignatura::Obligatoria,
            creditos: Decimal2::from_int(8),
        }),
    };
    Plan {
        id: id.into(),
        school_id: school.into(),
        career: Career { mec_id: 101, clave: "LAE".into(), nombre: "Licenciatura en Administración".into() },
        clave_plan: "2020".into(),
        tipo_periodo: TipoPeriodo::Semestre,
        nivel: NivelEstudios::Licenciatura,
        scale: GradeScale { min: Decimal2::from_int(5), max: Decimal2::from_int(10), passing: Decimal2::from_int(6) },
        total_credits: Decimal2::from_int(16),
        recognition: Recognition::Rvoe,
        rvoe: Rvoe { numero: "RVOE-1".into(), fecha_expedicion: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() },
        average_rule: AverageRule::AllSubjects,
        last_grade: 8,
        subjects: vec![subject("MAT1", 1), subject("FIS1", 2)],
    }
}

pub fn grade(clave: &str, value: u64) -> Grade {
    Grade {
        subject_clave: clave.into(),
        value: Decimal2::from_int(value),
        ciclo: "2025-2".into(),
        observacion: Observacion::Normal,
    }
}

/// A valid CURP for a test student (format and check digit).
pub fn curp(n: u32) -> String {
    let first17 = format!("NUXA99{:02}{:02}MDFNXN0", 1 + n % 12, 1 + n % 28);
    let digit = certifica_core::curp::check_digit(&first17).unwrap();
    format!("{first17}{digit}")
}

pub fn student(control: &str, nombre: &str, group: &str) -> Student {
    let n: u32 = control.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0);
    Student {
        control_number: control.into(),
        curp: curp(n),
        nombre: nombre.into(),
        primer_apellido: "Núñez".into(),
        segundo_apellido: String::new(),
        genero: Some(certifica_core::catalogs::Genero::Mujer),
        fecha_nacimiento: chrono::NaiveDate::from_ymd_opt(1999, 1 + n % 12, 1 + n % 28),
        email_personal: Some(format!("{}@correo.mx", control.to_lowercase())),
        email_institucional: None,
        group: group.into(),
        grade_level: 8,
        active: true,
        plan_id: "lae".into(),
        grades: vec![grade("MAT1", 8), grade("FIS1", 5)],
    }
}

/// Institutions `uva` (IPES; schools norte (RVOE plan), sur (independent
/// plan)) and `otra` (AUTONOMO;
/// school norte too), each school with seven students (the fourth without
/// CURP) and 5 credits per institution.
pub async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

/// [`fixture`] with its configuration changed by `configure`.
pub async fn fixture_with(configure: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("db")).unwrap();
    for (inst, schools) in [("uva", vec!["norte", "sur"]), ("otra", vec!["norte"])] {
        let t = Tenant::from_verified_identity(inst);
        records
            .put_institution(
                &t,
                &Institution {
                    id: inst.into(),
                    mec_id: "1".into(),
                    name: format!("Institución {inst}"),
                    kind: if inst == "uva" { InstitutionType::Ipes } else { InstitutionType::Autonomo },
                    mode: CertificationMode::Electronic,
                },
            )
            .await
            .unwrap();
        for s in schools {
            records
                .put_school(
                    &t,
                    &School {
                        id: s.into(),
                        institution_id: inst.into(),
                        name: format!("Campus {s} de {inst}"),
                        mec_campus_id: "1".into(),
                        campus: "ÚNICO".into(),
                        entidad: EntidadFederativa::CiudadDeMexico,
                    },
                )
                .await
                .unwrap();
            records
                .put_cycle(&t, &Cycle { id: "2026".into(), school_id: s.into(), name: "2025-2026".into() })
                .await
                .unwrap();
            // Campus sur's plan has independent recognition (previews allowed).
            let mut p = plan(s, "lae");
            if s == "sur" {
                p.recognition = Recognition::Independent;
            }
            records.put_plan(&t, &p).await.unwrap();
            let mut students: Vec<Student> = (0..7)
                .map(|i| {
                    student(
                        &format!("{}{i:03}", inst.to_uppercase()),
                        if i % 2 == 0 { "José" } else { "Ana" },
                        if i < 4 { "8A" } else { "8B" },
                    )
                })
                .collect();
            students[3].curp.clear();
            records.put_students(&t, s, "2026", &students).await.unwrap();
        }
        records.add_credits(&t, 5, &Actor::new("admin", "r")).await.unwrap();
    }
    let artifacts = LocalArtifacts::new(&dir.path().join("docs"), "http://127.0.0.1:9/files/", &[9u8; 32]).unwrap();
    let mut config = Config::new(
        b"clave de cursores de prueba",
        SecretBox::new(&[5u8; 32]).unwrap(),
        "http://127.0.0.1:9/v1/verify/",
    )
    .trusting_signer_cas(certifica_core::trust::SignerCas::demo());
    configure(&mut config);
    let sender =
        certifica_core::mail::Sender { name: "Control Escolar".into(), address: "certificados@uva.edu.mx".into() };
    let outbox = LocalOutbox::new(&dir.path().join("outbox"), sender).unwrap();
    let api =
        Api::with_queue(records.clone(), artifacts, LocalAuthority::simulated_sep().unwrap(), outbox, records, config);
    Fixture { api, _dir: dir }
}

pub fn token(institution: &str, grants: &[(&str, Permission)]) -> Result<Identity, AccessError> {
    Identity::from_claims("u1", Some("clerk@uva.mx"), Some(institution), Some(&Identity::permissions_claim(grants)))
}

pub fn all(school: &str) -> Vec<(&str, Permission)> {
    vec![(school, Permission::Ver), (school, Permission::Timbrar), (school, Permission::Editar)]
}

pub async fn call(
    f: &Fixture,
    method: Method,
    uri: &str,
    body: Option<Value>,
    id: Result<Identity, AccessError>,
) -> (StatusCode, Value) {
    call_as(f, None, method, uri, body, id).await
}

/// `call` answered by a build of function `only` (`None`: every function, as `certifica serve`).
pub async fn call_as(
    f: &Fixture,
    only: Option<certifica_api::Function>,
    method: Method,
    uri: &str,
    body: Option<Value>,
    id: Result<Identity, AccessError>,
) -> (StatusCode, Value) {
    let mut builder = Request::builder().method(method).uri(uri);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder.body(body.map(|b| Bytes::from(b.to_string())).unwrap_or_default()).unwrap();
    let response = match only {
        Some(function) => f.api.answer_as(function, request, id, "req-prueba").await,
        None => f.api.handle(request, id, "req-prueba").await,
    };
    let status = response.status();
    let ct = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let value: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(ct, "application/problem+json", "{status} {value}");
        assert!(value["code"].is_string() && value["detail"].is_string(), "{value}");
    }
    (status, value)
}

pub async fn get(f: &Fixture, uri: &str, id: Result<Identity, AccessError>) -> (StatusCode, Value) {
    call(f, Method::GET, uri, None, id).await
}

pub const DEMO_CER: &[u8] = include_bytes!("../../../../assets/demo-efirma/responsable.cer");
pub const DEMO_KEY: &[u8] = include_bytes!("../../../../assets/demo-efirma/responsable.key");
pub const DEMO_PASSWORD: &str = "demo-certifica";
pub const DEMO_CURP: &str = "GOMC850412MDFRRR03";

/// The signer registration body for the demo e.firma.
pub fn signer_body(curp: &str, password: &str) -> serde_json::Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    serde_json::json!({
        "responsable": {"curp": curp, "nombre": "María Cristina", "primerApellido": "Gómez", "segundoApellido": "Ruiz", "cargo": "ResponsableExpedicion"},
        "cer": b64.encode(DEMO_CER),
        "key": b64.encode(DEMO_KEY),
        "password": password,
    })
}

pub fn admin(school: &str) -> Vec<(&str, Permission)> {
    let mut grants = all(school);
    grants.push((school, Permission::Administrar));
    grants
}

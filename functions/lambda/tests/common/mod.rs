//! Shared by the emulator-backed tests: the emulator's environment, a
//! caller with every permission, API calls, and the sample plan and students.
#![allow(dead_code)]

use bytes::Bytes;
use certifica_api::{Adapters, Api};
use certifica_core::identity::{Identity, Permission};
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

pub const DEMO_CER: &[u8] = include_bytes!("../../../../assets/demo-efirma/responsable.cer");
pub const DEMO_KEY: &[u8] = include_bytes!("../../../../assets/demo-efirma/responsable.key");
pub const DEMO_PASSWORD: &str = "demo-certifica";
pub const DEMO_CURP: &str = "GOMC850412MDFRRR03";
pub const CYCLE: &str = "2026";

/// Points the AWS SDK's environment at the emulator, once per test process.
pub async fn emulator() -> &'static str {
    static ENDPOINT: OnceCell<String> = OnceCell::const_new();
    ENDPOINT
        .get_or_init(|| async {
            let endpoint = std::env::var("CERTIFICA_TEST_AWS_ENDPOINT").expect(
                "CERTIFICA_TEST_AWS_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto on 127.0.0.1",
            );
            assert!(endpoint.starts_with("http://127.0.0.1:"), "the emulator must be local: {endpoint}");
            // SAFETY: set once, before any client of this process reads the environment
            // (every test awaits this cell first).
            unsafe {
                std::env::set_var("CERTIFICA_AWS_ENDPOINT", &endpoint);
                std::env::set_var("AWS_ACCESS_KEY_ID", "test");
                std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
                std::env::set_var("AWS_REGION", "us-east-1");
                std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
            }
            endpoint
        })
        .await
}

pub fn identity(institution: &str, school: &str) -> Identity {
    let grants: Vec<(&str, Permission)> =
        [Permission::Ver, Permission::Timbrar, Permission::Editar, Permission::Administrar]
            .into_iter()
            .map(|p| (school, p))
            .collect();
    Identity::from_claims(
        "control@escuela.mx",
        Some("control@escuela.mx"),
        Some(institution),
        Some(&Identity::permissions_claim(&grants)),
    )
    .unwrap()
}

pub async fn call<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    method: Method,
    uri: &str,
    body: Value,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let response = api.handle(request, Ok(id.clone()), "prueba").await;
    let status = response.status();
    (status, serde_json::from_slice(response.body()).unwrap_or(Value::Null))
}

pub fn student(n: u32, nombre: &str) -> Value {
    let first17 = format!("NUXA99{:02}{:02}MDFNXN0", 1 + n % 12, 1 + n % 28);
    let alphabet = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ";
    let total: usize =
        first17.chars().enumerate().map(|(i, c)| alphabet.chars().position(|a| a == c).unwrap() * (18 - i)).sum();
    json!({
        "controlNumber": format!("A{n:04}"),
        "curp": format!("{first17}{}", (10 - total % 10) % 10),
        "nombre": nombre, "primerApellido": "Núñez", "segundoApellido": "Ruiz",
        "genero": "Mujer", "fechaNacimiento": format!("1999-{:02}-{:02}", 1 + n % 12, 1 + n % 28),
        "group": "8A", "gradeLevel": 8, "active": true, "planId": "lae",
        "grades": [
            {"subjectClave": "ADM1", "value": "9", "ciclo": "2022-1"},
            {"subjectClave": "CON1", "value": "8.5", "ciclo": "2022-2"},
        ],
    })
}

pub fn plan() -> Value {
    json!({
        "career": {"mecId": 103456, "clave": "LAE", "nombre": "Licenciatura en Administración de Empresas"},
        "clavePlan": "2020", "tipoPeriodo": "Semestre", "nivel": "Licenciatura",
        "scale": {"min": "5", "max": "10", "passing": "6"}, "totalCredits": "16",
        "recognition": "rvoe", "rvoe": {"numero": "20201234", "fechaExpedicion": "2020-01-15"},
        "lastGrade": 8,
        "subjects": [
            {"clave": "ADM1", "nombre": "Administración I", "certification": {"idAsignatura": 1, "tipo": "Obligatoria", "creditos": "8"}},
            {"clave": "CON1", "nombre": "Contabilidad I", "certification": {"idAsignatura": 2, "tipo": "Obligatoria", "creditos": "8"}},
        ],
    })
}

/// uva (electronic IPES) with its school norte, `credits` credits, the
/// plan `lae`, students `A0001`…`A{size}` imported into cycle 2026 and the
/// demo signer registered with its key (it seals online).
pub async fn enrol_class<X: Adapters>(api: &Api<X>, size: u32, credits: u64) {
    use base64::Engine;
    use certifica_core::catalogs::EntidadFederativa;
    use certifica_core::model::{CertificationMode, Institution, InstitutionType, School};
    use certifica_core::ports::{CreditStore, InstitutionStore};
    use certifica_core::records::{Actor, Tenant};
    let t = Tenant::from_verified_identity("uva");
    let institution = Institution {
        id: "uva".into(),
        mec_id: "090456".into(),
        name: "Universidad del Valle".into(),
        kind: InstitutionType::Ipes,
        mode: CertificationMode::Electronic,
    };
    api.records().put_institution(&t, &institution).await.unwrap();
    let school = School {
        id: "norte".into(),
        institution_id: "uva".into(),
        name: "Campus Norte".into(),
        mec_campus_id: "150".into(),
        campus: "NORTE".into(),
        entidad: EntidadFederativa::CiudadDeMexico,
    };
    api.records().put_school(&t, &school).await.unwrap();
    api.records().add_credits(&t, credits, &Actor::new("alta", "alta")).await.unwrap();
    let who = identity("uva", "norte");
    assert_eq!(call(api, &who, Method::PUT, "/v1/schools/norte/plans/lae", plan()).await.0, StatusCode::OK);
    let class: Vec<Value> = (1..=size).map(|n| student(n, "Ana")).collect();
    let import = json!({"cycleName": "2025-2026", "students": class});
    let (status, body) = call(api, &who, Method::POST, "/v1/schools/norte/cycles/2026/students/import", import).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let signer = json!({
        "responsable": {"curp": DEMO_CURP, "nombre": "María Cristina", "primerApellido": "Gómez",
                        "segundoApellido": "Ruiz", "cargo": "ResponsableExpedicion"},
        "cer": encode(DEMO_CER), "key": encode(DEMO_KEY), "password": DEMO_PASSWORD,
    });
    let (status, body) = call(api, &who, Method::PUT, "/v1/schools/norte/signer", signer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

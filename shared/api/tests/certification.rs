//! Registering the signer and issuing certificates in-process: Timbrado
//! with one credit each, rules refusals (no credits among them) that
//! consume nothing, authority failures that end in Error and can be
//! retried, idempotent retries, limits, permissions and tenants.

mod common;

use bytes::Bytes;
use certifica_core::identity::Permission;
use certifica_core::ports::{CreditStore, InstitutionStore};
use certifica_core::records::{LedgerKind, Tenant};
use certifica_core::stamping::Failure;
use common::*;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};

const ISSUE: &str = "/v1/schools/norte/cycles/2026/certificates/issue";

async fn register_signer(f: &Fixture, institution: &str) {
    let (status, body) = call(
        f,
        Method::PUT,
        "/v1/schools/norte/signer",
        Some(signer_body(DEMO_CURP, DEMO_PASSWORD)),
        token(institution, &admin("norte")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn issue(f: &Fixture, institution: &str, students: &[&str]) -> (StatusCode, Value) {
    call(f, Method::POST, ISSUE, Some(json!({ "students": students })), token(institution, &all("norte"))).await
}

fn outcome<'a>(body: &'a Value, matricula: &str) -> &'a Value {
    body["results"].as_array().unwrap().iter().find(|r| r["matricula"] == matricula).unwrap()
}

async fn credits(f: &Fixture, institution: &str) -> u64 {
    f.api.records().balance(&Tenant::from_verified_identity(institution)).await.unwrap().available
}

#[tokio::test]
async fn the_signer_is_checked_and_its_password_never_returned() {
    let f = fixture().await;
    let uri = "/v1/schools/norte/signer";
    let body = || Some(signer_body(DEMO_CURP, DEMO_PASSWORD));
    let (status, _) = call(&f, Method::PUT, uri, body(), token("uva", &all("norte"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "registering needs administrar");
    let (status, answer) =
        call(&f, Method::PUT, uri, Some(signer_body(DEMO_CURP, "otra")), token("uva", &admin("norte"))).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("contrasena_incorrecta")),
        "{answer}"
    );
    let (status, answer) =
        call(&f, Method::PUT, uri, Some(signer_body(&curp(1), DEMO_PASSWORD)), token("uva", &admin("norte"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the e.firma belongs to someone else: {answer}");
    let mut bad = signer_body(DEMO_CURP, DEMO_PASSWORD);
    bad["cer"] = json!("%%%");
    let (status, answer) = call(&f, Method::PUT, uri, Some(bad), token("uva", &admin("norte"))).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("base64_invalido")));
    let (status, answer) = call(&f, Method::PUT, uri, body(), token("uva", &admin("norte"))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["certificateNumber"], "00001000000700000001");
    assert!(!answer.to_string().contains(DEMO_PASSWORD));
    let stored = f.api.records().signer(&Tenant::from_verified_identity("uva"), "norte").await.unwrap().unwrap();
    assert!(!stored.password_sealed.contains(DEMO_PASSWORD), "kept sealed");
}

#[tokio::test]
async fn issuing_stamps_stores_and_consumes_one_credit_per_certificate() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    let (status, body) = issue(&f, "uva", &["UVA000", "UVA001"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["issued"], 2);
    assert_eq!(credits(&f, "uva").await, 3);
    let folio = outcome(&body, "UVA000")["folioDigital"].as_str().unwrap().to_string();
    // The stored documents: the stamped XML verifies, the PDF is a PDF.
    let t = Tenant::from_verified_identity("uva");
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA000", token("uva", &all("norte"))).await;
    assert_eq!(data["certificate"]["status"], "timbrado");
    assert_eq!(data["certificate"]["folioDigital"], folio.as_str());
    let history: Vec<&str> = data["audit"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(history, ["sealed", "stamped"]);
    let certificate =
        certifica_core::ports::CertificateStore::by_folio(f.api.records(), &folio).await.unwrap().unwrap().1;
    let xml = certifica_core::ports::ArtifactStore::get(
        f.api.artifacts(),
        &t,
        certificate.artifacts.stamped_xml.as_deref().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let sep = certifica_core::stamping::simulated_sep_certificate().unwrap();
    let report = certifica_core::verify::verify(&String::from_utf8(xml).unwrap(), &[sep]);
    assert!(report.valid && report.stamped, "{report:?}");
    let pdf =
        certifica_core::ports::ArtifactStore::get(f.api.artifacts(), &t, certificate.artifacts.pdf.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let ledger = f.api.records().ledger(&t, Some(&certificate.id)).await.unwrap();
    assert_eq!(ledger.iter().map(|e| e.kind).collect::<Vec<_>>(), [LedgerKind::Reserved, LedgerKind::Consumed]);
    // Public verification, and issuing again changes nothing.
    let (status, verified) =
        get(&f, &format!("/v1/verify/{folio}"), Err(certifica_core::identity::AccessError::Unauthenticated)).await;
    assert_eq!((status, verified["status"].as_str()), (StatusCode::OK, Some("valido")));
    let (_, again) = issue(&f, "uva", &["UVA000"]).await;
    assert_eq!(outcome(&again, "UVA000")["status"], "omitido");
    assert_eq!(credits(&f, "uva").await, 3);
}

#[tokio::test]
async fn a_student_failing_the_rules_is_refused_and_consumes_nothing() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    let (status, body) = issue(&f, "uva", &["UVA003", "UVA004"]).await;
    assert_eq!(status, StatusCode::OK);
    let refused = outcome(&body, "UVA003");
    assert_eq!(refused["status"], "rechazado");
    assert_eq!(refused["problems"][0]["code"], "dato_faltante", "{refused}");
    assert_eq!(outcome(&body, "UVA004")["status"], "timbrado");
    assert_eq!(credits(&f, "uva").await, 4);
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA003", token("uva", &all("norte"))).await;
    assert_eq!(data["certificate"], Value::Null, "no certificate was recorded");
}

#[tokio::test]
async fn an_authority_failure_ends_in_error_and_a_retry_stamps_it() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    f.api.stamper().fail_next(Failure::Unavailable);
    let (_, body) = issue(&f, "uva", &["UVA002"]).await;
    let failed = outcome(&body, "UVA002");
    assert_eq!(failed["status"], "error", "{failed}");
    assert_eq!(failed["problems"][0]["code"], "timbrado_fallido");
    assert_eq!(credits(&f, "uva").await, 5, "the held credit came back");
    let (_, list) = get(&f, "/v1/schools/norte/cycles/2026/students?status=error", token("uva", &all("norte"))).await;
    assert_eq!(list["students"][0]["matricula"], "UVA002");
    assert!(list["students"][0]["certificate"]["lastError"].as_str().unwrap().contains("no está disponible"));
    f.api.stamper().fail_next(Failure::Reject("SELLO inválido".into()));
    let (_, body) = issue(&f, "uva", &["UVA002"]).await;
    assert_eq!(outcome(&body, "UVA002")["status"], "error", "a retry that fails again stays in Error");
    let (_, body) = issue(&f, "uva", &["UVA002"]).await;
    assert_eq!(outcome(&body, "UVA002")["status"], "timbrado");
    assert_eq!(credits(&f, "uva").await, 4);
}

#[tokio::test]
async fn without_credits_a_student_is_refused_until_credits_arrive() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    let (_, body) = issue(&f, "uva", &["UVA000", "UVA001", "UVA002", "UVA004", "UVA005", "UVA006"]).await;
    assert_eq!(body["issued"], 5);
    // Checked with the rules, before sealing: nothing is recorded for the student.
    let waiting = outcome(&body, "UVA006");
    assert_eq!(
        (waiting["status"].as_str(), waiting["problems"][0]["code"].as_str()),
        (Some("rechazado"), Some("sin_creditos"))
    );
    assert_eq!(credits(&f, "uva").await, 0);
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA006", token("uva", &all("norte"))).await;
    assert_eq!(data["certificate"], Value::Null);
    let t = Tenant::from_verified_identity("uva");
    f.api.records().add_credits(&t, 1, &certifica_core::records::Actor::new("admin", "compra")).await.unwrap();
    let (_, body) = issue(&f, "uva", &["UVA006"]).await;
    assert_eq!(outcome(&body, "UVA006")["status"], "timbrado");
    let balance = f.api.records().balance(&t).await.unwrap();
    assert_eq!((balance.available, balance.consumed), (0, 6));
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_returns_the_first_answer() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    let send = || async {
        let request = Request::builder()
            .method(Method::POST)
            .uri(ISSUE)
            .header("content-type", "application/json")
            .header("idempotency-key", "lote-2026-001")
            .body(Bytes::from(json!({"students": ["UVA000", "UVA001"]}).to_string()))
            .unwrap();
        let response = f.api.handle(request, token("uva", &all("norte")), "req").await;
        (response.status(), serde_json::from_slice::<Value>(response.body()).unwrap())
    };
    let (first_status, first) = send().await;
    let (second_status, second) = send().await;
    assert_eq!((first_status, second_status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first, second);
    assert_eq!(credits(&f, "uva").await, 3, "consumed once");
}

#[tokio::test]
async fn an_idempotency_key_is_bound_to_its_body_caller_and_decoded_route() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    let send = |uri: &'static str, students: &'static [&'static str], sub: &'static str| {
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("content-type", "application/json")
            .header("idempotency-key", "lote-unico")
            .body(Bytes::from(json!({ "students": students }).to_string()))
            .unwrap();
        let who = certifica_core::identity::Identity::from_claims(
            sub,
            Some("clerk@uva.mx"),
            Some("uva"),
            Some(&certifica_core::identity::Identity::permissions_claim(&all("norte"))),
        );
        let api = &f.api;
        async move {
            let response = api.handle(request, who, "req").await;
            (
                response.status(),
                response.headers().get("idempotent-replayed").is_some(),
                serde_json::from_slice::<Value>(response.body()).unwrap(),
            )
        }
    };
    let (status, replayed, first) = send(ISSUE, &["UVA000"], "u1").await;
    assert_eq!((status, replayed), (StatusCode::OK, false));
    // The same route written another way is the same route: the first answer, nothing issued again.
    let encoded = "/v1/schools/%6Eorte/cycles/2026/certificates/issue";
    let (status, replayed, again) = send(encoded, &["UVA000"], "u1").await;
    assert_eq!((status, replayed, &again), (StatusCode::OK, true, &first));
    // Another body with the same key is refused, not answered with the first result.
    let (status, _, refused) = send(ISSUE, &["UVA001"], "u1").await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("clave_reutilizada")));
    assert_eq!(refused["status"], 422);
    // Another user's key of the same text is theirs: it runs.
    let (status, replayed, theirs) = send(ISSUE, &["UVA001"], "u2").await;
    assert_eq!((status, replayed), (StatusCode::OK, false));
    assert_eq!(theirs["results"][0]["status"], "timbrado", "{theirs}");
    assert_eq!(credits(&f, "uva").await, 3, "two students stamped, once each");
}

#[tokio::test]
async fn batches_dates_and_permissions_are_checked_before_anything_happens() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    // Above the inline limit a selection is a job (tests/jobs.rs), up to a job's size.
    let many: Vec<String> = (0..51).map(|i| format!("UVA{i:03}")).collect();
    let (status, body) =
        call(&f, Method::POST, ISSUE, Some(json!({"students": many})), token("uva", &all("norte"))).await;
    assert_eq!((status, body["job"]["total"].as_u64()), (StatusCode::ACCEPTED, Some(51)), "{body}");
    let too_many: Vec<String> = (0..50_001).map(|i| format!("UVA{i:05}")).collect();
    let (status, body) =
        call(&f, Method::POST, ISSUE, Some(json!({"students": too_many})), token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("seleccion_demasiado_grande")));
    let (status, body) =
        call(&f, Method::POST, ISSUE, Some(json!({"students": []})), token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("sin_alumnos")));
    let (status, body) = call(
        &f,
        Method::POST,
        ISSUE,
        Some(json!({"students": ["UVA000"], "issueDate": "2999-01-01"})),
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("fecha_futura")));
    // A date that is not a real AAAA-MM-DD date, or before any e.firma could sign it, refuses the
    // whole request (not each student), saying why.
    for (date, code) in [
        ("ayer", "fecha_invalida"),
        ("2026-1-5", "fecha_invalida"),
        ("2026-02-30", "fecha_invalida"),
        ("0000-01-01", "fecha_invalida"),
        ("1800-01-01", "fecha_invalida"),
        ("2001-01-01", "fecha_anterior_al_firmante"),
    ] {
        let (status, body) = call(
            &f,
            Method::POST,
            ISSUE,
            Some(json!({"students": ["UVA000"], "issueDate": date})),
            token("uva", &all("norte")),
        )
        .await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{date}: {body}");
        assert!(body["results"].is_null() && body["detail"].as_str().is_some_and(|d| d.contains("fecha")), "{body}");
    }
    let (status, _) = call(
        &f,
        Method::POST,
        ISSUE,
        Some(json!({"students": ["UVA000"]})),
        token("uva", &[("norte", Permission::Ver)]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(credits(&f, "uva").await, 5);
}

#[tokio::test]
async fn another_institutions_students_cannot_be_issued() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    register_signer(&f, "otra").await;
    // otra's token naming uva's matrículas: they do not exist for otra.
    let (_, body) = issue(&f, "otra", &["UVA000"]).await;
    assert_eq!(outcome(&body, "UVA000")["problems"][0]["code"], "alumno_no_encontrado");
    assert_eq!((credits(&f, "uva").await, credits(&f, "otra").await), (5, 5));
}

#[tokio::test]
async fn an_autonomous_university_stamps_with_its_own_node_in_one_step() {
    let f = fixture().await;
    register_signer(&f, "otra").await;
    let (_, body) = issue(&f, "otra", &["OTRA000"]).await;
    let done = outcome(&body, "OTRA000");
    assert_eq!(done["status"], "timbrado", "{done}");
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/OTRA000", token("otra", &all("norte"))).await;
    assert_eq!(data["certificate"]["status"], "timbrado");
    let t = Tenant::from_verified_identity("otra");
    assert_eq!(
        f.api.records().institution(&t).await.unwrap().unwrap().kind,
        certifica_core::model::InstitutionType::Autonomo
    );
    assert_eq!(credits(&f, "otra").await, 4);
}

#[tokio::test]
async fn a_batch_answers_in_order_and_says_where_its_time_went() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    let students = ["UVA002", "UVA000", "UVA001"];
    let request = Request::builder()
        .method(Method::POST)
        .uri(ISSUE)
        .header("content-type", "application/json")
        .body(Bytes::from(json!({ "students": students }).to_string()))
        .unwrap();
    let response = f.api.handle(request, token("uva", &all("norte")), "req-tiempos").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    // Issued at once, answered in the order of the (sorted) selection.
    let order: Vec<&str> =
        body["results"].as_array().unwrap().iter().map(|r| r["matricula"].as_str().unwrap()).collect();
    assert_eq!(order, ["UVA000", "UVA001", "UVA002"]);
    assert_eq!(body["issued"], 3);
    let timing = response.headers().get("server-timing").expect("Server-Timing").to_str().unwrap().to_string();
    let stages: Vec<(&str, f64)> = timing
        .split(", ")
        .map(|s| {
            let (name, dur) = s.split_once(";dur=").unwrap();
            (name, dur.parse().unwrap())
        })
        .collect();
    let names: Vec<&str> = stages.iter().map(|(n, _)| *n).collect();
    assert_eq!(names[..5], ["sello", "timbre", "pdf", "documentos", "registros"]);
    // Sealing, stamping and rendering three certificates are real work.
    for (name, ms) in &stages[..3] {
        assert!(*ms > 0.0, "{name} took no time: {timing}");
    }
    // Where threads have a CPU clock, `cpu` is those three stages' CPU
    // time: some, and no more than their clock time (plus rounding).
    if cfg!(unix) {
        assert_eq!(names.len(), 6, "{timing}");
        let (name, cpu) = stages[5];
        let clock: f64 = stages[..3].iter().map(|(_, ms)| ms).sum();
        assert_eq!(name, "cpu");
        assert!(cpu > 0.0 && cpu <= clock + 0.2, "cpu {cpu} ms against {clock} ms of sello + timbre + pdf: {timing}");
    } else {
        assert_eq!(names.len(), 5, "{timing}");
    }
}

/// The student's current certificate, as the records hold it.
async fn certificate_of(f: &Fixture, matricula: &str) -> certifica_core::records::CertificateRecord {
    use certifica_core::ports::CertificateStore;
    let t = Tenant::from_verified_identity("uva");
    f.api.records().student_certificates(&t, "norte", "2026", matricula).await.unwrap().pop().unwrap()
}

async fn document_text(f: &Fixture, key: &str) -> String {
    use certifica_core::ports::ArtifactStore;
    let t = Tenant::from_verified_identity("uva");
    String::from_utf8(f.api.artifacts().get(&t, key).await.unwrap().unwrap()).unwrap()
}

#[tokio::test]
async fn a_refused_certificate_is_corrected_and_sealed_again_from_the_current_records() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    f.api.stamper().fail_next(Failure::Reject("DATOS: calificación de FIS1 no corresponde".into()));
    let (_, body) = issue(&f, "uva", &["UVA001"]).await;
    assert_eq!(outcome(&body, "UVA001")["status"], "error", "{body}");
    let refused = certificate_of(&f, "UVA001").await;
    let refused_xml = document_text(&f, refused.artifacts.sealed_xml.as_deref().unwrap()).await;
    assert!(refused_xml.contains("calificacion=\"5.00\""), "FIS1 was sealed with 5.00");
    // In Error the clerk may correct the grades (audited, flagged) …
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("uva", &all("norte"))).await;
    let edit = json!({"version": data["version"], "grades": [
        {"subjectClave": "MAT1", "value": "8", "ciclo": "2025-2"},
        {"subjectClave": "FIS1", "value": "9", "ciclo": "2025-2"}]});
    let uri = "/v1/schools/norte/cycles/2026/students/UVA001/grades";
    let (status, answer) = call(&f, Method::PUT, uri, Some(edit), token("uva", &all("norte"))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // … and the retry seals the current records: same certificate and folio de control, a new document.
    let (_, body) = issue(&f, "uva", &["UVA001"]).await;
    assert_eq!(outcome(&body, "UVA001")["status"], "timbrado", "{body}");
    let stamped = certificate_of(&f, "UVA001").await;
    assert_eq!((&stamped.id, &stamped.folio_control), (&refused.id, &refused.folio_control));
    assert_ne!(stamped.artifacts.sealed_xml, refused.artifacts.sealed_xml);
    assert!(stamped.grades_edited && stamped.last_error.is_none());
    let legal = document_text(&f, stamped.artifacts.stamped_xml.as_deref().unwrap()).await;
    assert!(legal.contains("calificacion=\"9.00\"") && !legal.contains("calificacion=\"5.00\""), "{legal}");
    assert_eq!(document_text(&f, refused.artifacts.sealed_xml.as_deref().unwrap()).await, refused_xml, "kept");
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("uva", &all("norte"))).await;
    let actions: Vec<&str> = data["audit"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["sealed", "stamp_failed", "grades_edited", "resealed", "stamped"], "{data}");
    assert_eq!(credits(&f, "uva").await, 4, "one credit, for the one stamp");
}

#[tokio::test]
async fn an_unchanged_refused_document_is_sent_again_as_it_was() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    f.api.stamper().fail_next(Failure::Unavailable);
    issue(&f, "uva", &["UVA002"]).await;
    let refused = certificate_of(&f, "UVA002").await;
    let (_, body) = issue(&f, "uva", &["UVA002"]).await;
    assert_eq!(outcome(&body, "UVA002")["status"], "timbrado", "{body}");
    let stamped = certificate_of(&f, "UVA002").await;
    assert_eq!(stamped.artifacts.sealed_xml, refused.artifacts.sealed_xml, "the same document");
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA002", token("uva", &all("norte"))).await;
    assert!(!data["audit"].as_array().unwrap().iter().any(|e| e["action"] == "resealed"), "{data}");
}

#[tokio::test]
async fn a_retry_checks_the_rules_again_before_sealing() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    f.api.stamper().fail_next(Failure::Unavailable);
    issue(&f, "uva", &["UVA004"]).await;
    // The institution stopped certifying meanwhile: the retry is refused by the rules, nothing sealed.
    let t = Tenant::from_verified_identity("uva");
    let mut institution = f.api.records().institution(&t).await.unwrap().unwrap();
    institution.mode = certifica_core::model::CertificationMode::Inactive;
    f.api.records().put_institution(&t, &institution).await.unwrap();
    let (_, body) = issue(&f, "uva", &["UVA004"]).await;
    let refused = outcome(&body, "UVA004");
    assert_eq!(refused["status"], "rechazado", "{body}");
    assert_eq!(certificate_of(&f, "UVA004").await.status, certifica_core::records::CertificateStatus::Error);
    assert_eq!(credits(&f, "uva").await, 5);
}

#[tokio::test]
async fn imports_never_change_what_a_valid_certificate_states() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    let import = "/v1/schools/norte/cycles/2026/students/import";
    issue(&f, "uva", &["UVA000"]).await;
    f.api.stamper().fail_next(Failure::Reject("DATOS".into()));
    issue(&f, "uva", &["UVA001"]).await;
    let (_, before) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA000", token("uva", &all("norte"))).await;
    let mut stamped = student("UVA000", "Josefina", "8A");
    stamped.grades = vec![grade("MAT1", 8), grade("FIS1", 9)];
    let mut refused = student("UVA001", "Ana", "8A");
    refused.grades = vec![grade("MAT1", 8), grade("FIS1", 9)];
    let mut pending = student("UVA002", "José", "8A");
    pending.email_personal = Some("jose@example.mx".into());
    let (status, answer) = call(
        &f,
        Method::POST,
        import,
        Some(json!({"students": [stamped, refused, pending]})),
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!((answer["imported"].as_u64(), answer["updated"].as_u64()), (Some(2), Some(2)), "{answer}");
    // Timbrado: refused for that student, with what to do; nothing of it changed.
    assert_eq!(answer["refused"][0]["matricula"], "UVA000");
    assert_eq!(answer["refused"][0]["code"], "datos_certificados");
    assert!(answer["refused"][0]["detail"].as_str().unwrap().contains("cancele el certificado"), "{answer}");
    let (_, after) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA000", token("uva", &all("norte"))).await;
    assert_eq!((&after["name"], &after["version"]), (&before["name"], &before["version"]));
    // Error: corrected, audited old → new and flagged; the retry seals it.
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("uva", &all("norte"))).await;
    assert_eq!(data["gradesEdited"], true, "{data}");
    let entry = data["audit"].as_array().unwrap().iter().find(|e| e["action"] == "grades_edited").unwrap();
    assert!(entry["detail"].as_str().unwrap().contains("FIS1: 5.00 → 9.00"), "{entry}");
    // No certificate: changed and audited (an email is not certified: no flag).
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA002", token("uva", &all("norte"))).await;
    assert_eq!(data["gradesEdited"], false);
    assert_eq!(data["audit"][0]["action"], "data_edited");
    assert_eq!(data["audit"][0]["detail"], "correo personal: uva002@correo.mx → jose@example.mx");
    // The same import again changes nothing more.
    let (_, again) = call(
        &f,
        Method::POST,
        import,
        Some(json!({"students": [student("UVA005", "Ana", "8B")]})),
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!(again["unchanged"].as_u64(), Some(1), "{again}");
}

#[tokio::test]
async fn a_malformed_selection_or_a_body_not_declared_as_json_is_refused_whole() {
    let f = fixture().await;
    register_signer(&f, "uva").await;
    for students in [json!(["UVA000", ""]), json!(["UVA000", "../UVA001"]), json!(["A 1"])] {
        let (status, body) =
            call(&f, Method::POST, ISSUE, Some(json!({ "students": students })), token("uva", &all("norte"))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("matricula_invalida")));
        assert!(body["results"].is_null(), "nothing issued: {body}");
    }
    let request = Request::builder()
        .method(Method::POST)
        .uri(ISSUE)
        .header("content-type", "text/plain")
        .body(Bytes::from(json!({"students": ["UVA000"]}).to_string()))
        .unwrap();
    let response = f.api.handle(request, token("uva", &all("norte")), "req").await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let request = Request::builder().method(Method::POST).uri(ISSUE).body(Bytes::from("{}")).unwrap();
    assert_eq!(
        f.api.handle(request, token("uva", &all("norte")), "req").await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(credits(&f, "uva").await, 5);
}

/// SAT-style test material made by the project's script (openssl), issued by the demo CA.
fn generated_efirma(name: &str, start: &str, end: &str) -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    generated_efirma_with(name, start, end, &[])
}

/// The same with the script's options (`GEN_EFIRMA_CA`, `GEN_EFIRMA_KEY_USAGE`).
fn generated_efirma_with(
    name: &str,
    start: &str,
    end: &str,
    options: &[(&str, String)],
) -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/gen-efirma.sh");
    let status = std::process::Command::new("bash")
        .envs(options.iter().map(|(k, v)| (*k, v.as_str())))
        .arg(&script)
        .arg(dir.path())
        .args([
            name,
            "MARÍA CRISTINA GÓMEZ RUIZ",
            DEMO_CURP,
            "00001000000500000009",
            start,
            end,
            "aes256",
            DEMO_PASSWORD,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let cer = std::fs::read(dir.path().join(format!("{name}.cer"))).unwrap();
    let key = std::fs::read(dir.path().join(format!("{name}.key"))).unwrap();
    (dir, cer, key)
}

#[tokio::test]
async fn an_expired_efirma_cannot_seal_by_choosing_an_earlier_issue_date() {
    use base64::Engine;
    let f = fixture().await;
    register_signer(&f, "uva").await;
    // Registered while valid, expired since: its files are swapped in the store
    // (registration itself refuses an expired certificate).
    let (_material, cer, key) = generated_efirma("vencido", "20170101000000Z", "20210101000000Z");
    let t = Tenant::from_verified_identity("uva");
    let mut signer = f.api.records().signer(&t, "norte").await.unwrap().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    signer.cer_base64 = b64.encode(&cer);
    signer.key_base64 = b64.encode(&key);
    f.api.records().put_signer(&t, &signer).await.unwrap();
    let body = json!({ "students": ["UVA000"], "issueDate": "2020-06-01" });
    let (status, answer) = call(&f, Method::POST, ISSUE, Some(body), token("uva", &all("norte"))).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("firmante_vencido")),
        "{answer}"
    );
    // It ended at 00:00 UTC on 2021-01-01: the evening of 2020-12-31 in Mexico.
    assert!(answer["detail"].as_str().unwrap().contains("venció el 2020-12-31"), "{answer}");
    assert_eq!(credits(&f, "uva").await, 5, "nothing sealed nor held");
}

#[tokio::test]
async fn only_an_efirma_from_a_trusted_ca_and_made_for_signing_can_be_registered() {
    use base64::Engine;
    let f = fixture().await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let register = |cer: &[u8], key: &[u8]| {
        let mut body = signer_body(DEMO_CURP, DEMO_PASSWORD);
        body["cer"] = json!(b64.encode(cer));
        body["key"] = json!(b64.encode(key));
        body
    };
    let uri = "/v1/schools/norte/signer";
    let (period_from, period_to) = ("20240101000000Z", "20361231235959Z");
    // Same holder, same CURP, valid dates — but issued by a CA nobody configured.
    let foreign_ca = tempfile::tempdir().unwrap();
    let ca = [("GEN_EFIRMA_CA", foreign_ca.path().display().to_string())];
    let (_a, cer, key) = generated_efirma_with("ajena", period_from, period_to, &ca);
    let (status, answer) = call(&f, Method::PUT, uri, Some(register(&cer, &key)), token("uva", &admin("norte"))).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("certificado_no_confiable")),
        "{answer}"
    );
    assert!(answer["detail"].as_str().unwrap().contains("AC AJENA DE PRUEBAS"), "names the issuer: {answer}");
    // From the trusted CA, but its key usage is not for signing.
    let usage = [("GEN_EFIRMA_KEY_USAGE", "critical, keyEncipherment".to_string())];
    let (_b, cer, key) = generated_efirma_with("cifrado", period_from, period_to, &usage);
    let (status, answer) = call(&f, Method::PUT, uri, Some(register(&cer, &key)), token("uva", &admin("norte"))).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("certificado_sin_uso_de_firma")),
        "{answer}"
    );
    // Offline sealing registers only the .cer: the same checks apply.
    let mut offline = register(&cer, &key);
    offline.as_object_mut().unwrap().retain(|k, _| k != "key" && k != "password");
    let (status, answer) = call(&f, Method::PUT, uri, Some(offline), token("uva", &admin("norte"))).await;
    assert_eq!(answer["code"], "certificado_sin_uso_de_firma", "{status} {answer}");
    let t = Tenant::from_verified_identity("uva");
    assert!(f.api.records().signer(&t, "norte").await.unwrap().is_none(), "nothing was registered");
    // The demo e.firma, from the demo CA, with SAT's key usage, is accepted.
    let (_c, cer, key) = generated_efirma("propia", period_from, period_to);
    let (status, answer) = call(&f, Method::PUT, uri, Some(register(&cer, &key)), token("uva", &admin("norte"))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

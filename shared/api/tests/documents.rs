//! After issuing: one certificate's download link, the cycle's zip with
//! its manifest, mail with the documents attached, cancellation (PDF
//! re-rendered as a new version, verification says so, a new certificate
//! can follow) and the preview of independent-recognition plans.

mod common;

use certifica_core::identity::{AccessError, Permission};
use certifica_core::ports::{ArtifactStore, CertificateStore, CreditStore};
use certifica_core::records::Tenant;
use common::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::Read;

const BASE: &str = "/v1/schools/norte/cycles/2026";

async fn issued(f: &Fixture, students: &[&str]) {
    let (status, body) = call(
        f,
        Method::PUT,
        "/v1/schools/norte/signer",
        Some(signer_body(DEMO_CURP, DEMO_PASSWORD)),
        token("uva", &admin("norte")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        f,
        Method::POST,
        &format!("{BASE}/certificates/issue"),
        Some(json!({"students": students})),
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!((status, body["issued"].as_u64()), (StatusCode::OK, Some(students.len() as u64)), "{body}");
}

/// The bytes behind a local download link.
fn follow(f: &Fixture, url: &str) -> Vec<u8> {
    let token = url.rsplit('/').next().unwrap();
    f.api.artifacts().open_link(token, chrono::Utc::now()).unwrap().unwrap()
}

#[tokio::test]
async fn one_certificate_downloads_through_a_short_lived_link() {
    let f = fixture().await;
    let (status, body) = get(&f, &format!("{BASE}/students/UVA000/certificate.xml"), token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("sin_certificado")));
    issued(&f, &["UVA000"]).await;
    let (status, body) =
        get(&f, &format!("{BASE}/students/UVA000/certificate.xml"), token("uva", &[("norte", Permission::Ver)])).await;
    assert_eq!(status, StatusCode::FOUND);
    let xml = String::from_utf8(follow(&f, body["url"].as_str().unwrap())).unwrap();
    assert!(xml.contains("<Dec") && xml.contains("SepIpes"), "the stamped document");
    let (_, body) = get(&f, &format!("{BASE}/students/UVA000/certificate.pdf"), token("uva", &all("norte"))).await;
    assert!(follow(&f, body["url"].as_str().unwrap()).starts_with(b"%PDF"));
    let (status, _) = get(&f, &format!("{BASE}/students/UVA000/certificate.pdf"), token("otra", &all("norte"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another institution gets nothing");
}

#[tokio::test]
async fn the_cycle_downloads_as_one_zip_with_a_manifest() {
    let f = fixture().await;
    let (status, body) =
        call(&f, Method::POST, &format!("{BASE}/certificates/download"), None, token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("sin_certificados")));
    issued(&f, &["UVA000", "UVA001", "UVA002"]).await;
    let (status, body) =
        call(&f, Method::POST, &format!("{BASE}/certificates/download"), None, token("uva", &all("norte"))).await;
    assert_eq!((status, body["certificates"].as_u64()), (StatusCode::OK, Some(3)), "{body}");
    let bytes = follow(&f, body["url"].as_str().unwrap());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(zip.len(), 3 * 2 + 1);
    let mut manifest = String::new();
    zip.by_name("manifiesto.csv").unwrap().read_to_string(&mut manifest).unwrap();
    let lines: Vec<&str> = manifest.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("matricula,nombre,plan,estado,folioControl,folioDigital"));
    assert!(lines[1].starts_with("UVA000,José Núñez,lae,Timbrado,"), "{}", lines[1]);
    let pdf_name = lines[1].split(',').next_back().unwrap();
    let mut pdf = Vec::new();
    zip.by_name(pdf_name).unwrap().read_to_end(&mut pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    assert_eq!(body["reused"], false);
    // Asked again (by anyone who may see it) while nothing changed: the same zip, not built again.
    let zips = || count_zips(f._dir.path());
    let built = zips();
    assert!(built > 0, "the zip is stored under the data folder");
    let (_, again) =
        call(&f, Method::POST, &format!("{BASE}/certificates/download"), None, token("uva", &all("norte"))).await;
    assert_eq!((again["reused"].as_bool(), again["certificates"].as_u64()), (Some(true), Some(3)), "{again}");
    assert_eq!(zips(), built, "nothing new stored");
    assert_eq!(follow(&f, again["url"].as_str().unwrap()).len(), follow(&f, body["url"].as_str().unwrap()).len());
    // Another format is another zip; a certificate issued since makes the cycle's zip new.
    let xml_only = json!({"format": "xml"});
    let (_, other) =
        call(&f, Method::POST, &format!("{BASE}/certificates/download"), Some(xml_only), token("uva", &all("norte")))
            .await;
    assert_eq!(other["reused"], false, "{other}");
    issued(&f, &["UVA004"]).await;
    let (_, changed) =
        call(&f, Method::POST, &format!("{BASE}/certificates/download"), None, token("uva", &all("norte"))).await;
    assert_eq!((changed["reused"].as_bool(), changed["certificates"].as_u64()), (Some(false), Some(4)), "{changed}");
}

/// Bulk zips stored under a data folder.
fn count_zips(root: &std::path::Path) -> usize {
    fn walk(dir: &std::path::Path, n: &mut usize) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, n);
            } else if path.to_string_lossy().contains("/zips/") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(root, &mut n);
    n
}

#[tokio::test]
async fn certificates_are_emailed_with_the_xml_and_pdf_attached() {
    let f = fixture().await;
    issued(&f, &["UVA000", "UVA001"]).await;
    // UVA001 has no address on record: reported, not skipped silently.
    let t = Tenant::from_verified_identity("uva");
    let mut no_mail = student("UVA001", "Ana", "8A");
    no_mail.email_personal = None;
    certifica_core::ports::StudentStore::put_students(f.api.records(), &t, "norte", "2026", &[no_mail]).await.unwrap();
    let (status, body) = call(
        &f,
        Method::POST,
        &format!("{BASE}/certificates/email"),
        Some(json!({"students": ["UVA000", "UVA001", "UVA005"]})),
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sent"], 1);
    let by = |m: &str| body["results"].as_array().unwrap().iter().find(|r| r["matricula"] == m).unwrap().clone();
    assert_eq!(by("UVA001")["code"], "sin_correo");
    assert_eq!(by("UVA005")["code"], "sin_certificado");
    let outbox: Vec<_> = std::fs::read_dir(f._dir.path().join("outbox")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(outbox.len(), 1);
    let raw = std::fs::read(&outbox[0]).unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("To: <uva000@correo.mx>"), "{text}");
    assert!(
        text.contains("filename=\"certificado-UVA000.xml\"") && text.contains("filename=\"certificado-UVA000.pdf\"")
    );
    let (_, data) = get(&f, &format!("{BASE}/students/UVA000"), token("uva", &all("norte"))).await;
    let actions: Vec<&str> = data["audit"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["sealed", "stamped", "emailed"]);
    let (status, _) = call(
        &f,
        Method::POST,
        &format!("{BASE}/certificates/email"),
        Some(json!({"students": ["UVA000"]})),
        token("uva", &[("norte", Permission::Ver)]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn cancelling_marks_the_pdf_keeps_the_xml_and_allows_a_new_certificate() {
    let f = fixture().await;
    issued(&f, &["UVA000"]).await;
    let uri = format!("{BASE}/certificates/cancel");
    let t = || token("uva", &all("norte"));
    for (body, code) in [
        (json!({"students": ["UVA000"], "motive": "X9"}), "motivo_invalido"),
        (json!({"students": ["UVA000"], "motive": "R5"}), "falta_explicacion"),
        (json!({"students": [], "motive": "R3"}), "sin_alumnos"),
    ] {
        let (status, answer) = call(&f, Method::POST, &uri, Some(body), t()).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{answer}");
    }
    let (_, data) = get(&f, &format!("{BASE}/students/UVA000"), t()).await;
    let folio = data["certificate"]["folioDigital"].as_str().unwrap().to_string();
    let tenant = Tenant::from_verified_identity("uva");
    let (_, valid) = f.api.records().by_folio(&folio).await.unwrap().unwrap();
    let original_pdf = valid.artifacts.pdf.clone().unwrap();
    let (status, body) = call(
        &f,
        Method::POST,
        &uri,
        Some(json!({"students": ["UVA000", "UVA001"], "motive": "R3", "reason": "Corrección del nombre"})),
        t(),
    )
    .await;
    assert_eq!((status, body["cancelled"].as_u64()), (StatusCode::OK, Some(1)), "{body}");
    let (_, data) = get(&f, &format!("{BASE}/students/UVA000"), t()).await;
    assert_eq!(data["certificate"]["status"], "cancelado");
    assert_eq!(data["certificate"]["cancellation"]["motive"], "R3");
    assert_eq!(data["certificate"]["cancellation"]["reason"], "Corrección del nombre");
    // The certificate now serves the CANCELADO PDF, stored apart; the original is kept as it was; the XML is unchanged.
    let (_, c) = f.api.records().by_folio(&folio).await.unwrap().unwrap();
    let cancelled_pdf = c.artifacts.pdf.clone().unwrap();
    assert_ne!(cancelled_pdf, original_pdf);
    assert_eq!(f.api.artifacts().versions(&tenant, &original_pdf).await.unwrap().len(), 1);
    assert!(f.api.artifacts().get(&tenant, &cancelled_pdf).await.unwrap().is_some());
    assert_eq!(c.artifacts.stamped_xml, valid.artifacts.stamped_xml);
    let (status, verified) = get(&f, &format!("/v1/verify/{folio}"), Err(AccessError::Unauthenticated)).await;
    assert_eq!((status, verified["status"].as_str()), (StatusCode::OK, Some("cancelado")));
    // Cancelling again is refused; a new certificate can be issued and consumes one more credit.
    let (_, again) = call(&f, Method::POST, &uri, Some(json!({"students": ["UVA000"], "motive": "R3"})), t()).await;
    assert_eq!(again["results"][0]["code"], "no_cancelable");
    let (_, reissue) =
        call(&f, Method::POST, &format!("{BASE}/certificates/issue"), Some(json!({"students": ["UVA000"]})), t()).await;
    assert_eq!(reissue["results"][0]["status"], "timbrado", "{reissue}");
    assert_eq!(f.api.records().balance(&tenant).await.unwrap().consumed, 2);
    let (_, data) = get(&f, &format!("{BASE}/students/UVA000"), t()).await;
    assert_eq!(data["history"].as_array().unwrap().len(), 2);
    assert_eq!(data["certificate"]["status"], "timbrado");
}

#[tokio::test]
async fn previews_are_only_for_independent_plans_and_change_nothing() {
    let f = fixture().await;
    let (status, body) = call(
        &f,
        Method::POST,
        &format!("{BASE}/certificates/preview"),
        Some(json!({"student": "UVA000"})),
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("vista_previa_no_disponible")));
    let sur = "/v1/schools/sur/cycles/2026/certificates/preview";
    let (status, body) =
        call(&f, Method::POST, sur, Some(json!({"student": "UVA000"})), token("uva", &all("sur"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("sin_firmante")));
    let (status, _) = call(
        &f,
        Method::PUT,
        "/v1/schools/sur/signer",
        Some(signer_body(DEMO_CURP, DEMO_PASSWORD)),
        token("uva", &admin("sur")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(sur)
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(json!({"student": "UVA000"}).to_string()))
        .unwrap();
    let response = f.api.handle(request, token("uva", &all("sur")), "req").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert!(response.body().starts_with(b"%PDF"));
    let (_, data) = get(&f, "/v1/schools/sur/cycles/2026/students/UVA000", token("uva", &all("sur"))).await;
    assert_eq!(data["certificate"], Value::Null);
    assert_eq!(f.api.records().balance(&Tenant::from_verified_identity("uva")).await.unwrap().available, 5);
    let (status, body) =
        call(&f, Method::POST, sur, Some(json!({"student": "UVA003"})), token("uva", &all("sur"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("datos_incompletos")),
        "the one without CURP"
    );
}

#[tokio::test]
async fn a_semi_electronic_institution_seals_and_exports_for_the_authority_portal() {
    use certifica_core::model::{CertificationMode, Institution, InstitutionType};
    use certifica_core::ports::InstitutionStore;
    let f = fixture().await;
    let t = Tenant::from_verified_identity("uva");
    f.api
        .records()
        .put_institution(
            &t,
            &Institution {
                id: "uva".into(),
                mec_id: "1".into(),
                name: "Institución uva".into(),
                kind: InstitutionType::Ipes,
                mode: CertificationMode::SemiElectronic,
            },
        )
        .await
        .unwrap();
    let export = format!("{BASE}/certificates/export-sealed");
    let (status, body) = call(&f, Method::POST, &export, None, token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("sin_sellados")));
    let (status, _) = call(
        &f,
        Method::PUT,
        "/v1/schools/norte/signer",
        Some(signer_body(DEMO_CURP, DEMO_PASSWORD)),
        token("uva", &admin("norte")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, issued) = call(
        &f,
        Method::POST,
        &format!("{BASE}/certificates/issue"),
        Some(json!({"students": ["UVA000", "UVA001"]})),
        token("uva", &all("norte")),
    )
    .await;
    assert!(issued["results"].as_array().unwrap().iter().all(|r| r["status"] == "sellado"), "{issued}");
    assert_eq!(f.api.records().balance(&t).await.unwrap().available, 5, "no stamp, no credit");
    let (status, _) = call(&f, Method::POST, &export, None, token("uva", &[("norte", Permission::Ver)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) =
        call(&f, Method::POST, &export, Some(json!({"students": ["UVA001"]})), token("uva", &all("norte"))).await;
    assert_eq!((status, body["certificates"].as_u64()), (StatusCode::OK, Some(1)), "{body}");
    let (_, body) = call(&f, Method::POST, &export, None, token("uva", &all("norte"))).await;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(follow(&f, body["url"].as_str().unwrap()))).unwrap();
    let mut manifest = String::new();
    zip.by_name("manifiesto.csv").unwrap().read_to_string(&mut manifest).unwrap();
    let first = manifest.lines().nth(1).unwrap();
    let file = first.split(',').next_back().unwrap();
    assert!(file.starts_with("norte-2026-UVA000-") && file.ends_with(".xml"), "named by folioControl: {file}");
    let mut xml = String::new();
    zip.by_name(file).unwrap().read_to_string(&mut xml).unwrap();
    let dec = certifica_core::document::Dec::parse(&xml).unwrap();
    assert!(dec.dreoe.is_none() && !dec.sello.is_empty(), "sealed, not stamped");
}

#[tokio::test]
async fn a_retried_email_with_the_same_idempotency_key_is_sent_once() {
    let f = fixture().await;
    issued(&f, &["UVA000"]).await;
    let send = |key: &'static str, grants: Vec<(&'static str, Permission)>| {
        let request = http::Request::builder()
            .method(Method::POST)
            .uri(format!("{BASE}/certificates/email"))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(bytes::Bytes::from(json!({"students": ["UVA000"]}).to_string()))
            .unwrap();
        f.api.handle(request, token("uva", &grants), "req")
    };
    let first = send("correo-1", all("norte")).await;
    let second = send("correo-1", all("norte")).await;
    assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first.body(), second.body());
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(std::fs::read_dir(f._dir.path().join("outbox")).unwrap().count(), 1, "one message");
    // A replay is answered only to a caller who may send.
    assert_eq!(send("correo-1", vec![("norte", Permission::Ver)]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(send("", all("norte")).await.status(), StatusCode::BAD_REQUEST);
    send("correo-2", all("norte")).await;
    assert_eq!(std::fs::read_dir(f._dir.path().join("outbox")).unwrap().count(), 2, "a new key sends again");
}

/// The zip of the view's two downloads: XML and PDF of the timbrados and
/// sellados, or every certificate's XML alone; a format or state that does
/// not exist is refused.
#[tokio::test]
async fn the_cycle_zip_takes_the_asked_states_and_format() {
    let f = fixture().await;
    issued(&f, &["UVA000", "UVA001", "UVA002", "UVA004"]).await;
    // The institution turns semi-electronic: the next certificate stops at Sellado.
    use certifica_core::model::{CertificationMode, Institution, InstitutionType};
    use certifica_core::ports::InstitutionStore;
    let institution = Institution {
        id: "uva".into(),
        mec_id: "1".into(),
        name: "Institución uva".into(),
        kind: InstitutionType::Ipes,
        mode: CertificationMode::SemiElectronic,
    };
    f.api.records().put_institution(&Tenant::from_verified_identity("uva"), &institution).await.unwrap();
    let (status, body) = call(
        &f,
        Method::POST,
        &format!("{BASE}/certificates/issue"),
        Some(json!({"students": ["UVA006"]})),
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!((status, body["results"][0]["status"].as_str()), (StatusCode::OK, Some("sellado")), "{body}");
    let zip_of = |body: &Value| {
        let bytes = follow(&f, body["url"].as_str().unwrap());
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut names: Vec<String> =
            (0..zip.len()).map(|i| zip.by_index(i).unwrap().name().unwrap().to_string()).collect();
        names.sort();
        names
    };
    let download = |body: Value| {
        let f = &f;
        async move {
            call(f, Method::POST, &format!("{BASE}/certificates/download"), Some(body), token("uva", &all("norte")))
                .await
        }
    };
    let (status, both) = download(json!({"format": "xml+pdf", "statuses": ["timbrado", "sellado"]})).await;
    assert_eq!((status, both["certificates"].as_u64()), (StatusCode::OK, Some(5)), "{both}");
    let names = zip_of(&both);
    assert_eq!(names.iter().filter(|n| n.ends_with(".pdf")).count(), 4, "sealed ones have no PDF yet: {names:?}");
    assert!(names.iter().any(|n| n.starts_with("UVA006/") && n.ends_with(".xml")), "{names:?}");
    let (status, xml) = download(json!({"format": "xml"})).await;
    assert_eq!((status, xml["certificates"].as_u64()), (StatusCode::OK, Some(4)), "{xml}");
    assert!(zip_of(&xml).iter().all(|n| n.ends_with(".xml") || n == "manifiesto.csv"));
    let (status, body) = download(json!({"format": "docx"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("formato_invalido")));
    let (status, body) = download(json!({"statuses": ["error"]})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("estado_invalido")));
}

/// A browser's `fetch` cannot follow a redirect to another origin: asked
/// for JSON, a document route answers the link itself.
#[tokio::test]
async fn a_document_link_is_answered_as_json_when_asked() {
    let f = fixture().await;
    issued(&f, &["UVA000"]).await;
    for (accept, expected) in [("application/json", StatusCode::OK), ("*/*", StatusCode::FOUND)] {
        let request = http::Request::builder()
            .uri(format!("{BASE}/students/UVA000/certificate.pdf"))
            .header("accept", accept)
            .body(bytes::Bytes::new())
            .unwrap();
        let response = f.api.handle(request, token("uva", &all("norte")), "req").await;
        assert_eq!(response.status(), expected, "{accept}");
        assert_eq!(response.headers().contains_key("location"), expected == StatusCode::FOUND, "{accept}");
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert!(follow(&f, body["url"].as_str().unwrap()).starts_with(b"%PDF"), "{accept}");
    }
}

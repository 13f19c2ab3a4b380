//! `stamp-on-upload` against the AWS emulator (DynamoDB + S3 on moto,
//! 127.0.0.1, started by `scripts/test.sh`), wired exactly as the Lambda
//! wires itself (`Settings` from the environment → `wire_upload`), driven by
//! the sample S3 events in `events/` with the real bucket, key, version and
//! ETag of each uploaded object.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certifica_api::Api;
use certifica_api::upload::UploadReport;
use certifica_core::catalogs::EntidadFederativa;
use certifica_core::document::Dec;
use certifica_core::efirma::Efirma;
use certifica_core::model::{CertificationMode, Institution, InstitutionType, School};
use certifica_core::ports::{ArtifactStore, AuditStore, CertificateStore, CreditStore, Inbox, InstitutionStore};
use certifica_core::records::{Actor, AuditAction, CertificateRecord, CertificateStatus, LedgerKind, Tenant};
use certifica_core::stamping::{Failure, LocalAuthority};
use certifica_functions::upload::{handle_s3_event, wire_upload};
use certifica_functions::{KeySource, Lambda, Settings, Stamping};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::{Read, Write};

mod common;
use common::*;

struct World {
    api: Api<Stamping>,
    s3: aws_sdk_s3::Client,
    bucket: String,
}

/// The function's settings, with its sealing key in a Secrets Manager secret (on the emulator).
async fn settings(table: &str, bucket: &str) -> Settings {
    let secrets = aws_sdk_secretsmanager::Client::new(&aws_config_for_tests().await);
    let secret = secrets
        .create_secret()
        .name(format!("{table}-sellos"))
        .secret_string(uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string())
        .send()
        .await
        .unwrap();
    let vars = [
        ("CERTIFICA_TABLE", table.to_string()),
        ("CERTIFICA_BUCKET", bucket.to_string()),
        ("CERTIFICA_VERIFY_BASE_URL", "https://certifica.example/v1/verify/".into()),
        ("CERTIFICA_SEAL_SECRET", secret.arn().unwrap().to_string()),
        ("CERTIFICA_STAMPER", "simulated".into()),
    ];
    let settings = Settings::from_lookup(Lambda::StampOnUpload, |name| {
        vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    })
    .unwrap();
    assert!(matches!(settings.seal_key, KeySource::Secret(_)));
    // These tests register their signers through the same API (in AWS, the issue function does).
    let demo_ca =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/trust/demo/ac-pruebas-certifica.pem");
    Settings { signer_cas: vec![demo_ca.display().to_string()], ..settings }
}

async fn aws_config_for_tests() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(emulator().await).load().await
}

/// A fresh table and bucket; `uva` (electronic, its signer seals offline:
/// only the certificate is registered), `otra` (owns school `sur`) and `itp`
/// (semi-electronic, submits through the authority's portal).
async fn world() -> World {
    emulator().await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (table, bucket) = (format!("certifica-{suffix}"), format!("certifica-{suffix}"));
    let (api, _) = wire_upload(&settings(&table, &bucket).await).await.unwrap();
    api.records().create_table().await.unwrap();
    api.artifacts().create_bucket().await.unwrap();
    let setup = Actor::new("alta", "alta");
    for (id, school, mode) in [
        ("uva", "norte", CertificationMode::Electronic),
        ("otra", "sur", CertificationMode::Electronic),
        ("itp", "centro", CertificationMode::SemiElectronic),
    ] {
        let t = Tenant::from_verified_identity(id);
        let institution = Institution {
            id: id.into(),
            mec_id: "090456".into(),
            name: "Universidad del Valle".into(),
            kind: InstitutionType::Ipes,
            mode,
        };
        api.records().put_institution(&t, &institution).await.unwrap();
        let school = School {
            id: school.into(),
            institution_id: id.into(),
            name: "Campus".into(),
            mec_campus_id: "150".into(),
            campus: "NORTE".into(),
            entidad: EntidadFederativa::CiudadDeMexico,
        };
        api.records().put_school(&t, &school).await.unwrap();
        api.records().add_credits(&t, 10, &setup).await.unwrap();
        let who = identity(id, &school.id);
        let base = format!("/v1/schools/{}", school.id);
        assert_eq!(call(&api, &who, Method::PUT, &format!("{base}/plans/lae"), plan()).await.0, StatusCode::OK);
        let students: Vec<Value> = (1..=6).map(|n| student(n, ["Ana", "Sofía", "Lucía"][n as usize % 3])).collect();
        let import = json!({"cycleName": "2025-2026", "students": students});
        let (status, body) =
            call(&api, &who, Method::POST, &format!("{base}/cycles/{CYCLE}/students/import"), import).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut signer = json!({
            "responsable": {"curp": DEMO_CURP, "nombre": "María Cristina", "primerApellido": "Gómez",
                            "segundoApellido": "Ruiz", "cargo": "ResponsableExpedicion"},
            "cer": STANDARD.encode(DEMO_CER),
        });
        if id == "itp" {
            signer["key"] = json!(STANDARD.encode(DEMO_KEY));
            signer["password"] = json!(DEMO_PASSWORD);
        }
        let (status, body) = call(&api, &who, Method::PUT, &format!("{base}/signer"), signer).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["sealsOffline"], id != "itp");
    }
    let s3 = certifica_aws::s3_client(&certifica_aws::lambda_config().unwrap());
    World { api, s3, bucket }
}

fn tenant(id: &str) -> Tenant {
    Tenant::from_verified_identity(id)
}

/// The bytes of a zip the API stored (its answer's link names it).
async fn stored_zip(w: &World, t: &Tenant, answer: &Value) -> Vec<u8> {
    let url = answer["url"].as_str().unwrap();
    let name = url.split("/zips/").nth(1).unwrap().split('?').next().unwrap();
    w.api.artifacts().get(t, &format!("zips/{name}")).await.unwrap().unwrap()
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().unwrap().to_string(), data)
        })
        .collect()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The unsealed documents of `students` of `uva`/`norte`, exported for offline sealing.
async fn export_unsealed(w: &World, students: &[&str]) -> Vec<Dec> {
    let who = identity("uva", "norte");
    let uri = format!("/v1/schools/norte/cycles/{CYCLE}/certificates/export-unsealed");
    let (status, answer) = call(&w.api, &who, Method::POST, &uri, json!({ "students": students })).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let files = unzip(&stored_zip(w, &tenant("uva"), &answer).await);
    let manifest = files.iter().find(|(n, _)| n == "manifiesto.csv").unwrap();
    assert!(String::from_utf8_lossy(&manifest.1).starts_with("matricula,folioControl,fechaExpedicion,archivo"));
    students
        .iter()
        .map(|s| {
            let (_, xml) = files.iter().find(|(n, _)| *n == format!("{s}.xml")).unwrap();
            Dec::parse(std::str::from_utf8(xml).unwrap()).unwrap()
        })
        .collect()
}

/// What `certifica sign` does, with the demo e.firma.
fn seal(mut dec: Dec) -> String {
    let efirma = Efirma::load(DEMO_CER, DEMO_KEY, DEMO_PASSWORD.as_bytes()).unwrap();
    certifica_core::sello::seal(&mut dec, &efirma).unwrap();
    dec.to_xml()
}

/// Uploads `bytes` as `key` and answers the S3 event record for it, made
/// from the sample `events/s3-single.json` with this object's identity.
async fn upload(w: &World, key: &str, bytes: Vec<u8>) -> Value {
    let out =
        w.s3.put_object()
            .bucket(&w.bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
            .send()
            .await
            .unwrap();
    let mut record = sample("s3-single.json")["Records"][0].clone();
    record["s3"]["bucket"]["name"] = json!(w.bucket);
    record["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", w.bucket));
    // S3 URL-encodes keys in events.
    record["s3"]["object"]["key"] = json!(
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string().replace("%2F", "/")
    );
    record["s3"]["object"]["versionId"] = json!(out.version_id().unwrap());
    record["s3"]["object"]["eTag"] = json!(out.e_tag().unwrap().trim_matches('"'));
    record
}

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn event(records: Vec<Value>) -> aws_lambda_events::event::s3::S3Event {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// Runs the handler on `records`, as Lambda would.
async fn deliver(w: &World, records: Vec<Value>) -> Result<Value, String> {
    deliver_in(w, records, "invocacion-de-prueba").await
}

/// The same, in the invocation with Lambda request id `invocation`.
async fn deliver_in(w: &World, records: Vec<Value>, invocation: &str) -> Result<Value, String> {
    handle_s3_event(&w.api, w.api.artifacts(), event(records), Some(invocation)).await.map_err(|e| e.to_string())
}

/// An invocation that took the claim on `record`'s upload and crashed before settling it.
async fn crashed_holding_the_claim(w: &World, record: &Value, invocation: &str) {
    use certifica_core::ports::IdempotencyStore;
    let records: aws_lambda_events::event::s3::S3Event = event(vec![record.clone()]);
    let upload = certifica_functions::upload::upload_event(&records.records[0], Some(invocation)).unwrap();
    let claim = chrono::Duration::minutes(certifica_api::upload::CLAIM_MINUTES);
    let (t, id) = (tenant("uva"), upload.id());
    w.api.records().begin(&t, &id, claim).await.unwrap();
    w.api.records().begin(&t, &format!("{id}@{invocation}"), claim).await.unwrap();
}

/// The report written beside a settled upload.
async fn report(w: &World, settled: &str) -> UploadReport {
    let bytes = Inbox::fetch(w.api.artifacts(), &format!("{settled}.json"), None).await.unwrap().unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn exists(w: &World, key: &str) -> bool {
    Inbox::fetch(w.api.artifacts(), key, None).await.unwrap().is_some()
}

async fn certificates(w: &World, institution: &str, school: &str, student: &str) -> Vec<CertificateRecord> {
    w.api.records().student_certificates(&tenant(institution), school, CYCLE, student).await.unwrap()
}

async fn consumed(w: &World, institution: &str) -> usize {
    let ledger = w.api.records().ledger(&tenant(institution), None).await.unwrap();
    ledger.iter().filter(|e| e.kind == LedgerKind::Consumed).count()
}

#[tokio::test]
async fn an_offline_sealed_document_is_stamped_once_however_often_it_is_delivered() {
    let w = world().await;
    let available = w.api.records().balance(&tenant("uva")).await.unwrap().available;
    let [dec] = <[Dec; 1]>::try_from(export_unsealed(&w, &["A0001"]).await).unwrap();
    assert!(!dec.is_sealed(), "exported for sealing, not sealed");
    let key = format!("inbox/uva/norte/{CYCLE}/A0001.xml");
    let record = upload(&w, &key, seal(dec).into_bytes()).await;

    let answer = deliver(&w, vec![record.clone()]).await.unwrap();
    assert_eq!(answer["records"][0]["outcome"], "procesado", "{answer}");
    let [c] = <[CertificateRecord; 1]>::try_from(certificates(&w, "uva", "norte", "A0001").await).unwrap();
    assert_eq!(c.status, CertificateStatus::Timbrado);
    let folio = c.folio_digital.clone().unwrap();
    assert_eq!(answer["records"][0]["documents"][0]["folioDigital"], folio.as_str());
    // XML as the authority returned it, and the PDF, stored.
    let t = tenant("uva");
    let xml = w.api.artifacts().get(&t, c.artifacts.stamped_xml.as_ref().unwrap()).await.unwrap().unwrap();
    let authority = LocalAuthority::simulated_sep().unwrap().certificate().clone();
    assert!(certifica_core::verify::verify(std::str::from_utf8(&xml).unwrap(), &[authority]).valid);
    let pdf = w.api.artifacts().get(&t, c.artifacts.pdf.as_ref().unwrap()).await.unwrap().unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    // Out of the inbox, with its report.
    assert!(!exists(&w, &key).await);
    let settled = format!("processed/uva/norte/{CYCLE}/A0001.xml");
    assert!(exists(&w, &settled).await);
    assert_eq!(report(&w, &settled).await.documents[0].status, "timbrado");

    // The same record delivered twice more (the sample redelivery): nothing changes.
    let mut redelivered = sample("s3-redelivered.json")["Records"][0].clone();
    redelivered["s3"] = record["s3"].clone();
    for _ in 0..2 {
        let again = deliver(&w, vec![redelivered.clone()]).await.unwrap();
        assert_eq!(again["records"][0]["outcome"], "repetido", "{again}");
    }
    let after = certificates(&w, "uva", "norte", "A0001").await;
    assert_eq!((after.len(), after[0].folio_digital.as_deref()), (1, Some(folio.as_str())));
    assert_eq!(w.api.records().balance(&t).await.unwrap().available, available - 1, "one credit");
    assert_eq!(consumed(&w, "uva").await, 1);
}

/// `dec` written and sealed as other software does: the scale's minimum as
/// `5`, the issue date at noon, elements on lines of their own, the seal's
/// attributes first; the sello made by openssl over the document's cadena.
fn sealed_elsewhere(dec: &Dec) -> String {
    let mut text = dec.to_xml();
    let date = dec.expedicion.fecha.get(..10).unwrap().to_string();
    for (from, to) in [
        (r#"calificacionMinima="5.00""#.to_string(), r#"calificacionMinima="5""#.to_string()),
        (format!(r#"fecha="{date}T00:00:00""#), format!(r#"fecha="{date}T12:00:00""#)),
        ("><".to_string(), ">\n  <".to_string()),
    ] {
        assert!(text.contains(&from), "{from} in {text}");
        text = text.replace(&from, &to);
    }
    let cadena = certifica_core::cadena::cadena_original(&Dec::parse(&text).unwrap()).unwrap();
    assert!(cadena.contains("|5|") && cadena.contains("T12:00:00|"), "{cadena}");
    let dir = tempfile::tempdir().unwrap();
    let (pem, input) = (dir.path().join("llave.pem"), dir.path().join("cadena.txt"));
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo-efirma/responsable.key");
    let openssl = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new("openssl").args(args).output().expect("openssl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let pass = format!("pass:{DEMO_PASSWORD}");
    openssl(&[
        "pkcs8".as_ref(),
        "-inform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        key.as_os_str(),
        "-passin".as_ref(),
        pass.as_ref(),
        "-out".as_ref(),
        pem.as_os_str(),
    ]);
    std::fs::write(&input, &cadena).unwrap();
    let signature =
        openssl(&["dgst".as_ref(), "-sha256".as_ref(), "-sign".as_ref(), pem.as_os_str(), input.as_os_str()]);
    let number =
        Efirma::load(DEMO_CER, DEMO_KEY, DEMO_PASSWORD.as_bytes()).unwrap().certificate().number().value.clone();
    let seal = format!(
        r#"<Dec sello="{}" noCertificadoResponsable="{number}" certificadoResponsable="{}" "#,
        STANDARD.encode(signature),
        STANDARD.encode(DEMO_CER)
    );
    text.replacen("<Dec ", &seal, 1)
}

#[tokio::test]
async fn a_document_sealed_by_other_software_is_judged_by_its_values_and_kept_as_sealed() {
    let w = world().await;
    let [dec] = <[Dec; 1]>::try_from(export_unsealed(&w, &["A0003"]).await).unwrap();
    let sealed = sealed_elsewhere(&dec);
    assert!(certifica_core::verify::verify(&sealed, &[]).valid, "openssl's seal verifies");
    let key = format!("inbox/uva/norte/{CYCLE}/A0003.xml");
    let record = upload(&w, &key, sealed.clone().into_bytes()).await;
    let answer = deliver(&w, vec![record]).await.unwrap();
    assert_eq!(answer["records"][0]["outcome"], "procesado", "{answer}");
    let [c] = <[CertificateRecord; 1]>::try_from(certificates(&w, "uva", "norte", "A0003").await).unwrap();
    assert_eq!(c.status, CertificateStatus::Timbrado);
    // Kept byte for byte as sealed; the authority's copy carries the same values as written.
    let t = tenant("uva");
    let kept = w.api.artifacts().get(&t, c.artifacts.sealed_xml.as_ref().unwrap()).await.unwrap().unwrap();
    assert_eq!(kept, sealed.as_bytes());
    let stamped = w.api.artifacts().get(&t, c.artifacts.stamped_xml.as_ref().unwrap()).await.unwrap().unwrap();
    assert!(String::from_utf8(stamped).unwrap().contains(r#"calificacionMinima="5""#));
    // A value that really differs from the records is still refused.
    let [other] = <[Dec; 1]>::try_from(export_unsealed(&w, &["A0004"]).await).unwrap();
    let mut changed = other.clone();
    changed.alumno.nombre = format!("{} José", changed.alumno.nombre);
    let key = format!("inbox/uva/norte/{CYCLE}/A0004.xml");
    let record = upload(&w, &key, sealed_elsewhere(&changed).into_bytes()).await;
    let answer = deliver(&w, vec![record]).await.unwrap();
    let refused = &answer["records"][0]["documents"][0];
    assert_eq!(refused["code"], "documento_distinto", "{answer}");
    let why = report(&w, &format!("rejected/uva/norte/{CYCLE}/A0004.xml")).await.documents[0].message.clone();
    assert!(why.as_deref().is_some_and(|m| m.contains("Alumno/nombre")), "{why:?}");
}

#[tokio::test]
async fn an_offline_certificate_in_error_is_corrected_sealed_again_and_stamped() {
    let w = world().await;
    let who = identity("uva", "norte");
    let [dec] = <[Dec; 1]>::try_from(export_unsealed(&w, &["A0005"]).await).unwrap();
    let key = format!("inbox/uva/norte/{CYCLE}/A0005.xml");
    let record = upload(&w, &key, seal(dec.clone()).into_bytes()).await;
    w.api
        .stamper()
        .simulated()
        .expect("simulated authority")
        .fail_next(Failure::Reject("la calificación de CON1 no corresponde".into()));
    deliver(&w, vec![record]).await.unwrap();
    let [refused] = <[CertificateRecord; 1]>::try_from(certificates(&w, "uva", "norte", "A0005").await).unwrap();
    assert_eq!(refused.status, CertificateStatus::Error);
    // The clerk corrects the grade; the signer seals offline, so a retry asks for a new seal.
    let base = format!("/v1/schools/norte/cycles/{CYCLE}");
    let (_, data) = call(&w.api, &who, Method::GET, &format!("{base}/students/A0005"), Value::Null).await;
    let edit = json!({"version": data["version"], "grades": [
        {"subjectClave": "ADM1", "value": "9", "ciclo": "2022-1"},
        {"subjectClave": "CON1", "value": "9.5", "ciclo": "2022-2"}]});
    let (status, answer) = call(&w.api, &who, Method::PUT, &format!("{base}/students/A0005/grades"), edit).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, retried) =
        call(&w.api, &who, Method::POST, &format!("{base}/certificates/issue"), json!({"students": ["A0005"]})).await;
    assert_eq!(retried["results"][0]["problems"][0]["code"], "sellar_de_nuevo", "{retried}");
    // Exported again: the same certificate's folio de control, the corrected grade.
    let [again] = <[Dec; 1]>::try_from(export_unsealed(&w, &["A0005"]).await).unwrap();
    assert_eq!(again.folio_control, refused.folio_control);
    assert!(again.asignatura.iter().any(|a| a.calificacion == "9.50"), "{:?}", again.asignatura);
    let key = format!("inbox/uva/norte/{CYCLE}/A0005-corregido.xml");
    let record = upload(&w, &key, seal(again).into_bytes()).await;
    let answer = deliver(&w, vec![record]).await.unwrap();
    assert_eq!(answer["records"][0]["documents"][0]["status"], "timbrado", "{answer}");
    let [c] = <[CertificateRecord; 1]>::try_from(certificates(&w, "uva", "norte", "A0005").await).unwrap();
    assert_eq!((c.id.as_str(), c.status), (refused.id.as_str(), CertificateStatus::Timbrado));
    assert_ne!(c.artifacts.sealed_xml, refused.artifacts.sealed_xml, "the new seal is the certificate's document");
    let t = tenant("uva");
    let stamped = w.api.artifacts().get(&t, c.artifacts.stamped_xml.as_ref().unwrap()).await.unwrap().unwrap();
    assert!(String::from_utf8(stamped).unwrap().contains(r#"calificacion="9.50""#));
    assert_eq!(consumed(&w, "uva").await, 1);
    let audit = w.api.records().audit_of_certificate(&t, &c.id).await.unwrap();
    assert!(audit.iter().any(|e| e.action == AuditAction::Resealed), "{audit:?}");
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_charges_one_credit() {
    let w = world().await;
    let t = tenant("uva");
    let available = w.api.records().balance(&t).await.unwrap().available;
    let [dec] = <[Dec; 1]>::try_from(export_unsealed(&w, &["A0002"]).await).unwrap();
    let key = format!("inbox/uva/norte/{CYCLE}/lote 7/A0002.xml");
    let record = upload(&w, &key, seal(dec).into_bytes()).await;

    w.api.stamper().simulated().expect("simulated authority").fail_next(Failure::Unavailable);
    let failed = deliver(&w, vec![record.clone()]).await.unwrap_err();
    assert!(failed.contains("se reintentarán") && failed.contains("no está disponible"), "{failed}");
    assert!(exists(&w, &key).await, "left in the inbox for the retry");
    assert_eq!(certificates(&w, "uva", "norte", "A0002").await[0].status, CertificateStatus::Error);
    assert_eq!(w.api.records().balance(&t).await.unwrap().available, available, "no credit on failure");

    // Lambda's retry: the same event.
    let answer = deliver(&w, vec![record]).await.unwrap();
    assert_eq!(answer["records"][0]["outcome"], "procesado", "{answer}");
    let [c] = <[CertificateRecord; 1]>::try_from(certificates(&w, "uva", "norte", "A0002").await).unwrap();
    assert_eq!(c.status, CertificateStatus::Timbrado);
    assert_eq!(w.api.records().balance(&t).await.unwrap().available, available - 1);
    assert_eq!(consumed(&w, "uva").await, 1);
    assert!(exists(&w, &format!("processed/uva/norte/{CYCLE}/lote 7/A0002.xml")).await);
}

#[tokio::test]
async fn the_authority_zip_stamps_each_certificate_and_reports_each_failure() {
    let w = world().await;
    let (t, who) = (tenant("itp"), identity("itp", "centro"));
    let base = format!("/v1/schools/centro/cycles/{CYCLE}/certificates");
    let students = ["A0001", "A0002", "A0003", "A0004"];
    let (status, issued) =
        call(&w.api, &who, Method::POST, &format!("{base}/issue"), json!({"students": students})).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert!(issued["results"].as_array().unwrap().iter().all(|r| r["status"] == "sellado"), "{issued}");
    let (status, export) = call(&w.api, &who, Method::POST, &format!("{base}/export-sealed"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let sealed = unzip(&stored_zip(&w, &t, &export).await);
    let folio_of = |matricula: &str| format!("centro-{CYCLE}-{matricula}-1");
    let authority = LocalAuthority::simulated_sep().unwrap();
    let stamped = |matricula: &str| {
        let (_, xml) = sealed.iter().find(|(n, _)| *n == format!("{}.xml", folio_of(matricula))).unwrap();
        authority.authenticate(std::str::from_utf8(xml).unwrap()).unwrap()
    };
    let (one, two, four) = (stamped("A0001"), stamped("A0002"), stamped("A0004"));
    // A document altered after the authority stamped it.
    let mut altered = Dec::parse(&four.xml).unwrap();
    altered.alumno.nombre = "Lucía Alterada".into();
    let sheet = format!(
        "Folio Control,Estatus,Mensaje\n{},Autenticado,\n{},Rechazado,La CURP no coincide con RENAPO\n",
        folio_of("A0001"),
        folio_of("A0003")
    );
    let returned = zip_of(&[
        ("A0001.xml", one.xml.as_bytes()),
        ("A0002.xml", two.xml.as_bytes()),
        ("A0004.xml", altered.to_xml().as_bytes()),
        ("resultados.csv", sheet.as_bytes()),
    ]);
    let available = w.api.records().balance(&t).await.unwrap().available;
    let zip_key = format!("inbox/itp/centro/{CYCLE}/devuelto por la autoridad.zip");
    let png_key = format!("inbox/itp/centro/{CYCLE}/foto.png");
    let records = vec![upload(&w, &zip_key, returned).await, upload(&w, &png_key, b"\x89PNG\r\n".to_vec()).await];
    // Several records in one event, as in the sample.
    assert_eq!(sample("s3-several.json")["Records"].as_array().unwrap().len(), records.len());
    let answer = deliver(&w, records).await.unwrap();
    assert_eq!(answer["records"][0]["outcome"], "procesado", "{answer}");
    assert_eq!(answer["records"][1]["outcome"], "rechazado", "{answer}");

    let status_of = |c: &[CertificateRecord]| c[0].status;
    let c1 = certificates(&w, "itp", "centro", "A0001").await;
    let c2 = certificates(&w, "itp", "centro", "A0002").await;
    assert_eq!((status_of(&c1), status_of(&c2)), (CertificateStatus::Timbrado, CertificateStatus::Timbrado));
    assert_eq!(c1[0].folio_digital.as_deref(), Some(one.folio_digital.as_str()), "the authority's folio");
    let stored = w.api.artifacts().get(&t, c1[0].artifacts.stamped_xml.as_ref().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored, one.xml.as_bytes(), "kept byte for byte");
    let c3 = certificates(&w, "itp", "centro", "A0003").await;
    assert_eq!(status_of(&c3), CertificateStatus::Error);
    assert!(c3[0].last_error.as_deref().unwrap().contains("La CURP no coincide con RENAPO"));
    let c4 = certificates(&w, "itp", "centro", "A0004").await;
    assert_eq!(status_of(&c4), CertificateStatus::Sellado, "an altered document changes nothing");
    let audit = w.api.records().audit_of_student(&t, "centro", CYCLE, "A0004").await.unwrap();
    assert!(audit.iter().any(|e| e.action == AuditAction::UploadRejected && e.detail.contains("sello_invalido")));
    assert_eq!(w.api.records().balance(&t).await.unwrap().available, available - 2, "one credit per stamped one");

    let settled = format!("processed/itp/centro/{CYCLE}/devuelto por la autoridad.zip");
    let r = report(&w, &settled).await;
    let by_file = |suffix: &str| r.documents.iter().find(|d| d.file.ends_with(suffix)).unwrap().clone();
    assert_eq!(by_file("A0001.xml").status, "timbrado");
    assert_eq!(by_file("A0004.xml").code.as_deref(), Some("sello_invalido"));
    let refused = by_file(&format!("#{}", folio_of("A0003")));
    assert_eq!((refused.status.as_str(), refused.code.as_deref()), ("error", Some("rechazado_por_autoridad")));
    let png = report(&w, &format!("rejected/itp/centro/{CYCLE}/foto.png")).await;
    assert_eq!(png.code.as_deref(), Some("tipo_de_archivo"));

    // A sheet is unsigned: one naming a Sellado certificate that no export
    // sent to the authority (with a junk document beside it) changes nothing.
    let (status, issued) =
        call(&w.api, &who, Method::POST, &format!("{base}/issue"), json!({"students": ["A0005"]})).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let forged = format!("folioControl,estatus,mensaje\n{},Rechazado,inventado\n", folio_of("A0005"));
    let junk = zip_of(&[("basura.xml", b"<Dec/>".as_slice()), ("resultados.csv", forged.as_bytes())]);
    let junk_key = format!("inbox/itp/centro/{CYCLE}/falso.zip");
    let answer = deliver(&w, vec![upload(&w, &junk_key, junk).await]).await.unwrap();
    assert_eq!(answer["records"][0]["outcome"], "rechazado", "{answer}");
    assert_eq!(status_of(&certificates(&w, "itp", "centro", "A0005").await), CertificateStatus::Sellado);
    let r = report(&w, &format!("rejected/itp/centro/{CYCLE}/falso.zip")).await;
    let sheet = r.documents.iter().find(|d| d.file.ends_with("resultados.csv")).unwrap();
    assert_eq!(sheet.code.as_deref(), Some("hoja_fuera_de_lote"), "{r:?}");
}

#[tokio::test]
async fn every_bad_upload_is_moved_to_rejected_with_its_reason() {
    let w = world().await;
    let (t, who) = (tenant("uva"), identity("uva", "norte"));
    let docs = export_unsealed(&w, &["A0003", "A0004", "A0005"]).await;
    let (a3, a4, a5) = (docs[0].clone(), docs[1].clone(), docs[2].clone());
    // A0004 is stamped first: later uploads for it meet a Timbrado, then a Cancelado certificate.
    let a4_sealed = seal(a4.clone());
    let record = upload(&w, &format!("inbox/uva/norte/{CYCLE}/A0004.xml"), a4_sealed.clone().into_bytes()).await;
    deliver(&w, vec![record]).await.unwrap();
    assert_eq!(certificates(&w, "uva", "norte", "A0004").await[0].status, CertificateStatus::Timbrado);
    let available = w.api.records().balance(&t).await.unwrap().available;

    let tampered = {
        let mut dec = Dec::parse(&seal(a3.clone())).unwrap();
        dec.alumno.nombre = "Otro Nombre".into();
        dec.to_xml()
    };
    let unknown = seal(Dec {
        alumno: certifica_core::document::Alumno { numero_control: "Z9999".into(), ..a3.alumno.clone() },
        ..a3.clone()
    });
    let different = seal(Dec {
        alumno: certifica_core::document::Alumno { nombre: "Ana María".into(), ..a5.alumno.clone() },
        ..a5.clone()
    });
    let other_namespace = seal(a5.clone()).replace(certifica_core::document::NAMESPACE, "https://ejemplo.mx/otro/");
    let bomb = {
        let big = vec![b'<'; certifica_api::inbox::MAX_XML_BYTES + 10];
        let names: Vec<String> = (0..60).map(|i| format!("d{i}.xml")).collect();
        zip_of(&names.iter().map(|n| (n.as_str(), big.as_slice())).collect::<Vec<_>>())
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("foto.png", b"\x89PNG\r\n\x1a\n".to_vec(), "tipo_de_archivo"),
        ("roto.xml", b"<Dec version=\"3.0\"".to_vec(), "xml_mal_formado"),
        (
            "entidades.xml",
            b"<?xml version=\"1.0\"?><!DOCTYPE Dec [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Dec>&x;</Dec>".to_vec(),
            "doctype_no_permitido",
        ),
        (
            "grande.xml",
            [b"<Dec>".as_slice(), &vec![b' '; certifica_api::inbox::MAX_XML_BYTES]].concat(),
            "archivo_demasiado_grande",
        ),
        ("bomba.zip", bomb, "zip_demasiado_grande"),
        // Over the upload limit: refused by its size (HEAD), never read.
        (
            "enorme.zip",
            [b"PK\x03\x04".as_slice(), &vec![0u8; certifica_api::inbox::MAX_UPLOAD_BYTES]].concat(),
            "archivo_demasiado_grande",
        ),
        ("ruta.zip", zip_of(&[("../../fuera.xml", a4_sealed.as_bytes())]), "ruta_no_permitida"),
        ("otro-espacio.xml", other_namespace.into_bytes(), "espacio_de_nombres_incorrecto"),
        ("sin-sello.xml", a5.to_xml().into_bytes(), "sin_sello"),
        ("alterado.xml", tampered.into_bytes(), "sello_invalido"),
        ("desconocido.xml", unknown.into_bytes(), "alumno_no_encontrado"),
        ("distinto.xml", different.into_bytes(), "documento_distinto"),
        ("otra-vez.xml", a4_sealed.clone().into_bytes(), "ya_timbrado"),
    ];
    for (file, bytes, code) in cases {
        let key = format!("inbox/uva/norte/{CYCLE}/{file}");
        let record = upload(&w, &key, bytes).await;
        let answer = deliver(&w, vec![record]).await.unwrap();
        assert_eq!(answer["records"][0]["outcome"], "rechazado", "{file}: {answer}");
        assert!(!exists(&w, &key).await, "{file} left the inbox");
        let settled = format!("rejected/uva/norte/{CYCLE}/{file}");
        assert!(exists(&w, &settled).await, "{file} kept in rejected/");
        let r = report(&w, &settled).await;
        assert_eq!(r.code.as_deref(), Some(code), "{file}: {r:?}");
        assert!(r.message.as_deref().is_some_and(|m| m.chars().count() > 15), "{file}: a Spanish reason");
    }
    let audit = w.api.records().audit_of_student(&t, "norte", CYCLE, "A0004").await.unwrap();
    assert!(audit.iter().any(|e| e.action == AuditAction::UploadRejected && e.detail.contains("ya_timbrado")));

    // Cancelled: the same document again is refused for that reason.
    let cancel = json!({"students": ["A0004"], "motive": "R3", "reason": "Corrección del nombre"});
    let (status, body) =
        call(&w.api, &who, Method::POST, &format!("/v1/schools/norte/cycles/{CYCLE}/certificates/cancel"), cancel)
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record = upload(&w, &format!("inbox/uva/norte/{CYCLE}/cancelado.xml"), a4_sealed.into_bytes()).await;
    deliver(&w, vec![record]).await.unwrap();
    let r = report(&w, &format!("rejected/uva/norte/{CYCLE}/cancelado.xml")).await;
    assert_eq!(r.code.as_deref(), Some("ya_cancelado"), "{r:?}");

    // A key naming a school of another institution, and one outside the layout.
    let foreign = upload(&w, &format!("inbox/uva/sur/{CYCLE}/A0003.xml"), seal(a3.clone()).into_bytes()).await;
    let answer = deliver(&w, vec![foreign]).await.unwrap();
    assert_eq!(answer["records"][0]["code"], "escuela_desconocida", "{answer}");
    let loose = upload(&w, "inbox/uva/A0003.xml", seal(a3).into_bytes()).await;
    let answer = deliver(&w, vec![loose]).await.unwrap();
    assert_eq!(answer["records"][0]["code"], "ruta_invalida", "{answer}");
    assert!(exists(&w, "rejected/uva/A0003.xml.json").await);

    assert_eq!(w.api.records().balance(&t).await.unwrap().available, available, "no credit for any refusal");
    assert!(certificates(&w, "uva", "norte", "A0003").await.is_empty(), "nothing recorded for refused documents");
    assert!(certificates(&w, "otra", "sur", "A0003").await.is_empty(), "nor in the other institution");
}

/// Lambda retries a crashed invocation with the same request id: that retry
/// takes over the claim the crash left, at once; a duplicate S3 event (in
/// another invocation) waits for it instead of handling the upload twice.
#[tokio::test]
async fn a_crashed_invocations_retry_takes_its_claim_over_and_a_duplicate_waits() {
    let w = world().await;
    let [dec] = <[Dec; 1]>::try_from(export_unsealed(&w, &["A0002"]).await).unwrap();
    let key = format!("inbox/uva/norte/{CYCLE}/A0002.xml");
    let record = upload(&w, &key, seal(dec).into_bytes()).await;
    crashed_holding_the_claim(&w, &record, "req-caida").await;
    let duplicate = deliver_in(&w, vec![record.clone()], "req-otra").await.unwrap_err();
    assert!(duplicate.contains("se está procesando"), "{duplicate}");
    assert!(exists(&w, &key).await, "nothing was done");
    let retried = deliver_in(&w, vec![record.clone()], "req-caida").await.unwrap();
    assert_eq!(retried["records"][0]["outcome"], "procesado", "{retried}");
    assert_eq!(certificates(&w, "uva", "norte", "A0002").await[0].status, CertificateStatus::Timbrado);
    let again = deliver_in(&w, vec![record], "req-otra").await.unwrap();
    assert_eq!(again["records"][0]["outcome"], "repetido", "{again}");
    assert_eq!(consumed(&w, "uva").await, 1);
}

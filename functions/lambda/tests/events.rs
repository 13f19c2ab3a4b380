//! The functions' handlers in-process, driven by the sample API Gateway
//! events in `events/` (in the order of `events/order.json`) over the
//! embedded adapters: the whole flow answers as documented, and every route
//! refuses a missing identity, missing permissions, another institution,
//! malformed bodies and the wrong function.

use certifica_api::{Api, Config, Function};
use certifica_core::catalogs::EntidadFederativa;
use certifica_core::model::{CertificationMode, Institution, InstitutionType, School};
use certifica_core::ports::{CreditStore, InstitutionStore};
use certifica_core::records::{Actor, Tenant};
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::LocalAuthority;
use certifica_functions::handle;
use certifica_local::{Local, LocalArtifacts, LocalOutbox, LocalRecords};
use lambda_http::{Body, http::StatusCode};
use serde_json::Value;
use std::path::PathBuf;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn function(name: &str) -> Function {
    match name {
        "list-certificates" => Function::ListCertificates,
        "manage-records" => Function::ManageRecords,
        "issue-certificates" => Function::IssueCertificates,
        "cancel-certificates" => Function::CancelCertificates,
        "download-certificates" => Function::DownloadCertificates,
        "email-certificates" => Function::EmailCertificates,
        "verify" => Function::Verify,
        other => panic!("unknown function {other}"),
    }
}

/// `(event file, function, event JSON)` in flow order.
fn events() -> Vec<(String, Function, Value)> {
    let order: Value =
        serde_json::from_str(&std::fs::read_to_string(events_dir().join("order.json")).unwrap()).unwrap();
    order
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let file = e["event"].as_str().unwrap().to_string();
            let json = std::fs::read_to_string(events_dir().join(&file)).unwrap();
            (file, function(e["function"].as_str().unwrap()), serde_json::from_str(&json).unwrap())
        })
        .collect()
}

/// The institution and school the events act on (provisioned, not an API route).
async fn api(dir: &tempfile::TempDir) -> Api<Local> {
    let records = LocalRecords::open(&dir.path().join("db")).unwrap();
    for id in ["uva", "otra"] {
        let t = Tenant::from_verified_identity(id);
        records
            .put_institution(
                &t,
                &Institution {
                    id: id.into(),
                    mec_id: "090456".into(),
                    name: "Universidad del Valle de Anáhuac".into(),
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
                    institution_id: id.into(),
                    name: "Campus Norte".into(),
                    mec_campus_id: "150".into(),
                    campus: "NORTE".into(),
                    entidad: EntidadFederativa::CiudadDeMexico,
                },
            )
            .await
            .unwrap();
        records.add_credits(&t, 10, &Actor::new("admin", "alta")).await.unwrap();
    }
    let artifacts = LocalArtifacts::new(&dir.path().join("docs"), "http://127.0.0.1:9/files/", &[3u8; 32]).unwrap();
    let sender =
        certifica_core::mail::Sender { name: "Control Escolar".into(), address: "certificados@uva.edu.mx".into() };
    let outbox = LocalOutbox::new(&dir.path().join("outbox"), sender).unwrap();
    let config = Config::new(&[4u8; 32], SecretBox::new(&[6u8; 32]).unwrap(), "https://certifica.example/v1/verify/")
        .trusting_signer_cas(certifica_core::trust::SignerCas::demo());
    Api::with_queue(records.clone(), artifacts, LocalAuthority::simulated_sep().unwrap(), outbox, records, config)
}

async fn send(api: &Api<Local>, event: &Value, only: Function) -> (StatusCode, Value) {
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = handle(api, request, only).await;
    let status = response.status();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, body)
}

#[tokio::test]
async fn the_sample_events_walk_the_whole_flow() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir).await;
    let expected = |file: &str| match file {
        "preview.json" => StatusCode::UNPROCESSABLE_ENTITY, // the plan has RVOE: no preview
        "download-xml.json" | "download-pdf.json" => StatusCode::FOUND,
        "verify.json" => StatusCode::NOT_FOUND, // the sample folio does not exist
        "export-sealed.json" => StatusCode::NOT_FOUND, // an electronic institution: nothing left sealed
        _ => StatusCode::OK,
    };
    let mut folio = String::new();
    for (file, only, event) in events() {
        let (status, body) = send(&api, &event, only).await;
        assert_eq!(status, expected(&file), "{file}: {body}");
        match file.as_str() {
            "issue.json" => {
                assert_eq!(body["issued"], 3, "{body}");
                folio = body["results"][0]["folioDigital"].as_str().unwrap().to_string();
            }
            "list-students.json" => assert_eq!(body["students"].as_array().unwrap().len(), 2),
            "email.json" => assert_eq!(body["sent"], 2, "{body}"),
            "cancel.json" => assert_eq!(body["cancelled"], 1, "{body}"),
            _ => {}
        }
    }
    // The verification event with a real folio.
    let (_, _, mut verify) = events().into_iter().find(|(f, ..)| f == "verify.json").unwrap();
    let path = format!("/v1/verify/{folio}");
    verify["rawPath"] = Value::String(path.clone());
    verify["requestContext"]["http"]["path"] = Value::String(path);
    let (status, body) = send(&api, &verify, Function::Verify).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("valido")), "{body}");
    let balance = api.records().balance(&Tenant::from_verified_identity("uva")).await.unwrap();
    assert_eq!((balance.available, balance.consumed), (7, 3));
}

#[tokio::test]
async fn every_route_refuses_missing_identity_permissions_other_institutions_bad_bodies_and_wrong_functions() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir).await;
    for (file, only, event) in events().into_iter().filter(|(f, ..)| f != "verify.json") {
        let mut anonymous = event.clone();
        anonymous["requestContext"].as_object_mut().unwrap().remove("authorizer");
        assert_eq!(send(&api, &anonymous, only).await.0, StatusCode::UNAUTHORIZED, "{file} without identity");

        let mut other = event.clone();
        other["requestContext"]["authorizer"]["jwt"]["claims"]["permissions"] = Value::String(
            "sur=certificacion:ver sur=certificacion.timbrar:editar sur=certificacion.editar:editar".into(),
        );
        let (status, body) = send(&api, &other, only).await;
        if file == "list-schools.json" {
            assert_eq!(body["schools"].as_array().map(Vec::len), Some(0), "{file}: {body}");
        } else {
            assert_eq!(status, StatusCode::NOT_FOUND, "{file} for a school not granted: {body}");
        }

        let mut read_only = event.clone();
        read_only["requestContext"]["authorizer"]["jwt"]["claims"]["permissions"] =
            Value::String("norte=certificacion:ver".into());
        let (status, _) = send(&api, &read_only, only).await;
        let writes =
            matches!(only, Function::ManageRecords | Function::CancelCertificates | Function::EmailCertificates)
                || matches!(
                    file.as_str(),
                    "issue.json" | "put-signer.json" | "export-sealed.json" | "export-unsealed.json"
                );
        if writes {
            assert_eq!(status, StatusCode::FORBIDDEN, "{file} with ver only");
        } else {
            assert_ne!(status, StatusCode::FORBIDDEN, "{file} only needs ver");
        }

        // Malformed input: a broken JSON body and an unknown field are each a specific 400.
        if event.get("body").is_some() {
            let mut broken = event.clone();
            broken["body"] = Value::String("{\"students\": [".into());
            let (status, body) = send(&api, &broken, only).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("json_invalido")),
                "{file}: {body}"
            );
            let mut unknown: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
            unknown["campoDesconocido"] = Value::Bool(true);
            let mut extra = event.clone();
            extra["body"] = Value::String(unknown.to_string());
            let (status, body) = send(&api, &extra, only).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{file} with an unknown field: {body}");
            assert!(body["detail"].as_str().unwrap().contains("campoDesconocido"), "{file}: {body}");
        }

        let wrong = if only == Function::ListCertificates { Function::Verify } else { Function::ListCertificates };
        let (status, body) = send(&api, &event, wrong).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("ruta_desconocida")),
            "{file} to {wrong:?}"
        );
    }
    // Another institution with the same school id sees none of uva's records.
    let (_, _, list) = events().into_iter().find(|(f, ..)| f == "list-students.json").unwrap();
    let mut other = list.clone();
    other["requestContext"]["authorizer"]["jwt"]["claims"]["institution"] = Value::String("otra".into());
    let (status, body) = send(&api, &other, Function::ListCertificates).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "otra has no cycle 2026 yet: {body}");
}

#[test]
fn settings_name_the_missing_or_wrong_variable() {
    use certifica_functions::{KeySource, Lambda, Settings, StamperKind, StartError};
    let issue = Lambda::Api(Function::IssueCertificates);
    let full = |name: &str| -> Option<String> {
        Some(
            match name {
                "CERTIFICA_CURSOR_SECRET" | "CERTIFICA_SEAL_SECRET" => {
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:certifica-abc"
                }
                "CERTIFICA_STAMPER" => "simulated",
                "CERTIFICA_JOBS_QUEUE" => "https://sqs.us-east-1.amazonaws.com/123456789012/certifica-trabajos",
                "CERTIFICA_MAIL_PER_SECOND" => "14",
                "CERTIFICA_JOB_WORKERS" => "2",
                "CERTIFICA_CURSOR_KEY" | "CERTIFICA_SEAL_KEY" => return None,
                _ => "valor",
            }
            .to_string(),
        )
    };
    let settings = Settings::from_lookup(issue, full).unwrap();
    assert!(matches!(settings.seal_key, KeySource::Secret(_)));
    assert_eq!((settings.cursor_key, settings.sender), (KeySource::Unused, None), "issue neither pages nor mails");
    let without = |missing: &'static str| move |name: &str| if name == missing { None } else { full(name) };
    assert!(matches!(
        Settings::from_lookup(issue, without("CERTIFICA_TABLE")),
        Err(StartError::Missing("CERTIFICA_TABLE"))
    ));
    assert!(matches!(
        Settings::from_lookup(issue, without("CERTIFICA_SEAL_SECRET")),
        Err(StartError::Missing("CERTIFICA_SEAL_SECRET"))
    ));
    // Functions that do not seal do not need the secret at all.
    assert!(Settings::from_lookup(Lambda::Api(Function::Verify), without("CERTIFICA_SEAL_SECRET")).is_ok());
    let real_authority = |name: &str| if name == "CERTIFICA_STAMPER" { Some("sep".into()) } else { full(name) };
    assert!(matches!(Settings::from_lookup(issue, real_authority), Err(StartError::Invalid("CERTIFICA_STAMPER", _))));
    let not_arn = |name: &str| if name == "CERTIFICA_SEAL_SECRET" { Some("clave".into()) } else { full(name) };
    assert!(matches!(Settings::from_lookup(issue, not_arn), Err(StartError::Invalid("CERTIFICA_SEAL_SECRET", _))));
    let short_key = |name: &str| if name == "CERTIFICA_SEAL_KEY" { Some("AAEC".into()) } else { full(name) };
    assert!(matches!(Settings::from_lookup(issue, short_key), Err(StartError::Invalid("CERTIFICA_SEAL_KEY", _))));
    let email = Lambda::Api(Function::EmailCertificates);
    assert!(matches!(
        Settings::from_lookup(email, without("CERTIFICA_SENDER")),
        Err(StartError::Missing("CERTIFICA_SENDER"))
    ));
    // list reads the cursor secret's value, resolved into its environment at deployment.
    let list = Lambda::Api(Function::ListCertificates);
    let value = "x7Kp2qLm9Vz4Rt8Wn3Yb6Hc1Jd5Fg0Sa7Ue2Io9Pk4Mw8Nx3Qv6Zr1Ty5Lb0Gh";
    let resolved = |name: &str| if name == "CERTIFICA_CURSOR_SECRET" { Some(value.to_string()) } else { full(name) };
    assert_eq!(Settings::from_lookup(list, resolved).unwrap().cursor_key, KeySource::Value(value.into()));
    let short = |name: &str| if name == "CERTIFICA_CURSOR_SECRET" { Some("corto".into()) } else { full(name) };
    assert!(matches!(Settings::from_lookup(list, short), Err(StartError::Invalid("CERTIFICA_CURSOR_SECRET", _))));
    // Every API function is tied to its API; issue needs the signers' CAs.
    assert!(matches!(
        Settings::from_lookup(list, without("CERTIFICA_API_TAG")),
        Err(StartError::Missing("CERTIFICA_API_TAG"))
    ));
    assert!(matches!(
        Settings::from_lookup(issue, without("CERTIFICA_SIGNER_CAS")),
        Err(StartError::Missing("CERTIFICA_SIGNER_CAS"))
    ));
    assert_eq!(Settings::from_lookup(list, full).unwrap().signer_cas, Vec::<String>::new());
    // Without an online authority (prod), the authority's certificates are required.
    let none = |name: &str| if name == "CERTIFICA_STAMPER" { Some("ninguna".into()) } else { full(name) };
    let settings = Settings::from_lookup(issue, none).unwrap();
    assert_eq!((settings.stamper, settings.authority_certs), (Some(StamperKind::None), vec!["valor".to_string()]));
    let none_without_certs = |name: &str| match name {
        "CERTIFICA_AUTHORITY_CERTS" => Some(" , ".into()),
        _ => none(name),
    };
    assert!(matches!(
        Settings::from_lookup(issue, none_without_certs),
        Err(StartError::Missing("CERTIFICA_AUTHORITY_CERTS"))
    ));
    // The routes that take whole classes queue them; the worker paces its share of the mail rate.
    assert!(matches!(
        Settings::from_lookup(email, without("CERTIFICA_JOBS_QUEUE")),
        Err(StartError::Missing("CERTIFICA_JOBS_QUEUE"))
    ));
    let not_url = |name: &str| if name == "CERTIFICA_JOBS_QUEUE" { Some("trabajos".into()) } else { full(name) };
    assert!(matches!(Settings::from_lookup(issue, not_url), Err(StartError::Invalid("CERTIFICA_JOBS_QUEUE", _))));
    assert_eq!(Settings::from_lookup(list, full).unwrap().jobs_queue, None, "list queues nothing");
    let worker = Lambda::JobsWorker;
    let paced = Settings::from_lookup(worker, full).unwrap();
    assert_eq!(paced.mail_interval, Some(std::time::Duration::from_secs_f64(2.0 / 14.0)), "2 workers share 14/s");
    assert!(paced.sender.is_some() && paced.stamper.is_some() && paced.api_tag.is_none());
    let zero = |name: &str| if name == "CERTIFICA_MAIL_PER_SECOND" { Some("0".into()) } else { full(name) };
    assert!(matches!(Settings::from_lookup(worker, zero), Err(StartError::Invalid("CERTIFICA_MAIL_PER_SECOND", _))));
    assert!(matches!(
        Settings::from_lookup(worker, without("CERTIFICA_JOB_WORKERS")),
        Err(StartError::Missing("CERTIFICA_JOB_WORKERS"))
    ));
}

/// Without an online authority nothing is sent: a stamp attempt is "not
/// now" (the certificate stays Sellado, its credit released) with a message
/// that says what to do instead.
#[tokio::test]
async fn without_an_online_authority_stamping_points_to_the_semi_electronic_flow() {
    use certifica_core::stamping::{StampError, Stamper};
    let offline = certifica_functions::Authority::offline();
    let err = offline.stamp("<Dec/>").await.unwrap_err();
    assert!(matches!(&err, StampError::Unavailable(m) if m.contains("exporte los documentos sellados")), "{err}");
    assert!(offline.trusted().is_empty(), "nothing simulated is trusted");
}

/// In production the authority's certificate and SAT's CAs are files (the
/// TrustAnchors layer): read at start, trusted, and a bad file stops the start.
#[test]
fn the_configured_trust_is_read_from_files() {
    use certifica_functions::{Authority, Lambda, Settings, StamperKind, StartError};
    let dir = tempfile::tempdir().unwrap();
    let authority = dir.path().join("autoridad.cer");
    let sep = certifica_core::stamping::simulated_sep_certificate().unwrap();
    std::fs::write(&authority, sep.der()).unwrap();
    let demo_ca = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/trust/demo/ac-pruebas-certifica.pem");
    let base = Settings::from_lookup(Lambda::Api(Function::IssueCertificates), |name| {
        Some(match name {
            "CERTIFICA_SEAL_KEY" => "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
            "CERTIFICA_STAMPER" => "ninguna".to_string(),
            "CERTIFICA_AUTHORITY_CERTS" => authority.display().to_string(),
            "CERTIFICA_SIGNER_CAS" => demo_ca.display().to_string(),
            "CERTIFICA_JOBS_QUEUE" => "https://sqs.us-east-1.amazonaws.com/1/trabajos".to_string(),
            "CERTIFICA_CURSOR_KEY" => return None,
            _ => "valor".to_string(),
        })
    })
    .unwrap();
    assert_eq!(base.stamper, Some(StamperKind::None));
    let trusted = Authority::from_settings(&base).unwrap();
    assert!(trusted.simulated().is_none(), "nothing stamps online");
    assert_eq!(trusted.trusted().iter().map(|c| c.der().to_vec()).collect::<Vec<_>>(), vec![sep.der().to_vec()]);
    assert_eq!(trusted.signer_cas().len(), 1);
    let missing = Settings { signer_cas: vec![dir.path().join("no-existe.pem").display().to_string()], ..base.clone() };
    assert!(matches!(Authority::from_settings(&missing), Err(StartError::Invalid("CERTIFICA_SIGNER_CAS", _))));
    let not_a_ca = Settings { signer_cas: vec![authority.display().to_string()], ..base };
    assert!(matches!(Authority::from_settings(&not_a_ca), Err(StartError::Invalid("CERTIFICA_SIGNER_CAS", _))));
}

/// An event that did not come through this deployment's API (no stage tag,
/// or another one) is answered 403 and never reaches a handler.
#[test]
fn events_from_another_api_are_refused() {
    let (_, _, list) = events().into_iter().find(|(f, ..)| f == "list-students.json").unwrap();
    let request = |event: &Value| lambda_http::request::from_str(&event.to_string()).unwrap();
    let refused = certifica_functions::from_another_api(&request(&list), "pila-1").expect("no tag: refused");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let Body::Text(text) = refused.body() else { panic!("problem+json is text") };
    assert_eq!(serde_json::from_str::<Value>(text).unwrap()["code"], "api_desconocida");
    let mut tagged = list.clone();
    tagged["stageVariables"] = serde_json::json!({"certifica": "pila-1"});
    assert!(certifica_functions::from_another_api(&request(&tagged), "pila-1").is_none());
    assert!(certifica_functions::from_another_api(&request(&tagged), "pila-2").is_some(), "another stack's tag");
}

/// `environment.json` (what the template is checked against) is exactly
/// what each function's code looks up, besides the test-only alternatives.
#[test]
fn the_environment_list_is_what_each_function_reads() {
    use certifica_functions::{LAMBDAS, Settings};
    use std::cell::RefCell;
    let listed: Value = serde_json::from_str(
        &std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("environment.json")).unwrap(),
    )
    .unwrap();
    let test_only: Vec<&str> = listed["testOnly"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(listed["functions"].as_object().unwrap().len(), LAMBDAS.len());
    for lambda in LAMBDAS {
        let asked = RefCell::new(Vec::<String>::new());
        let lookup = |name: &str| {
            asked.borrow_mut().push(name.to_string());
            match name {
                n if n.ends_with("_SECRET") => Some("arn:aws:secretsmanager:us-east-1:1:secret:x".to_string()),
                "CERTIFICA_STAMPER" => Some("simulated".to_string()),
                "CERTIFICA_JOBS_QUEUE" => Some("https://sqs.us-east-1.amazonaws.com/1/trabajos".to_string()),
                "CERTIFICA_MAIL_PER_SECOND" | "CERTIFICA_JOB_WORKERS" => Some("2".to_string()),
                n if test_only.contains(&n) => None,
                _ => Some("valor".to_string()),
            }
        };
        Settings::from_lookup(lambda, lookup).unwrap();
        let mut asked: Vec<String> =
            asked.into_inner().into_iter().filter(|n| !test_only.contains(&n.as_str())).collect();
        asked.sort();
        asked.dedup();
        let mut code = lambda.environment();
        code.sort();
        assert_eq!(asked, code, "{}: looked up vs Lambda::environment", lambda.name());
        let mut file: Vec<&str> =
            listed["functions"][lambda.name()].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        file.sort();
        assert_eq!(file, code, "{}: environment.json vs the code", lambda.name());
    }
}

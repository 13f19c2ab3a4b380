//! Jobs through the API: a selection above the inline limit, or `all`
//! with the table's filters, is queued (202 + Location); the worker's
//! chunks are worked once each whatever is delivered twice; progress and
//! results are read back; a cancelled job stops; tenants and permissions
//! are kept.

mod common;

use bytes::Bytes;
use certifica_core::catalogs::MotivoCancelacion;
use certifica_core::identity::Permission;
use certifica_core::jobs::JobResult;
use certifica_core::ports::{AuditStore, CertificateStore, CreditStore, JobStore, StudentStore};
use certifica_core::records::{Actor, AuditAction, AuditEntry, Cancellation, Tenant, Transition};
use common::*;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const BASE: &str = "/v1/schools/norte/cycles/2026";

async fn register_signer(f: &Fixture) {
    let (status, body) = call(
        f,
        Method::PUT,
        "/v1/schools/norte/signer",
        Some(signer_body(DEMO_CURP, DEMO_PASSWORD)),
        token("uva", &admin("norte")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `n` more students of uva's norte (`JOB000`…), and credits for them.
async fn class_of(f: &Fixture, n: usize) -> Vec<String> {
    let t = Tenant::from_verified_identity("uva");
    let students: Vec<_> = (0..n).map(|i| student(&format!("JOB{i:03}"), "Luis", "9C")).collect();
    f.api.records().put_students(&t, "norte", "2026", &students).await.unwrap();
    f.api.records().add_credits(&t, n as u64, &Actor::new("admin", "r")).await.unwrap();
    students.into_iter().map(|s| s.control_number).collect()
}

/// A POST with its `Location` and an optional Idempotency-Key.
async fn post(f: &Fixture, uri: &str, body: Value, key: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let mut builder = Request::builder().method(Method::POST).uri(uri).header("content-type", "application/json");
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    let request = builder.body(Bytes::from(body.to_string())).unwrap();
    let response = f.api.handle(request, token("uva", &all("norte")), "req-trabajos").await;
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    (response.status(), location, serde_json::from_slice(response.body()).unwrap())
}

/// Takes every chunk waiting in the local queue (as a worker would).
async fn take_all(f: &Fixture) -> Vec<certifica_local::TakenChunk> {
    let mut taken = Vec::new();
    while let Some(chunk) = f.api.queue().take_chunk(Duration::from_secs(600)).await.unwrap() {
        taken.push(chunk);
    }
    taken
}

async fn job(f: &Fixture, url: &str) -> Value {
    let (status, body) = get(f, url, token("uva", &all("norte"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn credits(f: &Fixture) -> u64 {
    f.api.records().balance(&Tenant::from_verified_identity("uva")).await.unwrap().available
}

#[tokio::test]
async fn a_large_selection_is_a_job_each_student_worked_once_under_redelivery() {
    let f = fixture().await;
    register_signer(&f).await;
    let class = class_of(&f, 60).await;
    let before = credits(&f).await;
    let uri = format!("{BASE}/certificates/issue");
    let (status, location, answer) = post(&f, &uri, json!({"students": class}), Some("clase-9c")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = answer["job"]["id"].as_str().unwrap().to_string();
    assert_eq!(location.as_deref(), Some(format!("/v1/jobs/{id}").as_str()));
    assert_eq!(answer["job"]["url"], format!("/v1/jobs/{id}"));
    assert_eq!((answer["job"]["status"].as_str(), answer["job"]["total"].as_u64()), (Some("en_cola"), Some(60)));
    assert_eq!(answer["job"]["kind"], "issue");
    // The same key gives the same job, Location included; nothing is queued twice.
    let (status, again_location, again) = post(&f, &uri, json!({"students": class}), Some("clase-9c")).await;
    assert_eq!((status, again["job"]["id"].as_str()), (StatusCode::ACCEPTED, Some(id.as_str())));
    assert_eq!(again_location, location);
    let url = location.unwrap();
    assert_eq!(job(&f, &url).await["job"]["done"], 0);
    assert_eq!(credits(&f).await, before, "queuing consumes nothing");

    let chunks = take_all(&f).await;
    assert_eq!(chunks.iter().map(|c| c.chunk.students.len()).collect::<Vec<_>>(), [25, 25, 10]);
    // Chunk 0 delivered twice, one after the other.
    f.api.work_chunk(&chunks[0].chunk, false).await.unwrap();
    f.api.work_chunk(&chunks[0].chunk, false).await.unwrap();
    let progress = job(&f, &url).await;
    assert_eq!((progress["job"]["status"].as_str(), progress["job"]["done"].as_u64()), (Some("en_proceso"), Some(25)));
    // Chunk 1: an earlier delivery had done its first student, then stopped.
    let t = Tenant::from_verified_identity("uva");
    let first = chunks[1].chunk.students[0].clone();
    let earlier = JobResult {
        matricula: first.clone(),
        status: "timbrado".into(),
        certificate_id: None,
        folio_digital: None,
        problems: vec![],
    };
    assert_eq!(f.api.records().record_results(&t, &id, &[earlier]).await.unwrap(), 1);
    f.api.work_chunk(&chunks[1].chunk, false).await.unwrap();
    let skipped = f.api.records().student_certificates(&t, "norte", "2026", &first).await.unwrap();
    assert!(skipped.is_empty(), "a student with a result is not worked again");
    // Chunk 2 delivered twice at once.
    let (a, b) = tokio::join!(f.api.work_chunk(&chunks[2].chunk, false), f.api.work_chunk(&chunks[2].chunk, false));
    let (a, b) = (a.is_ok(), b.is_ok());
    // One of the two may find the other holding a certificate and ask for the chunk again.
    if !(a && b) {
        f.api.work_chunk(&chunks[2].chunk, false).await.unwrap();
    }

    let done = job(&f, &url).await;
    assert_eq!(done["job"]["status"], "terminado", "{done}");
    assert_eq!(
        (done["job"]["done"].as_u64(), done["job"]["counts"]["timbrado"].as_u64()),
        (Some(60), Some(60)),
        "{}",
        done["job"]
    );
    assert_eq!(credits(&f).await, before - 59, "one credit per certificate stamped (59: one was skipped)");
    // Every certificate once.
    for m in class.iter().filter(|m| **m != first) {
        let certificates = f.api.records().student_certificates(&t, "norte", "2026", m).await.unwrap();
        assert_eq!(certificates.len(), 1, "{m}");
    }
    // The results, page by page.
    let mut seen = Vec::new();
    let mut page_url = format!("{url}?limit=25");
    loop {
        let page = job(&f, &page_url).await;
        for r in page["results"].as_array().unwrap() {
            seen.push(r["matricula"].as_str().unwrap().to_string());
            if r["matricula"] != first.as_str() {
                assert!(r["folioDigital"].is_string() && r["certificateId"].is_string(), "{r}");
            }
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => page_url = format!("{url}?limit=25&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, class, "every student's result once, in order");
    // A cursor of another job is refused.
    let (status, body) = get(&f, &format!("{url}?cursor=abc.def"), token("uva", &all("norte"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The cycle's jobs.
    let (status, listed) = get(&f, &format!("{BASE}/jobs"), token("uva", &all("norte"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["jobs"][0]["id"], id.as_str());
}

#[tokio::test]
async fn a_job_is_seen_only_by_its_institution_and_with_the_permission_it_needed() {
    let f = fixture().await;
    register_signer(&f).await;
    let class = class_of(&f, 51).await;
    let (status, location, _) = post(&f, &format!("{BASE}/certificates/issue"), json!({"students": class}), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let url = location.unwrap();
    let (status, body) = get(&f, &url, token("otra", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("trabajo_no_encontrado")));
    let (status, _) = get(&f, &url, token("uva", &[("norte", Permission::Ver)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "reading a job needs the permission it needed");
    let (status, _) = get(&f, &url, token("uva", &all("sur"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another school is not visible to its user");
    let (status, _) = call(&f, Method::POST, &format!("{url}/cancel"), None, token("otra", &all("norte"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, seen) =
        get(&f, "/v1/schools/norte/cycles/2026/jobs", token("uva", &[("norte", Permission::Ver)])).await;
    assert_eq!(
        (status, seen["jobs"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0)),
        "a viewer's list leaves out the jobs it may not read: {seen}"
    );
    let (status, other) = get(&f, "/v1/schools/norte/cycles/2026/jobs", token("otra", &all("norte"))).await;
    assert_eq!((status, other["jobs"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{other}");
    let (status, body) = get(&f, "/v1/jobs/no%20vale", token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("identificador_invalido")));
}

#[tokio::test]
async fn all_with_the_tables_filters_is_a_job_and_cancelling_stops_what_has_not_started() {
    let f = fixture().await;
    register_signer(&f).await;
    let before = credits(&f).await;
    let uri = format!("{BASE}/certificates/issue");
    for (body, status, code) in [
        (json!({"all": true, "students": ["UVA000"]}), 422, "seleccion_ambigua"),
        (json!({"students": ["UVA000"], "group": "8A"}), 422, "filtros_sin_all"),
        (json!({"all": true, "q": "nadie se llama así"}), 422, "sin_alumnos"),
        (json!({"all": true, "status": "quizas"}), 400, "estado_invalido"),
        (json!({"all": true, "plan": "otro"}), 404, "plan_no_encontrado"),
        (json!({"all": "sí"}), 400, "json_invalido"),
        (json!({}), 422, "sin_alumnos"),
    ] {
        let (got, _, answer) = post(&f, &uri, body.clone(), None).await;
        assert_eq!((got.as_u16(), answer["code"].as_str()), (status, Some(code)), "{body}: {answer}");
    }
    assert!(take_all(&f).await.is_empty(), "a refused request queues nothing");
    // Group 8A of the table: UVA000 … UVA003 (UVA003 has no CURP).
    let (status, location, answer) =
        post(&f, &uri, json!({"all": true, "group": "8a", "status": "por_certificar"}), None).await;
    assert_eq!((status, answer["job"]["total"].as_u64()), (StatusCode::ACCEPTED, Some(4)), "{answer}");
    let url = location.unwrap();
    let chunks = take_all(&f).await;
    assert_eq!(chunks[0].chunk.students, ["UVA000", "UVA001", "UVA002", "UVA003"]);
    // Cancelled before any worker took it: nothing is done.
    let (status, cancelled) = call(&f, Method::POST, &format!("{url}/cancel"), None, token("uva", &all("norte"))).await;
    assert_eq!((status, cancelled["job"]["status"].as_str()), (StatusCode::OK, Some("cancelado")), "{cancelled}");
    assert_eq!(cancelled["job"]["cancelledBy"], "clerk@uva.mx");
    f.api.work_chunk(&chunks[0].chunk, false).await.unwrap();
    let after = job(&f, &url).await;
    assert_eq!((after["job"]["status"].as_str(), after["job"]["done"].as_u64()), (Some("cancelado"), Some(0)));
    assert!(after["results"].as_array().unwrap().is_empty());
    assert_eq!(credits(&f).await, before, "a cancelled job consumes nothing");

    // Again, worked: the student without CURP is refused, the others stamped.
    let (_, location, _) = post(&f, &uri, json!({"all": true, "group": "8A"}), None).await;
    for c in take_all(&f).await {
        f.api.work_chunk(&c.chunk, false).await.unwrap();
    }
    let done = job(&f, &location.unwrap()).await;
    assert_eq!(done["job"]["status"], "terminado", "{done}");
    assert_eq!(
        (done["job"]["counts"]["timbrado"].as_u64(), done["job"]["counts"]["rechazado"].as_u64()),
        (Some(3), Some(1))
    );
    let refused = done["results"].as_array().unwrap().iter().find(|r| r["matricula"] == "UVA003").unwrap().clone();
    assert_eq!(refused["status"], "rechazado");
    assert!(!refused["problems"].as_array().unwrap().is_empty(), "{refused}");
    // A cancelled finished job stays finished.
    let (_, finished) = call(
        &f,
        Method::POST,
        &format!("{}/cancel", done["job"]["url"].as_str().unwrap()),
        None,
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!(finished["job"]["status"], "terminado");

    // Mail the stamped ones as a job: the already stamped are reported, not stamped again.
    let (status, location, _) =
        post(&f, &format!("{BASE}/certificates/email"), json!({"all": true, "status": "timbrado"}), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    for c in take_all(&f).await {
        f.api.work_chunk(&c.chunk, false).await.unwrap();
    }
    let mailed = job(&f, &location.unwrap()).await;
    assert_eq!(
        (mailed["job"]["kind"].as_str(), mailed["job"]["counts"]["enviado"].as_u64()),
        (Some("email"), Some(3)),
        "{mailed}"
    );
    let (_, location, _) = post(&f, &uri, json!({"all": true, "group": "8A"}), None).await;
    for c in take_all(&f).await {
        f.api.work_chunk(&c.chunk, false).await.unwrap();
    }
    let again = job(&f, &location.unwrap()).await;
    assert_eq!(again["job"]["counts"]["omitido"].as_u64(), Some(3), "{again}");
    assert_eq!(credits(&f).await, before - 3);

    // Cancel them as a job.
    let (status, location, answer) = post(
        &f,
        &format!("{BASE}/certificates/cancel"),
        json!({"all": true, "status": "timbrado", "motive": "R3", "reason": "Corrección del nombre"}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["job"]["parameters"]["motive"], "R3");
    for c in take_all(&f).await {
        f.api.work_chunk(&c.chunk, false).await.unwrap();
    }
    let cancelled = job(&f, &location.unwrap()).await;
    assert_eq!(cancelled["job"]["counts"]["cancelado"].as_u64(), Some(3), "{cancelled}");
    let t = Tenant::from_verified_identity("uva");
    let c = f.api.records().student_certificates(&t, "norte", "2026", "UVA000").await.unwrap();
    assert_eq!(c.last().unwrap().status.as_str(), "cancelado");
    let _ = f.api.records().get(&t, &c[0].id).await.unwrap();
}

/// Mails in the data folder's outbox (one file each).
fn mails_sent(f: &Fixture) -> usize {
    std::fs::read_dir(f._dir.path().join("outbox")).map(|d| d.count()).unwrap_or(0)
}

/// A delivery that mailed or cancelled a student and stopped before
/// recording its result: the next delivery finds the job's own audit
/// entry, reports the student done, and neither mails nor cancels it again.
#[tokio::test]
async fn a_mail_or_cancel_done_by_an_earlier_delivery_is_its_result_not_done_again() {
    let f = fixture().await;
    register_signer(&f).await;
    let class = class_of(&f, 51).await;
    let t = Tenant::from_verified_identity("uva");
    let (status, _, _) = post(&f, &format!("{BASE}/certificates/issue"), json!({"students": class}), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    for c in take_all(&f).await {
        f.api.work_chunk(&c.chunk, false).await.unwrap();
    }
    let first = class[0].clone();
    let stamped = f.api.records().student_certificates(&t, "norte", "2026", &first).await.unwrap();
    let stamped = stamped.last().unwrap().clone();

    // Mail: the earlier delivery sent the first student's mail (its audit entry names the job).
    let (status, location, answer) =
        post(&f, &format!("{BASE}/certificates/email"), json!({"students": class}), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = answer["job"]["id"].as_str().unwrap().to_string();
    let as_job = Actor { request_id: format!("trabajo {id}"), ..Actor::new("clerk", "otra") };
    let earlier = AuditEntry::of_certificate(&as_job, AuditAction::Emailed, &stamped, "luis@correo.mx");
    f.api.records().record(&t, &earlier).await.unwrap();
    let before = mails_sent(&f);
    for c in take_all(&f).await {
        f.api.work_chunk(&c.chunk, false).await.unwrap();
    }
    let mailed = job(&f, &location.unwrap()).await;
    assert_eq!(mailed["job"]["counts"], json!({"enviado": 51}), "{}", mailed["job"]);
    assert_eq!(mails_sent(&f) - before, 50, "the first student is not mailed twice");
    // Another request's mail to the same student does not count as the job's.
    let (_, location, answer) = post(&f, &format!("{BASE}/certificates/email"), json!({"students": class}), None).await;
    assert!(answer["job"]["id"].as_str() != Some(id.as_str()));
    for c in take_all(&f).await {
        f.api.work_chunk(&c.chunk, false).await.unwrap();
    }
    assert_eq!(job(&f, &location.unwrap()).await["job"]["counts"], json!({"enviado": 51}));
    assert_eq!(mails_sent(&f) - before, 101, "a new job mails everyone again");

    // Cancel: the earlier delivery cancelled the first student as the job.
    let body = json!({"students": class, "motive": "R3", "reason": "Corrección del nombre"});
    let (status, location, answer) = post(&f, &format!("{BASE}/certificates/cancel"), body, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = answer["job"]["id"].as_str().unwrap().to_string();
    let as_job = Actor { request_id: format!("trabajo {id}"), ..Actor::new("clerk", "otra") };
    let (status, _) = call(
        &f,
        Method::POST,
        &format!("{BASE}/certificates/cancel"),
        Some(json!({"students": [first], "motive": "R3", "reason": "otra solicitud"})),
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "cancelled inline by someone else first");
    let second = class[1].clone();
    let c = f.api.records().student_certificates(&t, "norte", "2026", &second).await.unwrap().pop().unwrap();
    let cancellation = Cancellation {
        motive: MotivoCancelacion::from_code("R3").unwrap(),
        reason: Some("Corrección del nombre".into()),
        by: "clerk".into(),
        by_email: None,
        at: chrono::Utc::now(),
    };
    let pdf = c.artifacts.pdf.clone().unwrap();
    f.api
        .records()
        .transition(&t, &c.id, c.version, Transition::Cancelled { cancellation, pdf }, &as_job)
        .await
        .unwrap();
    for c in take_all(&f).await {
        f.api.work_chunk(&c.chunk, false).await.unwrap();
    }
    let cancelled = job(&f, &location.unwrap()).await;
    assert_eq!(cancelled["job"]["counts"], json!({"cancelado": 50, "rechazado": 1}), "{}", cancelled["job"]);
    let results = cancelled["results"].as_array().unwrap();
    let of = |m: &str| results.iter().find(|r| r["matricula"] == m).unwrap().clone();
    assert_eq!(of(&second)["status"], "cancelado", "the job's own cancellation is its result");
    assert_eq!(of(&first)["status"], "rechazado", "another request's cancellation is not the job's");
    assert_eq!(of(&first)["problems"][0]["code"], "no_cancelable");
}

/// The bytes behind a local download link.
fn follow_link(f: &Fixture, url: &str) -> Vec<u8> {
    let token = url.rsplit('/').next().unwrap();
    f.api.artifacts().open_link(token, chrono::Utc::now()).unwrap().unwrap()
}

/// A cycle above the inline download limit: the zip is a job (one chunk,
/// no students) a viewer may queue and read; asked again meanwhile it is
/// the same job; the worker builds it once and mails the requester once
/// under redelivery; the job then answers a fresh link, and the zip is
/// reused while nothing changes. Other institutions do not see it.
#[tokio::test]
async fn a_large_cycle_zip_is_a_job_that_answers_its_link_and_mails_the_requester() {
    let f = fixture_with(|c| c.inline_download_limit = 3).await;
    register_signer(&f).await;
    let class = class_of(&f, 5).await;
    let (status, issued) = call(
        &f,
        Method::POST,
        &format!("{BASE}/certificates/issue"),
        Some(json!({"students": class})),
        token("uva", &all("norte")),
    )
    .await;
    assert_eq!((status, issued["issued"].as_u64()), (StatusCode::OK, Some(5)), "{issued}");
    let viewer = || token("uva", &[("norte", Permission::Ver)]);
    let uri = format!("{BASE}/certificates/download");
    let (status, accepted) = call(&f, Method::POST, &uri, Some(json!({"format": "xml"})), viewer()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let url = accepted["job"]["url"].as_str().unwrap().to_string();
    assert_eq!((accepted["job"]["kind"].as_str(), accepted["job"]["total"].as_u64()), (Some("download"), Some(5)));
    assert_eq!(accepted["job"]["parameters"], json!({"format": "xml", "statuses": ["timbrado", "cancelado"]}));
    assert!(accepted["job"]["downloadUrl"].is_null());
    let (status, again) = call(&f, Method::POST, &uri, Some(json!({"format": "xml"})), viewer()).await;
    assert_eq!(
        (status, &again["job"]["id"]),
        (StatusCode::ACCEPTED, &accepted["job"]["id"]),
        "the same zip: the same job"
    );
    let (status, early) = get(&f, &format!("{url}/download"), viewer()).await;
    assert_eq!((status, early["code"].as_str()), (StatusCode::CONFLICT, Some("descarga_en_preparacion")));

    let chunks = take_all(&f).await;
    assert_eq!(chunks.len(), 1, "one message for the whole zip");
    assert!(chunks[0].chunk.students.is_empty());
    let mails_before = mails_sent(&f);
    f.api.work_chunk(&chunks[0].chunk, false).await.unwrap();
    f.api.work_chunk(&chunks[0].chunk, false).await.unwrap();
    assert_eq!(mails_sent(&f), mails_before + 1, "the requester is mailed once");
    let done = job(&f, &url).await;
    assert_eq!(done["job"]["status"], "terminado", "{done}");
    assert_eq!(done["job"]["counts"], json!({"incluido": 5}));
    assert_eq!(done["job"]["downloadUrl"], format!("{url}/download"));
    let mail = std::fs::read_dir(f._dir.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|m| m.contains("clerk@uva.mx"))
        .expect("a mail to the requester");
    // Quoted-printable: its soft line breaks undone.
    let unwrapped = mail.replace("=\r\n", "").replace("=\n", "");
    assert!(unwrapped.contains(&format!("{url}/download")), "{mail}");

    let (status, link) = get(&f, &format!("{url}/download"), viewer()).await;
    assert_eq!((status, link["certificates"].as_u64()), (StatusCode::FOUND, Some(5)), "{link}");
    let bytes = follow_link(&f, link["url"].as_str().unwrap());
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let xmls = zip.file_names().filter(|n| n.as_ref().is_ok_and(|n| n.ends_with(".xml"))).count();
    assert_eq!((xmls, zip.len()), (5, 6), "five XML and the manifest");
    // Nothing changed: asked again, the job's zip is answered at once.
    let (status, reused) = call(&f, Method::POST, &uri, Some(json!({"format": "xml"})), viewer()).await;
    assert_eq!((status, reused["reused"].as_bool()), (StatusCode::OK, Some(true)), "{reused}");
    // Listed for the viewer; unseen by another institution; an issue job has no file.
    let (_, listed) = get(&f, &format!("{BASE}/jobs"), viewer()).await;
    assert_eq!(listed["jobs"][0]["id"], done["job"]["id"]);
    let (status, _) = get(&f, &url, token("otra", &all("norte"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&f, &format!("{url}/download"), token("otra", &all("norte"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A list of students in a cycle the school does not have is refused as a
/// whole, for every action that takes a selection, before anything is done.
#[tokio::test]
async fn a_selection_in_a_cycle_the_school_does_not_have_is_refused_whole() {
    let f = fixture().await;
    for action in ["issue", "email", "cancel"] {
        let mut body = json!({"students": ["UVA000"]});
        if action == "cancel" {
            body["motive"] = json!("R3");
        }
        let uri = format!("/v1/schools/norte/cycles/1999/certificates/{action}");
        let (status, answer) = call(&f, Method::POST, &uri, Some(body), token("uva", &all("norte"))).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("ciclo_no_encontrado")),
            "{action}: {answer}"
        );
    }
    assert_eq!(mails_sent(&f), 0);
}

//! Jobs in the cloud, on the emulator (DynamoDB, S3 and SQS on moto,
//! 127.0.0.1): the issue function, wired as its Lambda wires itself,
//! queues a class of 120 as a job whose chunks are SQS messages; the
//! worker's handler takes them as Lambda's SQS event source gives them
//! (the real messages, with their receive counts) — one delivered to two
//! workers at once, one received again after it was done — and the job's
//! progress is read back through the API. Each student is stamped once and
//! costs one credit.

mod common;

use certifica_api::{Api, Function};
use certifica_aws::{DynamoRecords, S3Artifacts, SqsQueue};
use certifica_core::ports::{CertificateStore, CreditStore};
use certifica_core::records::{CertificateStatus, Tenant};
use certifica_functions::worker::{BatchResponse, SqsEvent, handle_sqs_event, wire_worker};
use certifica_functions::{Authority, Issuing, Lambda, NoSecrets, Settings, Unused, Working, wire};
use common::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const CLASS: u32 = 120;
const BASE: &str = "/v1/schools/norte/cycles/2026";

struct World {
    api: Api<Issuing>,
    worker: Api<Working>,
    sqs: aws_sdk_sqs::Client,
    queue: String,
}

/// The functions' environment (keys inline, as on an emulator).
fn settings(lambda: Lambda, name: &str, queue: &str) -> Settings {
    let demo_ca =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/trust/demo/ac-pruebas-certifica.pem");
    let vars = [
        ("CERTIFICA_TABLE", name.to_string()),
        ("CERTIFICA_BUCKET", name.to_string()),
        ("CERTIFICA_VERIFY_BASE_URL", "https://certifica.example/v1/verify/".into()),
        ("CERTIFICA_SEAL_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        ("CERTIFICA_STAMPER", "simulated".into()),
        ("CERTIFICA_SIGNER_CAS", demo_ca.display().to_string()),
        ("CERTIFICA_JOBS_QUEUE", queue.to_string()),
        ("CERTIFICA_API_TAG", "pila".into()),
        ("CERTIFICA_SENDER", "certificados@uva.edu.mx".into()),
        ("CERTIFICA_MAIL_PER_SECOND", "1000".into()),
        ("CERTIFICA_JOB_WORKERS", "2".into()),
    ];
    Settings::from_lookup(lambda, |v| vars.iter().find(|(n, _)| *n == v).map(|(_, x)| x.clone())).unwrap()
}

/// A fresh table, bucket and queue; uva's norte with a class of 120, its
/// signer registered and 200 credits.
async fn world() -> World {
    emulator().await;
    let name = format!("certifica-{}", uuid::Uuid::new_v4().simple());
    let aws = certifica_aws::lambda_config().unwrap();
    let sqs = certifica_aws::sqs_client(&aws);
    let queue = sqs.create_queue().queue_name(&name).send().await.unwrap().queue_url().unwrap().to_string();
    let issue = settings(Lambda::Api(Function::IssueCertificates), &name, &queue);
    let api = wire::<DynamoRecords, S3Artifacts, Authority, Unused, SqsQueue, NoSecrets>(&issue, &aws).await.unwrap();
    let worker = wire_worker(&settings(Lambda::JobsWorker, &name, &queue)).await.unwrap();
    api.records().create_table().await.unwrap();
    api.artifacts().create_bucket().await.unwrap();
    enrol_class(&api, CLASS, 200).await;
    World { api, worker, sqs, queue }
}

/// Up to `max` visible messages, as the event source receives them.
async fn receive(w: &World, max: i32) -> Vec<aws_sdk_sqs::types::Message> {
    let out = w
        .sqs
        .receive_message()
        .queue_url(&w.queue)
        .max_number_of_messages(max)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .visibility_timeout(600)
        .send()
        .await
        .unwrap();
    out.messages().to_vec()
}

/// The Lambda event of `messages` (the shape Lambda's SQS poller sends).
fn event(w: &World, messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                .collect();
            json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "attributes": attributes, "messageAttributes": {}, "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs", "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{}", w.queue.rsplit('/').next().unwrap()),
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// What the event source does after a batch: deletes the messages not
/// named for redelivery.
async fn settle(w: &World, messages: &[aws_sdk_sqs::types::Message], answer: &BatchResponse) {
    for m in messages {
        let again = answer.batch_item_failures.iter().any(|f| Some(f.item_identifier.as_str()) == m.message_id());
        if !again {
            w.sqs
                .delete_message()
                .queue_url(&w.queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// `message` back in the queue (its visibility ended) and received again:
/// its second delivery.
async fn redeliver(w: &World, message: &aws_sdk_sqs::types::Message) -> Vec<aws_sdk_sqs::types::Message> {
    w.sqs
        .change_message_visibility()
        .queue_url(&w.queue)
        .receipt_handle(message.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let again = receive(w, 10).await;
    assert_eq!(again.len(), 1, "the message is back in the queue");
    assert_eq!(again[0].message_id(), message.message_id());
    let count = again[0]
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount));
    assert_eq!(count.map(String::as_str), Some("2"), "a second delivery");
    again
}

async fn job(w: &World, id: &str) -> Value {
    let (status, body) =
        call(&w.api, &identity("uva", "norte"), Method::GET, &format!("/v1/jobs/{id}"), json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[test]
fn a_class_of_120_is_queued_in_sqs_chunked_and_worked_once_each_under_redelivery() {
    // The unoptimised AWS SDK polls through deep stack frames (see calls.rs).
    let test = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(class_job())
        })
        .unwrap();
    test.join().unwrap();
}

async fn class_job() {
    let w = world().await;
    let t = Tenant::from_verified_identity("uva");
    let who = identity("uva", "norte");
    let (status, body) =
        call(&w.api, &who, Method::POST, &format!("{BASE}/certificates/issue"), json!({"all": true, "plan": "lae"}))
            .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["job"]["id"].as_str().unwrap().to_string();
    assert_eq!((body["job"]["status"].as_str(), body["job"]["total"].as_u64()), (Some("en_cola"), Some(120)));

    // 120 students in chunks of 25: five messages in the queue.
    let mut messages = Vec::new();
    for _ in 0..10 {
        messages.extend(receive(&w, 10).await);
        if messages.len() >= 5 {
            break;
        }
    }
    let mut chunks: Vec<(u64, usize)> = messages
        .iter()
        .map(|m| {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!((body["tenant"].as_str(), body["job"].as_str()), (Some("uva"), Some(id.as_str())));
            (body["chunk"].as_u64().unwrap(), body["students"].as_array().unwrap().len())
        })
        .collect();
    chunks.sort();
    assert_eq!(chunks, vec![(0, 25), (1, 25), (2, 25), (3, 25), (4, 20)]);
    assert!(receive(&w, 10).await.is_empty(), "nothing else was queued");
    messages.sort_by_key(|m| m.body().unwrap().to_string());

    // The first chunk goes to two workers at once (at-least-once delivery):
    // racing on the same students, either may lose some of them to the
    // other and ask for the chunk again; its next delivery finds every
    // student done and only counts the chunk.
    let first = &messages[..1];
    let (a, b) =
        tokio::join!(handle_sqs_event(&w.worker, event(&w, first)), handle_sqs_event(&w.worker, event(&w, first)));
    if a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty() {
        settle(&w, first, &a).await;
    } else {
        let again = redeliver(&w, &first[0]).await;
        let answer = handle_sqs_event(&w.worker, event(&w, &again)).await;
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
        settle(&w, &again, &answer).await;
    }
    let progress = job(&w, &id).await;
    assert_eq!(progress["job"]["status"], "en_proceso", "{progress}");
    assert_eq!(progress["job"]["done"], 25, "the chunk counted once: {progress}");

    // Two more in one batch; the second of them comes back before it is deleted.
    let batch = &messages[1..3];
    let answer = handle_sqs_event(&w.worker, event(&w, batch)).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let again = redeliver(&w, &batch[1]).await;
    let answer = handle_sqs_event(&w.worker, event(&w, &again)).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    settle(&w, &again, &answer).await;
    settle(&w, &batch[..1], &answer).await;
    assert_eq!(job(&w, &id).await["job"]["done"], 75);

    // The rest, and a message that is not a chunk: only it is named for redelivery.
    let mut rest = messages[3..].to_vec();
    let sent =
        w.sqs.send_message().queue_url(&w.queue).message_body("{\"no\": \"es un bloque\"}").send().await.unwrap();
    let stray = receive(&w, 10).await;
    rest.extend(stray);
    let answer = handle_sqs_event(&w.worker, event(&w, &rest)).await;
    let named: Vec<&str> = answer.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(named, vec![sent.message_id().unwrap()]);
    settle(&w, &rest, &answer).await;

    let done = job(&w, &id).await;
    assert_eq!(done["job"]["status"], "terminado", "{done}");
    assert_eq!((done["job"]["total"].as_u64(), done["job"]["done"].as_u64()), (Some(120), Some(120)));
    assert_eq!(done["job"]["counts"], json!({"timbrado": 120}), "{done}");
    // Every student's result, read back page by page.
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/v1/jobs/{id}?limit=50&cursor={c}"),
            None => format!("/v1/jobs/{id}?limit=50"),
        };
        let (status, page) = call(&w.api, &who, Method::GET, &uri, json!(null)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for r in page["results"].as_array().unwrap() {
            assert_eq!(r["status"], "timbrado", "{r}");
            assert!(seen.insert(r["matricula"].as_str().unwrap().to_string()), "one result per student: {r}");
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 120);
    // One certificate and one credit per student, whatever was delivered twice.
    for n in 1..=CLASS {
        let certificates =
            w.api.records().student_certificates(&t, "norte", "2026", &format!("A{n:04}")).await.unwrap();
        assert_eq!(certificates.len(), 1, "A{n:04}");
        assert_eq!(certificates[0].status, CertificateStatus::Timbrado);
    }
    let balance = w.api.records().balance(&t).await.unwrap();
    assert_eq!((balance.available, balance.reserved, balance.consumed), (80, 0, 120));
}

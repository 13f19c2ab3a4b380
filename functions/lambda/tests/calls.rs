//! How many DynamoDB, S3 and SQS calls issuing costs, per certificate: a
//! class of 100 students issued through the AWS adapters on the emulator —
//! inline in batches of 50, as the API allows, and as one job (queued in
//! SQS, its four chunks worked as the worker does) — every request counted
//! by an SDK interceptor (each attempt, retries included). These counts
//! drive the cloud's latency and cost (infra/README.md); the budgets below
//! are asserted because counts, unlike timings, are exact.

mod common;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use certifica_api::{Adapters, Api, Config};
use certifica_aws::{DynamoRecords, S3Artifacts, SesMailer, SqsQueue};
use certifica_core::ports::JobStore;
use certifica_core::records::Tenant;
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::LocalAuthority;
use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// DynamoDB calls per certificate issued: read the student (1) and its
/// certificate history (1 query, which also numbers the folio), record it
/// sealed holding a credit (1 transaction: certificate, active marker,
/// audit, credits, reservation, ledger), read the certificate to commit
/// (1) and commit the stamp (1 transaction: certificate, credits,
/// reservation, ledger, audit) = 5, plus the batch's own reads
/// (institution, school, signer, cycle, balance, expired holds) shared by
/// its 50 students. Each transaction is one call; it is what keeps a
/// credit from being charged twice, so it is not split.
const DYNAMODB_BUDGET: f64 = 5.2;
/// S3 calls per certificate: the sealed XML, the stamped XML and the PDF
/// are written once each and never read back while issuing.
const S3_BUDGET: f64 = 3.0;
/// DynamoDB calls per certificate issued by a job: the 5 of a certificate,
/// the results of the 8 students worked between two looks at the job
/// recorded in one transaction (≈ 0.2), that look, and per chunk of 25 the job
/// read, started, its results read and the chunk counted, plus the batch's
/// own reads (≈ 0.55 together; measured 5.77).
const JOB_DYNAMODB_BUDGET: f64 = 5.8;
/// SQS calls per certificate of a job: one SendMessageBatch of ten chunks.
const JOB_SQS_BUDGET: f64 = 0.01;

/// Counts requests by service and operation.
#[derive(Debug, Clone, Default)]
struct Counter(Arc<Mutex<BTreeMap<String, u64>>>);

impl Counter {
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "contador-de-llamadas"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = context.request();
        let operation = match request.headers().get("x-amz-target") {
            Some(target) if target.starts_with("AmazonSQS.") => format!("SQS {}", &target["AmazonSQS.".len()..]),
            Some(target) => format!("DynamoDB {}", target.rsplit('.').next().unwrap_or(target)),
            None => format!("S3 {}", request.method()),
        };
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

struct Counted;

impl Adapters for Counted {
    type Records = DynamoRecords;
    type Artifacts = S3Artifacts;
    type Stamper = LocalAuthority;
    type Mailer = SesMailer;
    type Queue = SqsQueue;
}

#[test]
fn issuing_a_class_costs_a_known_number_of_calls_per_certificate() {
    on_a_large_stack(issue_a_class());
}

#[test]
fn issuing_a_class_as_a_job_costs_a_known_number_of_calls_per_certificate() {
    on_a_large_stack(issue_a_class_as_a_job());
}

/// Unoptimised, the AWS SDK polls through deep stack frames: with a
/// batch's certificates in flight together this needs more than the 2 MiB
/// of a test thread (a release build needs a fraction of it).
fn on_a_large_stack(test: impl Future<Output = ()> + Send + 'static) {
    let test = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(test))
        .unwrap();
    test.join().unwrap();
}

/// A fresh table, bucket and queue with uva's norte, a class of 100, its
/// signer and 250 credits; every client counted by `counter`.
async fn world(counter: &Counter) -> (Api<Counted>, aws_sdk_sqs::Client, String) {
    let endpoint = emulator().await;
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint).load().await;
    let dynamo = aws_sdk_dynamodb::config::Builder::from(&shared)
        .interceptor(counter.clone())
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(60))
                .build(),
        )
        .build();
    let s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(true).interceptor(counter.clone()).build();
    let name = format!("certifica-{}", uuid::Uuid::new_v4().simple());
    let records = DynamoRecords::new(aws_sdk_dynamodb::Client::from_conf(dynamo), &name);
    let artifacts = S3Artifacts::new(aws_sdk_s3::Client::from_conf(s3), &name);
    records.create_table().await.unwrap();
    artifacts.create_bucket().await.unwrap();
    let sender = certifica_core::mail::Sender { name: String::new(), address: String::new() };
    let mailer = SesMailer::new(certifica_aws::ses_client(&certifica_aws::lambda_config().unwrap()), sender, None);
    let config = Config::new(&[1u8; 32], SecretBox::new(&[2u8; 32]).unwrap(), "https://certifica.example/v1/verify/")
        .trusting_signer_cas(certifica_core::trust::SignerCas::demo());
    let sqs = certifica_aws::sqs_client(&certifica_aws::lambda_config().unwrap());
    let url = sqs.create_queue().queue_name(&name).send().await.unwrap().queue_url().unwrap().to_string();
    let counted_sqs = aws_sdk_sqs::config::Builder::from(&shared).interceptor(counter.clone()).build();
    let queue = SqsQueue::new(aws_sdk_sqs::Client::from_conf(counted_sqs), &url);
    let api: Api<Counted> =
        Api::with_queue(records, artifacts, LocalAuthority::simulated_sep().unwrap(), mailer, queue, config);

    enrol_class(&api, 100, 250).await;
    (api, sqs, url)
}

/// Prints the counts per operation and answers the calls per certificate of `service`.
fn report(counts: &BTreeMap<String, u64>, what: &str) -> impl Fn(&str) -> f64 {
    println!("llamadas por certificado (100 certificados, {what}):");
    for (operation, n) in counts {
        println!("  {operation:<32} {:>6} ({:.2} por certificado)", n, *n as f64 / 100.0);
    }
    let counts = counts.clone();
    move |prefix: &str| {
        counts.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, n)| *n).sum::<u64>() as f64 / 100.0
    }
}

async fn issue_a_class() {
    let counter = Counter::default();
    let (api, _, _) = world(&counter).await;
    let who = identity("uva", "norte");
    counter.take();
    let ids: Vec<String> = (1..=100).map(|n| format!("A{n:04}")).collect();
    for batch in ids.chunks(50) {
        let (status, answer) = call(
            &api,
            &who,
            Method::POST,
            "/v1/schools/norte/cycles/2026/certificates/issue",
            json!({"students": batch}),
        )
        .await;
        assert_eq!((status, answer["issued"].as_u64()), (StatusCode::OK, Some(50)), "{answer}");
    }
    let counts = counter.take();
    let per = report(&counts, "lotes de 50");
    println!("  DynamoDB {:.2}, S3 {:.2} por certificado", per("DynamoDB"), per("S3"));
    assert!(per("DynamoDB") <= DYNAMODB_BUDGET, "DynamoDB {:.2} > {DYNAMODB_BUDGET}: {counts:?}", per("DynamoDB"));
    assert!(per("S3") <= S3_BUDGET, "S3 {:.2} > {S3_BUDGET}: {counts:?}", per("S3"));
}

async fn issue_a_class_as_a_job() {
    let counter = Counter::default();
    let (api, sqs, url) = world(&counter).await;
    let who = identity("uva", "norte");
    counter.take();
    let ids: Vec<String> = (1..=100).map(|n| format!("A{n:04}")).collect();
    let (status, answer) =
        call(&api, &who, Method::POST, "/v1/schools/norte/cycles/2026/certificates/issue", json!({"students": ids}))
            .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // The worker's part: each chunk as the event source delivers it (receiving is the event source's, not counted).
    let mut worked = 0;
    while worked < 4 {
        let received = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
        for m in received.messages() {
            let chunk: certifica_core::jobs::JobChunk = serde_json::from_str(m.body().unwrap()).unwrap();
            api.work_chunk(&chunk, false).await.unwrap();
            worked += 1;
        }
    }
    let counts = counter.take();
    let job = api.records().job(&Tenant::from_verified_identity("uva"), answer["job"]["id"].as_str().unwrap()).await;
    let job = job.unwrap().unwrap();
    assert_eq!((job.done, job.counts.get("timbrado").copied()), (100, Some(100)), "{job:?}");
    let per = report(&counts, "un trabajo de 4 bloques");
    println!("  DynamoDB {:.2}, S3 {:.2}, SQS {:.2} por certificado", per("DynamoDB"), per("S3"), per("SQS"));
    assert!(
        per("DynamoDB") <= JOB_DYNAMODB_BUDGET,
        "DynamoDB {:.2} > {JOB_DYNAMODB_BUDGET}: {counts:?}",
        per("DynamoDB")
    );
    assert!(per("S3") <= S3_BUDGET, "S3 {:.2} > {S3_BUDGET}: {counts:?}", per("S3"));
    assert!(per("SQS") <= JOB_SQS_BUDGET, "SQS {:.2} > {JOB_SQS_BUDGET}: {counts:?}", per("SQS"));
}

//! How many DynamoDB and S3 calls issuing costs, per certificate: a class of
//! 100 students issued through the AWS adapters on the emulator (batches of
//! 50, as the API allows), every request counted by an SDK interceptor (each
//! attempt, retries included). These counts drive the cloud's latency and
//! cost (infra/README.md); the budget below is asserted because counts,
//! unlike timings, are exact.

mod common;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certifica_api::{Adapters, Api, Config};
use certifica_aws::{DynamoRecords, S3Artifacts, SesMailer};
use certifica_core::catalogs::EntidadFederativa;
use certifica_core::model::{CertificationMode, Institution, InstitutionType, School};
use certifica_core::ports::{CreditStore, InstitutionStore};
use certifica_core::records::{Actor, Tenant};
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::LocalAuthority;
use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// DynamoDB calls per certificate issued: read the student (1) and its
/// certificate history (1 query, which also numbers the folio), record it
/// sealed (1 transaction: certificate, active marker, audit), hold a credit
/// (1 transaction: credits, certificate, reservation, ledger), read the
/// certificate to commit (1) and commit the stamp (1 transaction:
/// certificate, credits, reservation, ledger, audit) = 6, plus the batch's
/// own reads (institution, school, signer, cycle, balance, expired holds)
/// shared by its 50 students. Each transaction is one call; it is what
/// keeps a credit from being charged twice, so it is not split.
const DYNAMODB_BUDGET: f64 = 6.2;
/// S3 calls per certificate: the sealed XML, the stamped XML and the PDF
/// are written once each and never read back while issuing.
const S3_BUDGET: f64 = 3.0;

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
    type Queue = certifica_api::jobs::NoQueue;
}

#[test]
fn issuing_a_class_costs_a_known_number_of_calls_per_certificate() {
    // Unoptimised, the AWS SDK polls through deep stack frames: with a
    // batch's certificates in flight together this needs more than the 2 MiB
    // of a test thread (a release build needs a fraction of it).
    let test = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(issue_a_class()))
        .unwrap();
    test.join().unwrap();
}

async fn issue_a_class() {
    let endpoint = emulator().await;
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint).load().await;
    let counter = Counter::default();
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
    let api: Api<Counted> = Api::new(records, artifacts, LocalAuthority::simulated_sep().unwrap(), mailer, config);

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
    api.records().add_credits(&t, 250, &Actor::new("alta", "alta")).await.unwrap();
    let who = identity("uva", "norte");
    assert_eq!(call(&api, &who, Method::PUT, "/v1/schools/norte/plans/lae", plan()).await.0, StatusCode::OK);
    let class: Vec<serde_json::Value> = (1..=100).map(|n| student(n, "Ana")).collect();
    let import = json!({"cycleName": "2025-2026", "students": class});
    let (status, body) = call(&api, &who, Method::POST, "/v1/schools/norte/cycles/2026/students/import", import).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let signer = json!({
        "responsable": {"curp": DEMO_CURP, "nombre": "María Cristina", "primerApellido": "Gómez",
                        "segundoApellido": "Ruiz", "cargo": "ResponsableExpedicion"},
        "cer": STANDARD.encode(DEMO_CER), "key": STANDARD.encode(DEMO_KEY), "password": DEMO_PASSWORD,
    });
    assert_eq!(call(&api, &who, Method::PUT, "/v1/schools/norte/signer", signer).await.0, StatusCode::OK);

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
    let per = |prefix: &str| {
        counts.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, n)| *n).sum::<u64>() as f64 / 100.0
    };
    println!("llamadas por certificado (100 certificados, lotes de 50):");
    for (operation, n) in &counts {
        println!("  {operation:<32} {:>6} ({:.2} por certificado)", n, *n as f64 / 100.0);
    }
    println!("  DynamoDB {:.2}, S3 {:.2} por certificado", per("DynamoDB"), per("S3"));
    assert!(per("DynamoDB") <= DYNAMODB_BUDGET, "DynamoDB {:.2} > {DYNAMODB_BUDGET}: {counts:?}", per("DynamoDB"));
    assert!(per("S3") <= S3_BUDGET, "S3 {:.2} > {S3_BUDGET}: {counts:?}", per("S3"));
}

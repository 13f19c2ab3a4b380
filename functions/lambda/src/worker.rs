//! `jobs-worker`: the messages of the jobs queue (SQS), each one chunk of a
//! job's students, worked by [`certifica_api::Api::work_chunk`] — the same
//! code `certifica serve` runs over its queue table.
//!
//! The event source mapping reports partial batch failures
//! (`ReportBatchItemFailures`): only the chunks that must come again are
//! named in the answer, and a chunk that comes again redoes only its
//! students without a result. SQS counts each message's deliveries; on
//! the last one the queue allows ([`MAX_DELIVERIES`], its `maxReceiveCount`)
//! what still fails is recorded as failed, so a job always ends. A message
//! that is not a chunk is reported failed until it lands in the dead
//! letters, where an operator sees it.

use crate::{Authority, Lambda, NoQueue, SecretsManager, Settings, StartError, Working, aws_config, wire};
use certifica_api::{Adapters, Api};
use certifica_aws::{DynamoRecords, S3Artifacts, SesMailer};
use certifica_core::jobs::{JobChunk, MAX_DELIVERIES};
use lambda_http::lambda_runtime::{self, LambdaEvent};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// An SQS event as Lambda delivers it (only what the worker reads).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SqsEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<SqsMessage>,
}

/// One message of an SQS event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsMessage {
    pub message_id: String,
    #[serde(default)]
    pub body: String,
    /// SQS's system attributes, `ApproximateReceiveCount` among them.
    #[serde(default)]
    pub attributes: HashMap<String, String>,
}

impl SqsMessage {
    /// Which delivery of the message this is (the first, when SQS does not say).
    pub fn receive_count(&self) -> u32 {
        self.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1)
    }
}

/// The answer of a batch: the messages to deliver again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    pub item_identifier: String,
}

/// Works each message's chunk, one after another (their mail shares one
/// pace), and names those that must come again.
pub async fn handle_sqs_event<X: Adapters>(api: &Api<X>, event: SqsEvent) -> BatchResponse {
    let mut again = Vec::new();
    for message in event.records {
        let chunk: JobChunk = match serde_json::from_str(&message.body) {
            Ok(chunk) => chunk,
            Err(e) => {
                tracing::error!(message = %message.message_id, error = %e, "mensaje que no es un bloque de trabajo");
                again.push(BatchItemFailure { item_identifier: message.message_id });
                continue;
            }
        };
        let delivery = message.receive_count();
        if let Err(e) = api.work_chunk(&chunk, delivery >= MAX_DELIVERIES).await {
            tracing::warn!(message = %message.message_id, delivery, "{e}");
            again.push(BatchItemFailure { item_identifier: message.message_id });
        }
    }
    BatchResponse { batch_item_failures: again }
}

/// The API a worker works with: every adapter a job may use.
pub async fn wire_worker(settings: &Settings) -> Result<Api<Working>, StartError> {
    wire::<DynamoRecords, S3Artifacts, Authority, SesMailer, NoQueue, SecretsManager>(settings, &aws_config()?).await
}

/// The function's whole life: configuration and clients once, then events.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    lambda_http::tracing::init_default_subscriber();
    let api = Arc::new(wire_worker(&Settings::from_env(Lambda::JobsWorker)?).await?);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<SqsEvent>| {
        let api = api.clone();
        async move { Ok::<_, std::convert::Infallible>(handle_sqs_event(&api, event.payload).await) }
    }))
    .await
}

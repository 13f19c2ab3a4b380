//! The jobs queue over SQS: each chunk of a job one message (its JSON),
//! sent ten to a request; the worker Lambda receives them from the event
//! source mapping, so this side only sends.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use certifica_core::jobs::JobChunk;
use certifica_core::ports::{JobQueue, StoreError, StoreResult};

/// SQS takes at most ten messages per `SendMessageBatch`.
const BATCH: usize = 10;
/// Sends of the entries a batch answered as failed before giving up (they
/// are throttling or internal errors, worth a second try).
const ATTEMPTS: usize = 3;

/// Queues job chunks in one SQS queue (standard: delivered at least once).
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue { client, url: url.into() }
    }
}

impl JobQueue for SqsQueue {
    async fn enqueue(&self, chunks: &[JobChunk]) -> StoreResult<()> {
        for batch in chunks.chunks(BATCH) {
            let mut entries = batch
                .iter()
                .map(|chunk| {
                    let body = serde_json::to_string(chunk).map_err(|e| StoreError::Invalid(e.to_string()))?;
                    SendMessageBatchRequestEntry::builder()
                        .id(chunk.chunk.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| StoreError::Invalid(e.to_string()))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            for attempt in 1..=ATTEMPTS {
                let sent = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await
                    .map_err(|e| StoreError::Unavailable(DisplayErrorContext(e).to_string()))?;
                let failed = sent.failed();
                if failed.is_empty() {
                    break;
                }
                let cause =
                    failed.iter().map(|f| format!("{}: {}", f.code(), f.message().unwrap_or(""))).collect::<Vec<_>>();
                // A sender's fault (a malformed entry) does not improve with retries.
                if attempt == ATTEMPTS || failed.iter().any(|f| f.sender_fault()) {
                    return Err(StoreError::Unavailable(format!("la cola no aceptó {}", cause.join("; "))));
                }
                let again: std::collections::HashSet<&str> = failed.iter().map(|f| f.id()).collect();
                entries.retain(|e| again.contains(e.id()));
            }
        }
        Ok(())
    }
}

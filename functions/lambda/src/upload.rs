//! `stamp-on-upload`: the S3 ObjectCreated events of the inbox prefix, each
//! record handled by [`certifica_api::upload::process_upload`].
//!
//! S3 delivers at least once and Lambda retries failed asynchronous
//! invocations, so every record is idempotent. Records are handled one
//! after another (a record's documents already use the authority one at a
//! time); when any record could not be handled now (storage or the authority
//! unavailable), the invocation fails naming each such record, and Lambda's
//! retry redelivers the event — the records already settled answer
//! "repetido" and change nothing.

use crate::{Authority, Lambda, NoQueue, SecretsManager, Settings, Stamping, StartError, Unused, aws_config, wire};
use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use certifica_api::Api;
use certifica_api::upload::{INBOX_PREFIX, RetryLater, UploadEvent, UploadReport, process_upload};
use certifica_aws::DynamoRecords;
use certifica_aws::S3Artifacts;
use certifica_core::ports::Inbox;
use lambda_http::lambda_runtime::{self, LambdaEvent};
use serde_json::{Value, json};
use std::sync::Arc;

/// Records of one event that must be delivered again.
#[derive(Debug, thiserror::Error)]
#[error("{} de {total} registros no se pudieron procesar y se reintentarán: {}", .failed.len(), .failed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct UploadFailures {
    pub total: usize,
    pub failed: Vec<RetryLater>,
}

impl From<UploadFailures> for lambda_runtime::Diagnostic {
    fn from(e: UploadFailures) -> Self {
        lambda_runtime::Diagnostic { error_type: "Reintentar".into(), error_message: e.to_string() }
    }
}

/// The upload an S3 record names, or why the record is not one (not an
/// object creation under the inbox prefix: the notification's filter should
/// never send those).
pub fn upload_event(record: &S3EventRecord, invocation: Option<&str>) -> Result<UploadEvent, String> {
    let name = record.event_name.as_deref().unwrap_or_default();
    if !name.starts_with("ObjectCreated:") {
        return Err(format!("evento «{name}» ignorado: solo se procesan objetos creados"));
    }
    let raw = record.s3.object.key.as_deref().ok_or("el registro no trae la llave del objeto")?;
    // S3 URL-encodes keys in events, with spaces as «+».
    let key = percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .map_err(|_| format!("la llave «{raw}» no es UTF-8"))?
        .into_owned();
    if !key.starts_with(INBOX_PREFIX) {
        return Err(format!("«{key}» no está bajo {INBOX_PREFIX}: ignorado"));
    }
    Ok(UploadEvent {
        key,
        version: record.s3.object.version_id.clone().filter(|v| !v.is_empty() && v != "null"),
        etag: record.s3.object.e_tag.clone().filter(|e| !e.is_empty()),
        invocation: invocation.map(str::to_string),
    })
}

/// Handles every record of `event` in invocation `invocation` (Lambda's
/// request id); the summary when all are settled.
pub async fn handle_s3_event<X: certifica_api::Adapters, I: Inbox>(
    api: &Api<X>,
    inbox: &I,
    event: S3Event,
    invocation: Option<&str>,
) -> Result<Value, UploadFailures> {
    let total = event.records.len();
    let mut reports: Vec<Value> = Vec::new();
    let mut failed = Vec::new();
    for record in &event.records {
        match upload_event(record, invocation) {
            Err(skipped) => {
                tracing::warn!(reason = %skipped, "record skipped");
                reports.push(json!({ "skipped": skipped }));
            }
            // Boxed: the handling future is deep (documents → stamping → storage).
            Ok(upload) => match Box::pin(process_upload(api, inbox, &upload)).await {
                Ok(report) => reports.push(summary(&report)),
                Err(retry) => failed.push(retry),
            },
        }
    }
    if failed.is_empty() { Ok(json!({ "records": reports })) } else { Err(UploadFailures { total, failed }) }
}

fn summary(report: &UploadReport) -> Value {
    json!({
        "key": report.key,
        "outcome": report.outcome,
        "movedTo": report.moved_to,
        "code": report.code,
        "documents": report.documents.iter().map(|d| json!({
            "file": d.file, "status": d.status, "code": d.code, "folioDigital": d.folio_digital,
        })).collect::<Vec<_>>(),
    })
}

/// The function's whole life: configuration and clients once, then events.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = Settings::from_env(Lambda::StampOnUpload)?;
    let (api, inbox) = wire_upload(&settings).await?;
    let (api, inbox) = (Arc::new(api), Arc::new(inbox));
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<S3Event>| {
        let (api, inbox) = (api.clone(), inbox.clone());
        async move { handle_s3_event(&api, inbox.as_ref(), event.payload, Some(&event.context.request_id)).await }
    }))
    .await
}

/// The API over the AWS clients it uses (records, documents, the authority)
/// and the bucket's inbox.
pub async fn wire_upload(settings: &Settings) -> Result<(Api<Stamping>, S3Artifacts), StartError> {
    let api = wire::<DynamoRecords, S3Artifacts, Authority, Unused, NoQueue, SecretsManager>(settings, &aws_config()?)
        .await?;
    // The inbox is the same bucket, through the same client.
    let inbox = api.artifacts().clone();
    Ok((api, inbox))
}

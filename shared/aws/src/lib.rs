//! Certifica's AWS adapters: the storage ports over one DynamoDB table,
//! documents in S3, and mail through SES.
//!
//! Clients are built once per process ([`dynamodb_client`]) from the
//! environment; `CERTIFICA_AWS_ENDPOINT` points them at an emulator.

mod dynamo;
mod s3;
mod ses;

pub use dynamo::{DynamoRecords, TABLE_KEY_SCHEMA};
pub use s3::{BULK_ZIP_TAG, PART_SIZE, S3Artifacts, S3Writer};
pub use ses::{MAIL_ATTEMPTS, SesMailer, mail_retry_config};

/// Builds the DynamoDB client from the environment (region, credentials),
/// honouring `CERTIFICA_AWS_ENDPOINT` for an emulator.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Ok(endpoint) = std::env::var("CERTIFICA_AWS_ENDPOINT") {
        loader = loader.endpoint_url(endpoint);
    }
    aws_sdk_dynamodb::Client::new(&loader.load().await)
}

/// Builds the S3 client from the environment, honouring
/// `CERTIFICA_AWS_ENDPOINT` (path-style addressing for an emulator).
pub async fn s3_client() -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let endpoint = std::env::var("CERTIFICA_AWS_ENDPOINT").ok();
    if let Some(endpoint) = &endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let shared = loader.load().await;
    let config = aws_sdk_s3::config::Builder::from(&shared).force_path_style(endpoint.is_some()).build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Builds the SES (v2) client from the environment, honouring
/// `CERTIFICA_AWS_ENDPOINT`, with the mail retry policy (backoff on throttling).
pub async fn ses_client() -> aws_sdk_sesv2::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Ok(endpoint) = std::env::var("CERTIFICA_AWS_ENDPOINT") {
        loader = loader.endpoint_url(endpoint);
    }
    let shared = loader.load().await;
    let config = aws_sdk_sesv2::config::Builder::from(&shared)
        .retry_config(mail_retry_config(std::time::Duration::from_secs(1)))
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// The value of a Secrets Manager secret (deployment keys, read once at
/// start), honouring `CERTIFICA_AWS_ENDPOINT`.
pub async fn secret_string(arn: &str) -> Result<String, certifica_core::ports::StoreError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Ok(endpoint) = std::env::var("CERTIFICA_AWS_ENDPOINT") {
        loader = loader.endpoint_url(endpoint);
    }
    let client = aws_sdk_secretsmanager::Client::new(&loader.load().await);
    let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
        certifica_core::ports::StoreError::Unavailable(format!(
            "no se pudo leer el secreto {arn}: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        ))
    })?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| certifica_core::ports::StoreError::Invalid(format!("el secreto {arn} no es texto")))
}

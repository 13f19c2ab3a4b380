//! Certifica's AWS adapters: the storage ports over one DynamoDB table,
//! documents in S3, and mail through SES.
//!
//! Clients are built once per process from one [`sdk_config`] read from
//! the environment; `CERTIFICA_AWS_ENDPOINT` points them at an emulator.

mod dynamo;
mod s3;
mod ses;

pub use aws_config::SdkConfig;
pub use dynamo::{DynamoRecords, TABLE_KEY_SCHEMA};
pub use s3::{BULK_ZIP_TAG, PART_SIZE, S3Artifacts, S3Writer};
pub use ses::{MAIL_ATTEMPTS, SesMailer, mail_retry_config};

/// The AWS configuration from the environment (region, credentials),
/// honouring `CERTIFICA_AWS_ENDPOINT` for an emulator. Load it once per
/// process and build every client from it: each load builds its own HTTPS
/// client, and with it the TLS trust store (a few ms of certificate parsing).
pub async fn sdk_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Ok(endpoint) = std::env::var("CERTIFICA_AWS_ENDPOINT") {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// The DynamoDB client.
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// The S3 client (path-style addressing when pointed at an emulator).
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let emulator = config.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(emulator).build())
}

/// The SES (v2) client, with the mail retry policy (backoff on throttling).
pub fn ses_client(config: &aws_config::SdkConfig) -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::config::Builder::from(config)
        .retry_config(mail_retry_config(std::time::Duration::from_secs(1)))
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// The value of a Secrets Manager secret (deployment keys, read once at start).
pub async fn secret_string(
    config: &aws_config::SdkConfig,
    arn: &str,
) -> Result<String, certifica_core::ports::StoreError> {
    let client = aws_sdk_secretsmanager::Client::new(config);
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

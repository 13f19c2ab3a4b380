//! Certifica's AWS adapters: the storage ports over one DynamoDB table,
//! documents in S3, mail through SES, and the jobs queue in SQS.
//!
//! Clients are built once per process from one [`sdk_config`] read from
//! the environment; `CERTIFICA_AWS_ENDPOINT` points them at an emulator.

mod dynamo;
mod s3;
mod ses;
mod sqs;

pub use aws_types::SdkConfig;
pub use dynamo::{DynamoRecords, TABLE_KEY_SCHEMA};
pub use s3::{BULK_ZIP_TAG, PART_SIZE, S3Artifacts, S3Writer};
pub use ses::{MAIL_ATTEMPTS, SesMailer, mail_retry_config};
pub use sqs::SqsQueue;

/// Why the Lambda environment gives no AWS configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("falta la variable de entorno {0} (Lambda la define para cada función)")]
pub struct MissingVariable(pub &'static str);

/// The AWS configuration of a Lambda function, straight from the variables
/// Lambda sets (`AWS_REGION`, and the execution role's `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), honouring
/// `CERTIFICA_AWS_ENDPOINT` for an emulator. The same values aws-config's
/// chain would find first in Lambda, without compiling the rest of the chain
/// (profiles, web identity, IMDS) into every function.
pub fn lambda_config() -> Result<SdkConfig, MissingVariable> {
    lambda_config_from(|name| std::env::var(name).ok())
}

/// [`lambda_config`] over any variable lookup (tests).
pub fn lambda_config_from(get: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, MissingVariable> {
    let need = |name: &'static str| get(name).filter(|v| !v.is_empty()).ok_or(MissingVariable(name));
    let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).filter(|v| !v.is_empty());
    let region = region.ok_or(MissingVariable("AWS_REGION"))?;
    let credentials = aws_credential_types::Credentials::new(
        need("AWS_ACCESS_KEY_ID")?,
        need("AWS_SECRET_ACCESS_KEY")?,
        get("AWS_SESSION_TOKEN").filter(|v| !v.is_empty()),
        None,
        "lambda-environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new(region))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .retry_config(aws_types::sdk_config::RetryConfig::standard());
    if let Some(endpoint) = get("CERTIFICA_AWS_ENDPOINT").filter(|v| !v.is_empty()) {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}

/// The AWS configuration from the whole default chain (environment,
/// profiles, …) for operators' commands (`certifica provision --table`),
/// honouring `CERTIFICA_AWS_ENDPOINT` for an emulator. Load it once per
/// process and build every client from it.
#[cfg(feature = "config-loader")]
pub async fn sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Ok(endpoint) = std::env::var("CERTIFICA_AWS_ENDPOINT") {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// The DynamoDB client.
pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// The S3 client (path-style addressing when pointed at an emulator).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let emulator = config.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(emulator).build())
}

/// The SES (v2) client, with the mail retry policy (backoff on throttling).
pub fn ses_client(config: &SdkConfig) -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::config::Builder::from(config)
        .retry_config(mail_retry_config(std::time::Duration::from_secs(1)))
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// The SQS client (the API functions queue job chunks with it).
pub fn sqs_client(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// The value of a Secrets Manager secret (deployment keys, read once at start).
pub async fn secret_string(config: &SdkConfig, arn: &str) -> Result<String, certifica_core::ports::StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lambda_configuration_comes_from_the_variables_lambda_sets() {
        let vars = |name: &str| {
            Some(
                match name {
                    "AWS_REGION" => "us-east-1",
                    "AWS_ACCESS_KEY_ID" => "AKIDEJEMPLO",
                    "AWS_SECRET_ACCESS_KEY" => "secreto",
                    "AWS_SESSION_TOKEN" => "sesion",
                    "CERTIFICA_AWS_ENDPOINT" => "http://127.0.0.1:9",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let config = lambda_config_from(vars).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:9"));
        assert!(config.credentials_provider().is_some() && config.sleep_impl().is_some());
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let without = |name: &str| if name == missing { None } else { vars(name) };
            assert_eq!(lambda_config_from(without).unwrap_err(), MissingVariable(missing));
        }
        let no_emulator = |name: &str| if name == "CERTIFICA_AWS_ENDPOINT" { None } else { vars(name) };
        assert_eq!(lambda_config_from(no_emulator).unwrap().endpoint_url(), None);
    }
}

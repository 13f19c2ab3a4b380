//! Certifica's AWS adapters: the storage ports over one DynamoDB table.
//!
//! Clients are built once per process ([`dynamodb_client`]) from the
//! environment; `CERTIFICA_AWS_ENDPOINT` points them at an emulator.

mod dynamo;

pub use dynamo::{DynamoRecords, TABLE_KEY_SCHEMA};

/// Builds the DynamoDB client from the environment (region, credentials),
/// honouring `CERTIFICA_AWS_ENDPOINT` for an emulator.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Ok(endpoint) = std::env::var("CERTIFICA_AWS_ENDPOINT") {
        loader = loader.endpoint_url(endpoint);
    }
    aws_sdk_dynamodb::Client::new(&loader.load().await)
}

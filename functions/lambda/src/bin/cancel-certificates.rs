//! The `cancel-certificates` Lambda: cancelling Timbrado certificates.

use certifica_aws::{DynamoRecords, S3Artifacts, SqsQueue};
use certifica_functions::{NoSecrets, Unused};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<
        certifica_api::routes::cancel::Route,
        DynamoRecords,
        S3Artifacts,
        Unused,
        Unused,
        SqsQueue,
        NoSecrets,
    >()
    .await
}

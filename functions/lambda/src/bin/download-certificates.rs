//! The `download-certificates` Lambda: download links and the cycle's zip (a large one queued as a job).

use certifica_aws::{DynamoRecords, S3Artifacts, SqsQueue};
use certifica_functions::{NoSecrets, Unused};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<
        certifica_api::routes::download::Route,
        DynamoRecords,
        S3Artifacts,
        Unused,
        Unused,
        SqsQueue,
        NoSecrets,
    >()
    .await
}

//! The `download-certificates` Lambda: download links and the cycle's zip.

use certifica_aws::{DynamoRecords, S3Artifacts};
use certifica_functions::{NoQueue, NoSecrets, Unused};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<
        certifica_api::routes::download::Route,
        DynamoRecords,
        S3Artifacts,
        Unused,
        Unused,
        NoQueue,
        NoSecrets,
    >()
    .await
}

//! The `issue-certificates` Lambda: registering the signer, issuing (seal, stamp, PDF, credits) and previews.

use certifica_aws::{DynamoRecords, S3Artifacts, SqsQueue};
use certifica_functions::{Authority, SecretsManager, Unused};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<
        certifica_api::routes::issue::Route,
        DynamoRecords,
        S3Artifacts,
        Authority,
        Unused,
        SqsQueue,
        SecretsManager,
    >()
    .await
}

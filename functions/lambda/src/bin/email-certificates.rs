//! The `email-certificates` Lambda: mailing certificates through SES.

use certifica_aws::{DynamoRecords, S3Artifacts, SesMailer, SqsQueue};
use certifica_functions::{NoSecrets, Unused};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<
        certifica_api::routes::email::Route,
        DynamoRecords,
        S3Artifacts,
        Unused,
        SesMailer,
        SqsQueue,
        NoSecrets,
    >()
    .await
}

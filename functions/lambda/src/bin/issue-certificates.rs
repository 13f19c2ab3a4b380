//! The `issue-certificates` Lambda: registering the signer, issuing (seal, stamp, PDF, credits) and previews.

use certifica_aws::{DynamoRecords, S3Artifacts};
use certifica_core::stamping::LocalAuthority;
use certifica_functions::{SecretsManager, Unused};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<
        certifica_api::routes::issue::Route,
        DynamoRecords,
        S3Artifacts,
        LocalAuthority,
        Unused,
        SecretsManager,
    >()
    .await
}

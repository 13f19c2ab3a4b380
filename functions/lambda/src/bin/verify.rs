//! The `verify` Lambda: the public verification of a folio.

use certifica_aws::DynamoRecords;
use certifica_functions::{NoQueue, NoSecrets, Unused};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<
        certifica_api::routes::verify::Route,
        DynamoRecords,
        Unused,
        Unused,
        Unused,
        NoQueue,
        NoSecrets,
    >()
    .await
}

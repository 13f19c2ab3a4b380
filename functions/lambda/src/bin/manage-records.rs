//! The `manage-records` Lambda: loading plans and students, and editing grades.

use certifica_aws::DynamoRecords;
use certifica_functions::{NoQueue, NoSecrets, Unused};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<
        certifica_api::routes::manage::Route,
        DynamoRecords,
        Unused,
        Unused,
        Unused,
        NoQueue,
        NoSecrets,
    >()
    .await
}

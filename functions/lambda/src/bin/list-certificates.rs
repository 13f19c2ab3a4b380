//! The `list-certificates` Lambda: the schools, cycles, plans, the students table and a student's data.

use certifica_aws::DynamoRecords;
use certifica_functions::{NoQueue, NoSecrets, Unused};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<
        certifica_api::routes::list::Route,
        DynamoRecords,
        Unused,
        Unused,
        Unused,
        NoQueue,
        NoSecrets,
    >()
    .await
}

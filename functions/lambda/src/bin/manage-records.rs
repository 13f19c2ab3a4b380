//! The `manage-records` Lambda: loading plans and students, and editing grades.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<certifica_api::routes::manage::Route>().await
}

//! The `email-certificates` Lambda: mailing certificates through SES.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<certifica_api::routes::email::Route>().await
}

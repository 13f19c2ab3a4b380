//! The `cancel-certificates` Lambda: cancelling Timbrado certificates.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<certifica_api::routes::cancel::Route>().await
}

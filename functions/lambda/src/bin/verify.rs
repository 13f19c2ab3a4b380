//! The `verify` Lambda: the public verification of a folio.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<certifica_api::routes::verify::Route>().await
}

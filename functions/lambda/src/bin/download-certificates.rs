//! The `download-certificates` Lambda: download links and the cycle's zip.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<certifica_api::routes::download::Route>().await
}

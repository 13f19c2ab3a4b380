//! The `issue-certificates` Lambda: registering the signer, issuing (seal, stamp, PDF, credits) and previews.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<certifica_api::routes::issue::Route>().await
}

//! The `stamp-on-upload` Lambda: S3 ObjectCreated events of the inbox
//! prefix — documents sealed offline, and the authority's returned ones.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::upload::run().await
}

//! The `jobs-worker` Lambda: the chunks of jobs (a whole class issued,
//! mailed or cancelled), from the SQS jobs queue.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::worker::run().await
}

//! The `list-certificates` Lambda: the schools, cycles, plans, the students table and a student's data.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    certifica_functions::run::<certifica_api::routes::list::Route>().await
}

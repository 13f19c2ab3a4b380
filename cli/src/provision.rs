//! `certifica provision`: an institution, its schools and cycles and a
//! purchase of credits, from one JSON file, into the deployment's DynamoDB
//! table (AWS credentials and region from the environment) or a local data
//! folder. Writing to the table needs the `aws` feature (the local
//! commands build without the AWS SDK).

use crate::commands::CliError;
use certifica_api::provision::{Provisioning, provision};
use certifica_core::records::Actor;
use std::path::Path;
use std::process::ExitCode;

/// Where the records live.
pub enum Target<'a> {
    Table(&'a str),
    Data(&'a Path),
}

pub fn run(file: &Path, target: Target<'_>, operator: &str) -> Result<ExitCode, CliError> {
    let text = std::fs::read_to_string(file).map_err(|e| CliError::Read(file.into(), e.to_string()))?;
    let spec: Provisioning = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!("{}: {e} (línea {}, columna {})", file.display(), e.line(), e.column()))
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Serve(e.to_string()))?;
    let by = Actor::new(operator, format!("provision-{}", uuid::Uuid::new_v4()));
    let done = runtime.block_on(async {
        match target {
            #[cfg(feature = "aws")]
            Target::Table(table) => {
                let records = certifica_aws::DynamoRecords::new(
                    certifica_aws::dynamodb_client(&certifica_aws::sdk_config().await),
                    table,
                );
                provision(&records, &spec, &by).await
            }
            #[cfg(not(feature = "aws"))]
            Target::Table(table) => {
                return Err(CliError::Usage(format!(
                    "este «certifica» se compiló sin AWS; para escribir en la tabla de DynamoDB use \
                     «cargo run -p certifica-cli --features aws -- provision --table {table} …»"
                )));
            }
            Target::Data(dir) => {
                certifica_local::private::create_dir_all(dir)
                    .map_err(|e| CliError::Write(dir.into(), e.to_string()))?;
                let records = certifica_local::LocalRecords::open(&dir.join("certifica.db"))
                    .map_err(|e| CliError::Store(e.to_string()))?;
                provision(&records, &spec, &by).await
            }
        }
        .map_err(|e| CliError::Store(e.to_string()))
    })?;
    println!("{}", serde_json::to_string_pretty(&done).map_err(|e| CliError::Usage(e.to_string()))?);
    Ok(ExitCode::SUCCESS)
}

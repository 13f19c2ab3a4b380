//! `certifica provision --table`: the example institution file written to a
//! deployment's DynamoDB table — here the emulator's, on 127.0.0.1 (started
//! by `scripts/test.sh`). Built with the `aws` feature; without it the
//! command says how to get it.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_certifica");

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/institucion-ejemplo.json")
}

#[cfg(feature = "aws")]
#[tokio::test]
async fn the_example_institution_is_provisioned_into_the_table() {
    use certifica_core::ports::{CreditStore, InstitutionStore};
    use certifica_core::records::Tenant;
    let endpoint = std::env::var("CERTIFICA_TEST_AWS_ENDPOINT").expect(
        "CERTIFICA_TEST_AWS_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto on 127.0.0.1",
    );
    assert!(endpoint.starts_with("http://127.0.0.1:"), "the emulator must be local: {endpoint}");
    let env = [
        ("CERTIFICA_AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let config = aws_config_for(&endpoint);
    let table = format!("certifica-provision-{}", uuid::Uuid::new_v4().simple());
    let records = certifica_aws::DynamoRecords::new(aws_sdk_dynamodb::Client::from_conf(config), &table);
    records.create_table().await.unwrap();
    let out = Command::new(BIN)
        .args(["provision", "--table", &table, "--operator", "prueba", "--file"])
        .arg(example())
        .envs(env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = Tenant::from_verified_identity("uva");
    let institution = records.institution(&t).await.unwrap().expect("the institution is in the table");
    assert_eq!(institution.name, "Universidad del Valle de Anáhuac");
    assert_eq!(records.balance(&t).await.unwrap().available, 500);
}

#[cfg(feature = "aws")]
fn aws_config_for(endpoint: &str) -> aws_sdk_dynamodb::Config {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "emulator"))
        .build()
}

#[cfg(not(feature = "aws"))]
#[test]
fn without_aws_the_table_target_says_how_to_build_it() {
    let out = Command::new(BIN).args(["provision", "--table", "t", "--file"]).arg(example()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--features aws"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

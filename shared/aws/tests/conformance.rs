//! The DynamoDB adapter passes the storage conformance suite against moto
//! server on 127.0.0.1, started by `scripts/test.sh` (which sets
//! `CERTIFICA_TEST_AWS_ENDPOINT`), and the stamping check under injected
//! failures over DynamoDB and S3, and transaction conflicts retried (over a
//! scripted local endpoint). Never against real AWS.

mod emulator;

use certifica_aws::DynamoRecords;

certifica_conformance::conformance_tests!(emulator::records());
certifica_conformance::stamping_conformance_tests!(emulator::records(), emulator::documents());

/// The DynamoDB adapter over a scripted endpoint: every transaction is
/// cancelled for `reason` the first `times` times, then accepted; reads find nothing.
async fn records_over(
    reason: &'static str,
    times: usize,
) -> (DynamoRecords, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let transactions = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = transactions.clone();
    let (url, _) = emulator::scripted_endpoint(move |_, target| {
        if !target.ends_with("transactwriteitems") {
            return ("200 OK", "", "{}".to_string());
        }
        if counted.fetch_add(1, Ordering::SeqCst) >= times {
            return ("200 OK", "", "{}".to_string());
        }
        let body = format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}, None]","CancellationReasons":[{{"Code":"{reason}","Message":"cancelada"}},{{"Code":"None"}}]}}"#
        );
        ("400 Bad Request", "TransactionCanceledException", body)
    })
    .await;
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "prueba"))
        .build();
    (DynamoRecords::new(aws_sdk_dynamodb::Client::from_conf(config), "certifica"), transactions)
}

#[tokio::test]
async fn a_transaction_conflict_is_retried_until_it_applies() {
    use certifica_core::ports::CreditStore;
    use std::sync::atomic::Ordering;
    let (records, transactions) = records_over("TransactionConflict", 3).await;
    let t = certifica_core::records::Tenant::from_verified_identity("conflictos");
    let by = certifica_core::records::Actor::new("admin", "compra");
    records.add_credits(&t, 5, &by).await.expect("applied after the conflicts");
    assert_eq!(transactions.load(Ordering::SeqCst), 4, "three conflicts, then the write");
}

#[tokio::test]
async fn a_failed_condition_is_an_answer_not_retried_and_endless_conflicts_give_up() {
    use certifica_core::ports::{CreditStore, StoreError};
    use std::sync::atomic::Ordering;
    let t = certifica_core::records::Tenant::from_verified_identity("conflictos");
    let by = certifica_core::records::Actor::new("admin", "compra");
    let (records, transactions) = records_over("ConditionalCheckFailed", usize::MAX).await;
    assert_eq!(records.add_credits(&t, 5, &by).await, Err(StoreError::Conflict));
    assert_eq!(transactions.load(Ordering::SeqCst), 1, "a condition is not retried");
    let (records, transactions) = records_over("TransactionConflict", usize::MAX).await;
    assert!(matches!(records.add_credits(&t, 5, &by).await, Err(StoreError::Unavailable(_))));
    assert_eq!(transactions.load(Ordering::SeqCst), 7, "six retries, then it gives up: safe to retry later");
}

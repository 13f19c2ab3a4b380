//! Every record of the ports in one DynamoDB table (its keys: [`keys`]).
//! Every state change is a conditional write or a TransactWriteItems, so
//! concurrent requests and retries cannot both win; audit entries and
//! ledger movements are written in the same transaction as the change they
//! record. One file per port: [`certificates`], [`credits`], [`institution`],
//! [`students`], [`audit`], [`idempotency`], [`jobs`].

mod audit;
mod certificates;
mod credits;
mod idempotency;
mod institution;
mod jobs;
pub mod keys;
mod students;

pub use keys::TABLE_KEY_SCHEMA;

use keys::{GSI1, GSI2, cert_pk, esc, inst_pk};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};
use certifica_core::ports::{StoreError, StoreResult};
use certifica_core::records::{CertificateRecord, Tenant};
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AttributeValue>;

/// The DynamoDB records store.
#[derive(Debug, Clone)]
pub struct DynamoRecords {
    client: Client,
    table: String,
}

pub(super) fn unavailable<E: std::error::Error + 'static>(e: SdkError<E>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

pub(super) fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(super) fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

pub(super) fn parse_certificate(item: &Item) -> StoreResult<CertificateRecord> {
    parse_body(item)
}

pub(super) fn parse_body<T: serde::de::DeserializeOwned>(item: &Item) -> StoreResult<T> {
    serde_json::from_str(get_s(item, "body").ok_or_else(|| invalid("registro sin cuerpo"))?).map_err(invalid)
}

pub(super) fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

/// The reason codes of a cancelled transaction, one per item (`None` when it
/// was not the cause), or the error when it failed otherwise.
pub(super) fn cancellation_reasons(
    e: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
) -> StoreResult<Vec<Option<String>>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match e {
        SdkError::ServiceError(service) => match service.into_err() {
            TransactWriteItemsError::TransactionCanceledException(c) => Ok(c
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().filter(|code| *code != "None").map(str::to_string))
                .collect()),
            other => Err(StoreError::Unavailable(DisplayErrorContext(other).to_string())),
        },
        other => Err(unavailable(other)),
    }
}

/// Why a transaction did not apply.
pub(super) enum TxFailure {
    /// Cancelled: one reason code per item (`None` where that item was not the cause).
    Cancelled(Vec<Option<String>>),
    /// Storage fault.
    Store(StoreError),
}

/// Retries of a transaction that conflicted with another in flight.
const CONFLICT_RETRIES: u32 = 6;

/// The wait before retry `attempt` (0-based): half to all of 25 ms × 2^attempt,
/// at most 800 ms, so conflicting writers spread out instead of colliding again.
fn conflict_backoff(attempt: u32) -> std::time::Duration {
    let ceiling = (25u64 << attempt.min(5)).min(800);
    let spread = (uuid::Uuid::new_v4().as_u128() % 1_000) as u64;
    std::time::Duration::from_millis(ceiling / 2 + ceiling * spread / 2_000)
}

impl TxFailure {
    /// Cancelled only because another transaction touched the same items:
    /// worth retrying (a failed condition is not).
    fn is_conflict(&self) -> bool {
        let TxFailure::Cancelled(reasons) = self else { return false };
        let codes: Vec<&str> = reasons.iter().flatten().map(String::as_str).collect();
        codes.contains(&"TransactionConflict") && !codes.contains(&"ConditionalCheckFailed")
    }

    /// An unexpected cancellation: a condition that should not fail, a
    /// conflict that outlasted the retries, or a fault.
    pub(super) fn into_error(self) -> StoreError {
        match self {
            TxFailure::Store(e) => e,
            TxFailure::Cancelled(reasons) => {
                let codes: Vec<String> = reasons.into_iter().flatten().collect();
                if codes.iter().any(|r| r == "ConditionalCheckFailed") {
                    StoreError::Conflict
                } else if codes.iter().any(|r| r == "TransactionConflict") {
                    StoreError::Unavailable("otras operaciones siguen escribiendo los mismos registros".into())
                } else {
                    StoreError::Unavailable(format!("transacción cancelada: {}", codes.join(", ")))
                }
            }
        }
    }
}

/// Whether item `index` of a cancelled transaction failed its condition.
pub(super) fn failed(f: &TxFailure, index: usize) -> bool {
    matches!(f, TxFailure::Cancelled(r) if r.get(index).and_then(|r| r.as_deref()) == Some("ConditionalCheckFailed"))
}

impl DynamoRecords {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoRecords { client, table: table.into() }
    }

    /// Creates the table (on-demand, with the folio index) if it does not
    /// exist. Deployments create it from the template; this serves the
    /// emulator and first-time setups.
    pub async fn create_table(&self) -> StoreResult<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(invalid)
        };
        let key_el = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(invalid)
        };
        let gsi = |name: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key_el(&format!("{name}pk"), KeyType::Hash)?)
                .key_schema(key_el(&format!("{name}sk"), KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(invalid)
        };
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .attribute_definitions(attr("gsi2pk")?)
            .attribute_definitions(attr("gsi2sk")?)
            .key_schema(key_el("pk", KeyType::Hash)?)
            .key_schema(key_el("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi(GSI1)?)
            .global_secondary_indexes(gsi(GSI2)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub(super) async fn get_item(&self, key: Item) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item().cloned())
    }

    pub(super) async fn certificate_item(&self, t: &Tenant, id: &str) -> StoreResult<Option<Item>> {
        self.get_item(key(cert_pk(t, id), "CERT")).await
    }

    /// Writes `items` in one transaction. A cancellation only because
    /// another transaction was touching the same items (`TransactionConflict`,
    /// e.g. four issues in flight on one institution's credits item) is
    /// retried with jittered backoff; a failed condition is an answer and
    /// is returned at once.
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxFailure> {
        let mut attempt = 0;
        loop {
            let sent = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let failure = match sent {
                Ok(_) => return Ok(()),
                Err(e) => match cancellation_reasons(e) {
                    Ok(reasons) => TxFailure::Cancelled(reasons),
                    Err(store) => TxFailure::Store(store),
                },
            };
            if !failure.is_conflict() || attempt >= CONFLICT_RETRIES {
                return Err(failure);
            }
            tokio::time::sleep(conflict_backoff(attempt)).await;
            attempt += 1;
        }
    }

    pub(super) fn put(&self, item: Item, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string));
        Ok(TransactWriteItem::builder().put(put.build().map_err(invalid)?).build())
    }

    /// Every item `query` answers, following the pages.
    pub(super) async fn all_pages(&self, query: QueryFluentBuilder) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start.take()).send().await.map_err(unavailable)?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(items),
            }
        }
    }

    /// Every item of index `index` under `pk`, in sort-key order.
    pub(super) async fn query_index_all(&self, index: &str, pk: String) -> StoreResult<Vec<Item>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", format!("{index}pk"))
            .expression_attribute_values(":pk", s(pk));
        self.all_pages(query).await
    }

    /// Items of `pk` whose sort key begins with `prefix`, in order.
    pub(super) async fn query_prefix(&self, pk: String, prefix: &str) -> StoreResult<Vec<Item>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true);
        self.all_pages(query).await
    }

    /// Every item under partition `pk`, in sort-key order, following the
    /// pages; `filter` is (expression, placeholder, value).
    pub(super) async fn query_all(
        &self,
        pk: String,
        filter: Option<(&str, &str, AttributeValue)>,
    ) -> StoreResult<Vec<Item>> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true);
        if let Some((expression, placeholder, value)) = filter {
            query = query.filter_expression(expression).expression_attribute_values(placeholder, value);
        }
        self.all_pages(query).await
    }

    pub(super) async fn put_config<T: serde::Serialize>(&self, t: &Tenant, sk: &str, value: &T) -> StoreResult<()> {
        let mut item = key(inst_pk(t), sk);
        item.insert("body".into(), s(serde_json::to_string(value).map_err(invalid)?));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    pub(super) async fn get_config<T: serde::de::DeserializeOwned>(
        &self,
        t: &Tenant,
        sk: &str,
    ) -> StoreResult<Option<T>> {
        self.get_item(key(inst_pk(t), sk)).await?.map(|i| parse_body(&i)).transpose()
    }

    pub(super) async fn list_config<T: serde::de::DeserializeOwned>(
        &self,
        t: &Tenant,
        prefix: &str,
    ) -> StoreResult<Vec<T>> {
        self.query_prefix(inst_pk(t), prefix).await?.iter().map(parse_body).collect()
    }

    /// Refuses records of an unknown school rather than leaving them orphaned.
    pub(super) async fn require_school(&self, t: &Tenant, school_id: &str) -> StoreResult<()> {
        match self.get_item(key(inst_pk(t), &format!("SCHOOL#{}", esc(school_id)))).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound(format!("la escuela {school_id}"))),
        }
    }
}

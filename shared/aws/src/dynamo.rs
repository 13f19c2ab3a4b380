//! Certificates, credits (with the ledger) and idempotency records in one
//! DynamoDB table. Every state change is a conditional write or a
//! TransactWriteItems, so concurrent requests and retries cannot both win.
//!
//! Keys (`{t}` is the tenant id from the verified identity; ids are escaped
//! so a `#` in them cannot reach another key):
//!
//! | entity | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | certificate | `{t}#CERT#{id}` | `CERT` | `FOLIO#{folio}` / `{t}` once stamped |
//! | active-certificate guard | `{t}#ACTIVE#{school}#{cycle}#{plan}#{matrícula}` | `ACTIVE` | |
//! | credit balance | `{t}#CREDITS` | `CREDITS` | |
//! | credit reservation | `{t}#RES` | `{reservation id}` | |
//! | ledger entry | `{t}#LEDGER` | `{time, ns}#{uuid}` | |
//! | idempotency record | `{t}#IDEM#{key}` | `IDEM` | |
//!
//! A certificate item carries `reservation` while a credit is held for it:
//! reserving requires it absent and the status Sellado or Error, so at most
//! one attempt per certificate holds a credit.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem, Update,
};
use certifica_core::ports::{CertificateStore, CreditStore, IdempotencyStore, StoreError, StoreResult};
use certifica_core::records::*;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// The table's key schema, for the infrastructure template and tests.
pub const TABLE_KEY_SCHEMA: [(&str, &str); 4] =
    [("pk", "HASH"), ("sk", "RANGE"), ("gsi1pk", "HASH"), ("gsi1sk", "RANGE")];
const GSI1: &str = "gsi1";

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB records store.
#[derive(Debug, Clone)]
pub struct DynamoRecords {
    client: Client,
    table: String,
}

fn unavailable<E: std::error::Error + 'static>(e: SdkError<E>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Escapes the key separator so ids cannot forge another key.
fn esc(id: &str) -> String {
    id.replace('%', "%25").replace('#', "%23")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn cert_pk(t: &Tenant, id: &str) -> String {
    format!("{}#CERT#{}", esc(t.id()), esc(id))
}

fn active_pk(t: &Tenant, c: &CertificateRecord) -> String {
    format!(
        "{}#ACTIVE#{}#{}#{}#{}",
        esc(t.id()),
        esc(&c.school_id),
        esc(&c.cycle_id),
        esc(&c.plan_id),
        esc(&c.control_number)
    )
}

fn credits_pk(t: &Tenant) -> String {
    format!("{}#CREDITS", esc(t.id()))
}

fn reservations_pk(t: &Tenant) -> String {
    format!("{}#RES", esc(t.id()))
}

fn ledger_pk(t: &Tenant) -> String {
    format!("{}#LEDGER", esc(t.id()))
}

fn idem_pk(t: &Tenant, k: &str) -> String {
    format!("{}#IDEM#{}", esc(t.id()), esc(k))
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn parse_certificate(item: &Item) -> StoreResult<CertificateRecord> {
    serde_json::from_str(get_s(item, "body").ok_or_else(|| invalid("certificado sin cuerpo"))?).map_err(invalid)
}

/// The reason codes of a cancelled transaction, one per item (`None` when it
/// was not the cause), or the error when it failed otherwise.
fn cancellation_reasons(
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
enum TxFailure {
    /// Cancelled: one reason code per item (`None` where that item was not the cause).
    Cancelled(Vec<Option<String>>),
    /// Storage fault.
    Store(StoreError),
}

impl TxFailure {
    /// An unexpected cancellation: a condition that should not fail, or a fault.
    fn into_error(self) -> StoreError {
        match self {
            TxFailure::Store(e) => e,
            TxFailure::Cancelled(reasons) => match reasons.into_iter().flatten().next() {
                Some(r) if r == "ConditionalCheckFailed" => StoreError::Conflict,
                Some(r) => StoreError::Unavailable(format!("transacción cancelada: {r}")),
                None => StoreError::Unavailable("transacción cancelada".into()),
            },
        }
    }
}

/// Whether item `index` of a cancelled transaction failed its condition.
fn failed(f: &TxFailure, index: usize) -> bool {
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
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key_el("gsi1pk", KeyType::Hash)?)
            .key_schema(key_el("gsi1sk", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(invalid)?;
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .key_schema(key_el("pk", KeyType::Hash)?)
            .key_schema(key_el("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get_item(&self, key: Item) -> StoreResult<Option<Item>> {
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

    async fn certificate_item(&self, t: &Tenant, id: &str) -> StoreResult<Option<Item>> {
        self.get_item(key(cert_pk(t, id), "CERT")).await
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxFailure> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(match cancellation_reasons(e) {
                Ok(reasons) => TxFailure::Cancelled(reasons),
                Err(store) => TxFailure::Store(store),
            }),
        }
    }

    fn put(&self, item: Item, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string));
        Ok(TransactWriteItem::builder().put(put.build().map_err(invalid)?).build())
    }

    fn ledger_item(
        &self,
        t: &Tenant,
        kind: LedgerKind,
        certificate_id: &str,
        reservation_id: Option<&str>,
        actor: &str,
        amount: u64,
    ) -> StoreResult<TransactWriteItem> {
        let at = Utc::now();
        let mut item = key(ledger_pk(t), &format!("{}#{}", at.format("%Y-%m-%dT%H:%M:%S%.9fZ"), uuid::Uuid::new_v4()));
        item.insert("kind".into(), s(kind.as_str()));
        item.insert("amount".into(), n(amount));
        if !certificate_id.is_empty() {
            item.insert("certificate_id".into(), s(certificate_id));
        }
        if let Some(r) = reservation_id {
            item.insert("reservation_id".into(), s(r));
        }
        item.insert("actor".into(), s(actor));
        item.insert("at".into(), s(at.to_rfc3339()));
        self.put(item, None)
    }

    /// Writes the certificate's new state over the item at `expected_version`.
    fn certificate_update(
        &self,
        t: &Tenant,
        next: &CertificateRecord,
        expected_version: u64,
        extra_condition: &str,
        remove: &str,
        extra_values: &[(&str, AttributeValue)],
    ) -> StoreResult<TransactWriteItem> {
        let body = serde_json::to_string(next).map_err(invalid)?;
        let mut set = "SET #st = :st, version = :nv, body = :body".to_string();
        let mut values: Item = HashMap::from([
            (":st".to_string(), s(next.status.as_str())),
            (":nv".to_string(), n(next.version)),
            (":body".to_string(), s(body)),
            (":v".to_string(), n(expected_version)),
        ]);
        if let Some(folio) = &next.folio_digital {
            set.push_str(", gsi1pk = :g1, gsi1sk = :g2");
            values.insert(":g1".into(), s(format!("FOLIO#{folio}")));
            values.insert(":g2".into(), s(t.id()));
        }
        for (k, v) in extra_values {
            values.insert((*k).to_string(), v.clone());
        }
        let expression = if remove.is_empty() { set } else { format!("{set} REMOVE {remove}") };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(cert_pk(t, &next.id), "CERT")))
            .update_expression(expression)
            .condition_expression(format!("version = :v{extra_condition}"))
            .expression_attribute_names("#st", "status")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn credits_update(&self, t: &Tenant, expression: &str, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(credits_pk(t), "CREDITS")))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_string))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(invalid)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Every item under partition `pk`, in sort-key order, following the
    /// pages; `filter` is (expression, placeholder, value).
    async fn query_all(&self, pk: String, filter: Option<(&str, &str, AttributeValue)>) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some((expression, placeholder, value)) = &filter {
                query = query.filter_expression(*expression).expression_attribute_values(*placeholder, value.clone());
            }
            let out = query.send().await.map_err(unavailable)?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(items),
            }
        }
    }

    /// Removes a live reservation (the transaction's first item, so a
    /// reservation already gone shows as its failed condition).
    fn reservation_delete(&self, t: &Tenant, r: &Reservation) -> StoreResult<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(reservations_pk(t), &r.id)))
            .condition_expression("attribute_exists(pk) AND certificate_id = :c")
            .expression_attribute_values(":c", s(&r.certificate_id))
            .build()
            .map_err(invalid)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Gives a reservation's credit back; false when it was already gone.
    async fn return_credit(&self, t: &Tenant, r: &Reservation, kind: LedgerKind, actor: &str) -> StoreResult<bool> {
        let clear = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(cert_pk(t, &r.certificate_id), "CERT")))
            .update_expression("REMOVE reservation")
            .condition_expression("reservation = :r")
            .expression_attribute_values(":r", s(&r.id))
            .build()
            .map_err(invalid)?;
        let items = vec![
            self.reservation_delete(t, r)?,
            self.credits_update(
                t,
                "SET credits_available = credits_available + :one, credits_reserved = credits_reserved - :one",
                None,
            )?,
            TransactWriteItem::builder().update(clear).build(),
            self.ledger_item(t, kind, &r.certificate_id, Some(&r.id), actor, 1)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(reasons) if failed(&reasons, 0) => Ok(false),
            Err(reasons) => Err(reasons.into_error()),
        }
    }
}

impl CertificateStore for DynamoRecords {
    async fn create(&self, t: &Tenant, c: &CertificateRecord) -> StoreResult<()> {
        let mut item = key(cert_pk(t, &c.id), "CERT");
        item.insert("status".into(), s(c.status.as_str()));
        item.insert("version".into(), n(c.version));
        item.insert("body".into(), s(serde_json::to_string(c).map_err(invalid)?));
        if let Some(folio) = &c.folio_digital {
            item.insert("gsi1pk".into(), s(format!("FOLIO#{folio}")));
            item.insert("gsi1sk".into(), s(t.id()));
        }
        let mut guard = key(active_pk(t, c), "ACTIVE");
        guard.insert("certificate_id".into(), s(&c.id));
        let items =
            vec![self.put(item, Some("attribute_not_exists(pk)"))?, self.put(guard, Some("attribute_not_exists(pk)"))?];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(reasons) if failed(&reasons, 1) => {
                let label = match self.get_item(key(active_pk(t, c), "ACTIVE")).await? {
                    Some(g) => match get_s(&g, "certificate_id") {
                        Some(id) => self.get(t, id).await?.map(|c| c.status.label().to_lowercase()),
                        None => None,
                    },
                    None => None,
                };
                Err(StoreError::AlreadyIssued(label.unwrap_or_else(|| "activo".into())))
            }
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn get(&self, t: &Tenant, id: &str) -> StoreResult<Option<CertificateRecord>> {
        self.certificate_item(t, id).await?.map(|i| parse_certificate(&i)).transpose()
    }

    async fn by_folio(&self, folio: &str) -> StoreResult<Option<(Tenant, CertificateRecord)>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :f")
            .expression_attribute_values(":f", s(format!("FOLIO#{folio}")))
            .send()
            .await
            .map_err(unavailable)?;
        match out.items().first() {
            None => Ok(None),
            Some(item) => {
                let tenant = get_s(item, "gsi1sk").ok_or_else(|| invalid("folio sin institución"))?;
                Ok(Some((Tenant::from_verified_identity(tenant), parse_certificate(item)?)))
            }
        }
    }

    async fn transition(
        &self,
        t: &Tenant,
        id: &str,
        expected_version: u64,
        change: Transition,
    ) -> StoreResult<CertificateRecord> {
        let cancelled = matches!(change, Transition::Cancelled { .. });
        let c = self
            .get(t, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("el certificado {id}")))?
            .after(expected_version, change)
            .ok_or(StoreError::Conflict)?;
        let mut items = vec![self.certificate_update(t, &c, expected_version, "", "", &[])?];
        if cancelled {
            // The student may be certified again: the active guard goes with the cancellation.
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(active_pk(t, &c), "ACTIVE")))
                .condition_expression("certificate_id = :id")
                .expression_attribute_values(":id", s(&c.id))
                .build()
                .map_err(invalid)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self.transact(items).await {
            Ok(()) => Ok(c),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::Conflict),
            Err(reasons) => Err(reasons.into_error()),
        }
    }
}

impl CreditStore for DynamoRecords {
    async fn add_credits(&self, t: &Tenant, amount: u64, actor: &str) -> StoreResult<CreditBalance> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(credits_pk(t), "CREDITS")))
            .update_expression("SET credits_available = if_not_exists(credits_available, :zero) + :amount, credits_reserved = if_not_exists(credits_reserved, :zero), credits_consumed = if_not_exists(credits_consumed, :zero)")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":amount", n(amount))
            .build()
            .map_err(invalid)?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.ledger_item(t, LedgerKind::Added, "", None, actor, amount)?,
        ];
        self.transact(items).await.map_err(TxFailure::into_error)?;
        self.balance(t).await
    }

    async fn balance(&self, t: &Tenant) -> StoreResult<CreditBalance> {
        let item = self.get_item(key(credits_pk(t), "CREDITS")).await?;
        let get = |name| item.as_ref().and_then(|i| get_n(i, name)).unwrap_or(0).max(0) as u64;
        Ok(CreditBalance {
            available: get("credits_available"),
            reserved: get("credits_reserved"),
            consumed: get("credits_consumed"),
        })
    }

    async fn reserve(&self, t: &Tenant, certificate_id: &str, ttl: Duration, actor: &str) -> StoreResult<Reservation> {
        if self.certificate_item(t, certificate_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("el certificado {certificate_id}")));
        }
        let r = Reservation {
            id: uuid::Uuid::new_v4().to_string(),
            certificate_id: certificate_id.to_string(),
            expires_at: Utc::now() + ttl,
        };
        let hold = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(cert_pk(t, certificate_id), "CERT")))
            .update_expression("SET reservation = :r")
            .condition_expression(
                "attribute_exists(pk) AND #st IN (:sellado, :error) AND attribute_not_exists(reservation)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":r", s(&r.id))
            .expression_attribute_values(":sellado", s(CertificateStatus::Sellado.as_str()))
            .expression_attribute_values(":error", s(CertificateStatus::Error.as_str()))
            .build()
            .map_err(invalid)?;
        let mut reservation = key(reservations_pk(t), &r.id);
        reservation.insert("certificate_id".into(), s(certificate_id));
        reservation.insert("expires_at".into(), n(r.expires_at.timestamp_millis()));
        let items = vec![
            self.credits_update(
                t,
                "SET credits_available = credits_available - :one, credits_reserved = credits_reserved + :one",
                Some("credits_available >= :one"),
            )?,
            TransactWriteItem::builder().update(hold).build(),
            self.put(reservation, Some("attribute_not_exists(pk)"))?,
            self.ledger_item(t, LedgerKind::Reserved, certificate_id, Some(&r.id), actor, 1)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(r),
            // The certificate is not waiting for a stamp, or already has a credit held.
            Err(reasons) if failed(&reasons, 1) => Err(StoreError::Conflict),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::NoCredits),
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn release(&self, t: &Tenant, r: &Reservation, actor: &str) -> StoreResult<()> {
        self.return_credit(t, r, LedgerKind::Released, actor).await.map(|_| ())
    }

    async fn release_expired(&self, t: &Tenant, now: DateTime<Utc>) -> StoreResult<u64> {
        let expired =
            self.query_all(reservations_pk(t), Some(("expires_at < :now", ":now", n(now.timestamp_millis())))).await?;
        let mut released = 0;
        for item in &expired {
            let (Some(id), Some(certificate_id)) = (get_s(item, "sk"), get_s(item, "certificate_id")) else {
                continue;
            };
            let r = Reservation {
                id: id.to_string(),
                certificate_id: certificate_id.to_string(),
                expires_at: DateTime::from_timestamp_millis(get_n(item, "expires_at").unwrap_or(0)).unwrap_or_default(),
            };
            if self.return_credit(t, &r, LedgerKind::Expired, "sistema").await? {
                released += 1;
            }
        }
        Ok(released)
    }

    async fn commit_stamp(
        &self,
        t: &Tenant,
        r: &Reservation,
        expected_version: u64,
        stamp: StampCommit,
        actor: &str,
    ) -> StoreResult<CertificateRecord> {
        // A stale version or a certificate not waiting for its stamp loses before writing.
        let c = self
            .get(t, &r.certificate_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("el certificado {}", r.certificate_id)))?
            .after_stamp(expected_version, stamp)
            .ok_or(StoreError::Conflict)?;
        let items = vec![
            self.reservation_delete(t, r)?,
            self.credits_update(
                t,
                "SET credits_reserved = credits_reserved - :one, credits_consumed = credits_consumed + :one",
                Some("credits_reserved >= :one"),
            )?,
            self.certificate_update(
                t,
                &c,
                expected_version,
                " AND reservation = :r AND #st IN (:sellado, :error)",
                "reservation",
                &[
                    (":r", s(&r.id)),
                    (":sellado", s(CertificateStatus::Sellado.as_str())),
                    (":error", s(CertificateStatus::Error.as_str())),
                ],
            )?,
            self.ledger_item(t, LedgerKind::Consumed, &r.certificate_id, Some(&r.id), actor, 1)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(c),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::ReservationGone(r.id.clone())),
            Err(reasons) if failed(&reasons, 2) => Err(StoreError::Conflict),
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn ledger(&self, t: &Tenant, certificate_id: Option<&str>) -> StoreResult<Vec<LedgerEntry>> {
        let mut entries = Vec::new();
        for item in &self.query_all(ledger_pk(t), None).await? {
            let cert = get_s(item, "certificate_id").map(str::to_string);
            if certificate_id.is_some() && cert.as_deref() != certificate_id {
                continue;
            }
            let kind =
                get_s(item, "kind").and_then(LedgerKind::parse).ok_or_else(|| invalid("movimiento desconocido"))?;
            entries.push(LedgerEntry {
                kind,
                amount: get_n(item, "amount").unwrap_or(0).max(0) as u64,
                certificate_id: cert,
                reservation_id: get_s(item, "reservation_id").map(str::to_string),
                actor: get_s(item, "actor").unwrap_or_default().to_string(),
                at: get_s(item, "at")
                    .and_then(|a| DateTime::parse_from_rfc3339(a).ok())
                    .map(|a| a.with_timezone(&Utc))
                    .unwrap_or_default(),
            });
        }
        Ok(entries)
    }
}

impl IdempotencyStore for DynamoRecords {
    async fn begin(&self, t: &Tenant, k: &str, ttl: Duration) -> StoreResult<IdempotencyState> {
        let now = Utc::now();
        let expires = now + ttl;
        let mut item = key(idem_pk(t, k), "IDEM");
        item.insert("expires_at".into(), n(expires.timestamp_millis()));
        // DynamoDB's own TTL removes old records (seconds since the epoch).
        item.insert("ttl".into(), n(expires.timestamp().max(now.timestamp())));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(IdempotencyState::Started),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                let existing = self.get_item(key(idem_pk(t, k), "IDEM")).await?;
                Ok(match existing.as_ref().and_then(|i| get_s(i, "result")) {
                    Some(result) => IdempotencyState::Completed(result.to_string()),
                    None => IdempotencyState::InProgress,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn complete(&self, t: &Tenant, k: &str, result: &str) -> StoreResult<()> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(idem_pk(t, k), "IDEM")))
            .update_expression("SET #result = :r")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#result)")
            .expression_attribute_names("#result", "result")
            .expression_attribute_values(":r", s(result))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn abandon(&self, t: &Tenant, k: &str) -> StoreResult<()> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(idem_pk(t, k), "IDEM")))
            .condition_expression("attribute_not_exists(#result)")
            .expression_attribute_names("#result", "result")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

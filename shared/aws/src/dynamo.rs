//! Every record of the ports in one DynamoDB table. Every state change is a
//! conditional write or a TransactWriteItems, so concurrent requests and
//! retries cannot both win; audit entries and ledger movements are written
//! in the same transaction as the change they record.
//!
//! Keys (`{t}` is the tenant id from the verified identity; ids are escaped
//! so a `#` in them cannot reach another key; matrículas are limited to
//! `[A-Za-z0-9._-]`, all above `#`, so `{matrícula}#…` sorts by matrícula):
//!
//! | entity | pk | sk | gsi1pk / gsi1sk | gsi2pk / gsi2sk |
//! |---|---|---|---|---|
//! | institution | `{t}#INST` | `INSTITUTION` | | |
//! | school | `{t}#INST` | `SCHOOL#{school}` | | |
//! | cycle | `{t}#INST` | `CYCLE#{school}#{cycle}` | | |
//! | plan (with subjects) | `{t}#INST` | `PLAN#{school}#{plan}` | | |
//! | signer | `{t}#INST` | `SIGNER#{school}` | | |
//! | group | `{t}#INST` | `GROUP#{school}#{cycle}#{group}` | | |
//! | student (with grades) | `{t}#STU#{school}#{cycle}` | `{matrícula}` | | |
//! | certificate | `{t}#CERT#{id}` | `CERT` | `FOLIO#{folio}` / `{t}` once stamped | `{t}#ROSTER#{school}#{cycle}` / `{matrícula}#{created}#{id}` |
//! | active-certificate guard | `{t}#ACTIVE#{school}#{cycle}#{plan}#{matrícula}` | `ACTIVE` | | |
//! | credit balance | `{t}#CREDITS` | `CREDITS` | | |
//! | credit reservation | `{t}#RES` | `{reservation id}` | | |
//! | ledger entry | `{t}#LEDGER` | `{time, ns}#{uuid}` | | `{t}#CERTLEDGER#{certificate}` / same as sk |
//! | audit entry | `{t}#AUDIT#{school}#{cycle}#{matrícula}` | `{time, ns}#{uuid}` | | `{t}#CERTAUDIT#{certificate}` / same as sk |
//! | idempotency record | `{t}#IDEM#{key}` | `IDEM` | | |
//!
//! gsi1 finds a certificate by folio (the public verification); gsi2 lists
//! a cycle's certificates (joined with its students for the table, and for
//! bulk downloads) and a certificate's ledger and audit trail. Index reads
//! are eventually consistent; state changes always read the table.
//!
//! A certificate item carries `reservation` while a credit is held for it:
//! reserving requires it absent and the status Sellado or Error, so at most
//! one attempt per certificate holds a credit.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem, Update,
};
use certifica_core::model::{Grade, Institution, Plan, School, Student};
use certifica_core::ports::{
    AuditStore, CertificateStore, CreditStore, IdempotencyStore, InstitutionStore, StoreError, StoreResult,
    StudentStore,
};
use certifica_core::records::*;
use certifica_core::roster::{self, PageBuilder, RosterFilter, RosterPage, RosterStudent};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// The table's key schema, for the infrastructure template and tests.
pub const TABLE_KEY_SCHEMA: [(&str, &str); 6] =
    [("pk", "HASH"), ("sk", "RANGE"), ("gsi1pk", "HASH"), ("gsi1sk", "RANGE"), ("gsi2pk", "HASH"), ("gsi2sk", "RANGE")];
const GSI1: &str = "gsi1";
const GSI2: &str = "gsi2";

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

fn inst_pk(t: &Tenant) -> String {
    format!("{}#INST", esc(t.id()))
}

fn students_pk(t: &Tenant, school: &str, cycle: &str) -> String {
    format!("{}#STU#{}#{}", esc(t.id()), esc(school), esc(cycle))
}

fn roster_gsi(t: &Tenant, school: &str, cycle: &str) -> String {
    format!("{}#ROSTER#{}#{}", esc(t.id()), esc(school), esc(cycle))
}

fn roster_gsi_sk(c: &CertificateRecord) -> String {
    format!("{}#{}#{}", esc(&c.control_number), c.created_at.format("%Y-%m-%dT%H:%M:%S%.9fZ"), esc(&c.id))
}

fn audit_pk(t: &Tenant, school: &str, cycle: &str, control: &str) -> String {
    format!("{}#AUDIT#{}#{}#{}", esc(t.id()), esc(school), esc(cycle), esc(control))
}

/// A time-ordered, unique sort key.
fn time_key() -> (DateTime<Utc>, String) {
    let at = Utc::now();
    (at, format!("{}#{}", at.format("%Y-%m-%dT%H:%M:%S%.9fZ"), uuid::Uuid::new_v4()))
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn parse_certificate(item: &Item) -> StoreResult<CertificateRecord> {
    parse_body(item)
}

fn parse_body<T: serde::de::DeserializeOwned>(item: &Item) -> StoreResult<T> {
    serde_json::from_str(get_s(item, "body").ok_or_else(|| invalid("registro sin cuerpo"))?).map_err(invalid)
}

fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
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
        by: &Actor,
        amount: u64,
    ) -> StoreResult<TransactWriteItem> {
        let (at, sk) = time_key();
        let mut item = key(ledger_pk(t), &sk);
        item.insert("kind".into(), s(kind.as_str()));
        item.insert("amount".into(), n(amount));
        if !certificate_id.is_empty() {
            item.insert("certificate_id".into(), s(certificate_id));
            item.insert("gsi2pk".into(), s(format!("{}#CERTLEDGER#{}", esc(t.id()), esc(certificate_id))));
            item.insert("gsi2sk".into(), s(sk));
        }
        if let Some(r) = reservation_id {
            item.insert("reservation_id".into(), s(r));
        }
        item.insert("actor".into(), s(&by.user));
        item.insert("request_id".into(), s(&by.request_id));
        item.insert("at".into(), s(at.to_rfc3339()));
        self.put(item, None)
    }

    /// The put of one audit entry (into the caller's transaction).
    fn audit_item(&self, t: &Tenant, e: &AuditEntry) -> StoreResult<TransactWriteItem> {
        let (_, sk) = time_key();
        let mut item = key(audit_pk(t, &e.school_id, &e.cycle_id, &e.control_number), &sk);
        if let Some(c) = &e.certificate_id {
            item.insert("gsi2pk".into(), s(format!("{}#CERTAUDIT#{}", esc(t.id()), esc(c))));
            item.insert("gsi2sk".into(), s(sk));
        }
        item.insert("body".into(), s(serde_json::to_string(e).map_err(invalid)?));
        self.put(item, None)
    }

    /// Every item `query` answers, following the pages.
    async fn all_pages(&self, query: QueryFluentBuilder) -> StoreResult<Vec<Item>> {
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
    async fn query_index_all(&self, index: &str, pk: String) -> StoreResult<Vec<Item>> {
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
    async fn query_prefix(&self, pk: String, prefix: &str) -> StoreResult<Vec<Item>> {
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
    async fn return_credit(&self, t: &Tenant, r: &Reservation, kind: LedgerKind, actor: &Actor) -> StoreResult<bool> {
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
    async fn create(&self, t: &Tenant, c: &CertificateRecord, by: &Actor) -> StoreResult<()> {
        let mut item = key(cert_pk(t, &c.id), "CERT");
        item.insert("gsi2pk".into(), s(roster_gsi(t, &c.school_id, &c.cycle_id)));
        item.insert("gsi2sk".into(), s(roster_gsi_sk(c)));
        item.insert("status".into(), s(c.status.as_str()));
        item.insert("version".into(), n(c.version));
        item.insert("body".into(), s(serde_json::to_string(c).map_err(invalid)?));
        if let Some(folio) = &c.folio_digital {
            item.insert("gsi1pk".into(), s(format!("FOLIO#{folio}")));
            item.insert("gsi1sk".into(), s(t.id()));
        }
        let mut guard = key(active_pk(t, c), "ACTIVE");
        guard.insert("certificate_id".into(), s(&c.id));
        let items = vec![
            self.put(item, Some("attribute_not_exists(pk)"))?,
            self.put(guard, Some("attribute_not_exists(pk)"))?,
            self.audit_item(t, &AuditEntry::of_certificate(by, AuditAction::Sealed, c, c.folio_control.clone()))?,
        ];
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
        by: &Actor,
    ) -> StoreResult<CertificateRecord> {
        let cancelled = matches!(change, Transition::Cancelled { .. });
        let (action, detail) = change.audit();
        let c = self
            .get(t, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("el certificado {id}")))?
            .after(expected_version, change)
            .ok_or(StoreError::Conflict)?;
        let mut items = vec![
            self.certificate_update(t, &c, expected_version, "", "", &[])?,
            self.audit_item(t, &AuditEntry::of_certificate(by, action, &c, detail))?,
        ];
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

    async fn student_certificates(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> StoreResult<Vec<CertificateRecord>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("gsi2pk = :pk AND begins_with(gsi2sk, :prefix)")
            .expression_attribute_values(":pk", s(roster_gsi(t, school_id, cycle_id)))
            .expression_attribute_values(":prefix", s(format!("{}#", esc(control_number))));
        self.all_pages(query).await?.iter().map(parse_certificate).collect()
    }

    async fn certificates_page(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<CertificateRecord>, Option<String>)> {
        let limit = limit.clamp(1, 1000);
        // After every certificate of matrícula `after` (their keys are `{after}#…` < `{after}#~`).
        let from = after.map(|a| format!("{}#~", esc(a)));
        let mut certificates: Vec<CertificateRecord> = Vec::new();
        let mut start: Option<Item> = None;
        let mut students = 0;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2)
                .expression_attribute_values(":pk", s(roster_gsi(t, school_id, cycle_id)))
                .limit(100)
                .set_exclusive_start_key(start.take());
            query = match &from {
                Some(from) => query
                    .key_condition_expression("gsi2pk = :pk AND gsi2sk > :from")
                    .expression_attribute_values(":from", s(from)),
                None => query.key_condition_expression("gsi2pk = :pk"),
            };
            let out = query.send().await.map_err(unavailable)?;
            for item in out.items() {
                let c = parse_certificate(item)?;
                if certificates.last().is_none_or(|last| last.control_number != c.control_number) {
                    students += 1;
                    if students > limit {
                        // A student's certificates never straddle pages.
                        let next = certificates.last().map(|l| l.control_number.clone());
                        return Ok((certificates, next));
                    }
                }
                certificates.push(c);
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok((certificates, None)),
            }
        }
    }
}

impl CreditStore for DynamoRecords {
    async fn add_credits(&self, t: &Tenant, amount: u64, actor: &Actor) -> StoreResult<CreditBalance> {
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

    async fn reserve(
        &self,
        t: &Tenant,
        certificate_id: &str,
        ttl: Duration,
        actor: &Actor,
    ) -> StoreResult<Reservation> {
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
            // Unknown, not waiting for a stamp, or already holding a credit: read only on
            // this path (the happy path costs one call).
            Err(reasons) if failed(&reasons, 1) => match self.certificate_item(t, certificate_id).await? {
                None => Err(StoreError::NotFound(format!("el certificado {certificate_id}"))),
                Some(_) => Err(StoreError::Conflict),
            },
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::NoCredits),
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn release(&self, t: &Tenant, r: &Reservation, actor: &Actor) -> StoreResult<()> {
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
            if self
                .return_credit(t, &r, LedgerKind::Expired, &Actor::new("sistema", "expiracion-de-reservaciones"))
                .await?
            {
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
        actor: &Actor,
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
            self.audit_item(
                t,
                &AuditEntry::of_certificate(
                    actor,
                    AuditAction::Stamped,
                    &c,
                    c.folio_digital.clone().unwrap_or_default(),
                ),
            )?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(c),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::ReservationGone(r.id.clone())),
            Err(reasons) if failed(&reasons, 2) => Err(StoreError::Conflict),
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn ledger(&self, t: &Tenant, certificate_id: Option<&str>) -> StoreResult<Vec<LedgerEntry>> {
        let items = match certificate_id {
            Some(c) => self.query_index_all(GSI2, format!("{}#CERTLEDGER#{}", esc(t.id()), esc(c))).await?,
            None => self.query_all(ledger_pk(t), None).await?,
        };
        let mut entries = Vec::new();
        for item in &items {
            let cert = get_s(item, "certificate_id").map(str::to_string);
            let kind =
                get_s(item, "kind").and_then(LedgerKind::parse).ok_or_else(|| invalid("movimiento desconocido"))?;
            entries.push(LedgerEntry {
                kind,
                amount: get_n(item, "amount").unwrap_or(0).max(0) as u64,
                certificate_id: cert,
                reservation_id: get_s(item, "reservation_id").map(str::to_string),
                actor: get_s(item, "actor").unwrap_or_default().to_string(),
                request_id: get_s(item, "request_id").unwrap_or_default().to_string(),
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

impl DynamoRecords {
    async fn put_config<T: serde::Serialize>(&self, t: &Tenant, sk: &str, value: &T) -> StoreResult<()> {
        let mut item = key(inst_pk(t), sk);
        item.insert("body".into(), s(serde_json::to_string(value).map_err(invalid)?));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_config<T: serde::de::DeserializeOwned>(&self, t: &Tenant, sk: &str) -> StoreResult<Option<T>> {
        self.get_item(key(inst_pk(t), sk)).await?.map(|i| parse_body(&i)).transpose()
    }

    async fn list_config<T: serde::de::DeserializeOwned>(&self, t: &Tenant, prefix: &str) -> StoreResult<Vec<T>> {
        self.query_prefix(inst_pk(t), prefix).await?.iter().map(parse_body).collect()
    }

    /// Refuses records of an unknown school rather than leaving them orphaned.
    async fn require_school(&self, t: &Tenant, school_id: &str) -> StoreResult<()> {
        match self.get_item(key(inst_pk(t), &format!("SCHOOL#{}", esc(school_id)))).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound(format!("la escuela {school_id}"))),
        }
    }
}

impl InstitutionStore for DynamoRecords {
    async fn put_institution(&self, t: &Tenant, institution: &Institution) -> StoreResult<()> {
        if institution.id != t.id() {
            return Err(StoreError::Invalid(format!("la institución {} no es la del usuario", institution.id)));
        }
        self.put_config(t, "INSTITUTION", institution).await
    }

    async fn institution(&self, t: &Tenant) -> StoreResult<Option<Institution>> {
        self.get_config(t, "INSTITUTION").await
    }

    async fn put_school(&self, t: &Tenant, school: &School) -> StoreResult<()> {
        if school.institution_id != t.id() {
            return Err(StoreError::Invalid(format!("la escuela {} es de otra institución", school.id)));
        }
        self.put_config(t, &format!("SCHOOL#{}", esc(&school.id)), school).await
    }

    async fn school(&self, t: &Tenant, school_id: &str) -> StoreResult<Option<School>> {
        self.get_config(t, &format!("SCHOOL#{}", esc(school_id))).await
    }

    async fn schools(&self, t: &Tenant) -> StoreResult<Vec<School>> {
        self.list_config(t, "SCHOOL#").await
    }

    async fn put_cycle(&self, t: &Tenant, cycle: &Cycle) -> StoreResult<()> {
        self.require_school(t, &cycle.school_id).await?;
        self.put_config(t, &format!("CYCLE#{}#{}", esc(&cycle.school_id), esc(&cycle.id)), cycle).await
    }

    async fn cycles(&self, t: &Tenant, school_id: &str) -> StoreResult<Vec<Cycle>> {
        self.list_config(t, &format!("CYCLE#{}#", esc(school_id))).await
    }

    async fn put_plan(&self, t: &Tenant, plan: &Plan) -> StoreResult<()> {
        self.require_school(t, &plan.school_id).await?;
        self.put_config(t, &format!("PLAN#{}#{}", esc(&plan.school_id), esc(&plan.id)), plan).await
    }

    async fn plan(&self, t: &Tenant, school_id: &str, plan_id: &str) -> StoreResult<Option<Plan>> {
        self.get_config(t, &format!("PLAN#{}#{}", esc(school_id), esc(plan_id))).await
    }

    async fn plans(&self, t: &Tenant, school_id: &str) -> StoreResult<Vec<Plan>> {
        self.list_config(t, &format!("PLAN#{}#", esc(school_id))).await
    }

    async fn put_signer(&self, t: &Tenant, signer: &SignerConfig) -> StoreResult<()> {
        self.require_school(t, &signer.school_id).await?;
        self.put_config(t, &format!("SIGNER#{}", esc(&signer.school_id)), signer).await
    }

    async fn signer(&self, t: &Tenant, school_id: &str) -> StoreResult<Option<SignerConfig>> {
        self.get_config(t, &format!("SIGNER#{}", esc(school_id))).await
    }
}

fn student_record(item: &Item, school_id: &str, cycle_id: &str) -> StoreResult<StudentRecord> {
    Ok(StudentRecord {
        school_id: school_id.to_string(),
        cycle_id: cycle_id.to_string(),
        student: parse_body(item)?,
        grades_edited: get_bool(item, "grades_edited"),
        version: get_n(item, "version").unwrap_or(0).max(0) as u64,
    })
}

/// Names of the summary attributes the table reads (some are reserved words).
const ROSTER_NAMES: [(&str, &str); 7] = [
    ("#c", "control"),
    ("#n", "full_name"),
    ("#g", "grp"),
    ("#p", "plan_id"),
    ("#l", "grade_level"),
    ("#a", "active"),
    ("#e", "grades_edited"),
];

impl StudentStore for DynamoRecords {
    async fn put_students(&self, t: &Tenant, school_id: &str, cycle_id: &str, students: &[Student]) -> StoreResult<()> {
        for st in students {
            check_control_number(&st.control_number).map_err(StoreError::Invalid)?;
        }
        self.require_school(t, school_id).await?;
        let mut groups: Vec<&str> = students.iter().map(|st| st.group.trim()).filter(|g| !g.is_empty()).collect();
        groups.sort_unstable();
        groups.dedup();
        // Upserts in parallel (bounded): each keeps the student's edit flag and bumps its version.
        let mut tasks: tokio::task::JoinSet<StoreResult<()>> = tokio::task::JoinSet::new();
        for st in students {
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(students_pk(t, school_id, cycle_id), &esc(&st.control_number))))
                .update_expression(
                    "SET #c = :c, #n = :n, #g = :g, #p = :p, #l = :l, #a = :a, body = :body, \
                     #e = if_not_exists(#e, :false), version = if_not_exists(version, :zero) + :one",
                )
                .set_expression_attribute_names(Some(
                    ROSTER_NAMES.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
                ))
                .expression_attribute_values(":c", s(&st.control_number))
                .expression_attribute_values(":n", s(st.full_name()))
                .expression_attribute_values(":g", s(st.group.trim()))
                .expression_attribute_values(":p", s(&st.plan_id))
                .expression_attribute_values(":l", n(st.grade_level))
                .expression_attribute_values(":a", AttributeValue::Bool(st.active))
                .expression_attribute_values(":body", s(serde_json::to_string(st).map_err(invalid)?))
                .expression_attribute_values(":false", AttributeValue::Bool(false))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1));
            if tasks.len() >= 16
                && let Some(done) = tasks.join_next().await
            {
                done.map_err(invalid)??;
            }
            tasks.spawn(async move { update.send().await.map(|_| ()).map_err(unavailable) });
        }
        for g in groups {
            let sk = format!("GROUP#{}#{}#{}", esc(school_id), esc(cycle_id), esc(g));
            self.put_config(t, &sk, &g).await?;
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(invalid)??;
        }
        Ok(())
    }

    async fn student(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> StoreResult<Option<StudentRecord>> {
        self.get_item(key(students_pk(t, school_id, cycle_id), &esc(control_number)))
            .await?
            .map(|i| student_record(&i, school_id, cycle_id))
            .transpose()
    }

    async fn edit_grades(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
        expected_version: u64,
        grades: Vec<Grade>,
        by: &Actor,
    ) -> StoreResult<StudentRecord> {
        let mut record = self
            .student(t, school_id, cycle_id, control_number)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("el alumno {control_number}")))?;
        if record.version != expected_version {
            return Err(StoreError::Conflict);
        }
        let detail = describe_grade_changes(&record.student.grades, &grades);
        record.student.grades = grades;
        record.grades_edited = true;
        record.version += 1;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(students_pk(t, school_id, cycle_id), &esc(control_number))))
            .update_expression("SET body = :body, grades_edited = :true, version = :nv")
            .condition_expression("version = :v")
            .expression_attribute_values(":body", s(serde_json::to_string(&record.student).map_err(invalid)?))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":nv", n(record.version))
            .expression_attribute_values(":v", n(expected_version))
            .build()
            .map_err(invalid)?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.audit_item(t, &AuditEntry::of_student(by, AuditAction::GradesEdited, &record, detail))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(record),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::Conflict),
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn groups(&self, t: &Tenant, school_id: &str, cycle_id: &str) -> StoreResult<Vec<String>> {
        self.list_config(t, &format!("GROUP#{}#{}#", esc(school_id), esc(cycle_id))).await
    }

    async fn roster_page(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        filter: &RosterFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<RosterPage> {
        let mut page = PageBuilder::new(filter, after, limit);
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(students_pk(t, school_id, cycle_id)))
                .projection_expression("#c, #n, #g, #p, #l, #a, #e")
                .set_expression_attribute_names(Some(
                    ROSTER_NAMES.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
                ))
                .limit(roster::BATCH as i32);
            query = match page.position() {
                Some(p) => query
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", s(esc(p))),
                None => query.key_condition_expression("pk = :pk"),
            };
            let out = query.send().await.map_err(unavailable)?;
            let batch: Vec<RosterStudent> = out
                .items()
                .iter()
                .map(|i| RosterStudent {
                    control_number: get_s(i, "control").unwrap_or_default().to_string(),
                    full_name: get_s(i, "full_name").unwrap_or_default().to_string(),
                    group: get_s(i, "grp").unwrap_or_default().to_string(),
                    plan_id: get_s(i, "plan_id").unwrap_or_default().to_string(),
                    grade_level: get_n(i, "grade_level").unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
                    active: get_bool(i, "active"),
                    grades_edited: get_bool(i, "grades_edited"),
                })
                .collect();
            let more = out.last_evaluated_key().is_some();
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                page.feed(Vec::new(), &[], false);
                break;
            };
            // The batch's certificates: keys `{matrícula}#…` between the first and the last student.
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2)
                .key_condition_expression("gsi2pk = :pk AND gsi2sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(roster_gsi(t, school_id, cycle_id)))
                .expression_attribute_values(":from", s(format!("{}#", esc(&first.control_number))))
                .expression_attribute_values(":to", s(format!("{}#~", esc(&last.control_number))));
            let certificates =
                self.all_pages(query).await?.iter().map(parse_certificate).collect::<StoreResult<Vec<_>>>()?;
            if page.feed(batch, &certificates, more) {
                break;
            }
        }
        Ok(page.finish())
    }
}

impl AuditStore for DynamoRecords {
    async fn record(&self, t: &Tenant, entry: &AuditEntry) -> StoreResult<()> {
        self.transact(vec![self.audit_item(t, entry)?]).await.map_err(TxFailure::into_error)
    }

    async fn audit_of_student(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.query_all(audit_pk(t, school_id, cycle_id, control_number), None).await?.iter().map(parse_body).collect()
    }

    async fn audit_of_certificate(&self, t: &Tenant, certificate_id: &str) -> StoreResult<Vec<AuditEntry>> {
        self.query_index_all(GSI2, format!("{}#CERTAUDIT#{}", esc(t.id()), esc(certificate_id)))
            .await?
            .iter()
            .map(parse_body)
            .collect()
    }
}

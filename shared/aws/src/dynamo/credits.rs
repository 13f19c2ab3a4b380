//! Credits: the balance, reservations held while the authority answers,
//! and the ledger of every movement.

use super::keys::{GSI2, cert_pk, credits_pk, esc, ledger_pk, reservations_pk, time_key};
use super::{DynamoRecords, TxFailure, failed, get_n, get_s, invalid, key, n, s};
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use certifica_core::ports::{CertificateStore, CreditStore, StoreError, StoreResult};
use certifica_core::records::{
    Actor, AuditAction, AuditEntry, CertificateRecord, CertificateStatus, CreditBalance, LedgerEntry, LedgerKind,
    Reservation, StampCommit, Tenant,
};
use chrono::{DateTime, Duration, Utc};

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
        let mut items = vec![TransactWriteItem::builder().update(hold).build()];
        items.extend(self.hold_items(t, &r, actor)?);
        match self.transact(items).await {
            Ok(()) => Ok(r),
            // Unknown, not waiting for a stamp, or already holding a credit: read only on
            // this path (the happy path costs one call).
            Err(reasons) if failed(&reasons, 0) => match self.certificate_item(t, certificate_id).await? {
                None => Err(StoreError::NotFound(format!("el certificado {certificate_id}"))),
                Some(_) => Err(StoreError::Conflict),
            },
            Err(reasons) if failed(&reasons, 1) => Err(StoreError::NoCredits),
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn create_holding(
        &self,
        t: &Tenant,
        c: &CertificateRecord,
        ttl: Duration,
        actor: &Actor,
    ) -> StoreResult<Option<Reservation>> {
        let r = Reservation {
            id: uuid::Uuid::new_v4().to_string(),
            certificate_id: c.id.clone(),
            expires_at: Utc::now() + ttl,
        };
        // The certificate is written holding the reservation: one transaction
        // may not touch an item twice, so no separate hold.
        let mut items = self.creation_items(t, c, actor, Some(&r.id))?;
        items.extend(self.hold_items(t, &r, actor)?);
        match self.transact(items).await {
            Ok(()) => Ok(Some(r)),
            Err(reasons) if failed(&reasons, 1) => Err(self.already_issued(t, c).await?),
            // No credit: the certificate alone (one more call, only on this path).
            Err(reasons) if failed(&reasons, 3) => self.create(t, c, actor).await.map(|()| None),
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn release(&self, t: &Tenant, r: &Reservation, actor: &Actor) -> StoreResult<()> {
        self.return_credit(t, r, LedgerKind::Released, actor).await.map(|_| ())
    }

    async fn expired_reservations(&self, t: &Tenant, now: DateTime<Utc>) -> StoreResult<Vec<Reservation>> {
        let expired =
            self.query_all(reservations_pk(t), Some(("expires_at < :now", ":now", n(now.timestamp_millis())))).await?;
        Ok(expired
            .iter()
            .filter_map(|item| {
                Some(Reservation {
                    id: get_s(item, "sk")?.to_string(),
                    certificate_id: get_s(item, "certificate_id")?.to_string(),
                    expires_at: DateTime::from_timestamp_millis(get_n(item, "expires_at").unwrap_or(0))
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn expire(&self, t: &Tenant, r: &Reservation) -> StoreResult<bool> {
        self.return_credit(t, r, LedgerKind::Expired, &Actor::new("sistema", "expiracion-de-reservaciones")).await
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
            // A folio digital belongs to one certificate of one institution, for
            // good: the public lookup by folio cannot be shadowed by a repeated one.
            self.folio_guard(t, &c)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(c),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::ReservationGone(r.id.clone())),
            Err(reasons) if failed(&reasons, 2) || failed(&reasons, 5) => Err(StoreError::Conflict),
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

impl DynamoRecords {
    /// What holding a credit writes besides the certificate: the balance
    /// (first: the item that fails without credits), the reservation and
    /// its ledger entry.
    fn hold_items(&self, t: &Tenant, r: &Reservation, actor: &Actor) -> StoreResult<Vec<TransactWriteItem>> {
        let mut reservation = key(reservations_pk(t), &r.id);
        reservation.insert("certificate_id".into(), s(&r.certificate_id));
        reservation.insert("expires_at".into(), n(r.expires_at.timestamp_millis()));
        Ok(vec![
            self.credits_update(
                t,
                "SET credits_available = credits_available - :one, credits_reserved = credits_reserved + :one",
                Some("credits_available >= :one"),
            )?,
            self.put(reservation, Some("attribute_not_exists(pk)"))?,
            self.ledger_item(t, LedgerKind::Reserved, &r.certificate_id, Some(&r.id), actor, 1)?,
        ])
    }

    pub(super) fn ledger_item(
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

    pub(super) fn credits_update(
        &self,
        t: &Tenant,
        expression: &str,
        condition: Option<&str>,
    ) -> StoreResult<TransactWriteItem> {
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

    /// The item that keeps `c`'s folio digital unique across institutions.
    fn folio_guard(&self, t: &Tenant, c: &CertificateRecord) -> StoreResult<TransactWriteItem> {
        let folio = c.folio_digital.as_deref().unwrap_or_default();
        let mut item = key(format!("FOLIO#{folio}"), "FOLIO");
        item.insert("tenant".into(), s(t.id()));
        item.insert("certificate_id".into(), s(&c.id));
        self.put(item, Some("attribute_not_exists(pk)"))
    }

    /// Removes a live reservation (the transaction's first item, so a
    /// reservation already gone shows as its failed condition).
    pub(super) fn reservation_delete(&self, t: &Tenant, r: &Reservation) -> StoreResult<TransactWriteItem> {
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
    pub(super) async fn return_credit(
        &self,
        t: &Tenant,
        r: &Reservation,
        kind: LedgerKind,
        actor: &Actor,
    ) -> StoreResult<bool> {
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

//! Certificates: created with their active-certificate guard, changed only
//! from the state and version they expect, found by folio and by cycle.

use super::keys::{GSI1, GSI2, active_pk, cert_pk, esc, roster_gsi, roster_gsi_sk};
use super::{DynamoRecords, Item, failed, get_s, invalid, key, n, parse_certificate, s, unavailable};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use certifica_core::ports::{CertificateStore, StoreError, StoreResult};
use certifica_core::records::{Actor, AuditAction, AuditEntry, CertificateRecord, Tenant, Transition};
use std::collections::HashMap;

impl DynamoRecords {
    /// A new certificate's items: the certificate (holding `reservation`
    /// when given), its active-certificate guard (index 1: the one that
    /// fails for a student already certified) and the "sealed" audit entry.
    pub(super) fn creation_items(
        &self,
        t: &Tenant,
        c: &CertificateRecord,
        by: &Actor,
        reservation: Option<&str>,
    ) -> StoreResult<Vec<TransactWriteItem>> {
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
        if let Some(r) = reservation {
            item.insert("reservation".into(), s(r));
        }
        let mut guard = key(active_pk(t, c), "ACTIVE");
        guard.insert("certificate_id".into(), s(&c.id));
        Ok(vec![
            self.put(item, Some("attribute_not_exists(pk)"))?,
            self.put(guard, Some("attribute_not_exists(pk)"))?,
            self.audit_item(t, &AuditEntry::of_certificate(by, AuditAction::Sealed, c, c.folio_control.clone()))?,
        ])
    }

    /// The refusal for a student whose active certificate exists, with its state.
    pub(super) async fn already_issued(&self, t: &Tenant, c: &CertificateRecord) -> StoreResult<StoreError> {
        let label = match self.get_item(key(active_pk(t, c), "ACTIVE")).await? {
            Some(g) => match get_s(&g, "certificate_id") {
                Some(id) => self.get(t, id).await?.map(|c| c.status.label().to_lowercase()),
                None => None,
            },
            None => None,
        };
        Ok(StoreError::AlreadyIssued(label.unwrap_or_else(|| "activo".into())))
    }
}

impl CertificateStore for DynamoRecords {
    async fn create(&self, t: &Tenant, c: &CertificateRecord, by: &Actor) -> StoreResult<()> {
        match self.transact(self.creation_items(t, c, by, None)?).await {
            Ok(()) => Ok(()),
            Err(reasons) if failed(&reasons, 1) => Err(self.already_issued(t, c).await?),
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

impl DynamoRecords {
    /// Writes the certificate's new state over the item at `expected_version`.
    pub(super) fn certificate_update(
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
}

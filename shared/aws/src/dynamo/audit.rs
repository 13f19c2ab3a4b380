//! The audit trail: per student, and per certificate through the index.

use super::keys::{GSI2, audit_pk, esc, time_key};
use super::{DynamoRecords, TxFailure, invalid, key, parse_body, s};
use aws_sdk_dynamodb::types::TransactWriteItem;
use certifica_core::ports::{AuditStore, StoreResult};
use certifica_core::records::{AuditEntry, Tenant};

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

impl DynamoRecords {
    /// The put of one audit entry (into the caller's transaction).
    pub(super) fn audit_item(&self, t: &Tenant, e: &AuditEntry) -> StoreResult<TransactWriteItem> {
        let (_, sk) = time_key();
        let mut item = key(audit_pk(t, &e.school_id, &e.cycle_id, &e.control_number), &sk);
        if let Some(c) = &e.certificate_id {
            item.insert("gsi2pk".into(), s(format!("{}#CERTAUDIT#{}", esc(t.id()), esc(c))));
            item.insert("gsi2sk".into(), s(sk));
        }
        item.insert("body".into(), s(serde_json::to_string(e).map_err(invalid)?));
        self.put(item, None)
    }
}

//! The audit trail of every student and certificate.

use super::{Cached, LocalRecords, bodies, unavailable};
use certifica_core::ports::{AuditStore, StoreResult};
use certifica_core::records::{AuditEntry, Tenant};
use rusqlite::{Connection, params};

pub(super) fn audit_entry(conn: &Connection, tenant: &Tenant, e: &AuditEntry) -> StoreResult<()> {
    conn.run(
        "INSERT INTO audit (tenant, school_id, cycle_id, control_number, certificate_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            tenant.id(),
            e.school_id,
            e.cycle_id,
            e.control_number,
            e.certificate_id,
            serde_json::to_string(e).map_err(unavailable)?
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

impl AuditStore for LocalRecords {
    async fn record(&self, tenant: &Tenant, entry: &AuditEntry) -> StoreResult<()> {
        let (tenant, entry) = (tenant.clone(), entry.clone());
        self.write(move |tx| audit_entry(tx, &tenant, &entry)).await
    }

    async fn audit_of_student(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> StoreResult<Vec<AuditEntry>> {
        let args = (tenant.id().to_string(), school_id.to_string(), cycle_id.to_string(), control_number.to_string());
        self.read(move |conn| {
            bodies(
                conn,
                "SELECT body FROM audit WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND control_number = ?4
                 ORDER BY seq",
                params![args.0, args.1, args.2, args.3],
            )
        })
        .await
    }

    async fn audit_of_certificate(&self, tenant: &Tenant, certificate_id: &str) -> StoreResult<Vec<AuditEntry>> {
        let args = (tenant.id().to_string(), certificate_id.to_string());
        self.read(move |conn| {
            bodies(
                conn,
                "SELECT body FROM audit WHERE tenant = ?1 AND certificate_id = ?2 ORDER BY seq",
                params![args.0, args.1],
            )
        })
        .await
    }
}

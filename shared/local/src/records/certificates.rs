//! Certificates: created once per active student, changed only from the
//! state and version they expect, found by folio and by cycle.

use super::audit::audit_entry;
use super::{Cached, LocalRecords, bodies, is_unique_violation, unavailable};
use certifica_core::ports::{CertificateStore, StoreError, StoreResult};
use certifica_core::records::{
    Actor, AuditAction, AuditEntry, CertificateRecord, CertificateStatus, Tenant, Transition,
};
use rusqlite::{Connection, OptionalExtension, params};

pub(super) fn load_certificate(tx: &Connection, tenant: &Tenant, id: &str) -> StoreResult<CertificateRecord> {
    let body: Option<String> = tx
        .one("SELECT body FROM certificates WHERE tenant = ?1 AND id = ?2", params![tenant.id(), id], |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    let body = body.ok_or_else(|| StoreError::NotFound(format!("el certificado {id}")))?;
    serde_json::from_str(&body).map_err(unavailable)
}

/// Writes `next` over the row only if it is still at `expected_version`.
pub(super) fn save_certificate(
    tx: &Connection,
    tenant: &Tenant,
    next: &CertificateRecord,
    expected_version: u64,
) -> StoreResult<()> {
    let body = serde_json::to_string(next).map_err(unavailable)?;
    let changed = tx
        .run(
            "UPDATE certificates SET status = ?1, version = ?2, folio_digital = ?3, body = ?4
             WHERE tenant = ?5 AND id = ?6 AND version = ?7",
            params![
                next.status.as_str(),
                next.version as i64,
                next.folio_digital,
                body,
                tenant.id(),
                next.id,
                expected_version as i64
            ],
        )
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict } else { unavailable(e) })?;
    if changed == 1 { Ok(()) } else { Err(StoreError::Conflict) }
}

/// Inserts a new certificate with its "sealed" audit entry (inside the
/// caller's transaction); refused while the student has an active one.
pub(super) fn insert_certificate(
    tx: &Connection,
    tenant: &Tenant,
    c: &CertificateRecord,
    by: &Actor,
) -> StoreResult<()> {
    let body = serde_json::to_string(&c).map_err(unavailable)?;
    tx.run(
        "INSERT INTO certificates (tenant, id, school_id, cycle_id, plan_id, control_number, status, version, folio_digital, created_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![tenant.id(), c.id, c.school_id, c.cycle_id, c.plan_id, c.control_number, c.status.as_str(), c.version as i64, c.folio_digital, c.created_at.to_rfc3339(), body],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            let existing: Option<String> = tx
                .one(
                    "SELECT status FROM certificates WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND plan_id = ?4
                     AND control_number = ?5 AND status <> 'cancelado'",
                    params![tenant.id(), c.school_id, c.cycle_id, c.plan_id, c.control_number],
                    |r| r.get(0),
                )
                .ok();
            let label = existing.and_then(|s| CertificateStatus::parse(&s)).map(CertificateStatus::label).unwrap_or("activo");
            StoreError::AlreadyIssued(label.to_lowercase())
        } else {
            unavailable(e)
        }
    })?;
    audit_entry(tx, tenant, &AuditEntry::of_certificate(by, AuditAction::Sealed, c, c.folio_control.clone()))
}

impl CertificateStore for LocalRecords {
    async fn create(&self, tenant: &Tenant, certificate: &CertificateRecord, by: &Actor) -> StoreResult<()> {
        let (tenant, c, by) = (tenant.clone(), certificate.clone(), by.clone());
        self.write(move |tx| insert_certificate(tx, &tenant, &c, &by)).await
    }

    async fn get(&self, tenant: &Tenant, id: &str) -> StoreResult<Option<CertificateRecord>> {
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.read(move |conn| {
            let body: Option<String> = conn
                .one("SELECT body FROM certificates WHERE tenant = ?1 AND id = ?2", params![tenant.id(), id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(unavailable)?;
            body.map(|b| serde_json::from_str(&b).map_err(unavailable)).transpose()
        })
        .await
    }

    async fn by_folio(&self, folio_digital: &str) -> StoreResult<Option<(Tenant, CertificateRecord)>> {
        let folio = folio_digital.to_string();
        self.read(move |conn| {
            let row: Option<(String, String)> = conn
                .one("SELECT tenant, body FROM certificates WHERE folio_digital = ?1", params![folio], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(unavailable)?;
            row.map(|(t, b)| Ok((Tenant::from_verified_identity(&t), serde_json::from_str(&b).map_err(unavailable)?)))
                .transpose()
        })
        .await
    }

    async fn transition(
        &self,
        tenant: &Tenant,
        id: &str,
        expected_version: u64,
        change: Transition,
        by: &Actor,
    ) -> StoreResult<CertificateRecord> {
        let (tenant, id, by) = (tenant.clone(), id.to_string(), by.clone());
        self.write(move |tx| {
            let (action, detail) = change.audit();
            let c = load_certificate(tx, &tenant, &id)?.after(expected_version, change).ok_or(StoreError::Conflict)?;
            save_certificate(tx, &tenant, &c, expected_version)?;
            audit_entry(tx, &tenant, &AuditEntry::of_certificate(&by, action, &c, detail))?;
            Ok(c)
        })
        .await
    }

    async fn student_certificates(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> StoreResult<Vec<CertificateRecord>> {
        let args = (tenant.id().to_string(), school_id.to_string(), cycle_id.to_string(), control_number.to_string());
        self.read(move |conn| {
            bodies(
                conn,
                "SELECT body FROM certificates WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND control_number = ?4
                 ORDER BY created_at, id",
                params![args.0, args.1, args.2, args.3],
            )
        })
        .await
    }

    async fn certificates_page(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<CertificateRecord>, Option<String>)> {
        let args = (tenant.id().to_string(), school_id.to_string(), cycle_id.to_string(), after.map(str::to_string));
        let limit = limit.clamp(1, 1000);
        self.read(move |conn| {
            // A student's certificates never straddle pages: the position is a matrícula.
            let mut controls: Vec<String> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT DISTINCT control_number FROM certificates WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3
                         AND (?4 IS NULL OR control_number > ?4) ORDER BY control_number LIMIT ?5",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![args.0, args.1, args.2, args.3, limit as i64 + 1], |r| r.get(0))
                    .map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)?
            };
            let more = controls.len() > limit;
            controls.truncate(limit);
            let Some(last) = controls.last().cloned() else { return Ok((Vec::new(), None)) };
            let certificates = bodies(
                conn,
                "SELECT body FROM certificates WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3
                 AND (?4 IS NULL OR control_number > ?4) AND control_number <= ?5 ORDER BY control_number, created_at, id",
                params![args.0, args.1, args.2, args.3, last],
            )?;
            Ok((certificates, more.then_some(last)))
        })
        .await
    }
}

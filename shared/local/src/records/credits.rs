//! Credits: the balance, reservations held while the authority answers,
//! and the ledger of every movement.

use super::audit::audit_entry;
use super::certificates::{insert_certificate, load_certificate, save_certificate};
use super::{Cached, LocalRecords, is_unique_violation, unavailable};
use certifica_core::ports::{CreditStore, StoreError, StoreResult};
use certifica_core::records::{
    Actor, AuditAction, AuditEntry, CertificateRecord, CertificateStatus, CreditBalance, LedgerEntry, LedgerKind,
    Reservation, StampCommit, Tenant,
};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};

pub(super) fn ledger_entry(
    tx: &Connection,
    tenant: &Tenant,
    kind: LedgerKind,
    certificate_id: Option<&str>,
    reservation_id: Option<&str>,
    by: &Actor,
    amount: u64,
) -> StoreResult<()> {
    tx.run(
        "INSERT INTO ledger (tenant, kind, amount, certificate_id, reservation_id, actor, request_id, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            tenant.id(),
            kind.as_str(),
            amount as i64,
            certificate_id,
            reservation_id,
            by.user,
            by.request_id,
            Utc::now().to_rfc3339()
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn system() -> Actor {
    Actor::new("sistema", "expiracion-de-reservaciones")
}

pub(super) fn balance_of(conn: &Connection, tenant: &Tenant) -> StoreResult<CreditBalance> {
    let row = conn
        .one("SELECT available, reserved, consumed FROM credits WHERE tenant = ?1", params![tenant.id()], |r| {
            Ok(CreditBalance {
                available: r.get::<_, i64>(0)? as u64,
                reserved: r.get::<_, i64>(1)? as u64,
                consumed: r.get::<_, i64>(2)? as u64,
            })
        })
        .optional()
        .map_err(unavailable)?;
    Ok(row.unwrap_or(CreditBalance { available: 0, reserved: 0, consumed: 0 }))
}

/// Gives a reservation's credit back (inside the caller's transaction).
pub(super) fn return_credit(tx: &Connection, tenant: &Tenant, reservation_id: &str) -> StoreResult<bool> {
    let removed = tx
        .run("DELETE FROM reservations WHERE tenant = ?1 AND id = ?2", params![tenant.id(), reservation_id])
        .map_err(unavailable)?;
    if removed == 1 {
        tx.run(
            "UPDATE credits SET available = available + 1, reserved = reserved - 1 WHERE tenant = ?1",
            params![tenant.id()],
        )
        .map_err(unavailable)?;
    }
    Ok(removed == 1)
}

/// Holds one credit for a certificate waiting for its stamp (inside the
/// caller's transaction): see [`CreditStore::reserve`].
fn hold_credit(
    tx: &Connection,
    tenant: &Tenant,
    certificate_id: &str,
    ttl: Duration,
    actor: &Actor,
) -> StoreResult<Reservation> {
    // Only a certificate waiting for its stamp may hold a credit: a
    // late attempt on a stamped one loses here, holding nothing.
    let c = load_certificate(tx, tenant, certificate_id)?;
    if !matches!(c.status, CertificateStatus::Sellado | CertificateStatus::Error) {
        return Err(StoreError::Conflict);
    }
    let taken = tx
        .run(
            "UPDATE credits SET available = available - 1, reserved = reserved + 1 WHERE tenant = ?1 AND available >= 1",
            params![tenant.id()],
        )
        .map_err(unavailable)?;
    if taken == 0 {
        return Err(StoreError::NoCredits);
    }
    let reservation = Reservation {
        id: uuid::Uuid::new_v4().to_string(),
        certificate_id: certificate_id.to_string(),
        expires_at: Utc::now() + ttl,
    };
    tx.run(
        "INSERT INTO reservations (tenant, id, certificate_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![tenant.id(), reservation.id, certificate_id, reservation.expires_at.timestamp_millis()],
    )
    // Another attempt already holds a credit for this certificate; the
    // transaction rolls back, so no credit moves.
    .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict } else { unavailable(e) })?;
    ledger_entry(tx, tenant, LedgerKind::Reserved, Some(certificate_id), Some(&reservation.id), actor, 1)?;
    Ok(reservation)
}

impl CreditStore for LocalRecords {
    async fn add_credits(&self, tenant: &Tenant, amount: u64, by: &Actor) -> StoreResult<CreditBalance> {
        let (tenant, actor) = (tenant.clone(), by.clone());
        self.write(move |tx| {
            tx.run(
                "INSERT INTO credits (tenant, available, reserved, consumed) VALUES (?1, ?2, 0, 0)
                 ON CONFLICT (tenant) DO UPDATE SET available = available + excluded.available",
                params![tenant.id(), amount as i64],
            )
            .map_err(unavailable)?;
            ledger_entry(tx, &tenant, LedgerKind::Added, None, None, &actor, amount)?;
            balance_of(tx, &tenant)
        })
        .await
    }

    async fn balance(&self, tenant: &Tenant) -> StoreResult<CreditBalance> {
        let tenant = tenant.clone();
        self.read(move |conn| balance_of(conn, &tenant)).await
    }

    async fn reserve(
        &self,
        tenant: &Tenant,
        certificate_id: &str,
        ttl: Duration,
        by: &Actor,
    ) -> StoreResult<Reservation> {
        let (tenant, certificate_id, actor) = (tenant.clone(), certificate_id.to_string(), by.clone());
        self.write(move |tx| hold_credit(tx, &tenant, &certificate_id, ttl, &actor)).await
    }

    async fn create_holding(
        &self,
        tenant: &Tenant,
        certificate: &CertificateRecord,
        ttl: Duration,
        by: &Actor,
    ) -> StoreResult<Option<Reservation>> {
        let (tenant, c, actor) = (tenant.clone(), certificate.clone(), by.clone());
        self.write(move |tx| {
            insert_certificate(tx, &tenant, &c, &actor)?;
            match hold_credit(tx, &tenant, &c.id, ttl, &actor) {
                Ok(reservation) => Ok(Some(reservation)),
                // Nothing of the hold was written: the certificate stays, Sellado.
                Err(StoreError::NoCredits) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn release(&self, tenant: &Tenant, reservation: &Reservation, by: &Actor) -> StoreResult<()> {
        let (tenant, r, actor) = (tenant.clone(), reservation.clone(), by.clone());
        self.write(move |tx| {
            if return_credit(tx, &tenant, &r.id)? {
                ledger_entry(tx, &tenant, LedgerKind::Released, Some(&r.certificate_id), Some(&r.id), &actor, 1)?;
            }
            Ok(())
        })
        .await
    }

    async fn expired_reservations(&self, tenant: &Tenant, now: DateTime<Utc>) -> StoreResult<Vec<Reservation>> {
        let tenant = tenant.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, certificate_id, expires_at FROM reservations WHERE tenant = ?1 AND expires_at < ?2
                     ORDER BY expires_at, id",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![tenant.id(), now.timestamp_millis()], |r| {
                    Ok(Reservation {
                        id: r.get(0)?,
                        certificate_id: r.get(1)?,
                        expires_at: DateTime::from_timestamp_millis(r.get(2)?).unwrap_or_default(),
                    })
                })
                .map_err(unavailable)?;
            rows.collect::<Result<_, _>>().map_err(unavailable)
        })
        .await
    }

    async fn expire(&self, tenant: &Tenant, reservation: &Reservation) -> StoreResult<bool> {
        let (tenant, r) = (tenant.clone(), reservation.clone());
        self.write(move |tx| {
            let returned = return_credit(tx, &tenant, &r.id)?;
            if returned {
                ledger_entry(tx, &tenant, LedgerKind::Expired, Some(&r.certificate_id), Some(&r.id), &system(), 1)?;
            }
            Ok(returned)
        })
        .await
    }

    async fn commit_stamp(
        &self,
        tenant: &Tenant,
        reservation: &Reservation,
        expected_version: u64,
        stamp: StampCommit,
        by: &Actor,
    ) -> StoreResult<CertificateRecord> {
        let (tenant, r, actor) = (tenant.clone(), reservation.clone(), by.clone());
        self.write(move |tx| {
            let c = load_certificate(tx, &tenant, &r.certificate_id)?
                .after_stamp(expected_version, stamp)
                .ok_or(StoreError::Conflict)?;
            let held: Option<String> = tx
                .one(
                    "SELECT certificate_id FROM reservations WHERE tenant = ?1 AND id = ?2",
                    params![tenant.id(), r.id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if held.as_deref() != Some(r.certificate_id.as_str()) {
                return Err(StoreError::ReservationGone(r.id.clone()));
            }
            save_certificate(tx, &tenant, &c, expected_version)?;
            tx.run("DELETE FROM reservations WHERE tenant = ?1 AND id = ?2", params![tenant.id(), r.id])
                .map_err(unavailable)?;
            tx.run(
                "UPDATE credits SET reserved = reserved - 1, consumed = consumed + 1 WHERE tenant = ?1",
                params![tenant.id()],
            )
            .map_err(unavailable)?;
            ledger_entry(tx, &tenant, LedgerKind::Consumed, Some(&c.id), Some(&r.id), &actor, 1)?;
            let folio = c.folio_digital.clone().unwrap_or_default();
            audit_entry(tx, &tenant, &AuditEntry::of_certificate(&actor, AuditAction::Stamped, &c, folio))?;
            Ok(c)
        })
        .await
    }

    async fn ledger(&self, tenant: &Tenant, certificate_id: Option<&str>) -> StoreResult<Vec<LedgerEntry>> {
        let (tenant, certificate_id) = (tenant.clone(), certificate_id.map(str::to_string));
        self.read(move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT kind, amount, certificate_id, reservation_id, actor, request_id, at FROM ledger
                     WHERE tenant = ?1 AND (?2 IS NULL OR certificate_id = ?2) ORDER BY seq",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![tenant.id(), certificate_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (kind, amount, certificate_id, reservation_id, actor, request_id, at) = row.map_err(unavailable)?;
                out.push(LedgerEntry {
                    kind: LedgerKind::parse(&kind)
                        .ok_or_else(|| unavailable(format!("movimiento desconocido {kind}")))?,
                    amount: amount as u64,
                    certificate_id,
                    reservation_id,
                    actor,
                    request_id,
                    at: DateTime::parse_from_rfc3339(&at).map_err(unavailable)?.with_timezone(&Utc),
                });
            }
            Ok(out)
        })
        .await
    }
}

impl LocalRecords {
    /// Lets every credit held by a stopped server lapse now (one server
    /// works a data folder, so no attempt is alive when it starts): the
    /// next attempt settles them — a kept stamp committed, the credit back
    /// otherwise — instead of waiting out their time.
    pub async fn lapse_held_credits(&self) -> StoreResult<usize> {
        self.write(|tx| {
            let now = Utc::now().timestamp_millis();
            tx.run("UPDATE reservations SET expires_at = ?1 WHERE expires_at >= ?1", params![now - 1])
                .map_err(unavailable)
        })
        .await
    }
}

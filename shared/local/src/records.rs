//! Certificates, credits (with the ledger) and idempotency records in SQLite.

use certifica_core::ports::{CertificateStore, CreditStore, IdempotencyStore, StoreError, StoreResult};
use certifica_core::records::*;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS certificates (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    school_id TEXT NOT NULL,
    cycle_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    control_number TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    folio_digital TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
-- One active (not cancelled) certificate per student, school, cycle and plan.
CREATE UNIQUE INDEX IF NOT EXISTS certificates_one_active
    ON certificates (tenant, school_id, cycle_id, plan_id, control_number) WHERE status <> 'cancelado';
CREATE UNIQUE INDEX IF NOT EXISTS certificates_by_folio
    ON certificates (folio_digital) WHERE folio_digital IS NOT NULL;
CREATE TABLE IF NOT EXISTS credits (
    tenant TEXT PRIMARY KEY,
    available INTEGER NOT NULL CHECK (available >= 0),
    reserved INTEGER NOT NULL CHECK (reserved >= 0),
    consumed INTEGER NOT NULL CHECK (consumed >= 0)
);
CREATE TABLE IF NOT EXISTS reservations (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    certificate_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
-- One live reservation per certificate: a second stamping attempt loses at once.
CREATE UNIQUE INDEX IF NOT EXISTS reservations_one_per_certificate ON reservations (tenant, certificate_id);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL,
    certificate_id TEXT,
    reservation_id TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_tenant ON ledger (tenant, certificate_id);
CREATE TABLE IF NOT EXISTS idempotency (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    result TEXT,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
);
";

/// The embedded records store. Cheap to clone; one connection, serialised.
#[derive(Clone)]
pub struct LocalRecords {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for LocalRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalRecords")
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn ledger_entry(
    tx: &Transaction<'_>,
    tenant: &Tenant,
    kind: LedgerKind,
    certificate_id: Option<&str>,
    reservation_id: Option<&str>,
    actor: &str,
    amount: u64,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO ledger (tenant, kind, amount, certificate_id, reservation_id, actor, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![tenant.id(), kind.as_str(), amount as i64, certificate_id, reservation_id, actor, Utc::now().to_rfc3339()],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn load_certificate(tx: &Transaction<'_>, tenant: &Tenant, id: &str) -> StoreResult<CertificateRecord> {
    let body: Option<String> = tx
        .query_row("SELECT body FROM certificates WHERE tenant = ?1 AND id = ?2", params![tenant.id(), id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(unavailable)?;
    let body = body.ok_or_else(|| StoreError::NotFound(format!("el certificado {id}")))?;
    serde_json::from_str(&body).map_err(unavailable)
}

/// Writes `next` over the row only if it is still at `expected_version`.
fn save_certificate(
    tx: &Transaction<'_>,
    tenant: &Tenant,
    next: &CertificateRecord,
    expected_version: u64,
) -> StoreResult<()> {
    let body = serde_json::to_string(next).map_err(unavailable)?;
    let changed = tx
        .execute(
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

fn balance_of(conn: &Connection, tenant: &Tenant) -> StoreResult<CreditBalance> {
    let row = conn
        .query_row("SELECT available, reserved, consumed FROM credits WHERE tenant = ?1", params![tenant.id()], |r| {
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
fn return_credit(tx: &Transaction<'_>, tenant: &Tenant, reservation_id: &str) -> StoreResult<bool> {
    let removed = tx
        .execute("DELETE FROM reservations WHERE tenant = ?1 AND id = ?2", params![tenant.id(), reservation_id])
        .map_err(unavailable)?;
    if removed == 1 {
        tx.execute(
            "UPDATE credits SET available = available + 1, reserved = reserved - 1 WHERE tenant = ?1",
            params![tenant.id()],
        )
        .map_err(unavailable)?;
    }
    Ok(removed == 1)
}

impl LocalRecords {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open(path).map_err(unavailable)?;
        // Several processes (server, CLI) may open the file: wait for a writer instead of failing.
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(LocalRecords { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` in an immediate (write-locking) transaction on a blocking thread.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| unavailable("conexión envenenada"))?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let out = f(&tx)?;
            tx.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| unavailable("conexión envenenada"))?;
            f(&conn)
        })
        .await
        .map_err(unavailable)?
    }
}

impl CertificateStore for LocalRecords {
    async fn create(&self, tenant: &Tenant, certificate: &CertificateRecord) -> StoreResult<()> {
        let (tenant, c) = (tenant.clone(), certificate.clone());
        self.write(move |tx| {
            let body = serde_json::to_string(&c).map_err(unavailable)?;
            tx.execute(
                "INSERT INTO certificates (tenant, id, school_id, cycle_id, plan_id, control_number, status, version, folio_digital, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![tenant.id(), c.id, c.school_id, c.cycle_id, c.plan_id, c.control_number, c.status.as_str(), c.version as i64, c.folio_digital, body],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    let existing: Option<String> = tx
                        .query_row(
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
            Ok(())
        })
        .await
    }

    async fn get(&self, tenant: &Tenant, id: &str) -> StoreResult<Option<CertificateRecord>> {
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.read(move |conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM certificates WHERE tenant = ?1 AND id = ?2",
                    params![tenant.id(), id],
                    |r| r.get(0),
                )
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
                .query_row("SELECT tenant, body FROM certificates WHERE folio_digital = ?1", params![folio], |r| {
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
    ) -> StoreResult<CertificateRecord> {
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.write(move |tx| {
            let c = load_certificate(tx, &tenant, &id)?.after(expected_version, change).ok_or(StoreError::Conflict)?;
            save_certificate(tx, &tenant, &c, expected_version)?;
            Ok(c)
        })
        .await
    }
}

impl CreditStore for LocalRecords {
    async fn add_credits(&self, tenant: &Tenant, amount: u64, actor: &str) -> StoreResult<CreditBalance> {
        let (tenant, actor) = (tenant.clone(), actor.to_string());
        self.write(move |tx| {
            tx.execute(
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
        actor: &str,
    ) -> StoreResult<Reservation> {
        let (tenant, certificate_id, actor) = (tenant.clone(), certificate_id.to_string(), actor.to_string());
        self.write(move |tx| {
            // Only a certificate waiting for its stamp may hold a credit: a
            // late attempt on a stamped one loses here, holding nothing.
            let c = load_certificate(tx, &tenant, &certificate_id)?;
            if !matches!(c.status, CertificateStatus::Sellado | CertificateStatus::Error) {
                return Err(StoreError::Conflict);
            }
            let taken = tx
                .execute(
                    "UPDATE credits SET available = available - 1, reserved = reserved + 1 WHERE tenant = ?1 AND available >= 1",
                    params![tenant.id()],
                )
                .map_err(unavailable)?;
            if taken == 0 {
                return Err(StoreError::NoCredits);
            }
            let reservation = Reservation {
                id: uuid::Uuid::new_v4().to_string(),
                certificate_id: certificate_id.clone(),
                expires_at: Utc::now() + ttl,
            };
            tx.execute(
                "INSERT INTO reservations (tenant, id, certificate_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![tenant.id(), reservation.id, certificate_id, reservation.expires_at.timestamp_millis()],
            )
            // Another attempt already holds a credit for this certificate; the
            // transaction rolls back, so no credit moves.
            .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict } else { unavailable(e) })?;
            ledger_entry(tx, &tenant, LedgerKind::Reserved, Some(&certificate_id), Some(&reservation.id), &actor, 1)?;
            Ok(reservation)
        })
        .await
    }

    async fn release(&self, tenant: &Tenant, reservation: &Reservation, actor: &str) -> StoreResult<()> {
        let (tenant, r, actor) = (tenant.clone(), reservation.clone(), actor.to_string());
        self.write(move |tx| {
            if return_credit(tx, &tenant, &r.id)? {
                ledger_entry(tx, &tenant, LedgerKind::Released, Some(&r.certificate_id), Some(&r.id), &actor, 1)?;
            }
            Ok(())
        })
        .await
    }

    async fn release_expired(&self, tenant: &Tenant, now: DateTime<Utc>) -> StoreResult<u64> {
        let tenant = tenant.clone();
        self.write(move |tx| {
            let expired: Vec<(String, String)> = {
                let mut stmt = tx
                    .prepare("SELECT id, certificate_id FROM reservations WHERE tenant = ?1 AND expires_at < ?2")
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![tenant.id(), now.timestamp_millis()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)?
            };
            for (id, certificate_id) in &expired {
                if return_credit(tx, &tenant, id)? {
                    ledger_entry(tx, &tenant, LedgerKind::Expired, Some(certificate_id), Some(id), "sistema", 1)?;
                }
            }
            Ok(expired.len() as u64)
        })
        .await
    }

    async fn commit_stamp(
        &self,
        tenant: &Tenant,
        reservation: &Reservation,
        expected_version: u64,
        stamp: StampCommit,
        actor: &str,
    ) -> StoreResult<CertificateRecord> {
        let (tenant, r, actor) = (tenant.clone(), reservation.clone(), actor.to_string());
        self.write(move |tx| {
            let c = load_certificate(tx, &tenant, &r.certificate_id)?
                .after_stamp(expected_version, stamp)
                .ok_or(StoreError::Conflict)?;
            let held: Option<String> = tx
                .query_row(
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
            tx.execute("DELETE FROM reservations WHERE tenant = ?1 AND id = ?2", params![tenant.id(), r.id])
                .map_err(unavailable)?;
            tx.execute(
                "UPDATE credits SET reserved = reserved - 1, consumed = consumed + 1 WHERE tenant = ?1",
                params![tenant.id()],
            )
            .map_err(unavailable)?;
            ledger_entry(tx, &tenant, LedgerKind::Consumed, Some(&c.id), Some(&r.id), &actor, 1)?;
            Ok(c)
        })
        .await
    }

    async fn ledger(&self, tenant: &Tenant, certificate_id: Option<&str>) -> StoreResult<Vec<LedgerEntry>> {
        let (tenant, certificate_id) = (tenant.clone(), certificate_id.map(str::to_string));
        self.read(move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT kind, amount, certificate_id, reservation_id, actor, at FROM ledger
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
                    ))
                })
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (kind, amount, certificate_id, reservation_id, actor, at) = row.map_err(unavailable)?;
                out.push(LedgerEntry {
                    kind: LedgerKind::parse(&kind)
                        .ok_or_else(|| unavailable(format!("movimiento desconocido {kind}")))?,
                    amount: amount as u64,
                    certificate_id,
                    reservation_id,
                    actor,
                    at: DateTime::parse_from_rfc3339(&at).map_err(unavailable)?.with_timezone(&Utc),
                });
            }
            Ok(out)
        })
        .await
    }
}

impl IdempotencyStore for LocalRecords {
    async fn begin(&self, tenant: &Tenant, key: &str, ttl: Duration) -> StoreResult<IdempotencyState> {
        let (tenant, key) = (tenant.clone(), key.to_string());
        self.write(move |tx| {
            let now = Utc::now();
            let row: Option<(Option<String>, i64)> = tx
                .query_row(
                    "SELECT result, expires_at FROM idempotency WHERE tenant = ?1 AND key = ?2",
                    params![tenant.id(), key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            match row {
                Some((Some(result), expires)) if expires > now.timestamp_millis() => Ok(IdempotencyState::Completed(result)),
                Some((None, expires)) if expires > now.timestamp_millis() => Ok(IdempotencyState::InProgress),
                _ => {
                    tx.execute(
                        "INSERT OR REPLACE INTO idempotency (tenant, key, result, expires_at) VALUES (?1, ?2, NULL, ?3)",
                        params![tenant.id(), key, (now + ttl).timestamp_millis()],
                    )
                    .map_err(unavailable)?;
                    Ok(IdempotencyState::Started)
                }
            }
        })
        .await
    }

    async fn complete(&self, tenant: &Tenant, key: &str, result: &str) -> StoreResult<()> {
        let (tenant, key, result) = (tenant.clone(), key.to_string(), result.to_string());
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE idempotency SET result = ?3 WHERE tenant = ?1 AND key = ?2 AND result IS NULL",
                    params![tenant.id(), key, result],
                )
                .map_err(unavailable)?;
            if n == 1 { Ok(()) } else { Err(StoreError::Conflict) }
        })
        .await
    }

    async fn abandon(&self, tenant: &Tenant, key: &str) -> StoreResult<()> {
        let (tenant, key) = (tenant.clone(), key.to_string());
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM idempotency WHERE tenant = ?1 AND key = ?2 AND result IS NULL",
                params![tenant.id(), key],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}

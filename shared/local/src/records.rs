//! Every record of the ports in one SQLite file: the institution's
//! configuration, students, certificates, credits (with the ledger), the
//! audit trail and idempotency records. Each write runs in one immediate
//! transaction, which gives the same all-or-nothing guarantees as the
//! DynamoDB transactions.

use certifica_core::model::{Grade, Institution, Plan, School, Student};
use certifica_core::ports::{
    AuditStore, CertificateStore, CreditStore, IdempotencyStore, InstitutionStore, StoreError, StoreResult,
    StudentStore,
};
use certifica_core::records::*;
use certifica_core::roster::{self, PageBuilder, RosterFilter, RosterPage, RosterStudent};
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
    created_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS certificates_by_student
    ON certificates (tenant, school_id, cycle_id, control_number, created_at);
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
    request_id TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_tenant ON ledger (tenant, certificate_id);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    school_id TEXT NOT NULL,
    cycle_id TEXT NOT NULL,
    control_number TEXT NOT NULL,
    certificate_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_student ON audit (tenant, school_id, cycle_id, control_number);
CREATE INDEX IF NOT EXISTS audit_by_certificate ON audit (tenant, certificate_id);
-- Students with the columns the table filters on beside the whole record.
CREATE TABLE IF NOT EXISTS students (
    tenant TEXT NOT NULL,
    school_id TEXT NOT NULL,
    cycle_id TEXT NOT NULL,
    control_number TEXT NOT NULL,
    full_name TEXT NOT NULL,
    grp TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    grade_level INTEGER NOT NULL,
    active INTEGER NOT NULL,
    grades_edited INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, school_id, cycle_id, control_number)
);
-- The institution, schools, cycles, plans and signers: (kind, scope, id) → JSON.
CREATE TABLE IF NOT EXISTS config (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, scope, id)
);
CREATE TABLE IF NOT EXISTS idempotency (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    result TEXT,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
);
";

/// The embedded records store. Cheap to clone; writes are serialised on one
/// connection, reads go through another.
#[derive(Clone)]
pub struct LocalRecords {
    conn: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
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
    by: &Actor,
    amount: u64,
) -> StoreResult<()> {
    tx.execute(
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

fn audit_entry(conn: &Connection, tenant: &Tenant, e: &AuditEntry) -> StoreResult<()> {
    conn.execute(
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

/// Rows of `(body)` JSON, parsed.
fn bodies<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0)).map_err(unavailable)?;
    let mut out = Vec::new();
    for body in rows {
        out.push(serde_json::from_str(&body.map_err(unavailable)?).map_err(unavailable)?);
    }
    Ok(out)
}

fn system() -> Actor {
    Actor::new("sistema", "expiracion-de-reservaciones")
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
    /// Opens (creating if needed) the database file: one connection for
    /// writes, one for reads. In WAL mode readers never wait for a writer, so
    /// reads do not queue behind a commit's fsync.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let open = || {
            let conn = Connection::open(path).map_err(unavailable)?;
            // Several processes (server, CLI) may open the file: wait for a writer instead of failing.
            conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(unavailable)?;
            Ok::<_, StoreError>(conn)
        };
        let writer = open()?;
        writer.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        writer.execute_batch(SCHEMA).map_err(unavailable)?;
        let reader = open()?;
        Ok(LocalRecords { conn: Arc::new(Mutex::new(writer)), reader: Arc::new(Mutex::new(reader)) })
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
        let conn = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| unavailable("conexión envenenada"))?;
            f(&conn)
        })
        .await
        .map_err(unavailable)?
    }
}

impl CertificateStore for LocalRecords {
    async fn create(&self, tenant: &Tenant, certificate: &CertificateRecord, by: &Actor) -> StoreResult<()> {
        let (tenant, c, by) = (tenant.clone(), certificate.clone(), by.clone());
        self.write(move |tx| {
            let body = serde_json::to_string(&c).map_err(unavailable)?;
            tx.execute(
                "INSERT INTO certificates (tenant, id, school_id, cycle_id, plan_id, control_number, status, version, folio_digital, created_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![tenant.id(), c.id, c.school_id, c.cycle_id, c.plan_id, c.control_number, c.status.as_str(), c.version as i64, c.folio_digital, c.created_at.to_rfc3339(), body],
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
            audit_entry(tx, &tenant, &AuditEntry::of_certificate(&by, AuditAction::Sealed, &c, c.folio_control.clone()))
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

impl CreditStore for LocalRecords {
    async fn add_credits(&self, tenant: &Tenant, amount: u64, by: &Actor) -> StoreResult<CreditBalance> {
        let (tenant, actor) = (tenant.clone(), by.clone());
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
        by: &Actor,
    ) -> StoreResult<Reservation> {
        let (tenant, certificate_id, actor) = (tenant.clone(), certificate_id.to_string(), by.clone());
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
                    ledger_entry(tx, &tenant, LedgerKind::Expired, Some(certificate_id), Some(id), &system(), 1)?;
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
        by: &Actor,
    ) -> StoreResult<CertificateRecord> {
        let (tenant, r, actor) = (tenant.clone(), reservation.clone(), by.clone());
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

fn put_config<T: serde::Serialize>(
    conn: &Connection,
    tenant: &Tenant,
    kind: &str,
    scope: &str,
    id: &str,
    value: &T,
) -> StoreResult<()> {
    conn.execute(
        "INSERT OR REPLACE INTO config (tenant, kind, scope, id, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant.id(), kind, scope, id, serde_json::to_string(value).map_err(unavailable)?],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn get_config<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    tenant: &Tenant,
    kind: &str,
    scope: &str,
    id: &str,
) -> StoreResult<Option<T>> {
    Ok(bodies(
        conn,
        "SELECT body FROM config WHERE tenant = ?1 AND kind = ?2 AND scope = ?3 AND id = ?4",
        params![tenant.id(), kind, scope, id],
    )?
    .pop())
}

fn list_config<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    tenant: &Tenant,
    kind: &str,
    scope: &str,
) -> StoreResult<Vec<T>> {
    bodies(
        conn,
        "SELECT body FROM config WHERE tenant = ?1 AND kind = ?2 AND scope = ?3 ORDER BY id",
        params![tenant.id(), kind, scope],
    )
}

/// Refuses records of another institution and records of an unknown school.
fn require_school(conn: &Connection, tenant: &Tenant, school_id: &str) -> StoreResult<()> {
    match get_config::<School>(conn, tenant, "school", "", school_id)? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!("la escuela {school_id}"))),
    }
}

impl InstitutionStore for LocalRecords {
    async fn put_institution(&self, tenant: &Tenant, institution: &Institution) -> StoreResult<()> {
        if institution.id != tenant.id() {
            return Err(StoreError::Invalid(format!("la institución {} no es la del usuario", institution.id)));
        }
        let (tenant, i) = (tenant.clone(), institution.clone());
        self.write(move |tx| put_config(tx, &tenant, "institution", "", "", &i)).await
    }

    async fn institution(&self, tenant: &Tenant) -> StoreResult<Option<Institution>> {
        let tenant = tenant.clone();
        self.read(move |conn| get_config(conn, &tenant, "institution", "", "")).await
    }

    async fn put_school(&self, tenant: &Tenant, school: &School) -> StoreResult<()> {
        if school.institution_id != tenant.id() {
            return Err(StoreError::Invalid(format!("la escuela {} es de otra institución", school.id)));
        }
        let (tenant, school) = (tenant.clone(), school.clone());
        self.write(move |tx| put_config(tx, &tenant, "school", "", &school.id, &school)).await
    }

    async fn school(&self, tenant: &Tenant, school_id: &str) -> StoreResult<Option<School>> {
        let (tenant, id) = (tenant.clone(), school_id.to_string());
        self.read(move |conn| get_config(conn, &tenant, "school", "", &id)).await
    }

    async fn schools(&self, tenant: &Tenant) -> StoreResult<Vec<School>> {
        let tenant = tenant.clone();
        self.read(move |conn| list_config(conn, &tenant, "school", "")).await
    }

    async fn put_cycle(&self, tenant: &Tenant, cycle: &Cycle) -> StoreResult<()> {
        let (tenant, cycle) = (tenant.clone(), cycle.clone());
        self.write(move |tx| {
            require_school(tx, &tenant, &cycle.school_id)?;
            put_config(tx, &tenant, "cycle", &cycle.school_id, &cycle.id, &cycle)
        })
        .await
    }

    async fn cycles(&self, tenant: &Tenant, school_id: &str) -> StoreResult<Vec<Cycle>> {
        let (tenant, school) = (tenant.clone(), school_id.to_string());
        self.read(move |conn| list_config(conn, &tenant, "cycle", &school)).await
    }

    async fn put_plan(&self, tenant: &Tenant, plan: &Plan) -> StoreResult<()> {
        let (tenant, plan) = (tenant.clone(), plan.clone());
        self.write(move |tx| {
            require_school(tx, &tenant, &plan.school_id)?;
            put_config(tx, &tenant, "plan", &plan.school_id, &plan.id, &plan)
        })
        .await
    }

    async fn plan(&self, tenant: &Tenant, school_id: &str, plan_id: &str) -> StoreResult<Option<Plan>> {
        let (tenant, school, plan) = (tenant.clone(), school_id.to_string(), plan_id.to_string());
        self.read(move |conn| get_config(conn, &tenant, "plan", &school, &plan)).await
    }

    async fn plans(&self, tenant: &Tenant, school_id: &str) -> StoreResult<Vec<Plan>> {
        let (tenant, school) = (tenant.clone(), school_id.to_string());
        self.read(move |conn| list_config(conn, &tenant, "plan", &school)).await
    }

    async fn put_signer(&self, tenant: &Tenant, signer: &SignerConfig) -> StoreResult<()> {
        let (tenant, signer) = (tenant.clone(), signer.clone());
        self.write(move |tx| {
            require_school(tx, &tenant, &signer.school_id)?;
            put_config(tx, &tenant, "signer", &signer.school_id, "", &signer)
        })
        .await
    }

    async fn signer(&self, tenant: &Tenant, school_id: &str) -> StoreResult<Option<SignerConfig>> {
        let (tenant, school) = (tenant.clone(), school_id.to_string());
        self.read(move |conn| get_config(conn, &tenant, "signer", &school, "")).await
    }
}

fn load_student(
    conn: &Connection,
    tenant: &Tenant,
    school_id: &str,
    cycle_id: &str,
    control_number: &str,
) -> StoreResult<Option<StudentRecord>> {
    let row: Option<(String, i64, i64)> = conn
        .query_row(
            "SELECT body, grades_edited, version FROM students
             WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND control_number = ?4",
            params![tenant.id(), school_id, cycle_id, control_number],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(unavailable)?;
    row.map(|(body, edited, version)| {
        Ok(StudentRecord {
            school_id: school_id.to_string(),
            cycle_id: cycle_id.to_string(),
            student: serde_json::from_str(&body).map_err(unavailable)?,
            grades_edited: edited != 0,
            version: version as u64,
        })
    })
    .transpose()
}

impl StudentStore for LocalRecords {
    async fn put_students(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        students: &[Student],
    ) -> StoreResult<()> {
        for s in students {
            check_control_number(&s.control_number).map_err(StoreError::Invalid)?;
        }
        let (tenant, school, cycle, students) =
            (tenant.clone(), school_id.to_string(), cycle_id.to_string(), students.to_vec());
        self.write(move |tx| {
            require_school(tx, &tenant, &school)?;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO students (tenant, school_id, cycle_id, control_number, full_name, grp, plan_id, grade_level,
                        active, grades_edited, version, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 1, ?10)
                     ON CONFLICT (tenant, school_id, cycle_id, control_number) DO UPDATE SET
                        full_name = excluded.full_name, grp = excluded.grp, plan_id = excluded.plan_id,
                        grade_level = excluded.grade_level, active = excluded.active, body = excluded.body,
                        version = version + 1",
                )
                .map_err(unavailable)?;
            for s in &students {
                stmt.execute(params![
                    tenant.id(),
                    school,
                    cycle,
                    s.control_number,
                    s.full_name(),
                    s.group,
                    s.plan_id,
                    s.grade_level,
                    s.active,
                    serde_json::to_string(s).map_err(unavailable)?
                ])
                .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn student(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> StoreResult<Option<StudentRecord>> {
        let args = (tenant.clone(), school_id.to_string(), cycle_id.to_string(), control_number.to_string());
        self.read(move |conn| load_student(conn, &args.0, &args.1, &args.2, &args.3)).await
    }

    async fn edit_grades(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
        expected_version: u64,
        grades: Vec<Grade>,
        by: &Actor,
    ) -> StoreResult<StudentRecord> {
        let args =
            (tenant.clone(), school_id.to_string(), cycle_id.to_string(), control_number.to_string(), by.clone());
        self.write(move |tx| {
            let (tenant, school, cycle, control, by) = &args;
            let mut record = load_student(tx, tenant, school, cycle, control)?
                .ok_or_else(|| StoreError::NotFound(format!("el alumno {control}")))?;
            if record.version != expected_version {
                return Err(StoreError::Conflict);
            }
            let detail = describe_grade_changes(&record.student.grades, &grades);
            record.student.grades = grades;
            record.grades_edited = true;
            record.version += 1;
            tx.execute(
                "UPDATE students SET body = ?5, grades_edited = 1, version = ?6
                 WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND control_number = ?4",
                params![
                    tenant.id(),
                    school,
                    cycle,
                    control,
                    serde_json::to_string(&record.student).map_err(unavailable)?,
                    record.version as i64
                ],
            )
            .map_err(unavailable)?;
            audit_entry(tx, tenant, &AuditEntry::of_student(by, AuditAction::GradesEdited, &record, detail))?;
            Ok(record)
        })
        .await
    }

    async fn groups(&self, tenant: &Tenant, school_id: &str, cycle_id: &str) -> StoreResult<Vec<String>> {
        let args = (tenant.id().to_string(), school_id.to_string(), cycle_id.to_string());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT DISTINCT grp FROM students WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND grp <> ''
                     ORDER BY grp",
                )
                .map_err(unavailable)?;
            let rows = stmt.query_map(params![args.0, args.1, args.2], |r| r.get(0)).map_err(unavailable)?;
            rows.collect::<Result<_, _>>().map_err(unavailable)
        })
        .await
    }

    async fn roster_page(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        filter: &RosterFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<RosterPage> {
        let args = (tenant.id().to_string(), school_id.to_string(), cycle_id.to_string());
        let (filter, after) = (filter.clone(), after.map(str::to_string));
        self.read(move |conn| {
            let mut page = PageBuilder::new(&filter, after.as_deref(), limit);
            let mut students_stmt = conn
                .prepare_cached(
                    "SELECT control_number, full_name, grp, plan_id, grade_level, active, grades_edited FROM students
                     WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND (?4 IS NULL OR control_number > ?4)
                     ORDER BY control_number LIMIT ?5",
                )
                .map_err(unavailable)?;
            loop {
                let batch: Vec<RosterStudent> = students_stmt
                    .query_map(params![args.0, args.1, args.2, page.position(), roster::BATCH as i64], |r| {
                        Ok(RosterStudent {
                            control_number: r.get(0)?,
                            full_name: r.get(1)?,
                            group: r.get(2)?,
                            plan_id: r.get(3)?,
                            grade_level: r.get(4)?,
                            active: r.get(5)?,
                            grades_edited: r.get(6)?,
                        })
                    })
                    .map_err(unavailable)?
                    .collect::<Result<_, _>>()
                    .map_err(unavailable)?;
                let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                    page.feed(Vec::new(), &[], false);
                    break;
                };
                let certificates: Vec<CertificateRecord> = bodies(
                    conn,
                    "SELECT body FROM certificates WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3
                     AND control_number BETWEEN ?4 AND ?5",
                    params![args.0, args.1, args.2, first.control_number, last.control_number],
                )?;
                let more = batch.len() == roster::BATCH;
                if page.feed(batch, &certificates, more) {
                    break;
                }
            }
            Ok(page.finish())
        })
        .await
    }
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

//! The database's tables and the unique indexes that state the invariants
//! (one active certificate per student, one live reservation per
//! certificate, a folio used once).

pub(super) const SCHEMA: &str = "
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
-- Jobs: the job (its progress in the body), each student's result once,
-- each chunk counted once, and the queue of chunks the local worker takes.
CREATE TABLE IF NOT EXISTS jobs (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    school_id TEXT NOT NULL,
    cycle_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS jobs_by_cycle ON jobs (tenant, school_id, cycle_id, created_at);
CREATE TABLE IF NOT EXISTS job_results (
    tenant TEXT NOT NULL,
    job TEXT NOT NULL,
    control_number TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, job, control_number)
);
CREATE TABLE IF NOT EXISTS job_chunks_counted (
    tenant TEXT NOT NULL,
    job TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    PRIMARY KEY (tenant, job, chunk)
);
CREATE TABLE IF NOT EXISTS job_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    -- Taken by a worker until then (milliseconds since the epoch); 0 when free.
    lease_until INTEGER NOT NULL DEFAULT 0,
    deliveries INTEGER NOT NULL DEFAULT 0
);
";

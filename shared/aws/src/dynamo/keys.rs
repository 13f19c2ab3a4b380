//! The table's keys: every record of the ports in one DynamoDB table.
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
//! | folio guard (one per folio digital, across institutions, never removed) | `FOLIO#{folio}` | `FOLIO` | | |
//! | credit balance | `{t}#CREDITS` | `CREDITS` | | |
//! | credit reservation | `{t}#RES` | `{reservation id}` | | |
//! | ledger entry | `{t}#LEDGER` | `{time, ns}#{uuid}` | | `{t}#CERTLEDGER#{certificate}` / same as sk |
//! | audit entry | `{t}#AUDIT#{school}#{cycle}#{matrícula}` | `{time, ns}#{uuid}` | | `{t}#CERTAUDIT#{certificate}` / same as sk |
//! | idempotency record | `{t}#IDEM#{key}` | `IDEM` | | |
//! | job (progress in counters) | `{t}#JOB#{id}` | `JOB` | | `{t}#JOBS#{school}#{cycle}` / `{created}#{id}` |
//! | a job's result for one student | `{t}#JOB#{id}` | `RES#{matrícula}` | | |
//! | a job's counted chunk | `{t}#JOB#{id}` | `CHUNK#{n}` | | |
//!
//! gsi1 finds a certificate by folio (the public verification); gsi2 lists
//! a cycle's certificates (joined with its students for the table, and for
//! bulk downloads), a certificate's ledger and audit trail, and a cycle's jobs. Index reads
//! are eventually consistent; state changes always read the table.
//!
//! A certificate item carries `reservation` while a credit is held for it:
//! reserving requires it absent and the status Sellado or Error, so at most
//! one attempt per certificate holds a credit.

use certifica_core::records::{CertificateRecord, Tenant};
use chrono::{DateTime, Utc};

/// The table's key schema, for the infrastructure template and tests.
pub const TABLE_KEY_SCHEMA: [(&str, &str); 6] =
    [("pk", "HASH"), ("sk", "RANGE"), ("gsi1pk", "HASH"), ("gsi1sk", "RANGE"), ("gsi2pk", "HASH"), ("gsi2sk", "RANGE")];
pub(super) const GSI1: &str = "gsi1";
pub(super) const GSI2: &str = "gsi2";

/// Escapes the key separator so ids cannot forge another key.
pub(super) fn esc(id: &str) -> String {
    id.replace('%', "%25").replace('#', "%23")
}

pub(super) fn cert_pk(t: &Tenant, id: &str) -> String {
    format!("{}#CERT#{}", esc(t.id()), esc(id))
}

pub(super) fn active_pk(t: &Tenant, c: &CertificateRecord) -> String {
    format!(
        "{}#ACTIVE#{}#{}#{}#{}",
        esc(t.id()),
        esc(&c.school_id),
        esc(&c.cycle_id),
        esc(&c.plan_id),
        esc(&c.control_number)
    )
}

pub(super) fn credits_pk(t: &Tenant) -> String {
    format!("{}#CREDITS", esc(t.id()))
}

pub(super) fn reservations_pk(t: &Tenant) -> String {
    format!("{}#RES", esc(t.id()))
}

pub(super) fn ledger_pk(t: &Tenant) -> String {
    format!("{}#LEDGER", esc(t.id()))
}

pub(super) fn idem_pk(t: &Tenant, k: &str) -> String {
    format!("{}#IDEM#{}", esc(t.id()), esc(k))
}

pub(super) fn job_pk(t: &Tenant, id: &str) -> String {
    format!("{}#JOB#{}", esc(t.id()), esc(id))
}

pub(super) fn jobs_gsi(t: &Tenant, school: &str, cycle: &str) -> String {
    format!("{}#JOBS#{}#{}", esc(t.id()), esc(school), esc(cycle))
}

pub(super) fn inst_pk(t: &Tenant) -> String {
    format!("{}#INST", esc(t.id()))
}

pub(super) fn students_pk(t: &Tenant, school: &str, cycle: &str) -> String {
    format!("{}#STU#{}#{}", esc(t.id()), esc(school), esc(cycle))
}

pub(super) fn roster_gsi(t: &Tenant, school: &str, cycle: &str) -> String {
    format!("{}#ROSTER#{}#{}", esc(t.id()), esc(school), esc(cycle))
}

pub(super) fn roster_gsi_sk(c: &CertificateRecord) -> String {
    format!("{}#{}#{}", esc(&c.control_number), c.created_at.format("%Y-%m-%dT%H:%M:%S%.9fZ"), esc(&c.id))
}

pub(super) fn audit_pk(t: &Tenant, school: &str, cycle: &str, control: &str) -> String {
    format!("{}#AUDIT#{}#{}#{}", esc(t.id()), esc(school), esc(cycle), esc(control))
}

/// A time-ordered, unique sort key.
pub(super) fn time_key() -> (DateTime<Utc>, String) {
    let at = Utc::now();
    (at, format!("{}#{}", at.format("%Y-%m-%dT%H:%M:%S%.9fZ"), uuid::Uuid::new_v4()))
}

//! Certifica's embedded adapters for the local mode (`certifica serve`):
//! the storage ports over one SQLite database file, and documents in a
//! data folder with expiring signed download links, and mail as `.eml`
//! files in an outbox folder.
//!
//! Why SQLite (rusqlite, bundled): real ACID transactions (`BEGIN IMMEDIATE`
//! serialises writers, like DynamoDB's conditional writes and
//! TransactWriteItems serialise per item), partial unique indexes that state
//! the invariants in the schema (one active certificate per student, one
//! live reservation per certificate, a folio used once), a single file a
//! school can back up, and no server. The same conformance suite runs
//! against this adapter and the DynamoDB one.

mod artifacts;
mod inbox;
mod outbox;
pub mod private;
mod records;

pub use artifacts::{LinkError, LinkTarget, LocalArtifacts, LocalWriter};
pub use inbox::{LocalInbox, Waiting};
pub use outbox::LocalOutbox;
pub use records::{LocalRecords, TakenChunk};

/// The embedded adapter set (`certifica serve`, tests, benches): records in
/// SQLite, documents in a folder, mail as `.eml` files, the built-in
/// simulated authority, and jobs queued in the records' own table — the
/// API's `Api<Local>`.
pub type Local = (LocalRecords, LocalArtifacts, certifica_core::stamping::LocalAuthority, LocalOutbox, LocalRecords);

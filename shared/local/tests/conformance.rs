//! The embedded adapters pass the storage conformance suite, and the
//! stamping check under injected failures over the database and the folder.

use certifica_local::LocalRecords;
use std::sync::OnceLock;

/// One store over one database file for the whole binary, as the local
/// server opens it once; the checks use fresh tenants.
async fn store() -> LocalRecords {
    // A static is never dropped: the database lives under the target dir,
    // made afresh each run, instead of leaking one per run in /tmp.
    static STORE: OnceLock<LocalRecords> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("local-records");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("folder");
            LocalRecords::open(&dir.join("certifica.db")).expect("open")
        })
        .clone()
}

certifica_conformance::conformance_tests!(store());

/// The documents folder beside the database.
async fn documents() -> certifica_local::LocalArtifacts {
    static DOCS: OnceLock<certifica_local::LocalArtifacts> = OnceLock::new();
    DOCS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("local-records-docs");
        let _ = std::fs::remove_dir_all(&dir);
        certifica_local::LocalArtifacts::new(&dir, "http://127.0.0.1:3000/v1/files/", &[7u8; 32]).expect("open")
    })
    .clone()
}

certifica_conformance::stamping_conformance_tests!(store(), documents());

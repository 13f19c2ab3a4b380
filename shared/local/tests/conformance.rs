//! The embedded adapter passes the storage conformance suite.

use certifica_local::LocalRecords;
use std::sync::OnceLock;

/// One store over one database file for the whole binary, as the local
/// server opens it once; the checks use fresh tenants.
async fn store() -> LocalRecords {
    static STORE: OnceLock<(tempfile::TempDir, LocalRecords)> = OnceLock::new();
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalRecords::open(&dir.path().join("certifica.db")).expect("open");
        (dir, store)
    });
    store.clone()
}

certifica_conformance::conformance_tests!(store());

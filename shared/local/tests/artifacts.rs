//! The artifacts folder passes the artifact conformance checks, and its
//! download links expire and cannot be forged.

use certifica_core::ports::{ArtifactKind, ArtifactStore};
use certifica_core::records::Tenant;
use certifica_local::{LinkError, LocalArtifacts};
use chrono::{Duration, Utc};
use std::sync::OnceLock;

const BASE: &str = "http://127.0.0.1:3000/v1/files/";

async fn store() -> LocalArtifacts {
    static STORE: OnceLock<(tempfile::TempDir, LocalArtifacts)> = OnceLock::new();
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalArtifacts::new(&dir.path().join("artifacts"), BASE, &[7u8; 32]).expect("open");
        (dir, store)
    });
    store.clone()
}

certifica_conformance::artifact_conformance_tests!(store());

#[tokio::test]
async fn links_open_the_document_until_they_expire_and_cannot_be_forged() {
    let s = store().await;
    let t = Tenant::from_verified_identity("enlaces");
    let stored = s.put(&t, ArtifactKind::Pdf, "esc/A1.pdf", b"%PDF uno".to_vec(), "application/pdf").await.unwrap();
    let link = s.link(&t, &stored.key, Duration::minutes(5)).await.unwrap();
    let token = link.strip_prefix(BASE).expect("served by the local server");
    assert_eq!(s.open_link(token, Utc::now()).unwrap().as_deref(), Some(&b"%PDF uno"[..]));
    // A new version later does not change what an issued link opens.
    s.put(&t, ArtifactKind::Pdf, "esc/A1.pdf", b"%PDF dos".to_vec(), "application/pdf").await.unwrap();
    assert_eq!(s.open_link(token, Utc::now()).unwrap().as_deref(), Some(&b"%PDF uno"[..]));
    assert_eq!(s.open_link(token, Utc::now() + Duration::minutes(6)), Err(LinkError::Expired));
    // Any change to the token, or another secret, is refused.
    let mut forged = token.to_string();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(s.open_link(&forged, Utc::now()), Err(LinkError::Invalid));
    let dir = tempfile::tempdir().unwrap();
    let other = LocalArtifacts::new(dir.path(), BASE, &[9u8; 32]).unwrap();
    assert_eq!(other.open_link(token, Utc::now()), Err(LinkError::Invalid));
    assert_eq!(s.open_link("basura", Utc::now()), Err(LinkError::Invalid));
    assert!(LocalArtifacts::new(dir.path(), BASE, b"corta").is_err());
}

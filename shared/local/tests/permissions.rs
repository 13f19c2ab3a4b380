//! The data folder is private to the server's user: folders 0700, the
//! database, documents, reports and mail 0600.
#![cfg(unix)]

use certifica_core::mail::{Mail, Sender};
use certifica_core::ports::{ArtifactKind, ArtifactStore, Mailer};
use certifica_core::records::Tenant;
use certifica_local::{LocalArtifacts, LocalOutbox, LocalRecords};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every folder and file under `root`, with its mode.
fn walk(root: &Path, out: &mut Vec<(std::path::PathBuf, u32)>) {
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        out.push((path.clone(), mode(&path)));
        if path.is_dir() {
            walk(&path, out);
        }
    }
}

#[tokio::test]
async fn what_the_local_mode_writes_only_its_user_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("datos");
    let _records = LocalRecords::open(&{
        certifica_local::private::create_dir_all(&data).unwrap();
        data.join("certifica.db")
    })
    .unwrap();
    let artifacts = LocalArtifacts::new(&data.join("docs"), "http://127.0.0.1:9/files/", &[1u8; 32]).unwrap();
    let t = Tenant::from_verified_identity("uva");
    artifacts.put(&t, ArtifactKind::Pdf, "c1.pdf", b"%PDF-1.7".to_vec(), "application/pdf").await.unwrap();
    let sender = Sender { name: "Control Escolar".into(), address: "ce@uva.mx".into() };
    let outbox = LocalOutbox::new(&data.join("outbox"), sender).unwrap();
    let mail = Mail {
        to: vec!["ana@uva.mx".into()],
        subject: "Su certificado".into(),
        text: "Adjunto.".into(),
        attachments: vec![],
        reply_to: None,
    };
    outbox.send(&mail).await.unwrap();
    let mut found = vec![(data.clone(), mode(&data))];
    walk(&data, &mut found);
    // A document's version is `{name}@v000001`.
    assert!(found.iter().any(|(p, _)| p.to_string_lossy().ends_with(".pdf@v000001")), "{found:?}");
    assert!(found.iter().any(|(p, _)| p.extension().is_some_and(|e| e == "eml")), "{found:?}");
    assert!(found.iter().any(|(p, _)| p.ends_with("certifica.db")), "{found:?}");
    for (path, mode) in found {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, expected, "{} is {mode:o}", path.display());
    }
}

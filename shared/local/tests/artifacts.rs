//! The artifacts folder passes the artifact conformance checks, and its
//! download links expire and cannot be forged.

use certifica_core::ports::{ArtifactKind, ArtifactStore};
use certifica_core::records::Tenant;
use certifica_local::{LinkError, LocalArtifacts};
use chrono::{Duration, Utc};
use std::sync::OnceLock;

const BASE: &str = "http://127.0.0.1:3000/v1/files/";

async fn store() -> LocalArtifacts {
    // A static is never dropped: the folder lives under the target dir,
    // emptied at the start of each run, instead of leaking one per run in /tmp.
    static STORE: OnceLock<LocalArtifacts> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("local-artifacts");
            let _ = std::fs::remove_dir_all(&dir);
            LocalArtifacts::new(&dir, BASE, &[7u8; 32]).expect("open")
        })
        .clone()
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

/// The outbox: each message is one `.eml` file, read back and parsed.
#[tokio::test]
async fn a_mail_with_attachments_lands_in_the_outbox() {
    use certifica_core::mail::Sender;
    let dir = tempfile::tempdir().unwrap();
    let sender =
        Sender { name: "Certificación — Universidad del Valle".into(), address: "certificados@uva.edu.mx".into() };
    let outbox = certifica_local::LocalOutbox::new(&dir.path().join("outbox"), sender.clone()).unwrap();
    let folder = outbox.dir().to_path_buf();
    let delivered = async || {
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let raw = std::fs::read(p).unwrap();
                // The envelope of a file is its To header.
                let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
                let recipients = parsed.to().unwrap().iter().filter_map(|a| a.address()).map(str::to_string).collect();
                certifica_conformance::Delivered { recipients, raw }
            })
            .collect::<Vec<_>>()
    };
    certifica_conformance::a_mail_with_attachments_reaches_every_recipient(&outbox, &sender, delivered).await;
}

/// The inbox folder under the target dir (emptied at the start of each run).
async fn inbox() -> certifica_local::LocalInbox {
    static INBOX: OnceLock<certifica_local::LocalInbox> = OnceLock::new();
    INBOX
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("local-inbox");
            let _ = std::fs::remove_dir_all(&dir);
            certifica_local::LocalInbox::new(&dir).expect("open")
        })
        .clone()
}

/// Drops files in the inbox folder as a signer copying them would.
struct FolderDropper;

impl certifica_conformance::Dropper for FolderDropper {
    async fn drop_file(&self, key: &str, bytes: Vec<u8>) -> Option<String> {
        let inbox = inbox().await;
        let relative = key.strip_prefix("inbox/").expect("an inbox key");
        let path = inbox.folder().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let waiting = inbox.waiting(std::time::Duration::ZERO).unwrap();
        waiting.into_iter().find(|w| w.key == key).map(|w| w.version)
    }
}

mod inbox_folder {
    use super::*;
    certifica_conformance::inbox_conformance_tests!(inbox(), FolderDropper);
}

/// A data folder written with a folder per key (`{key}/v000001`) is read
/// as it is, and a new version of such a key continues its numbering.
#[tokio::test]
async fn documents_of_a_folder_written_with_a_folder_per_key_are_read_and_continued() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let t = Tenant::from_verified_identity("antigua");
    let tenant = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t.id());
    let legacy = dir.path().join(&tenant).join("pdf/esc/A1.pdf");
    std::fs::create_dir_all(&legacy).unwrap();
    std::fs::write(legacy.join("v000001"), b"%PDF uno").unwrap();
    std::fs::write(legacy.join("v000002"), b"%PDF dos").unwrap();
    let s = LocalArtifacts::new(dir.path(), BASE, &[7u8; 32]).unwrap();
    let key = "pdf/esc/A1.pdf";
    assert!(s.exists(&t, key).await.unwrap());
    assert_eq!(s.get(&t, key).await.unwrap().as_deref(), Some(&b"%PDF dos"[..]));
    let stored = s.put(&t, ArtifactKind::Pdf, "esc/A1.pdf", b"%PDF tres".to_vec(), "application/pdf").await.unwrap();
    assert_eq!(stored.version, "v000003");
    assert_eq!(s.versions(&t, key).await.unwrap(), ["v000001", "v000002", "v000003"]);
    assert_eq!(s.get(&t, key).await.unwrap().as_deref(), Some(&b"%PDF tres"[..]));
    assert_eq!(s.get_version(&t, key, "v000001").await.unwrap().as_deref(), Some(&b"%PDF uno"[..]));
    let link = s.link(&t, key, Duration::minutes(5)).await.unwrap();
    let token = link.strip_prefix(BASE).unwrap();
    assert_eq!(s.open_link(token, Utc::now()).unwrap().as_deref(), Some(&b"%PDF tres"[..]));
    // The new version is one file beside the old folder, not inside it.
    assert!(dir.path().join(&tenant).join("pdf/esc/A1.pdf@v000003").is_file());
    assert!(!legacy.join("v000003").exists());
}

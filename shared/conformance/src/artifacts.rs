//! `ArtifactStore`: versions kept, tenants apart, names that cannot escape,
//! documents written in parts or aborted.

use crate::fixtures::fresh_tenant;
use certifica_core::ports::{ArtifactKind, ArtifactStore, ArtifactWriter};
use chrono::Duration;

pub async fn artifacts_are_versioned_and_kept<S: ArtifactStore>(s: &S) {
    let t = fresh_tenant("documentos");
    let first = s
        .put(&t, ArtifactKind::Pdf, "esc/2026/A001.pdf", b"%PDF original".to_vec(), "application/pdf")
        .await
        .expect("put");
    assert_eq!(first.key, "pdf/esc/2026/A001.pdf");
    assert_eq!(s.get(&t, &first.key).await.expect("get").as_deref(), Some(&b"%PDF original"[..]));
    // A cancelled PDF is a new version; the original stays readable.
    let second = s
        .put(&t, ArtifactKind::Pdf, "esc/2026/A001.pdf", b"%PDF CANCELADO".to_vec(), "application/pdf")
        .await
        .expect("put");
    assert_eq!(second.key, first.key);
    assert_ne!(second.version, first.version);
    assert_eq!(s.get(&t, &first.key).await.expect("get").as_deref(), Some(&b"%PDF CANCELADO"[..]));
    assert_eq!(
        s.versions(&t, &first.key).await.expect("versions"),
        vec![first.version.clone(), second.version.clone()]
    );
    assert_eq!(
        s.get_version(&t, &first.key, &first.version).await.expect("get").as_deref(),
        Some(&b"%PDF original"[..])
    );
    // The stamped XML comes back byte for byte.
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Dec  version=\"3.0\">Ñ</Dec>\n".as_bytes().to_vec();
    let stored =
        s.put(&t, ArtifactKind::StampedXml, "esc/2026/A001.xml", xml.clone(), "application/xml").await.expect("put");
    assert_eq!(s.get(&t, &stored.key).await.expect("get"), Some(xml));
    assert_eq!(s.get(&t, "pdf/esc/2026/no-existe.pdf").await.expect("get"), None);
    assert!(s.exists(&t, &first.key).await.expect("exists"));
    assert!(!s.exists(&t, "pdf/esc/2026/no-existe.pdf").await.expect("exists"));
    assert!(s.link(&t, &first.key, Duration::minutes(5)).await.expect("link").len() > 10);
    assert!(s.link(&t, "pdf/no-existe.pdf", Duration::minutes(5)).await.is_err());
}

pub async fn artifacts_of_one_tenant_are_invisible_to_another<S: ArtifactStore>(s: &S) {
    let (a, b) = (fresh_tenant("docs-a"), fresh_tenant("docs-b"));
    let stored = s
        .put(&a, ArtifactKind::SealedXml, "esc/2026/A1.xml", b"<Dec/>".to_vec(), "application/xml")
        .await
        .expect("put");
    assert_eq!(s.get(&b, &stored.key).await.expect("get"), None);
    assert_eq!(s.versions(&b, &stored.key).await.expect("versions"), Vec::<String>::new());
    assert!(!s.exists(&b, &stored.key).await.expect("exists"));
    assert!(s.link(&b, &stored.key, Duration::minutes(5)).await.is_err());
}

pub async fn artifact_names_cannot_escape_their_place<S: ArtifactStore>(s: &S) {
    let t = fresh_tenant("nombres");
    for bad in ["../otro/x.pdf", "/abs.pdf", "a//b.pdf", "a/./b.pdf", "", "espacio nombre.pdf", "a\\b.pdf"] {
        assert!(s.put(&t, ArtifactKind::Pdf, bad, b"x".to_vec(), "application/pdf").await.is_err(), "{bad:?} accepted");
        assert!(s.get(&t, &format!("pdf/{bad}")).await.is_err(), "{bad:?} readable");
    }
}

/// Bytes that do not repeat with any short period (so a lost, doubled or
/// reordered part cannot go unnoticed).
pub fn varied_bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

pub async fn documents_written_in_parts_arrive_whole<S: ArtifactStore>(s: &S) {
    let t = fresh_tenant("partes");
    // Larger than S3's 5 MiB part minimum three times over, in uneven writes.
    let writes = [varied_bytes(6 << 20, 1), varied_bytes(3, 2), varied_bytes(5 << 20, 3), varied_bytes(6 << 20, 4)];
    let mut w = s.writer(&t, ArtifactKind::BulkZip, "grande.zip", "application/zip").await.expect("writer");
    for bytes in &writes {
        w.write(bytes.clone()).await.expect("write");
    }
    assert_eq!(s.get(&t, "zips/grande.zip").await.expect("get"), None, "visible before it is finished");
    let stored = w.finish().await.expect("finish");
    assert_eq!(stored.key, "zips/grande.zip");
    assert!(s.get(&t, &stored.key).await.expect("get") == Some(writes.concat()), "the document differs");
    assert_eq!(s.versions(&t, &stored.key).await.expect("versions"), vec![stored.version.clone()]);
    // A small one, and a second version of the same name.
    let mut w = s.writer(&t, ArtifactKind::BulkZip, "grande.zip", "application/zip").await.expect("writer");
    w.write(b"PK".to_vec()).await.expect("write");
    w.write(b"\x05\x06".to_vec()).await.expect("write");
    let second = w.finish().await.expect("finish");
    assert_ne!(second.version, stored.version);
    assert_eq!(s.get(&t, &stored.key).await.expect("get").as_deref(), Some(&b"PK\x05\x06"[..]));
    assert_eq!(s.versions(&t, &stored.key).await.expect("versions").len(), 2);
    assert!(s.link(&t, &stored.key, Duration::minutes(5)).await.is_ok());
    // Another tenant sees none of it; a bad name is refused before anything is written.
    assert_eq!(s.get(&fresh_tenant("ajeno"), &stored.key).await.expect("get"), None);
    assert!(s.writer(&t, ArtifactKind::BulkZip, "../fuera.zip", "application/zip").await.is_err());
}

pub async fn an_aborted_document_leaves_nothing<S: ArtifactStore>(s: &S) {
    let t = fresh_tenant("abortado");
    let mut w = s.writer(&t, ArtifactKind::BulkZip, "ciclo.zip", "application/zip").await.expect("writer");
    // More than one part, so S3 has a multipart upload under way.
    w.write(varied_bytes(9 << 20, 5)).await.expect("write");
    w.abort().await;
    assert_eq!(s.get(&t, "zips/ciclo.zip").await.expect("get"), None);
    assert!(!s.exists(&t, "zips/ciclo.zip").await.expect("exists"));
    assert_eq!(s.versions(&t, "zips/ciclo.zip").await.expect("versions"), Vec::<String>::new());
    // The name stays usable.
    let mut w = s.writer(&t, ArtifactKind::BulkZip, "ciclo.zip", "application/zip").await.expect("writer");
    w.write(b"PK".to_vec()).await.expect("write");
    w.finish().await.expect("finish");
    assert_eq!(s.get(&t, "zips/ciclo.zip").await.expect("get").as_deref(), Some(&b"PK"[..]));
}

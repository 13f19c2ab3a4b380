//! The S3 adapter passes the artifact conformance checks against moto on
//! 127.0.0.1 (started by `scripts/test.sh`), and its links are presigned,
//! expiring and fetchable.

mod emulator;

use certifica_core::ports::{ArtifactKind, ArtifactStore};
use certifica_core::records::Tenant;

use emulator::documents as store;

certifica_conformance::artifact_conformance_tests!(store());

#[tokio::test]
async fn links_are_presigned_for_five_minutes_and_fetch_the_document() {
    let s = store().await;
    let t = Tenant::from_verified_identity("enlaces-s3");
    let stored = s.put(&t, ArtifactKind::Pdf, "esc/A1.pdf", b"%PDF firmado".to_vec(), "application/pdf").await.unwrap();
    let link = s.link(&t, &stored.key, chrono::Duration::minutes(5)).await.unwrap();
    assert!(link.starts_with("http://127.0.0.1:"), "{link}");
    assert!(link.contains("X-Amz-Expires=300") && link.contains("X-Amz-Signature="), "{link}");
    // Fetch it as a browser would (python's urllib, from the test virtualenv or the system).
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())",
            &link,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"%PDF firmado");
}

#[tokio::test]
async fn bulk_zips_carry_the_tag_their_lifecycle_rule_expires_them_by() {
    let s = store().await;
    let t = Tenant::from_verified_identity("zips-s3");
    let zip = s.put(&t, ArtifactKind::BulkZip, "ciclo.zip", b"PK\x05\x06".to_vec(), "application/zip").await.unwrap();
    let pdf = s.put(&t, ArtifactKind::Pdf, "A1.pdf", b"%PDF".to_vec(), "application/pdf").await.unwrap();
    let tags = |key: String| {
        let s = s.clone();
        async move {
            let out =
                s.client().get_object_tagging().bucket(s.bucket()).key(format!("zips-s3/{key}")).send().await.unwrap();
            out.tag_set().iter().map(|t| format!("{}={}", t.key(), t.value())).collect::<Vec<_>>()
        }
    };
    assert_eq!(tags(zip.key).await, [certifica_aws::BULK_ZIP_TAG]);
    assert!(tags(pdf.key).await.is_empty(), "documents themselves never expire");
}

#[tokio::test]
async fn a_zip_uploaded_in_parts_is_encrypted_tagged_and_typed_like_one_put() {
    use certifica_core::ports::ArtifactWriter;
    let s = store().await;
    let t = Tenant::from_verified_identity("partes-s3");
    let mut w = s.writer(&t, ArtifactKind::BulkZip, "ciclo.zip", "application/zip").await.unwrap();
    for seed in 0..3 {
        w.write(certifica_conformance::varied_bytes(certifica_aws::PART_SIZE / 2 + 7, seed)).await.unwrap();
    }
    let stored = w.finish().await.unwrap();
    let object = format!("partes-s3/{}", stored.key);
    let head = s.client().head_object().bucket(s.bucket()).key(&object).send().await.unwrap();
    assert_eq!(head.content_length(), Some(3 * (certifica_aws::PART_SIZE as i64 / 2 + 7)));
    assert_eq!(head.content_type(), Some("application/zip"));
    assert_eq!(head.server_side_encryption(), Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256));
    // Two parts: a multipart upload, not one put.
    assert!(head.e_tag().is_some_and(|e| e.trim_matches('"').ends_with("-2")), "{:?}", head.e_tag());
    let tags = s.client().get_object_tagging().bucket(s.bucket()).key(&object).send().await.unwrap();
    let tags: Vec<_> = tags.tag_set().iter().map(|t| format!("{}={}", t.key(), t.value())).collect();
    assert_eq!(tags, [certifica_aws::BULK_ZIP_TAG]);
    // No upload is left open.
    let open = s.client().list_multipart_uploads().bucket(s.bucket()).prefix("partes-s3/").send().await.unwrap();
    assert!(open.uploads().is_empty(), "{:?}", open.uploads());
}

/// Drops files in the bucket's inbox as a signer's upload would.
struct S3Dropper;

impl certifica_conformance::Dropper for S3Dropper {
    async fn drop_file(&self, key: &str, bytes: Vec<u8>) -> Option<String> {
        let s = store().await;
        let put = s.client().put_object().bucket(s.bucket()).key(key).body(bytes.into()).send().await.unwrap();
        put.version_id().map(str::to_string)
    }
}

/// The upload inbox is the same bucket, through the same adapter.
mod inbox {
    use super::*;
    certifica_conformance::inbox_conformance_tests!(store(), S3Dropper);
}

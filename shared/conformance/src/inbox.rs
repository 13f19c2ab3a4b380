//! `Inbox`: an upload is read as dropped, moved out of the inbox to
//! `processed/` or `rejected/` with its report beside it, and a redelivery
//! settles nothing twice.

use certifica_core::ports::{Inbox, Settlement};
use std::future::Future;

/// How a check drops a file in the inbox, as a signer would (outside the
/// port): answers the upload's version, when the inbox has one.
pub trait Dropper: Send + Sync {
    fn drop_file(&self, key: &str, bytes: Vec<u8>) -> impl Future<Output = Option<String>> + Send;
}

/// A key no other check uses.
fn fresh_key(file: &str) -> String {
    format!("inbox/bandeja-{}/norte/2026/{file}", uuid::Uuid::new_v4().simple())
}

pub async fn an_upload_is_read_as_dropped_and_moved_with_its_report<I: Inbox, D: Dropper>(inbox: &I, drop: &D) {
    let key = fresh_key("A0001.xml");
    let version = drop.drop_file(&key, b"<Dec/>".to_vec()).await;
    // Its size is known without reading it (what lets a huge upload be refused unread).
    assert_eq!(inbox.size(&key, version.as_deref()).await.expect("size"), Some(6));
    assert_eq!(inbox.fetch(&key, version.as_deref()).await.expect("fetch").as_deref(), Some(&b"<Dec/>"[..]));
    let moved = inbox.settle(&key, version.as_deref(), Settlement::Processed, b"{\"outcome\":\"procesado\"}").await;
    let moved = moved.expect("settle");
    assert_eq!(moved, key.replacen("inbox/", "processed/", 1));
    assert_eq!(inbox.fetch(&key, None).await.expect("fetch"), None, "gone from the inbox");
    assert_eq!(inbox.size(&key, None).await.expect("size"), None);
    assert_eq!(inbox.fetch(&moved, None).await.expect("fetch").as_deref(), Some(&b"<Dec/>"[..]));
    let report = inbox.fetch(&format!("{moved}.json"), None).await.expect("fetch report");
    assert_eq!(report.as_deref(), Some(&b"{\"outcome\":\"procesado\"}"[..]));
}

pub async fn a_refused_upload_goes_to_rejected<I: Inbox, D: Dropper>(inbox: &I, drop: &D) {
    let key = fresh_key("foto.png");
    let version = drop.drop_file(&key, b"\x89PNG".to_vec()).await;
    let moved = inbox.settle(&key, version.as_deref(), Settlement::Rejected, b"{}").await.expect("settle");
    assert_eq!(moved, key.replacen("inbox/", "rejected/", 1));
    assert_eq!(inbox.fetch(&moved, None).await.expect("fetch").as_deref(), Some(&b"\x89PNG"[..]));
    assert!(inbox.fetch(&format!("{moved}.json"), None).await.expect("fetch report").is_some());
}

pub async fn a_redelivered_upload_is_settled_once<I: Inbox, D: Dropper>(inbox: &I, drop: &D) {
    let key = fresh_key("lote 7/A0002.xml");
    let version = drop.drop_file(&key, b"<Dec/>".to_vec()).await;
    let first = inbox.settle(&key, version.as_deref(), Settlement::Processed, b"primero").await.expect("settle");
    // The same event again, after the move: the earlier report stays.
    let again = inbox.settle(&key, version.as_deref(), Settlement::Processed, b"segundo").await.expect("again");
    assert_eq!(again, first);
    assert_eq!(inbox.fetch(&format!("{first}.json"), None).await.expect("fetch").as_deref(), Some(&b"primero"[..]));
    assert_eq!(inbox.fetch(&key, version.as_deref()).await.expect("fetch"), None);
}

pub async fn an_upload_that_never_arrived_is_none<I: Inbox>(inbox: &I) {
    assert_eq!(inbox.fetch(&fresh_key("nunca.xml"), None).await.expect("fetch"), None);
    assert_eq!(inbox.size(&fresh_key("nunca.xml"), None).await.expect("size"), None);
}

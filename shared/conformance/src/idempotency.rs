//! `IdempotencyStore`: a retry gets the first answer.

use crate::fixtures::fresh_tenant;
use certifica_core::ports::{IdempotencyStore, StoreError};
use certifica_core::records::IdempotencyState;
use chrono::Duration;

pub async fn an_idempotent_retry_returns_the_first_result<S: IdempotencyStore>(s: &S) {
    let t = fresh_tenant("idempotencia");
    let ttl = Duration::hours(24);
    assert_eq!(s.begin(&t, "clave-1", ttl).await.expect("begin"), IdempotencyState::Started);
    assert_eq!(s.begin(&t, "clave-1", ttl).await.expect("begin"), IdempotencyState::InProgress);
    s.complete(&t, "clave-1", r#"{"timbrados":3}"#, ttl).await.expect("complete");
    assert_eq!(
        s.begin(&t, "clave-1", ttl).await.expect("begin"),
        IdempotencyState::Completed(r#"{"timbrados":3}"#.into())
    );
    assert_eq!(s.complete(&t, "clave-1", "otra", ttl).await, Err(StoreError::Conflict), "the first answer is kept");
    // Keys are per tenant.
    let other = fresh_tenant("idempotencia-b");
    assert_eq!(s.begin(&other, "clave-1", ttl).await.expect("begin"), IdempotencyState::Started);
    // A failed call gives its key up; an expired record is claimable again.
    s.abandon(&other, "clave-1").await.expect("abandon");
    assert_eq!(s.begin(&other, "clave-1", ttl).await.expect("begin"), IdempotencyState::Started);
    assert_eq!(s.begin(&t, "corta", Duration::milliseconds(-1)).await.expect("begin"), IdempotencyState::Started);
    assert_eq!(s.begin(&t, "corta", ttl).await.expect("begin"), IdempotencyState::Started);
    // A claim lapses after its own short time; the answer, once kept, for its longer one.
    assert_eq!(s.begin(&t, "breve", Duration::milliseconds(300)).await.expect("begin"), IdempotencyState::Started);
    s.complete(&t, "breve", "hecho", ttl).await.expect("complete");
    let lapsed = Duration::milliseconds(300);
    assert_eq!(s.begin(&t, "muerta", lapsed).await.expect("begin"), IdempotencyState::Started);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(s.begin(&t, "breve", lapsed).await.expect("begin"), IdempotencyState::Completed("hecho".into()));
    assert_eq!(
        s.begin(&t, "muerta", lapsed).await.expect("begin"),
        IdempotencyState::Started,
        "a dead call's claim lapsed"
    );
}

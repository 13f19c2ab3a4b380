//! `CreditStore`: reservations, commits and releases keep the balance and
//! the ledger, under concurrency and after crashes.

use crate::fixtures::{TTL, by, fresh_tenant, sealed_certificate, stamp, stamp_of};
use certifica_core::ports::{CertificateStore, CreditStore, StoreError};
use certifica_core::records::LedgerKind;
use certifica_core::records::{CertificateStatus, CreditBalance};
use chrono::{Duration, Utc};

pub async fn reserve_commit_and_release_keep_balance_and_ledger<S: CertificateStore + CreditStore>(s: &S) {
    let t = fresh_tenant("creditos");
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 0, reserved: 0, consumed: 0 });
    s.add_credits(&t, 2, &by("admin")).await.expect("credits");
    let (c1, c2) = (sealed_certificate("E1"), sealed_certificate("E2"));
    s.create(&t, &c1, &by("prueba")).await.expect("create");
    s.create(&t, &c2, &by("prueba")).await.expect("create");
    let r1 = s.reserve(&t, &c1.id, Duration::seconds(TTL), &by("u")).await.expect("r1");
    assert_eq!(
        s.reserve(&t, &c1.id, Duration::seconds(TTL), &by("u")).await,
        Err(StoreError::Conflict),
        "one live reservation per certificate"
    );
    assert!(matches!(s.reserve(&t, "no-existe", Duration::seconds(TTL), &by("u")).await, Err(StoreError::NotFound(_))));
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 1, reserved: 1, consumed: 0 });
    // Stamping failed: the credit comes back; releasing twice changes nothing.
    s.release(&t, &r1, &by("u")).await.expect("release");
    s.release(&t, &r1, &by("u")).await.expect("release again");
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 2, reserved: 0, consumed: 0 });
    assert!(matches!(s.commit_stamp(&t, &r1, 0, stamp_of(&c1), &by("u")).await, Err(StoreError::ReservationGone(_))));
    let done = stamp(s, &t, &c1).await;
    assert_eq!((done.status, done.version), (CertificateStatus::Timbrado, 1));
    assert_eq!(
        s.reserve(&t, &c1.id, Duration::seconds(TTL), &by("u")).await,
        Err(StoreError::Conflict),
        "already stamped: no credit held"
    );
    // A commit against a stale version fails and leaves everything as it was.
    let r2 = s.reserve(&t, &c2.id, Duration::seconds(TTL), &by("u")).await.expect("r2");
    assert_eq!(s.commit_stamp(&t, &r2, 5, stamp_of(&c2), &by("u")).await, Err(StoreError::Conflict));
    assert_eq!(s.get(&t, &c2.id).await.expect("get").expect("c2").status, CertificateStatus::Sellado);
    s.release(&t, &r2, &by("u")).await.expect("release");
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 1, reserved: 0, consumed: 1 });
    let kinds: Vec<LedgerKind> = s.ledger(&t, None).await.expect("ledger").iter().map(|e| e.kind).collect();
    use LedgerKind::*;
    assert_eq!(kinds, [Added, Reserved, Released, Reserved, Consumed, Reserved, Released]);
    assert_eq!(s.ledger(&t, Some(&c2.id)).await.expect("ledger").len(), 2);
    // With no credits left, a reservation is refused and nothing moves.
    let r = s.reserve(&t, &c2.id, Duration::seconds(TTL), &by("u")).await.expect("last credit");
    s.commit_stamp(&t, &r, 0, stamp_of(&c2), &by("u")).await.expect("commit");
    let c3 = sealed_certificate("E3");
    s.create(&t, &c3, &by("prueba")).await.expect("create");
    assert_eq!(s.reserve(&t, &c3.id, Duration::seconds(TTL), &by("u")).await, Err(StoreError::NoCredits));
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 0, reserved: 0, consumed: 2 });
}

/// 200 concurrent stamping attempts over 100 students with 60 credits →
/// exactly 60 Timbrado, balance 0, 60 consumptions in the ledger, and no
/// outcome but "stamped", "no credits" or "lost the race".
pub async fn the_credit_invariant_holds_under_concurrency<S>(s: &S)
where
    S: CertificateStore + CreditStore + Clone + 'static,
{
    let t = fresh_tenant("concurrencia");
    s.add_credits(&t, 60, &by("admin")).await.expect("credits");
    let mut certificates = Vec::new();
    for i in 0..100 {
        let c = sealed_certificate(&format!("F{i:03}"));
        s.create(&t, &c, &by("prueba")).await.expect("create");
        certificates.push(c);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for attempt in 0..200 {
        let (s, t, c) = (s.clone(), t.clone(), certificates[attempt % 100].clone());
        tasks.spawn(async move {
            let r = match s.reserve(&t, &c.id, Duration::seconds(TTL), &by("concurrente")).await {
                Ok(r) => r,
                Err(StoreError::NoCredits) => return "no_credits",
                Err(StoreError::Conflict) => return "lost_race",
                Err(e) => panic!("unexpected error reserving: {e:?}"),
            };
            let current = s.get(&t, &c.id).await.expect("get").expect("exists");
            match s.commit_stamp(&t, &r, current.version, stamp_of(&c), &by("concurrente")).await {
                Ok(_) => "stamped",
                Err(StoreError::Conflict) => {
                    s.release(&t, &r, &by("concurrente")).await.expect("release");
                    "lost_race"
                }
                Err(e) => panic!("unexpected error committing: {e:?}"),
            }
        });
    }
    let mut stamped = 0;
    while let Some(outcome) = tasks.join_next().await {
        if outcome.expect("task") == "stamped" {
            stamped += 1;
        }
    }
    assert_eq!(stamped, 60);
    let mut timbrado = 0;
    for c in &certificates {
        if s.get(&t, &c.id).await.expect("get").expect("exists").status == CertificateStatus::Timbrado {
            timbrado += 1;
        }
    }
    assert_eq!(timbrado, 60);
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 0, reserved: 0, consumed: 60 });
    let ledger = s.ledger(&t, None).await.expect("ledger");
    assert_eq!(ledger.iter().filter(|e| e.kind == LedgerKind::Consumed).count(), 60);
    let count = |k: LedgerKind| ledger.iter().filter(|e| e.kind == k).count();
    assert_eq!(
        count(LedgerKind::Reserved),
        count(LedgerKind::Consumed) + count(LedgerKind::Released) + count(LedgerKind::Expired)
    );
}

/// A reservation whose holder crashed (never committed nor released) expires
/// and its credit returns; a later attempt stamps with a new one.
pub async fn reservations_of_a_crashed_invocation_expire_and_are_released<S: CertificateStore + CreditStore>(s: &S) {
    let t = fresh_tenant("caida");
    s.add_credits(&t, 1, &by("admin")).await.expect("credits");
    let c = sealed_certificate("G1");
    s.create(&t, &c, &by("prueba")).await.expect("create");
    let crashed = s.reserve(&t, &c.id, Duration::seconds(30), &by("lambda-caida")).await.expect("reserve");
    // The invocation dies here. Before the expiry nothing is listed.
    assert_eq!(s.expired_reservations(&t, Utc::now()).await.expect("sweep"), []);
    assert_eq!(s.balance(&t).await.expect("b").reserved, 1);
    let expired = s.expired_reservations(&t, Utc::now() + Duration::seconds(31)).await.expect("sweep");
    let listed: Vec<_> = expired.iter().map(|r| (r.id.as_str(), r.certificate_id.as_str())).collect();
    assert_eq!(listed, [(crashed.id.as_str(), c.id.as_str())]);
    assert_eq!(expired[0].expires_at.timestamp_millis(), crashed.expires_at.timestamp_millis());
    assert!(s.expire(&t, &crashed).await.expect("expire"));
    assert!(!s.expire(&t, &crashed).await.expect("expire again"), "settled once");
    assert_eq!(s.expired_reservations(&t, Utc::now() + Duration::seconds(31)).await.expect("sweep"), []);
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 1, reserved: 0, consumed: 0 });
    // The crashed holder cannot commit later with its expired reservation.
    assert!(matches!(
        s.commit_stamp(&t, &crashed, 0, stamp_of(&c), &by("lambda-caida")).await,
        Err(StoreError::ReservationGone(_))
    ));
    let done = stamp(s, &t, &c).await;
    assert_eq!(done.status, CertificateStatus::Timbrado);
    let kinds: Vec<LedgerKind> = s.ledger(&t, Some(&c.id)).await.expect("ledger").iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [LedgerKind::Reserved, LedgerKind::Expired, LedgerKind::Reserved, LedgerKind::Consumed]);
}

/// Sealed and credit held in one write: the certificate holds the credit
/// (its stamp commits with it); with no credit it is stored alone, Sellado,
/// and nothing moves; a student already certified is refused and nothing
/// moves either.
pub async fn a_certificate_is_recorded_with_its_credit_held<S: CertificateStore + CreditStore>(s: &S) {
    let t = fresh_tenant("sellado-con-credito");
    s.add_credits(&t, 2, &by("admin")).await.expect("credits");
    let c1 = sealed_certificate("H1");
    let held = s.create_holding(&t, &c1, Duration::seconds(TTL), &by("u")).await.expect("create");
    let r1 = held.expect("a credit was available");
    assert_eq!(r1.certificate_id, c1.id);
    assert_eq!(s.get(&t, &c1.id).await.expect("get").expect("c1").status, CertificateStatus::Sellado);
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 1, reserved: 1, consumed: 0 });
    assert_eq!(
        s.reserve(&t, &c1.id, Duration::seconds(TTL), &by("u")).await,
        Err(StoreError::Conflict),
        "the certificate already holds its credit"
    );
    let done = s.commit_stamp(&t, &r1, 0, stamp_of(&c1), &by("u")).await.expect("commit");
    assert_eq!(done.status, CertificateStatus::Timbrado);
    let c0 = sealed_certificate("H0");
    let r0 =
        s.create_holding(&t, &c0, Duration::seconds(TTL), &by("u")).await.expect("create").expect("the last credit");
    s.commit_stamp(&t, &r0, 0, stamp_of(&c0), &by("u")).await.expect("commit");
    // No credit left: recorded alone.
    let c2 = sealed_certificate("H2");
    assert_eq!(s.create_holding(&t, &c2, Duration::seconds(TTL), &by("u")).await, Ok(None));
    assert_eq!(s.get(&t, &c2.id).await.expect("get").expect("c2").status, CertificateStatus::Sellado);
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 0, reserved: 0, consumed: 2 });
    assert!(s.expired_reservations(&t, Utc::now() + Duration::seconds(2 * TTL)).await.expect("expired").is_empty());
    // The same student again, with a credit to take: refused, and the credit stays.
    s.add_credits(&t, 1, &by("admin")).await.expect("credits");
    let again = sealed_certificate("H2");
    assert!(matches!(
        s.create_holding(&t, &again, Duration::seconds(TTL), &by("u")).await,
        Err(StoreError::AlreadyIssued(_))
    ));
    assert_eq!(s.get(&t, &again.id).await.expect("get"), None);
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 1, reserved: 0, consumed: 2 });
    // The one left Sellado takes the credit when it comes.
    let r2 = s.reserve(&t, &c2.id, Duration::seconds(TTL), &by("u")).await.expect("reserve");
    s.commit_stamp(&t, &r2, 0, stamp_of(&c2), &by("u")).await.expect("commit");
    let kinds: Vec<LedgerKind> = s.ledger(&t, None).await.expect("ledger").iter().map(|e| e.kind).collect();
    use LedgerKind::*;
    assert_eq!(kinds, [Added, Reserved, Consumed, Reserved, Consumed, Added, Reserved, Consumed]);
}

//! One conformance suite for every adapter of the storage ports: each check
//! is an async function generic over the ports, and
//! [`conformance_tests!`] turns them into `#[tokio::test]`s for one adapter.
//! Each check works in fresh tenants, so adapters may share one store.

use certifica_core::ports::{ArtifactKind, ArtifactStore, CertificateStore, CreditStore, IdempotencyStore, StoreError};
use certifica_core::records::*;
use chrono::{Duration, NaiveDate, Utc};

/// A tenant no other check uses.
pub fn fresh_tenant(label: &str) -> Tenant {
    Tenant::from_verified_identity(&format!("{label}-{}", uuid::Uuid::new_v4().simple()))
}

/// A just-sealed certificate of student `control` (school `esc`, cycle `2026`, plan `lae`).
pub fn sealed_certificate(control: &str) -> CertificateRecord {
    CertificateRecord {
        id: uuid::Uuid::new_v4().to_string(),
        school_id: "esc".into(),
        cycle_id: "2026".into(),
        plan_id: "lae".into(),
        control_number: control.into(),
        status: CertificateStatus::Sellado,
        version: 0,
        folio_control: format!("FC-{control}"),
        folio_digital: None,
        issue_date: NaiveDate::from_ymd_opt(2026, 7, 15).unwrap_or_default(),
        created_at: Utc::now(),
        stamped_at: None,
        artifacts: ArtifactRefs { sealed_xml: Some(format!("sealed/{control}.xml")), ..ArtifactRefs::default() },
        grades_edited: false,
        last_error: None,
        cancellation: None,
    }
}

fn stamp_of(c: &CertificateRecord) -> StampCommit {
    StampCommit {
        folio_digital: uuid::Uuid::new_v4().to_string(),
        stamped_at: Utc::now(),
        stamped_xml: format!("stamped/{}.xml", c.control_number),
        pdf: format!("pdf/{}.pdf", c.control_number),
        receipt: None,
    }
}

const TTL: i64 = 900;

/// Reserves, stamps and commits one certificate; returns the stamped record.
async fn stamp<S: CertificateStore + CreditStore>(s: &S, t: &Tenant, c: &CertificateRecord) -> CertificateRecord {
    let r = s.reserve(t, &c.id, Duration::seconds(TTL), "prueba").await.expect("reserve");
    s.commit_stamp(t, &r, c.version, stamp_of(c), "prueba").await.expect("commit")
}

pub async fn a_second_active_certificate_for_a_student_is_refused<S: CertificateStore>(s: &S) {
    let t = fresh_tenant("activo");
    let first = sealed_certificate("A1");
    s.create(&t, &first).await.expect("create");
    let second = sealed_certificate("A1");
    assert!(matches!(s.create(&t, &second).await, Err(StoreError::AlreadyIssued(_))));
    assert_eq!(s.get(&t, &first.id).await.expect("get"), Some(first));
    assert_eq!(s.get(&t, &second.id).await.expect("get"), None);
}

pub async fn transitions_apply_only_from_the_expected_state_and_version<S: CertificateStore>(s: &S) {
    let t = fresh_tenant("transicion");
    let c = sealed_certificate("B1");
    s.create(&t, &c).await.expect("create");
    // Stale version loses.
    let stale = s.transition(&t, &c.id, 7, Transition::StampFailed { message: "x".into() }).await;
    assert_eq!(stale, Err(StoreError::Conflict));
    // Wrong state loses (only Error can be resealed).
    let wrong = s.transition(&t, &c.id, 0, Transition::Resealed { sealed_xml: "k".into() }).await;
    assert_eq!(wrong, Err(StoreError::Conflict));
    let failed = s
        .transition(&t, &c.id, 0, Transition::StampFailed { message: "Autoridad no disponible".into() })
        .await
        .expect("fail");
    assert_eq!((failed.status, failed.version), (CertificateStatus::Error, 1));
    assert_eq!(failed.last_error.as_deref(), Some("Autoridad no disponible"));
    // Two requests racing from the same version: exactly one wins.
    let (a, b) = tokio::join!(
        s.transition(&t, &c.id, 1, Transition::Resealed { sealed_xml: "a".into() }),
        s.transition(&t, &c.id, 1, Transition::Resealed { sealed_xml: "b".into() }),
    );
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    assert!(matches!(a.err().or(b.err()), Some(StoreError::Conflict)));
    let now = s.get(&t, &c.id).await.expect("get").expect("exists");
    assert_eq!((now.status, now.version), (CertificateStatus::Sellado, 2));
}

pub async fn a_cancelled_student_can_be_certified_again<S: CertificateStore + CreditStore>(s: &S) {
    let t = fresh_tenant("cancelado");
    s.add_credits(&t, 2, "prueba").await.expect("credits");
    let c = sealed_certificate("C1");
    s.create(&t, &c).await.expect("create");
    let stamped = stamp(s, &t, &c).await;
    let cancellation = Cancellation {
        motive: certifica_core::catalogs::MotivoCancelacion::CambioNombre,
        reason: Some("Corrección de nombre".into()),
        by: "control.escolar@example.mx".into(),
        at: Utc::now(),
    };
    let cancelled = s
        .transition(
            &t,
            &c.id,
            stamped.version,
            Transition::Cancelled { cancellation: cancellation.clone(), pdf: "pdf/C1-cancelado.pdf".into() },
        )
        .await
        .expect("cancel");
    assert_eq!(cancelled.status, CertificateStatus::Cancelado);
    assert_eq!(cancelled.cancellation, Some(cancellation));
    assert_eq!(cancelled.folio_digital, stamped.folio_digital, "the folio stays for verification");
    // Only Timbrado can be cancelled.
    let again = s
        .transition(
            &t,
            &c.id,
            cancelled.version,
            Transition::Cancelled { cancellation: cancelled.cancellation.clone().expect("set"), pdf: "x".into() },
        )
        .await;
    assert_eq!(again, Err(StoreError::Conflict));
    let reissue = sealed_certificate("C1");
    s.create(&t, &reissue).await.expect("a new certificate after cancelling");
}

pub async fn the_folio_lookup_answers_the_owner_and_tenants_never_see_each_other<S: CertificateStore + CreditStore>(
    s: &S,
) {
    let (a, b) = (fresh_tenant("inst-a"), fresh_tenant("inst-b"));
    s.add_credits(&a, 1, "prueba").await.expect("credits");
    let c = sealed_certificate("D1");
    s.create(&a, &c).await.expect("create");
    // Tenant B cannot read, change, reserve for or stamp A's certificate.
    assert_eq!(s.get(&b, &c.id).await.expect("get"), None);
    assert!(s.transition(&b, &c.id, 0, Transition::StampFailed { message: "x".into() }).await.is_err());
    s.add_credits(&b, 1, "b").await.expect("credits");
    assert!(matches!(s.reserve(&b, &c.id, Duration::seconds(TTL), "b").await, Err(StoreError::NotFound(_))));
    assert_eq!(s.balance(&b).await.expect("b").available, 1, "nothing held for a certificate B does not own");
    // The same ids in B are B's own, unrelated records.
    s.create(&b, &sealed_certificate("D1")).await.expect("B has its own D1");
    let stamped = stamp(s, &a, &c).await;
    let folio = stamped.folio_digital.clone().expect("folio");
    let (owner, found) = s.by_folio(&folio).await.expect("lookup").expect("found");
    assert_eq!((owner, found), (a.clone(), stamped));
    assert_eq!(s.by_folio(&uuid::Uuid::new_v4().to_string()).await.expect("lookup"), None);
    assert!(s.ledger(&b, Some(&c.id)).await.expect("ledger").iter().all(|e| e.actor == "b"));
    assert_eq!(s.balance(&b).await.expect("b").consumed, 0);
}

pub async fn reserve_commit_and_release_keep_balance_and_ledger<S: CertificateStore + CreditStore>(s: &S) {
    let t = fresh_tenant("creditos");
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 0, reserved: 0, consumed: 0 });
    s.add_credits(&t, 2, "admin").await.expect("credits");
    let (c1, c2) = (sealed_certificate("E1"), sealed_certificate("E2"));
    s.create(&t, &c1).await.expect("create");
    s.create(&t, &c2).await.expect("create");
    let r1 = s.reserve(&t, &c1.id, Duration::seconds(TTL), "u").await.expect("r1");
    assert_eq!(
        s.reserve(&t, &c1.id, Duration::seconds(TTL), "u").await,
        Err(StoreError::Conflict),
        "one live reservation per certificate"
    );
    assert!(matches!(s.reserve(&t, "no-existe", Duration::seconds(TTL), "u").await, Err(StoreError::NotFound(_))));
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 1, reserved: 1, consumed: 0 });
    // Stamping failed: the credit comes back; releasing twice changes nothing.
    s.release(&t, &r1, "u").await.expect("release");
    s.release(&t, &r1, "u").await.expect("release again");
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 2, reserved: 0, consumed: 0 });
    assert!(matches!(s.commit_stamp(&t, &r1, 0, stamp_of(&c1), "u").await, Err(StoreError::ReservationGone(_))));
    let done = stamp(s, &t, &c1).await;
    assert_eq!((done.status, done.version), (CertificateStatus::Timbrado, 1));
    assert_eq!(
        s.reserve(&t, &c1.id, Duration::seconds(TTL), "u").await,
        Err(StoreError::Conflict),
        "already stamped: no credit held"
    );
    // A commit against a stale version fails and leaves everything as it was.
    let r2 = s.reserve(&t, &c2.id, Duration::seconds(TTL), "u").await.expect("r2");
    assert_eq!(s.commit_stamp(&t, &r2, 5, stamp_of(&c2), "u").await, Err(StoreError::Conflict));
    assert_eq!(s.get(&t, &c2.id).await.expect("get").expect("c2").status, CertificateStatus::Sellado);
    s.release(&t, &r2, "u").await.expect("release");
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 1, reserved: 0, consumed: 1 });
    let kinds: Vec<LedgerKind> = s.ledger(&t, None).await.expect("ledger").iter().map(|e| e.kind).collect();
    use LedgerKind::*;
    assert_eq!(kinds, [Added, Reserved, Released, Reserved, Consumed, Reserved, Released]);
    assert_eq!(s.ledger(&t, Some(&c2.id)).await.expect("ledger").len(), 2);
    // With no credits left, a reservation is refused and nothing moves.
    let r = s.reserve(&t, &c2.id, Duration::seconds(TTL), "u").await.expect("last credit");
    s.commit_stamp(&t, &r, 0, stamp_of(&c2), "u").await.expect("commit");
    let c3 = sealed_certificate("E3");
    s.create(&t, &c3).await.expect("create");
    assert_eq!(s.reserve(&t, &c3.id, Duration::seconds(TTL), "u").await, Err(StoreError::NoCredits));
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
    s.add_credits(&t, 60, "admin").await.expect("credits");
    let mut certificates = Vec::new();
    for i in 0..100 {
        let c = sealed_certificate(&format!("F{i:03}"));
        s.create(&t, &c).await.expect("create");
        certificates.push(c);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for attempt in 0..200 {
        let (s, t, c) = (s.clone(), t.clone(), certificates[attempt % 100].clone());
        tasks.spawn(async move {
            let r = match s.reserve(&t, &c.id, Duration::seconds(TTL), "concurrente").await {
                Ok(r) => r,
                Err(StoreError::NoCredits) => return "no_credits",
                Err(StoreError::Conflict) => return "lost_race",
                Err(e) => panic!("unexpected error reserving: {e:?}"),
            };
            let current = s.get(&t, &c.id).await.expect("get").expect("exists");
            match s.commit_stamp(&t, &r, current.version, stamp_of(&c), "concurrente").await {
                Ok(_) => "stamped",
                Err(StoreError::Conflict) => {
                    s.release(&t, &r, "concurrente").await.expect("release");
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
    s.add_credits(&t, 1, "admin").await.expect("credits");
    let c = sealed_certificate("G1");
    s.create(&t, &c).await.expect("create");
    let crashed = s.reserve(&t, &c.id, Duration::seconds(30), "lambda-caida").await.expect("reserve");
    // The invocation dies here. Before the expiry nothing is released.
    assert_eq!(s.release_expired(&t, Utc::now()).await.expect("sweep"), 0);
    assert_eq!(s.balance(&t).await.expect("b").reserved, 1);
    assert_eq!(s.release_expired(&t, Utc::now() + Duration::seconds(31)).await.expect("sweep"), 1);
    assert_eq!(s.balance(&t).await.expect("b"), CreditBalance { available: 1, reserved: 0, consumed: 0 });
    // The crashed holder cannot commit later with its expired reservation.
    assert!(matches!(
        s.commit_stamp(&t, &crashed, 0, stamp_of(&c), "lambda-caida").await,
        Err(StoreError::ReservationGone(_))
    ));
    let done = stamp(s, &t, &c).await;
    assert_eq!(done.status, CertificateStatus::Timbrado);
    let kinds: Vec<LedgerKind> = s.ledger(&t, Some(&c.id)).await.expect("ledger").iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [LedgerKind::Reserved, LedgerKind::Expired, LedgerKind::Reserved, LedgerKind::Consumed]);
}

pub async fn an_idempotent_retry_returns_the_first_result<S: IdempotencyStore>(s: &S) {
    let t = fresh_tenant("idempotencia");
    let ttl = Duration::hours(24);
    assert_eq!(s.begin(&t, "clave-1", ttl).await.expect("begin"), IdempotencyState::Started);
    assert_eq!(s.begin(&t, "clave-1", ttl).await.expect("begin"), IdempotencyState::InProgress);
    s.complete(&t, "clave-1", r#"{"timbrados":3}"#).await.expect("complete");
    assert_eq!(
        s.begin(&t, "clave-1", ttl).await.expect("begin"),
        IdempotencyState::Completed(r#"{"timbrados":3}"#.into())
    );
    assert_eq!(s.complete(&t, "clave-1", "otra").await, Err(StoreError::Conflict), "the first answer is kept");
    // Keys are per tenant.
    let other = fresh_tenant("idempotencia-b");
    assert_eq!(s.begin(&other, "clave-1", ttl).await.expect("begin"), IdempotencyState::Started);
    // A failed call gives its key up; an expired record is claimable again.
    s.abandon(&other, "clave-1").await.expect("abandon");
    assert_eq!(s.begin(&other, "clave-1", ttl).await.expect("begin"), IdempotencyState::Started);
    assert_eq!(s.begin(&t, "corta", Duration::milliseconds(-1)).await.expect("begin"), IdempotencyState::Started);
    assert_eq!(s.begin(&t, "corta", ttl).await.expect("begin"), IdempotencyState::Started);
}

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
    assert!(s.link(&b, &stored.key, Duration::minutes(5)).await.is_err());
}

pub async fn artifact_names_cannot_escape_their_place<S: ArtifactStore>(s: &S) {
    let t = fresh_tenant("nombres");
    for bad in ["../otro/x.pdf", "/abs.pdf", "a//b.pdf", "a/./b.pdf", "", "espacio nombre.pdf", "a\\b.pdf"] {
        assert!(s.put(&t, ArtifactKind::Pdf, bad, b"x".to_vec(), "application/pdf").await.is_err(), "{bad:?} accepted");
        assert!(s.get(&t, &format!("pdf/{bad}")).await.is_err(), "{bad:?} readable");
    }
}

/// Generates one `#[tokio::test]` per artifact check for the store built by `$make`.
#[macro_export]
macro_rules! artifact_conformance_tests {
    ($make:expr) => {
        #[tokio::test]
        async fn artifacts_are_versioned_and_kept() {
            $crate::artifacts_are_versioned_and_kept(&$make.await).await
        }
        #[tokio::test]
        async fn artifacts_of_one_tenant_are_invisible_to_another() {
            $crate::artifacts_of_one_tenant_are_invisible_to_another(&$make.await).await
        }
        #[tokio::test]
        async fn artifact_names_cannot_escape_their_place() {
            $crate::artifact_names_cannot_escape_their_place(&$make.await).await
        }
    };
}

/// Generates one `#[tokio::test]` per check for the adapter built by `$make`
/// (an expression evaluating to a future of the store).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_second_active_certificate_for_a_student_is_refused() {
            $crate::a_second_active_certificate_for_a_student_is_refused(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn transitions_apply_only_from_the_expected_state_and_version() {
            $crate::transitions_apply_only_from_the_expected_state_and_version(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_cancelled_student_can_be_certified_again() {
            $crate::a_cancelled_student_can_be_certified_again(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_folio_lookup_answers_the_owner_and_tenants_never_see_each_other() {
            $crate::the_folio_lookup_answers_the_owner_and_tenants_never_see_each_other(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn reserve_commit_and_release_keep_balance_and_ledger() {
            $crate::reserve_commit_and_release_keep_balance_and_ledger(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_credit_invariant_holds_under_concurrency() {
            $crate::the_credit_invariant_holds_under_concurrency(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn reservations_of_a_crashed_invocation_expire_and_are_released() {
            $crate::reservations_of_a_crashed_invocation_expire_and_are_released(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn an_idempotent_retry_returns_the_first_result() {
            $crate::an_idempotent_retry_returns_the_first_result(&$make.await).await
        }
    };
}

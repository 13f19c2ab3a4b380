//! `CertificateStore`: one active certificate per student, changes only
//! from the expected state and version, the folio lookup, a student's history.

use crate::fixtures::{TTL, by, fresh_tenant, resealed, sealed_certificate, stamp, stamp_of};
use certifica_core::catalogs::MotivoCancelacion;
use certifica_core::ports::{CertificateStore, CreditStore, StoreError};
use certifica_core::records::{Cancellation, CertificateStatus, StampCommit, Transition};
use chrono::{Duration, Utc};

pub async fn a_second_active_certificate_for_a_student_is_refused<S: CertificateStore>(s: &S) {
    let t = fresh_tenant("activo");
    let first = sealed_certificate("A1");
    s.create(&t, &first, &by("prueba")).await.expect("create");
    let second = sealed_certificate("A1");
    assert!(matches!(s.create(&t, &second, &by("prueba")).await, Err(StoreError::AlreadyIssued(_))));
    assert_eq!(s.get(&t, &first.id).await.expect("get"), Some(first));
    assert_eq!(s.get(&t, &second.id).await.expect("get"), None);
}

pub async fn transitions_apply_only_from_the_expected_state_and_version<S: CertificateStore>(s: &S) {
    let t = fresh_tenant("transicion");
    let c = sealed_certificate("B1");
    s.create(&t, &c, &by("prueba")).await.expect("create");
    // Stale version loses.
    let stale = s.transition(&t, &c.id, 7, Transition::StampFailed { message: "x".into() }, &by("prueba")).await;
    assert_eq!(stale, Err(StoreError::Conflict));
    // Wrong state loses (only Error can be resealed).
    let wrong = s.transition(&t, &c.id, 0, resealed("k"), &by("prueba")).await;
    assert_eq!(wrong, Err(StoreError::Conflict));
    let failed = s
        .transition(&t, &c.id, 0, Transition::StampFailed { message: "Autoridad no disponible".into() }, &by("prueba"))
        .await
        .expect("fail");
    assert_eq!((failed.status, failed.version), (CertificateStatus::Error, 1));
    assert_eq!(failed.last_error.as_deref(), Some("Autoridad no disponible"));
    // Two requests racing from the same version: exactly one wins.
    let (first, second) = (by("uno"), by("dos"));
    let (a, b) = tokio::join!(
        s.transition(&t, &c.id, 1, resealed("a"), &first),
        s.transition(&t, &c.id, 1, resealed("b"), &second),
    );
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    assert!(matches!(a.err().or(b.err()), Some(StoreError::Conflict)));
    let now = s.get(&t, &c.id).await.expect("get").expect("exists");
    assert_eq!((now.status, now.version), (CertificateStatus::Sellado, 2));
    // The resealed certificate carries the new document, its date and flag, and no stale message.
    assert!(matches!(now.artifacts.sealed_xml.as_deref(), Some("a" | "b")));
    assert_eq!(now.issue_date, chrono::NaiveDate::from_ymd_opt(2026, 7, 20).expect("date"));
    assert!(now.grades_edited);
    assert_eq!(now.last_error, None);
}

pub async fn a_cancelled_student_can_be_certified_again<S: CertificateStore + CreditStore>(s: &S) {
    let t = fresh_tenant("cancelado");
    s.add_credits(&t, 2, &by("prueba")).await.expect("credits");
    let c = sealed_certificate("C1");
    s.create(&t, &c, &by("prueba")).await.expect("create");
    let stamped = stamp(s, &t, &c).await;
    let cancellation = Cancellation {
        motive: certifica_core::catalogs::MotivoCancelacion::CambioNombre,
        reason: Some("Corrección de nombre".into()),
        by: "control.escolar@example.mx".into(),
        by_email: None,
        at: Utc::now(),
    };
    let cancelled = s
        .transition(
            &t,
            &c.id,
            stamped.version,
            Transition::Cancelled { cancellation: cancellation.clone(), pdf: "pdf/C1-cancelado.pdf".into() },
            &by("control.escolar@example.mx"),
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
            &by("prueba"),
        )
        .await;
    assert_eq!(again, Err(StoreError::Conflict));
    let reissue = sealed_certificate("C1");
    s.create(&t, &reissue, &by("prueba")).await.expect("a new certificate after cancelling");
}

pub async fn the_folio_lookup_answers_the_owner_and_tenants_never_see_each_other<S: CertificateStore + CreditStore>(
    s: &S,
) {
    let (a, b) = (fresh_tenant("inst-a"), fresh_tenant("inst-b"));
    s.add_credits(&a, 1, &by("prueba")).await.expect("credits");
    let c = sealed_certificate("D1");
    s.create(&a, &c, &by("prueba")).await.expect("create");
    // Tenant B cannot read, change, reserve for or stamp A's certificate.
    assert_eq!(s.get(&b, &c.id).await.expect("get"), None);
    assert!(s.transition(&b, &c.id, 0, Transition::StampFailed { message: "x".into() }, &by("prueba")).await.is_err());
    s.add_credits(&b, 1, &by("b")).await.expect("credits");
    assert!(matches!(s.reserve(&b, &c.id, Duration::seconds(TTL), &by("b")).await, Err(StoreError::NotFound(_))));
    assert_eq!(s.balance(&b).await.expect("b").available, 1, "nothing held for a certificate B does not own");
    // The same ids in B are B's own, unrelated records.
    s.create(&b, &sealed_certificate("D1"), &by("prueba")).await.expect("B has its own D1");
    let stamped = stamp(s, &a, &c).await;
    let folio = stamped.folio_digital.clone().expect("folio");
    let (owner, found) = s.by_folio(&folio).await.expect("lookup").expect("found");
    assert_eq!((owner, found), (a.clone(), stamped));
    assert_eq!(s.by_folio(&uuid::Uuid::new_v4().to_string()).await.expect("lookup"), None);
    assert!(s.ledger(&b, Some(&c.id)).await.expect("ledger").iter().all(|e| e.actor == "b"));
    assert_eq!(s.balance(&b).await.expect("b").consumed, 0);
}

pub async fn a_students_certificates_are_its_history<S: CertificateStore + CreditStore>(s: &S) {
    let t = fresh_tenant("historia");
    s.add_credits(&t, 1, &by("admin")).await.expect("credits");
    let first = sealed_certificate("K1");
    s.create(&t, &first, &by("e")).await.expect("create");
    s.create(&t, &sealed_certificate("K2"), &by("e")).await.expect("create");
    let stamped = stamp(s, &t, &first).await;
    let cancellation =
        Cancellation { motive: MotivoCancelacion::Otro, reason: None, by: "e".into(), by_email: None, at: Utc::now() };
    s.transition(&t, &first.id, stamped.version, Transition::Cancelled { cancellation, pdf: "p".into() }, &by("e"))
        .await
        .expect("cancel");
    let mut second = sealed_certificate("K1");
    second.created_at = Utc::now() + Duration::seconds(1);
    s.create(&t, &second, &by("e")).await.expect("reissue");
    let history = s.student_certificates(&t, "esc", "2026", "K1").await.expect("history");
    assert_eq!(
        history.iter().map(|c| (c.id.clone(), c.status)).collect::<Vec<_>>(),
        [(first.id.clone(), CertificateStatus::Cancelado), (second.id.clone(), CertificateStatus::Sellado)]
    );
    assert!(s.student_certificates(&fresh_tenant("x"), "esc", "2026", "K1").await.expect("history").is_empty());
}

/// A folio digital identifies one certificate of one institution: a second
/// commit of the same folio (forged or repeated, in any tenant) is refused
/// and consumes nothing, and the public lookup keeps answering the first.
pub async fn a_folio_digital_belongs_to_one_certificate<S: CertificateStore + CreditStore>(s: &S) {
    let (first, second) = (fresh_tenant("folio-a"), fresh_tenant("folio-b"));
    let folio = uuid::Uuid::new_v4().to_string();
    let mut committed = Vec::new();
    for t in [&first, &second] {
        s.add_credits(t, 1, &by("admin")).await.expect("credits");
        let c = sealed_certificate("F1");
        s.create(t, &c, &by("prueba")).await.expect("create");
        let r = s.reserve(t, &c.id, Duration::seconds(TTL), &by("prueba")).await.expect("reserve");
        let commit = StampCommit { folio_digital: folio.clone(), ..stamp_of(&c) };
        committed.push((c.id.clone(), s.commit_stamp(t, &r, 0, commit, &by("prueba")).await));
    }
    assert!(committed[0].1.is_ok(), "{:?}", committed[0].1);
    assert_eq!(committed[1].1, Err(StoreError::Conflict), "the same folio again is refused");
    let (owner, found) = s.by_folio(&folio).await.expect("lookup").expect("found");
    assert_eq!((owner, found.id), (first.clone(), committed[0].0.clone()));
    let refused = s.get(&second, &committed[1].0).await.expect("get").expect("exists");
    assert_eq!((refused.status, refused.folio_digital), (CertificateStatus::Sellado, None));
    assert_eq!(s.balance(&second).await.expect("balance").consumed, 0);
}

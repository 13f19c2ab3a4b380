//! `AuditStore` with the ledger: every certificate change is audited.

use crate::fixtures::{by, fresh_tenant, resealed, sealed_certificate, stamp};
use certifica_core::catalogs::MotivoCancelacion;
use certifica_core::ports::{AuditStore, CertificateStore, CreditStore};
use certifica_core::records::AuditAction;
use certifica_core::records::{AuditEntry, Cancellation, LedgerKind, Transition};
use chrono::Utc;

pub(crate) fn expected_certs(issued: &[usize]) -> Vec<String> {
    issued.iter().map(|i| format!("G{i:04}")).collect()
}

pub async fn every_certificate_change_is_audited_with_its_ledger<S>(s: &S)
where
    S: CertificateStore + CreditStore + AuditStore,
{
    let (t, other) = (fresh_tenant("auditoria"), fresh_tenant("auditoria-b"));
    s.add_credits(&t, 1, &by("admin")).await.expect("credits");
    let c = sealed_certificate("H1");
    let issuer = by("emisor@uva.edu.mx");
    s.create(&t, &c, &issuer).await.expect("create");
    let failed = s
        .transition(&t, &c.id, 0, Transition::StampFailed { message: "Autoridad no disponible".into() }, &issuer)
        .await
        .expect("fail");
    let resealed = s.transition(&t, &c.id, failed.version, resealed("s2"), &issuer).await.expect("reseal");
    let stamped = stamp(s, &t, &resealed).await;
    // Who is the token's subject; the email only travels along for display.
    let canceller = by("a7f3c2e0-sub-director").with_email(Some("director@uva.edu.mx".into()));
    let cancellation = Cancellation {
        motive: MotivoCancelacion::CambioNombre,
        reason: Some("Corrección de nombre".into()),
        by: canceller.user.clone(),
        by_email: canceller.email.clone(),
        at: Utc::now(),
    };
    s.transition(
        &t,
        &c.id,
        stamped.version,
        Transition::Cancelled { cancellation, pdf: "pdf/h1-c.pdf".into() },
        &canceller,
    )
    .await
    .expect("cancel");
    s.record(&t, &AuditEntry::of_certificate(&issuer, AuditAction::Emailed, &stamped, "ana@x.mx"))
        .await
        .expect("record");
    let trail = s.audit_of_certificate(&t, &c.id).await.expect("audit");
    let actions: Vec<AuditAction> = trail.iter().map(|e| e.action).collect();
    use AuditAction::*;
    assert_eq!(actions, [Sealed, StampFailed, Resealed, Stamped, Cancelled, Emailed]);
    assert_eq!(trail[1].detail, "Autoridad no disponible");
    assert_eq!(trail[3].detail, stamped.folio_digital.clone().expect("folio"));
    assert_eq!(trail[4].detail, "R3 Cambio o modificación del nombre: Corrección de nombre");
    assert_eq!(
        (trail[4].actor.as_str(), trail[4].request_id.as_str()),
        (canceller.user.as_str(), canceller.request_id.as_str())
    );
    assert_eq!(trail[4].actor_email.as_deref(), Some("director@uva.edu.mx"));
    assert_eq!(trail[0].actor_email, None);
    assert!(trail[..3].iter().all(|e| e.request_id == issuer.request_id));
    assert_eq!(s.audit_of_student(&t, "esc", "2026", "H1").await.expect("audit"), trail);
    let ledger = s.ledger(&t, Some(&c.id)).await.expect("ledger");
    assert_eq!(ledger.iter().map(|e| e.kind).collect::<Vec<_>>(), [LedgerKind::Reserved, LedgerKind::Consumed]);
    assert!(
        ledger.iter().all(|e| e.certificate_id.as_deref() == Some(c.id.as_str()) && e.request_id.starts_with("req-"))
    );
    // Another institution reads nothing of it.
    assert!(s.audit_of_certificate(&other, &c.id).await.expect("audit").is_empty());
    assert!(s.audit_of_student(&other, "esc", "2026", "H1").await.expect("audit").is_empty());
    assert!(s.ledger(&other, Some(&c.id)).await.expect("ledger").is_empty());
}

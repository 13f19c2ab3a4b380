//! One conformance suite for every adapter of the storage ports: each check
//! is an async function generic over the ports, and
//! [`conformance_tests!`] turns them into `#[tokio::test]`s for one adapter.
//! Each check works in fresh tenants, so adapters may share one store.

use certifica_core::catalogs::{Cargo, EntidadFederativa, MotivoCancelacion, NivelEstudios, Observacion, TipoPeriodo};
use certifica_core::mail::{Attachment, Mail, MailError, Sender};
use certifica_core::model::*;
use certifica_core::numbers::Decimal2;
use certifica_core::ports::{
    ArtifactKind, ArtifactStore, ArtifactWriter, AuditStore, CertificateStore, CreditStore, IdempotencyStore,
    InstitutionStore, Mailer, StoreError, StudentStore,
};
use certifica_core::records::*;
use certifica_core::roster::{self, PlanScope, RosterFilter, RosterRow, StatusFilter};
use chrono::{Duration, NaiveDate, Utc};

/// The actor of a check's changes.
pub fn by(user: &str) -> Actor {
    Actor::new(user, format!("req-{}", uuid::Uuid::new_v4().simple()))
}

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
    let r = s.reserve(t, &c.id, Duration::seconds(TTL), &by("prueba")).await.expect("reserve");
    s.commit_stamp(t, &r, c.version, stamp_of(c), &by("prueba")).await.expect("commit")
}

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
    let wrong = s.transition(&t, &c.id, 0, Transition::Resealed { sealed_xml: "k".into() }, &by("prueba")).await;
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
        s.transition(&t, &c.id, 1, Transition::Resealed { sealed_xml: "a".into() }, &first),
        s.transition(&t, &c.id, 1, Transition::Resealed { sealed_xml: "b".into() }, &second),
    );
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    assert!(matches!(a.err().or(b.err()), Some(StoreError::Conflict)));
    let now = s.get(&t, &c.id).await.expect("get").expect("exists");
    assert_eq!((now.status, now.version), (CertificateStatus::Sellado, 2));
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
    // The invocation dies here. Before the expiry nothing is released.
    assert_eq!(s.release_expired(&t, Utc::now()).await.expect("sweep"), 0);
    assert_eq!(s.balance(&t).await.expect("b").reserved, 1);
    assert_eq!(s.release_expired(&t, Utc::now() + Duration::seconds(31)).await.expect("sweep"), 1);
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
    assert_eq!(s.versions(&t, "zips/ciclo.zip").await.expect("versions"), Vec::<String>::new());
    // The name stays usable.
    let mut w = s.writer(&t, ArtifactKind::BulkZip, "ciclo.zip", "application/zip").await.expect("writer");
    w.write(b"PK".to_vec()).await.expect("write");
    w.finish().await.expect("finish");
    assert_eq!(s.get(&t, "zips/ciclo.zip").await.expect("get").as_deref(), Some(&b"PK"[..]));
}

// ---------------------------------------------------------------- records

fn institution(t: &Tenant) -> Institution {
    Institution {
        id: t.id().to_string(),
        mec_id: "090001".into(),
        name: "Universidad del Valle de Anáhuac".into(),
        kind: InstitutionType::Ipes,
        mode: CertificationMode::Electronic,
    }
}

fn school(t: &Tenant, id: &str) -> School {
    School {
        id: id.into(),
        institution_id: t.id().to_string(),
        name: format!("Campus {id}"),
        mec_campus_id: "110001".into(),
        campus: "ÚNICO".into(),
        entidad: EntidadFederativa::CiudadDeMexico,
    }
}

fn plan(school_id: &str, id: &str, last_grade: u32) -> Plan {
    Plan {
        id: id.into(),
        school_id: school_id.into(),
        career: Career { mec_id: 101, clave: id.to_uppercase(), nombre: format!("Licenciatura {id}") },
        clave_plan: "2020".into(),
        tipo_periodo: TipoPeriodo::Semestre,
        nivel: NivelEstudios::Licenciatura,
        scale: GradeScale { min: Decimal2::from_int(5), max: Decimal2::from_int(10), passing: Decimal2::from_int(6) },
        total_credits: Decimal2::from_int(16),
        recognition: Recognition::Rvoe,
        rvoe: Rvoe {
            numero: "RVOE-2020-01".into(),
            fecha_expedicion: NaiveDate::from_ymd_opt(2020, 1, 10).unwrap_or_default(),
        },
        average_rule: AverageRule::AllSubjects,
        last_grade,
        subjects: vec![
            Subject { clave: "MAT1".into(), nombre: "Matemáticas".into(), certification: None },
            Subject { clave: "FIS1".into(), nombre: "Física".into(), certification: None },
        ],
    }
}

fn grade(clave: &str, value: u64) -> Grade {
    Grade {
        subject_clave: clave.into(),
        value: Decimal2::from_int(value),
        ciclo: "2025-2".into(),
        observacion: Observacion::Normal,
    }
}

/// A student of plan `plan_id` (last grade 8 unless said), group `group`.
pub fn student(control: &str, nombre: &str, apellido: &str, plan_id: &str, group: &str, grade_level: u32) -> Student {
    Student {
        control_number: control.into(),
        curp: String::new(),
        nombre: nombre.into(),
        primer_apellido: apellido.into(),
        segundo_apellido: String::new(),
        genero: None,
        fecha_nacimiento: None,
        email_personal: None,
        email_institucional: None,
        group: group.into(),
        grade_level,
        active: true,
        plan_id: plan_id.into(),
        grades: vec![grade("MAT1", 8), grade("FIS1", 9)],
    }
}

fn certificate_for(school_id: &str, plan_id: &str, control: &str, issue_day: u32) -> CertificateRecord {
    CertificateRecord {
        school_id: school_id.into(),
        plan_id: plan_id.into(),
        issue_date: NaiveDate::from_ymd_opt(2026, 7, issue_day).unwrap_or_default(),
        ..sealed_certificate(control)
    }
}

pub async fn the_institution_schools_cycles_plans_and_signers_are_kept_per_tenant<S: InstitutionStore>(s: &S) {
    let (t, other) = (fresh_tenant("config"), fresh_tenant("config-b"));
    assert_eq!(s.institution(&t).await.expect("get"), None);
    s.put_institution(&t, &institution(&t)).await.expect("institution");
    assert_eq!(s.institution(&t).await.expect("get"), Some(institution(&t)));
    // The institution and its schools always belong to the caller's tenant.
    assert!(matches!(s.put_institution(&t, &institution(&other)).await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.put_school(&t, &school(&other, "norte")).await, Err(StoreError::Invalid(_))));
    for id in ["sur", "norte"] {
        s.put_school(&t, &school(&t, id)).await.expect("school");
    }
    let ids: Vec<String> = s.schools(&t).await.expect("schools").into_iter().map(|x| x.id).collect();
    assert_eq!(ids, ["norte", "sur"]);
    // Records of an unknown school are refused rather than orphaned.
    let cycle = Cycle { id: "2026".into(), school_id: "oeste".into(), name: "2025-2026".into() };
    assert!(matches!(s.put_cycle(&t, &cycle).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.put_plan(&t, &plan("oeste", "lae", 8)).await, Err(StoreError::NotFound(_))));
    for (id, name) in [("2026", "2025-2026"), ("2025", "2024-2025")] {
        s.put_cycle(&t, &Cycle { id: id.into(), school_id: "norte".into(), name: name.into() }).await.expect("cycle");
    }
    let cycles: Vec<String> = s.cycles(&t, "norte").await.expect("cycles").into_iter().map(|c| c.id).collect();
    assert_eq!(cycles, ["2025", "2026"]);
    assert!(s.cycles(&t, "sur").await.expect("cycles").is_empty());
    s.put_plan(&t, &plan("norte", "lae", 8)).await.expect("plan");
    let mut changed = plan("norte", "lae", 9);
    changed.subjects.pop();
    s.put_plan(&t, &changed).await.expect("plan replaced");
    s.put_plan(&t, &plan("norte", "ico", 10)).await.expect("plan");
    assert_eq!(s.plan(&t, "norte", "lae").await.expect("plan"), Some(changed));
    let plans: Vec<String> = s.plans(&t, "norte").await.expect("plans").into_iter().map(|p| p.id).collect();
    assert_eq!(plans, ["ico", "lae"]);
    let signer = SignerConfig {
        school_id: "norte".into(),
        responsable: Responsable {
            curp: "GOMC850412MDFRRR03".into(),
            nombre: "Carmen".into(),
            primer_apellido: "Gómez".into(),
            segundo_apellido: "Ruiz".into(),
            cargo: Cargo::ResponsableExpedicion,
        },
        certificate_number: "30001000000500003416".into(),
        cer_base64: "MIIB".into(),
        key_base64: "MIIE".into(),
        password_sealed: "sellada".into(),
        registered_by: "admin@uva.edu.mx".into(),
        registered_at: Utc::now(),
    };
    s.put_signer(&t, &signer).await.expect("signer");
    assert_eq!(s.signer(&t, "norte").await.expect("signer"), Some(signer.clone()));
    assert_eq!(s.signer(&t, "sur").await.expect("signer"), None);
    // Another institution sees none of it, even by the same ids.
    assert_eq!(s.institution(&other).await.expect("get"), None);
    assert!(s.schools(&other).await.expect("schools").is_empty());
    assert_eq!(s.school(&other, "norte").await.expect("school"), None);
    assert!(s.cycles(&other, "norte").await.expect("cycles").is_empty());
    assert_eq!(s.plan(&other, "norte", "lae").await.expect("plan"), None);
    assert_eq!(s.signer(&other, "norte").await.expect("signer"), None);
    assert!(matches!(s.put_signer(&other, &signer).await, Err(StoreError::NotFound(_))));
}

pub async fn students_are_imported_edited_with_audit_and_kept_per_tenant<
    S: InstitutionStore + StudentStore + AuditStore,
>(
    s: &S,
) {
    let (t, other) = (fresh_tenant("alumnos"), fresh_tenant("alumnos-b"));
    assert!(matches!(
        s.put_students(&t, "norte", "2026", &[student("A1", "Ana", "Ruiz", "lae", "8A", 8)]).await,
        Err(StoreError::NotFound(_))
    ));
    s.put_school(&t, &school(&t, "norte")).await.expect("school");
    let blank = student(" ", "Sin", "Matrícula", "lae", "8A", 8);
    assert!(matches!(s.put_students(&t, "norte", "2026", &[blank]).await, Err(StoreError::Invalid(_))));
    let ana = student("A1", "Ana", "Ruiz", "lae", "8B", 8);
    s.put_students(&t, "norte", "2026", &[ana.clone(), student("A2", "Luis", "Mora", "lae", "8A", 8)])
        .await
        .expect("import");
    let record = s.student(&t, "norte", "2026", "A1").await.expect("get").expect("exists");
    assert_eq!((record.student.clone(), record.grades_edited), (ana.clone(), false));
    assert_eq!(s.groups(&t, "norte", "2026").await.expect("groups"), ["8A", "8B"]);
    // Editing grades is conditional on the version, flags the student and audits old → new.
    let new_grades = vec![grade("MAT1", 10), grade("FIS1", 9)];
    let stale = s.edit_grades(&t, "norte", "2026", "A1", record.version + 5, new_grades.clone(), &by("editor")).await;
    assert_eq!(stale, Err(StoreError::Conflict));
    let editor = by("editor@uva.edu.mx");
    let edited =
        s.edit_grades(&t, "norte", "2026", "A1", record.version, new_grades.clone(), &editor).await.expect("edit");
    assert_eq!(
        (edited.student.grades.clone(), edited.grades_edited, edited.version),
        (new_grades, true, record.version + 1)
    );
    let again = s.edit_grades(&t, "norte", "2026", "A1", record.version, vec![], &by("otro")).await;
    assert_eq!(again, Err(StoreError::Conflict), "a second edit from the same version loses");
    let audit = s.audit_of_student(&t, "norte", "2026", "A1").await.expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, AuditAction::GradesEdited);
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].request_id.as_str()),
        (editor.user.as_str(), editor.request_id.as_str())
    );
    assert_eq!(audit[0].detail, "MAT1: 8.00 → 10.00");
    // A later import replaces the data but keeps the flag.
    let mut renamed = ana.clone();
    renamed.nombre = "Ana María".into();
    s.put_students(&t, "norte", "2026", &[renamed.clone()]).await.expect("import again");
    let after = s.student(&t, "norte", "2026", "A1").await.expect("get").expect("exists");
    assert_eq!((after.student, after.grades_edited), (renamed, true));
    assert!(after.version > edited.version);
    // Another institution sees nothing and cannot edit.
    assert_eq!(s.student(&other, "norte", "2026", "A1").await.expect("get"), None);
    assert!(s.groups(&other, "norte", "2026").await.expect("groups").is_empty());
    assert!(s.audit_of_student(&other, "norte", "2026", "A1").await.expect("audit").is_empty());
    assert!(matches!(
        s.edit_grades(&other, "norte", "2026", "A1", after.version, vec![], &by("intruso")).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Every page of the table, following the positions.
pub async fn whole_roster<S: StudentStore>(
    s: &S,
    t: &Tenant,
    school_id: &str,
    filter: &RosterFilter,
    limit: usize,
) -> Vec<RosterRow> {
    let (mut rows, mut after, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let page = s.roster_page(t, school_id, "2026", filter, after.as_deref(), limit).await.expect("page");
        assert!(page.rows.len() <= limit);
        rows.extend(page.rows);
        pages += 1;
        assert!(pages < 1_000, "pagination does not end");
        match page.next {
            Some(next) => after = Some(next),
            None => return rows,
        }
    }
}

fn controls(rows: &[RosterRow]) -> Vec<String> {
    rows.iter().map(|r| r.student.control_number.clone()).collect()
}

pub async fn the_roster_filters_searches_and_paginates<S>(s: &S)
where
    S: InstitutionStore + StudentStore + CertificateStore + CreditStore,
{
    let (t, other) = (fresh_tenant("tabla"), fresh_tenant("tabla-b"));
    s.put_school(&t, &school(&t, "norte")).await.expect("school");
    s.put_plan(&t, &plan("norte", "lae", 8)).await.expect("plan");
    s.put_plan(&t, &plan("norte", "ico", 10)).await.expect("plan");
    let mut students = vec![
        student("A01", "José", "Pérez", "lae", "8A", 8),
        student("A02", "Ana", "Ruiz", "lae", "8A", 8),
        student("A03", "Luis", "Mora", "lae", "8B", 8),
        student("A04", "María", "Núñez", "lae", "8B", 8),
        student("A05", "Pedro", "Sosa", "lae", "8B", 8),
        student("A06", "Sofía", "Perea", "lae", "7A", 7),
        student("B01", "Raúl", "Díaz", "ico", "10A", 10),
    ];
    let mut inactive = student("A07", "Inés", "Baja", "lae", "8A", 8);
    inactive.active = false;
    students.push(inactive);
    s.put_students(&t, "norte", "2026", &students).await.expect("import");
    s.add_credits(&t, 10, &by("admin")).await.expect("credits");
    // A02 Sellado (day 10), A03 Timbrado (day 15), A04 Error (day 20),
    // A05 cancelled and issued again (Sellado, day 25), B01 Timbrado (day 15).
    let mut ids = std::collections::HashMap::new();
    for (control, plan_id, day) in
        [("A02", "lae", 10), ("A03", "lae", 15), ("A04", "lae", 20), ("A05", "lae", 5), ("B01", "ico", 15)]
    {
        let c = certificate_for("norte", plan_id, control, day);
        s.create(&t, &c, &by("emisor")).await.expect("create");
        ids.insert(control, c);
    }
    for control in ["A03", "A05", "B01"] {
        stamp(s, &t, &ids[control]).await;
    }
    s.transition(&t, &ids["A04"].id, 0, Transition::StampFailed { message: "SELLO".into() }, &by("emisor"))
        .await
        .expect("error");
    let cancellation =
        Cancellation { motive: MotivoCancelacion::Otro, reason: None, by: "emisor".into(), at: Utc::now() };
    s.transition(&t, &ids["A05"].id, 1, Transition::Cancelled { cancellation, pdf: "pdf/x.pdf".into() }, &by("emisor"))
        .await
        .expect("cancel");
    let mut reissued = certificate_for("norte", "lae", "A05", 25);
    reissued.created_at = Utc::now() + Duration::seconds(1);
    reissued.grades_edited = true;
    s.create(&t, &reissued, &by("emisor")).await.expect("reissue");

    let both =
        vec![PlanScope { plan_id: "lae".into(), last_grade: 8 }, PlanScope { plan_id: "ico".into(), last_grade: 10 }];
    let lae = vec![PlanScope { plan_id: "lae".into(), last_grade: 8 }];
    let all = RosterFilter { plans: both.clone(), ..RosterFilter::default() };
    let rows = whole_roster(s, &t, "norte", &all, 50).await;
    // Active students in the last grade of their plan only, in matrícula order.
    assert_eq!(controls(&rows), ["A01", "A02", "A03", "A04", "A05", "B01"]);
    let status_of = |rows: &[RosterRow], control: &str| {
        rows.iter().find(|r| r.student.control_number == control).and_then(|r| r.certificate.as_ref()).map(|c| c.status)
    };
    assert_eq!(status_of(&rows, "A01"), None);
    assert_eq!(status_of(&rows, "A05"), Some(CertificateStatus::Sellado), "the reissued certificate is the latest");
    assert!(rows.iter().find(|r| r.student.control_number == "A05").is_some_and(RosterRow::grades_edited));
    let tt = &t;
    let with = |f: RosterFilter| async move { controls(&whole_roster(s, tt, "norte", &f, 50).await) };
    let status = |st: StatusFilter| RosterFilter { plans: both.clone(), status: st, ..RosterFilter::default() };
    assert_eq!(
        with(RosterFilter { plans: lae.clone(), ..RosterFilter::default() }).await,
        ["A01", "A02", "A03", "A04", "A05"]
    );
    assert_eq!(with(status(StatusFilter::PorCertificar)).await, ["A01"]);
    assert_eq!(with(status(StatusFilter::Is(CertificateStatus::Sellado))).await, ["A02", "A05"]);
    assert_eq!(with(status(StatusFilter::Is(CertificateStatus::Timbrado))).await, ["A03", "B01"]);
    assert_eq!(with(status(StatusFilter::Is(CertificateStatus::Error))).await, ["A04"]);
    assert!(with(status(StatusFilter::Is(CertificateStatus::Cancelado))).await.is_empty());
    let dates = |from: u32, to: u32| RosterFilter {
        plans: both.clone(),
        issued_from: NaiveDate::from_ymd_opt(2026, 7, from),
        issued_to: NaiveDate::from_ymd_opt(2026, 7, to),
        ..RosterFilter::default()
    };
    assert_eq!(with(dates(15, 20)).await, ["A03", "A04", "B01"]);
    assert_eq!(with(dates(1, 9)).await, Vec::<String>::new());
    assert_eq!(
        with(RosterFilter { plans: both.clone(), group: Some("8b".into()), ..RosterFilter::default() }).await,
        ["A03", "A04", "A05"]
    );
    let search =
        |q: &str| RosterFilter { plans: both.clone(), search: Some(roster::fold(q)), ..RosterFilter::default() };
    assert_eq!(with(search("PEREZ")).await, ["A01"], "accents and case do not matter");
    assert_eq!(with(search("nunez")).await, ["A04"]);
    assert_eq!(with(search("b01")).await, ["B01"], "by matrícula");
    assert_eq!(with(search("pe")).await, ["A01", "A05"], "part of a name");
    // Small pages give the same rows as one big page.
    for limit in [1, 2, 4] {
        assert_eq!(controls(&whole_roster(s, &t, "norte", &all, limit).await), controls(&rows), "limit {limit}");
    }
    // The same school id in another institution lists nothing.
    assert!(whole_roster(s, &other, "norte", &all, 50).await.is_empty());
}

pub async fn the_roster_pages_through_a_large_class<S>(s: &S)
where
    S: InstitutionStore + StudentStore + CertificateStore,
{
    let t = fresh_tenant("generacion");
    s.put_school(&t, &school(&t, "norte")).await.expect("school");
    let students: Vec<Student> = (0..450)
        .map(|i| {
            student(
                &format!("G{i:04}"),
                "Alumno",
                &format!("Apellido{i}"),
                "lae",
                if i % 3 == 0 { "8A" } else { "8B" },
                8,
            )
        })
        .collect();
    s.put_students(&t, "norte", "2026", &students).await.expect("import");
    // A few certificates scattered across storage batches.
    let issued = [3, 199, 200, 201, 399, 449];
    for i in issued {
        s.create(&t, &certificate_for("norte", "lae", &format!("G{i:04}"), 15), &by("emisor")).await.expect("create");
    }
    let scope = vec![PlanScope { plan_id: "lae".into(), last_grade: 8 }];
    let all = RosterFilter { plans: scope.clone(), ..RosterFilter::default() };
    let rows = whole_roster(s, &t, "norte", &all, 37).await;
    assert_eq!(rows.len(), 450);
    let expected: Vec<String> = (0..450).map(|i| format!("G{i:04}")).collect();
    assert_eq!(controls(&rows), expected, "every student once, in order");
    let sealed = RosterFilter {
        plans: scope.clone(),
        status: StatusFilter::Is(CertificateStatus::Sellado),
        ..RosterFilter::default()
    };
    let expected: Vec<String> = issued.iter().map(|i| format!("G{i:04}")).collect();
    assert_eq!(controls(&whole_roster(s, &t, "norte", &sealed, 4).await), expected);
    let pending = RosterFilter {
        plans: scope,
        status: StatusFilter::PorCertificar,
        group: Some("8A".into()),
        ..RosterFilter::default()
    };
    let expected: Vec<String> =
        (0..450).filter(|i| i % 3 == 0 && !issued.contains(i)).map(|i| format!("G{i:04}")).collect();
    assert_eq!(controls(&whole_roster(s, &t, "norte", &pending, 50).await), expected);
    // The bulk-download listing pages through the certificates too.
    let (mut all_certs, mut after) = (Vec::new(), None::<String>);
    loop {
        let (page, next) = s.certificates_page(&t, "norte", "2026", after.as_deref(), 4).await.expect("page");
        all_certs.extend(page.into_iter().map(|c| c.control_number));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(all_certs, expected_certs(&issued));
}

fn expected_certs(issued: &[usize]) -> Vec<String> {
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
    let resealed = s
        .transition(&t, &c.id, failed.version, Transition::Resealed { sealed_xml: "s2".into() }, &issuer)
        .await
        .expect("reseal");
    let stamped = stamp(s, &t, &resealed).await;
    let canceller = by("director@uva.edu.mx");
    let cancellation = Cancellation {
        motive: MotivoCancelacion::CambioNombre,
        reason: Some("Corrección de nombre".into()),
        by: canceller.user.clone(),
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

pub async fn a_students_certificates_are_its_history<S: CertificateStore + CreditStore>(s: &S) {
    let t = fresh_tenant("historia");
    s.add_credits(&t, 1, &by("admin")).await.expect("credits");
    let first = sealed_certificate("K1");
    s.create(&t, &first, &by("e")).await.expect("create");
    s.create(&t, &sealed_certificate("K2"), &by("e")).await.expect("create");
    let stamped = stamp(s, &t, &first).await;
    let cancellation = Cancellation { motive: MotivoCancelacion::Otro, reason: None, by: "e".into(), at: Utc::now() };
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

// ------------------------------------------------------------------- mail

/// A message as the mail service recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The envelope recipients.
    pub recipients: Vec<String>,
    /// The whole MIME message.
    pub raw: Vec<u8>,
}

/// A certificate mail with the XML and the PDF attached, to the student's two addresses.
pub fn certificate_mail() -> Mail {
    Mail {
        to: vec!["ana.ruiz@correo.mx".into(), "a0042@alumnos.uva.edu.mx".into()],
        subject: "Tu certificado electrónico de estudios — Universidad del Valle".into(),
        text: "Hola, Ana:\n\nAdjuntamos tu certificado electrónico de estudios (XML) y su representación impresa (PDF).\n\nControl Escolar".into(),
        attachments: vec![
            Attachment {
                filename: "certificado-A0042.xml".into(),
                content_type: "application/xml".into(),
                bytes: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Dec version=\"3.0\">Núñez</Dec>\n".as_bytes().to_vec(),
            },
            Attachment {
                filename: "certificado-A0042.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: (0..=255u8).cycle().take(5000).collect(),
            },
        ],
        reply_to: Some("control.escolar@uva.edu.mx".into()),
    }
}

/// A mail with attachments reaches every recipient whole (read back from
/// where the mailer delivers: `delivered` lists every message so far); a
/// mail that cannot be sent is refused before anything is delivered.
pub async fn a_mail_with_attachments_reaches_every_recipient<M: Mailer>(
    m: &M,
    sender: &Sender,
    delivered: impl AsyncFn() -> Vec<Delivered>,
) {
    let before = delivered().await.len();
    let mut bad = certificate_mail();
    bad.to.push("sin arroba".into());
    assert_eq!(m.send(&bad).await, Err(MailError::InvalidAddress("sin arroba".into())));
    let mut nobody = certificate_mail();
    nobody.to.clear();
    assert_eq!(m.send(&nobody).await, Err(MailError::NoRecipients));
    assert_eq!(delivered().await.len(), before, "a refused mail delivers nothing");

    let mail = certificate_mail();
    let sent = m.send(&mail).await.expect("send");
    assert!(!sent.message_id.is_empty());
    let all = delivered().await;
    assert_eq!(all.len(), before + 1);
    let got = all.last().expect("one message");
    let mut recipients = got.recipients.clone();
    recipients.sort();
    assert_eq!(recipients, ["a0042@alumnos.uva.edu.mx", "ana.ruiz@correo.mx"]);
    let parsed = mail_parser::MessageParser::default().parse(&got.raw).expect("a MIME message");
    assert_eq!(parsed.subject(), Some(mail.subject.as_str()));
    let from = parsed.from().and_then(|f| f.first()).expect("from");
    assert_eq!((from.name(), from.address()), (Some(sender.name.as_str()), Some(sender.address.as_str())));
    let to: Vec<&str> = parsed.to().map(|t| t.iter().filter_map(|a| a.address()).collect()).unwrap_or_default();
    assert_eq!(to, ["ana.ruiz@correo.mx", "a0042@alumnos.uva.edu.mx"]);
    assert_eq!(parsed.reply_to().and_then(|r| r.first()).and_then(|a| a.address()), Some("control.escolar@uva.edu.mx"));
    // MIME lines end in CRLF.
    let body = parsed.body_text(0).map(|b| b.replace("\r\n", "\n"));
    assert_eq!(body.as_deref().map(str::trim_end), Some(mail.text.as_str()));
    use mail_parser::MimeHeaders;
    let attachments: Vec<(String, Vec<u8>)> = parsed
        .attachments()
        .map(|a| (a.attachment_name().unwrap_or_default().to_string(), a.contents().to_vec()))
        .collect();
    let expected: Vec<(String, Vec<u8>)> =
        mail.attachments.iter().map(|a| (a.filename.clone(), a.bytes.clone())).collect();
    assert_eq!(attachments, expected, "attachments arrive byte for byte");
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
        #[tokio::test]
        async fn documents_written_in_parts_arrive_whole() {
            $crate::documents_written_in_parts_arrive_whole(&$make.await).await
        }
        #[tokio::test]
        async fn an_aborted_document_leaves_nothing() {
            $crate::an_aborted_document_leaves_nothing(&$make.await).await
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
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_institution_schools_cycles_plans_and_signers_are_kept_per_tenant() {
            $crate::the_institution_schools_cycles_plans_and_signers_are_kept_per_tenant(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn students_are_imported_edited_with_audit_and_kept_per_tenant() {
            $crate::students_are_imported_edited_with_audit_and_kept_per_tenant(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_roster_filters_searches_and_paginates() {
            $crate::the_roster_filters_searches_and_paginates(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_roster_pages_through_a_large_class() {
            $crate::the_roster_pages_through_a_large_class(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn every_certificate_change_is_audited_with_its_ledger() {
            $crate::every_certificate_change_is_audited_with_its_ledger(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_students_certificates_are_its_history() {
            $crate::a_students_certificates_are_its_history(&$make.await).await
        }
    };
}

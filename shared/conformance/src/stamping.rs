//! The stamping invariant under failures, for one adapter set (records and
//! documents): whatever step fails after the authority answered — keeping
//! its answer, storing the PDF, the commit, or the commit's answer — a
//! later attempt or the expiry sweep ends the certificate Timbrado with
//! *credits consumed = certificates Timbrado* and *one folio digital per
//! certificate*, and the authority is asked again only when its answer was
//! never kept (it then answers the same authentication).
//!
//! A cancellation whose state change fails leaves the certificate valid and
//! serving its original PDF.
//!
//! The failures are injected by [`Faulty`], a wrapper that passes every call
//! to the adapter under test and fails the one step it is armed for.

use crate::fixtures::fresh_tenant;
use certifica_api::issuing::{Key, Session, Signer};
use certifica_api::outcome::Status;
use certifica_api::{Api, Config, Records};
use certifica_core::catalogs::{
    Cargo, EntidadFederativa, Genero, NivelEstudios, Observacion, TipoAsignatura, TipoPeriodo,
};
use certifica_core::efirma::Efirma;
use certifica_core::jobs::{Job, JobResult};
use certifica_core::mail::{Mail, MailError, SentMail};
use certifica_core::model::*;
use certifica_core::numbers::Decimal2;
use certifica_core::ports::*;
use certifica_core::records::*;
use certifica_core::roster::{RosterFilter, RosterPage};
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::{LocalAuthority, StampError, Stamped, Stamper};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

const DEMO_CER: &[u8] = include_bytes!("../../../assets/demo-efirma/responsable.cer");
const DEMO_KEY: &[u8] = include_bytes!("../../../assets/demo-efirma/responsable.key");
const DEMO_PASSWORD: &str = "demo-certifica";
const DEMO_CURP: &str = "GOMC850412MDFRRR03";

/// The step that fails once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Keeping the authority's answer (the stamped XML put).
    StampedXmlPut,
    /// Storing the PDF, after the answer was kept.
    PdfPut,
    /// The commit, which does not happen.
    Commit,
    /// The commit happens but its answer is lost (a timeout after the write).
    CommitAnswerLost,
    /// A state change (a cancellation), which does not happen.
    Transition,
    /// Keeping an idempotent request's answer.
    KeepAnswer,
}

type Armed = Arc<Mutex<Option<Fault>>>;

fn fires(armed: &Armed, fault: Fault) -> bool {
    let Ok(mut armed) = armed.lock() else { return false };
    if *armed == Some(fault) {
        *armed = None;
        return true;
    }
    false
}

fn injected() -> StoreError {
    StoreError::Unavailable("fallo inyectado por la prueba".into())
}

/// An adapter with one step armed to fail.
#[derive(Clone)]
pub struct Faulty<T> {
    inner: T,
    armed: Armed,
}

macro_rules! pass {
    ($( fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        $( async fn $name(&self $(, $arg: $ty)*) -> $ret { self.inner.$name($($arg),*).await } )*
    };
}

impl<T: CertificateStore> CertificateStore for Faulty<T> {
    async fn transition(
        &self,
        t: &Tenant,
        id: &str,
        v: u64,
        change: Transition,
        by: &Actor,
    ) -> StoreResult<CertificateRecord> {
        if fires(&self.armed, Fault::Transition) {
            return Err(injected());
        }
        self.inner.transition(t, id, v, change, by).await
    }

    pass! {
        fn create(&self, t: &Tenant, c: &CertificateRecord, by: &Actor) -> StoreResult<()>;
        fn get(&self, t: &Tenant, id: &str) -> StoreResult<Option<CertificateRecord>>;
        fn by_folio(&self, folio: &str) -> StoreResult<Option<(Tenant, CertificateRecord)>>;
        fn student_certificates(&self, t: &Tenant, s: &str, c: &str, m: &str) -> StoreResult<Vec<CertificateRecord>>;
        fn certificates_page(&self, t: &Tenant, s: &str, c: &str, after: Option<&str>, limit: usize) -> StoreResult<(Vec<CertificateRecord>, Option<String>)>;
    }
}

impl<T: CreditStore> CreditStore for Faulty<T> {
    pass! {
        fn add_credits(&self, t: &Tenant, amount: u64, by: &Actor) -> StoreResult<CreditBalance>;
        fn balance(&self, t: &Tenant) -> StoreResult<CreditBalance>;
        fn reserve(&self, t: &Tenant, id: &str, ttl: chrono::Duration, by: &Actor) -> StoreResult<Reservation>;
        fn create_holding(&self, t: &Tenant, c: &CertificateRecord, ttl: chrono::Duration, by: &Actor) -> StoreResult<Option<Reservation>>;
        fn release(&self, t: &Tenant, r: &Reservation, by: &Actor) -> StoreResult<()>;
        fn expired_reservations(&self, t: &Tenant, now: DateTime<Utc>) -> StoreResult<Vec<Reservation>>;
        fn expire(&self, t: &Tenant, r: &Reservation) -> StoreResult<bool>;
        fn ledger(&self, t: &Tenant, id: Option<&str>) -> StoreResult<Vec<LedgerEntry>>;
    }

    async fn commit_stamp(
        &self,
        t: &Tenant,
        r: &Reservation,
        v: u64,
        stamp: StampCommit,
        by: &Actor,
    ) -> StoreResult<CertificateRecord> {
        if fires(&self.armed, Fault::Commit) {
            return Err(injected());
        }
        let done = self.inner.commit_stamp(t, r, v, stamp, by).await?;
        if fires(&self.armed, Fault::CommitAnswerLost) {
            return Err(injected());
        }
        Ok(done)
    }
}

impl<T: InstitutionStore> InstitutionStore for Faulty<T> {
    pass! {
        fn put_institution(&self, t: &Tenant, i: &Institution) -> StoreResult<()>;
        fn institution(&self, t: &Tenant) -> StoreResult<Option<Institution>>;
        fn put_school(&self, t: &Tenant, s: &School) -> StoreResult<()>;
        fn school(&self, t: &Tenant, id: &str) -> StoreResult<Option<School>>;
        fn schools(&self, t: &Tenant) -> StoreResult<Vec<School>>;
        fn put_cycle(&self, t: &Tenant, c: &Cycle) -> StoreResult<()>;
        fn cycles(&self, t: &Tenant, s: &str) -> StoreResult<Vec<Cycle>>;
        fn put_plan(&self, t: &Tenant, p: &Plan) -> StoreResult<()>;
        fn plan(&self, t: &Tenant, s: &str, p: &str) -> StoreResult<Option<Plan>>;
        fn plans(&self, t: &Tenant, s: &str) -> StoreResult<Vec<Plan>>;
        fn put_signer(&self, t: &Tenant, s: &SignerConfig) -> StoreResult<()>;
        fn signer(&self, t: &Tenant, s: &str) -> StoreResult<Option<SignerConfig>>;
    }
}

impl<T: StudentStore> StudentStore for Faulty<T> {
    pass! {
        fn put_students(&self, t: &Tenant, s: &str, c: &str, students: &[Student]) -> StoreResult<()>;
        fn student(&self, t: &Tenant, s: &str, c: &str, m: &str) -> StoreResult<Option<StudentRecord>>;
        fn edit_grades(&self, t: &Tenant, s: &str, c: &str, m: &str, v: u64, grades: Vec<Grade>, by: &Actor) -> StoreResult<StudentRecord>;
        fn update_student(&self, t: &Tenant, s: &str, c: &str, v: u64, student: &Student, u: &StudentUpdate, by: &Actor) -> StoreResult<StudentRecord>;
        fn groups(&self, t: &Tenant, s: &str, c: &str) -> StoreResult<Vec<String>>;
        fn roster_page(&self, t: &Tenant, s: &str, c: &str, f: &RosterFilter, after: Option<&str>, limit: usize) -> StoreResult<RosterPage>;
    }
}

impl<T: AuditStore> AuditStore for Faulty<T> {
    pass! {
        fn record(&self, t: &Tenant, e: &AuditEntry) -> StoreResult<()>;
        fn audit_of_student(&self, t: &Tenant, s: &str, c: &str, m: &str) -> StoreResult<Vec<AuditEntry>>;
        fn audit_of_certificate(&self, t: &Tenant, id: &str) -> StoreResult<Vec<AuditEntry>>;
    }
}

impl<T: IdempotencyStore> IdempotencyStore for Faulty<T> {
    async fn complete(&self, t: &Tenant, key: &str, result: &str, keep: chrono::Duration) -> StoreResult<()> {
        if fires(&self.armed, Fault::KeepAnswer) {
            return Err(injected());
        }
        self.inner.complete(t, key, result, keep).await
    }

    pass! {
        fn begin(&self, t: &Tenant, key: &str, ttl: chrono::Duration) -> StoreResult<IdempotencyState>;
        fn abandon(&self, t: &Tenant, key: &str) -> StoreResult<()>;
    }
}

impl<T: JobStore> JobStore for Faulty<T> {
    pass! {
        fn create_job(&self, t: &Tenant, job: &Job) -> StoreResult<()>;
        fn job(&self, t: &Tenant, id: &str) -> StoreResult<Option<Job>>;
        fn cycle_jobs(&self, t: &Tenant, school: &str, cycle: &str, limit: usize) -> StoreResult<Vec<Job>>;
        fn start_job(&self, t: &Tenant, id: &str) -> StoreResult<()>;
        fn record_results(&self, t: &Tenant, id: &str, results: &[JobResult]) -> StoreResult<usize>;
        fn results_between(&self, t: &Tenant, id: &str, first: &str, last: &str) -> StoreResult<Vec<JobResult>>;
        fn results_page(&self, t: &Tenant, id: &str, after: Option<&str>, limit: usize) -> StoreResult<(Vec<JobResult>, Option<String>)>;
        fn finish_chunk(&self, t: &Tenant, id: &str, chunk: u32, counts: &std::collections::BTreeMap<String, u32>) -> StoreResult<bool>;
        fn cancel_job(&self, t: &Tenant, id: &str, by: &Actor) -> StoreResult<Job>;
    }
}

impl<T: ArtifactStore> ArtifactStore for Faulty<T> {
    type Writer = T::Writer;

    async fn put(
        &self,
        t: &Tenant,
        kind: ArtifactKind,
        name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<StoredArtifact> {
        let fault = match kind {
            ArtifactKind::StampedXml => Some(Fault::StampedXmlPut),
            ArtifactKind::Pdf => Some(Fault::PdfPut),
            _ => None,
        };
        if fault.is_some_and(|f| fires(&self.armed, f)) {
            return Err(injected());
        }
        self.inner.put(t, kind, name, bytes, content_type).await
    }

    pass! {
        fn writer(&self, t: &Tenant, kind: ArtifactKind, name: &str, content_type: &str) -> StoreResult<T::Writer>;
        fn get(&self, t: &Tenant, key: &str) -> StoreResult<Option<Vec<u8>>>;
        fn exists(&self, t: &Tenant, key: &str) -> StoreResult<bool>;
        fn versions(&self, t: &Tenant, key: &str) -> StoreResult<Vec<String>>;
        fn get_version(&self, t: &Tenant, key: &str, version: &str) -> StoreResult<Option<Vec<u8>>>;
        fn link(&self, t: &Tenant, key: &str, ttl: chrono::Duration) -> StoreResult<String>;
    }
}

/// The simulated authority, counting what it answered for each document.
pub struct Watched {
    authority: LocalAuthority,
    /// Folios answered, by the document's sello; calls made.
    answers: Mutex<(HashMap<String, BTreeSet<String>>, usize)>,
}

impl Stamper for Watched {
    async fn stamp(&self, sealed_xml: &str) -> Result<Stamped, StampError> {
        let stamped = self.authority.authenticate(sealed_xml);
        let sello = certifica_core::document::Dec::parse(sealed_xml).map(|d| d.sello).unwrap_or_default();
        if let Ok(mut answers) = self.answers.lock() {
            answers.1 += 1;
            if let Ok(s) = &stamped {
                answers.0.entry(sello).or_default().insert(s.folio_digital.clone());
            }
        }
        stamped
    }
}

/// No mail is sent while stamping.
pub struct NoMail;

impl Mailer for NoMail {
    async fn send(&self, _: &Mail) -> Result<SentMail, MailError> {
        Err(MailError::Unavailable("sin correo en esta prueba".into()))
    }
}

type Set<R, A> = (Faulty<R>, Faulty<A>, Watched, NoMail);

async fn setup<R: Records, A: ArtifactStore + Clone + 'static>(
    records: &R,
    artifacts: &A,
    armed: &Armed,
) -> (Api<Set<R, A>>, Tenant, Institution, School, Signer) {
    let t = fresh_tenant("timbre");
    let institution = Institution {
        id: t.id().to_string(),
        mec_id: "1".into(),
        name: "Universidad de prueba".into(),
        kind: InstitutionType::Ipes,
        mode: CertificationMode::Electronic,
    };
    let school = School {
        id: "norte".into(),
        institution_id: t.id().to_string(),
        name: "Campus Norte".into(),
        mec_campus_id: "1".into(),
        campus: "ÚNICO".into(),
        entidad: EntidadFederativa::CiudadDeMexico,
    };
    records.put_institution(&t, &institution).await.expect("institution");
    records.put_school(&t, &school).await.expect("school");
    records
        .put_cycle(&t, &Cycle { id: "2026".into(), school_id: "norte".into(), name: "2025-2026".into() })
        .await
        .expect("cycle");
    records.put_plan(&t, &certifiable_plan()).await.expect("plan");
    let students: Vec<Student> = (1..=4).map(certifiable_student).collect();
    records.put_students(&t, "norte", "2026", &students).await.expect("students");
    records.add_credits(&t, 10, &Actor::new("admin", "compra")).await.expect("credits");
    let responsable = Responsable {
        curp: DEMO_CURP.into(),
        nombre: "María Cristina".into(),
        primer_apellido: "Gómez".into(),
        segundo_apellido: "Ruiz".into(),
        cargo: Cargo::ResponsableExpedicion,
    };
    let efirma = Efirma::load(DEMO_CER, DEMO_KEY, DEMO_PASSWORD.as_bytes()).expect("demo e.firma");
    let signer = Signer {
        config: SignerConfig {
            school_id: "norte".into(),
            responsable,
            certificate_number: efirma.certificate().number().value.clone(),
            cer_base64: String::new(),
            key_base64: String::new(),
            password_sealed: String::new(),
            registered_by: "admin".into(),
            registered_at: Utc::now(),
        },
        cer: DEMO_CER.to_vec(),
        key: Key::Open(efirma),
        own_node: None,
    };
    let mut config =
        Config::new(b"cursores", SecretBox::new(&[1u8; 32]).expect("key"), "https://verifica.example/?folio=")
            .trusting_signer_cas(certifica_core::trust::SignerCas::demo());
    // Every hold expires at once: the next request's sweep settles what a failed attempt left.
    config.reservation_ttl = chrono::Duration::milliseconds(1);
    let watched = Watched {
        authority: LocalAuthority::simulated_sep().expect("authority"),
        answers: Mutex::new((HashMap::new(), 0)),
    };
    let api = Api::new(
        Faulty { inner: records.clone(), armed: armed.clone() },
        Faulty { inner: artifacts.clone(), armed: armed.clone() },
        watched,
        NoMail,
        config,
    );
    (api, t, institution, school, signer)
}

/// For each step that can fail after the authority answered: the
/// certificate ends Timbrado once, its credit consumed once, one folio.
pub async fn a_stamp_is_never_lost_nor_obtained_twice<R: Records, A: ArtifactStore + Clone + 'static>(
    records: &R,
    artifacts: &A,
) {
    for (fault, matricula, sweep_only) in [
        (Fault::StampedXmlPut, "T001", false),
        (Fault::PdfPut, "T002", true),
        (Fault::Commit, "T003", true),
        (Fault::CommitAnswerLost, "T004", false),
    ] {
        let armed: Armed = Arc::new(Mutex::new(None));
        let (api, t, institution, school, signer) = setup(records, artifacts, &armed).await;
        let date = NaiveDate::from_ymd_opt(2026, 7, 15).expect("date");
        let first = Session::new(&api, &t, Actor::new("clerk", "req-1"), &institution, &school, "2026", Some(&signer));
        *armed.lock().expect("armed") = Some(fault);
        let failed = first.issue_all(&[matricula.to_string()], date).await;
        assert_ne!(failed[0].status, Status::Timbrado, "{fault:?}: the attempt failed");
        assert_eq!(*armed.lock().expect("armed"), None, "{fault:?} was reached");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // A later request: its sweep settles the expired hold; then (unless the sweep did it) a retry.
        let later = Session::new(&api, &t, Actor::new("clerk", "req-2"), &institution, &school, "2026", Some(&signer));
        later.settle_expired().await.expect("sweep");
        let history = records.student_certificates(&t, "norte", "2026", matricula).await.expect("history");
        assert_eq!(history.len(), 1, "{fault:?}: one certificate");
        if sweep_only {
            assert_eq!(history[0].status, CertificateStatus::Timbrado, "{fault:?}: the sweep committed the kept stamp");
        } else {
            let retried = later.issue_all(&[matricula.to_string()], date).await;
            assert!(matches!(retried[0].status, Status::Timbrado | Status::Omitido), "{fault:?}: {:?}", retried[0]);
        }
        let certificate = records.get(&t, &history[0].id).await.expect("get").expect("exists");
        assert_eq!(certificate.status, CertificateStatus::Timbrado, "{fault:?}");
        let balance = records.balance(&t).await.expect("balance");
        assert_eq!(
            (balance.consumed, balance.reserved, balance.available),
            (1, 0, 9),
            "{fault:?}: one credit consumed"
        );
        let ledger = records.ledger(&t, None).await.expect("ledger");
        let consumed = ledger.iter().filter(|e| e.kind == LedgerKind::Consumed).count();
        assert_eq!(consumed, 1, "{fault:?}: {ledger:?}");
        let sealed =
            artifacts.get(&t, certificate.artifacts.sealed_xml.as_deref().expect("sealed")).await.expect("get");
        let sello = certifica_core::document::Dec::parse(&String::from_utf8(sealed.expect("stored")).expect("utf-8"))
            .expect("sealed document")
            .sello;
        let (folios, calls) = api.stamper().answers.lock().expect("answers").clone();
        let answered: Vec<&String> = folios.get(&sello).map(|f| f.iter().collect()).unwrap_or_default();
        assert_eq!(answered, [certificate.folio_digital.as_ref().expect("folio")], "{fault:?}: one folio digital");
        // The authority is asked again only when its answer was never kept.
        assert_eq!(calls, if fault == Fault::StampedXmlPut { 2 } else { 1 }, "{fault:?}: calls to the authority");
        let (_, by_folio) = records
            .by_folio(certificate.folio_digital.as_deref().expect("folio"))
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(by_folio.id, certificate.id);
    }
}

fn certifiable_plan() -> Plan {
    let subject = |clave: &str, id: u64| Subject {
        clave: clave.into(),
        nombre: format!("Materia {clave}"),
        certification: Some(SubjectCertification {
            id_asignatura: id,
            tipo: TipoAsignatura::Obligatoria,
            creditos: Decimal2::from_int(8),
        }),
    };
    Plan {
        id: "lae".into(),
        school_id: "norte".into(),
        career: Career { mec_id: 101, clave: "LAE".into(), nombre: "Licenciatura en Administración".into() },
        clave_plan: "2020".into(),
        tipo_periodo: TipoPeriodo::Semestre,
        nivel: NivelEstudios::Licenciatura,
        scale: GradeScale { min: Decimal2::from_int(5), max: Decimal2::from_int(10), passing: Decimal2::from_int(6) },
        total_credits: Decimal2::from_int(16),
        recognition: Recognition::Rvoe,
        rvoe: Rvoe { numero: "RVOE-1".into(), fecha_expedicion: NaiveDate::from_ymd_opt(2020, 1, 1).expect("date") },
        average_rule: AverageRule::AllSubjects,
        last_grade: 8,
        subjects: vec![subject("MAT1", 1), subject("FIS1", 2)],
    }
}

fn certifiable_student(n: u32) -> Student {
    let first17 = format!("NUXA99{:02}{:02}MDFNXN0", 1 + n % 12, 1 + n % 28);
    let digit = certifica_core::curp::check_digit(&first17).expect("check digit");
    let grade = |clave: &str, value: u64| Grade {
        subject_clave: clave.into(),
        value: Decimal2::from_int(value),
        ciclo: "2025-2".into(),
        observacion: Observacion::Normal,
    };
    Student {
        control_number: format!("T{n:03}"),
        curp: format!("{first17}{digit}"),
        nombre: "Ana".into(),
        primer_apellido: "Núñez".into(),
        segundo_apellido: String::new(),
        genero: Some(Genero::Mujer),
        fecha_nacimiento: NaiveDate::from_ymd_opt(1999, 1 + n % 12, 1 + n % 28),
        email_personal: None,
        email_institucional: None,
        group: "8A".into(),
        grade_level: 8,
        active: true,
        plan_id: "lae".into(),
        grades: vec![grade("MAT1", 8), grade("FIS1", 9)],
    }
}

/// A cancellation whose state change fails: the certificate stays valid and
/// serves its original PDF (the CANCELADO one becomes current only with the
/// change); once the store answers, the cancellation goes through.
pub async fn a_failed_cancellation_leaves_the_certificate_as_it_was<R: Records, A: ArtifactStore + Clone + 'static>(
    records: &R,
    artifacts: &A,
) {
    use bytes::Bytes;
    use certifica_core::identity::{Identity, Permission};
    let armed: Armed = Arc::new(Mutex::new(None));
    let (api, t, institution, school, signer) = setup(records, artifacts, &armed).await;
    // Another date than the stamping check's: the simulated authority derives
    // the folio from the document, and the same document would get the same one.
    let date = NaiveDate::from_ymd_opt(2026, 7, 16).expect("date");
    let session = Session::new(&api, &t, Actor::new("clerk", "req-1"), &institution, &school, "2026", Some(&signer));
    assert_eq!(session.issue_all(&["T001".to_string()], date).await[0].status, Status::Timbrado);
    let valid = records.student_certificates(&t, "norte", "2026", "T001").await.expect("history").remove(0);
    let pdf_key = valid.artifacts.pdf.clone().expect("pdf");
    let original = artifacts.get(&t, &pdf_key).await.expect("get").expect("stored");
    let cancel = || {
        let who = Identity::from_claims(
            "u1",
            Some("clerk@uva.mx"),
            Some(t.id()),
            Some(&Identity::permissions_claim(&[("norte", Permission::Ver), ("norte", Permission::Timbrar)])),
        );
        let body = serde_json::json!({"students": ["T001"], "motive": "R3"}).to_string();
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri("/v1/schools/norte/cycles/2026/certificates/cancel")
            .header("content-type", "application/json")
            .body(Bytes::from(body))
            .expect("request");
        api.handle(request, who, "req-cancel")
    };
    *armed.lock().expect("armed") = Some(Fault::Transition);
    let failed = cancel().await;
    assert_eq!(*armed.lock().expect("armed"), None, "the transition was reached");
    let answer: serde_json::Value = serde_json::from_slice(failed.body()).unwrap_or_default();
    assert_ne!(answer["cancelled"], 1, "{answer}");
    let after = records.get(&t, &valid.id).await.expect("get").expect("exists");
    assert_eq!((after.status, after.artifacts.pdf.as_deref()), (CertificateStatus::Timbrado, Some(pdf_key.as_str())));
    assert_eq!(artifacts.get(&t, &pdf_key).await.expect("get"), Some(original.clone()), "still the original PDF");
    let answer: serde_json::Value = serde_json::from_slice(cancel().await.body()).expect("json");
    assert_eq!(answer["cancelled"], 1, "{answer}");
    let cancelled = records.get(&t, &valid.id).await.expect("get").expect("exists");
    assert_eq!(cancelled.status, CertificateStatus::Cancelado);
    let served = artifacts.get(&t, cancelled.artifacts.pdf.as_deref().expect("pdf")).await.expect("get").expect("pdf");
    assert!(served.starts_with(b"%PDF") && served != original, "the CANCELADO PDF");
    assert_eq!(artifacts.get(&t, &pdf_key).await.expect("get"), Some(original), "the original is kept");
}

/// An issue that stamped is answered as a success even when its
/// idempotency record cannot be written (the work is done and paid for).
pub async fn a_success_stays_a_success_when_its_idempotency_record_is_lost<
    R: Records,
    A: ArtifactStore + Clone + 'static,
>(
    records: &R,
    artifacts: &A,
) {
    use bytes::Bytes;
    use certifica_core::identity::{Identity, Permission};
    let armed: Armed = Arc::new(Mutex::new(None));
    let (api, t, _, _, _) = setup(records, artifacts, &armed).await;
    let signer = serde_json::json!({
        "responsable": {"curp": DEMO_CURP, "nombre": "María Cristina", "primerApellido": "Gómez", "segundoApellido": "Ruiz", "cargo": "ResponsableExpedicion"},
        "cer": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, DEMO_CER),
        "key": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, DEMO_KEY),
        "password": DEMO_PASSWORD,
    });
    let who = |perms: &[(&str, Permission)]| {
        Identity::from_claims("u1", Some("clerk@uva.mx"), Some(t.id()), Some(&Identity::permissions_claim(perms)))
    };
    let request = |method: http::Method, uri: &str, body: serde_json::Value| {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .header("idempotency-key", "lote-1")
            .body(Bytes::from(body.to_string()))
            .expect("request")
    };
    let registered = api
        .handle(
            request(http::Method::PUT, "/v1/schools/norte/signer", signer),
            who(&[
                ("norte", Permission::Ver),
                ("norte", Permission::Timbrar),
                ("norte", Permission::Editar),
                ("norte", Permission::Administrar),
            ]),
            "r0",
        )
        .await;
    assert_eq!(registered.status(), http::StatusCode::OK, "{}", String::from_utf8_lossy(registered.body()));
    *armed.lock().expect("armed") = Some(Fault::KeepAnswer);
    let body = serde_json::json!({"students": ["T001"], "issueDate": "2026-07-17"});
    let uri = "/v1/schools/norte/cycles/2026/certificates/issue";
    let grants = [("norte", Permission::Ver), ("norte", Permission::Timbrar)];
    let answer = api.handle(request(http::Method::POST, uri, body), who(&grants), "r1").await;
    assert_eq!(*armed.lock().expect("armed"), None, "the record's write was reached");
    assert_eq!(answer.status(), http::StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_slice(answer.body()).expect("json");
    assert_eq!(answer["results"][0]["status"], "timbrado", "{answer}");
    let balance = records.balance(&t).await.expect("balance");
    assert_eq!((balance.available, balance.consumed), (9, 1));
}

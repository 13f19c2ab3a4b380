//! Registering a school's signer, and issuing certificates: validate, seal,
//! stamp, render, store and consume exactly one credit per certificate
//! that reaches Timbrado — answering per student.

use crate::problem::{Problem, json_response};
use crate::request::json_body;
use crate::{Adapters, Api};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use certifica_core::curp::Curp;
use certifica_core::document::Dec;
use certifica_core::efirma::{Efirma, EfirmaError, SignerCertificate};
use certifica_core::identity::{Identity, Permission};
use certifica_core::issue::{IssueError, seal_and_stamp_autonomo, seal_certificate};
use certifica_core::model::{CertificationMode, Institution, InstitutionType, Responsable, School};
use certifica_core::pdf::{RenderOptions, Variant};
use certifica_core::ports::{ArtifactKind, StoreError};
use certifica_core::ports::{ArtifactStore, CertificateStore, CreditStore, InstitutionStore, StudentStore};
use certifica_core::records::{
    Actor, ArtifactRefs, CertificateRecord, CertificateStatus, SignerConfig, StampCommit, StudentRecord, Tenant,
    Transition,
};
use certifica_core::roster;
use certifica_core::rules::{IssueContext, IssueProblem};
use certifica_core::stamping::{AuthoritySigner, LocalAuthority, StampError, Stamped, Stamper};
use chrono::{FixedOffset, NaiveDate, Utc};
use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

type Answer = Result<Response<Bytes>, Problem>;

/// How long a credit is held while the authority answers; a crashed
/// invocation's hold is released after it.
const RESERVATION_TTL_MINUTES: i64 = 5;

/// Today in Mexico (UTC−6 all year since 2022): the default issue date.
pub fn today_in_mexico() -> NaiveDate {
    match FixedOffset::west_opt(6 * 3600) {
        Some(offset) => Utc::now().with_timezone(&offset).date_naive(),
        None => Utc::now().date_naive(),
    }
}

/// The requested issue date (today in Mexico when absent); never in the future.
fn issue_date_or_today(requested: Option<NaiveDate>) -> Result<NaiveDate, Problem> {
    let today = today_in_mexico();
    let issue_date = requested.unwrap_or(today);
    if issue_date > today {
        return Err(Problem::unprocessable(
            "fecha_futura",
            format!("la fecha de expedición {issue_date} es posterior a hoy ({today})"),
        ));
    }
    Ok(issue_date)
}

fn secret_context(t: &Tenant, school: &str) -> String {
    format!("firmante/{}/{school}", t.id())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignerRequest {
    responsable: Responsable,
    /// The `.cer` file, base64.
    cer: String,
    /// The `.key` file (encrypted PKCS#8 as the SAT issues it), base64.
    /// Omitted (with the password) when the signer keeps the key offline and
    /// seals with `certifica sign`.
    key: Option<String>,
    password: Option<String>,
}

fn efirma_problem(e: &EfirmaError) -> Problem {
    Problem::unprocessable(e.code(), format!("e.firma: {e}"))
}

pub async fn put_signer<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    request: &Request<Bytes>,
    _request_id: &str,
) -> Answer {
    id.require(school, Permission::Timbrar)?;
    id.require(school, Permission::Administrar)?;
    let body: SignerRequest = json_body(request)?;
    let t = id.tenant();
    if api.records.school(t, school).await?.is_none() {
        return Err(Problem::not_found("escuela_no_encontrada", format!("no existe la escuela {school}")));
    }
    let decode = |name: &str, text: &str| {
        STANDARD
            .decode(text.trim())
            .map_err(|_| Problem::bad_request("base64_invalido", format!("el campo «{name}» no es base64 válido")))
    };
    let cer = decode("cer", &body.cer)?;
    let curp = Curp::parse(&body.responsable.curp).map_err(|e| {
        Problem::unprocessable("curp_responsable_invalida", format!("la CURP del responsable no es válida: {e}"))
    })?;
    let (certificate, key_base64, password_sealed) = match (&body.key, &body.password) {
        (Some(key), Some(password)) => {
            let key = decode("key", key)?;
            let efirma = Efirma::load(&cer, &key, password.as_bytes()).map_err(|e| efirma_problem(&e))?;
            let sealed =
                api.config.secrets.seal(password.as_bytes(), &secret_context(t, school)).map_err(|e| {
                    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "cifrado_no_disponible", e.to_string())
                })?;
            (efirma.certificate().clone(), STANDARD.encode(&key), sealed)
        }
        // Offline sealing: only the certificate, to check uploaded documents against.
        (None, None) => {
            (SignerCertificate::from_der(&cer).map_err(|e| efirma_problem(&e))?, String::new(), String::new())
        }
        _ => {
            return Err(Problem::unprocessable(
                "efirma_incompleta",
                "envíe la llave (.key) junto con su contraseña, o ninguna de las dos si el responsable sella sin conexión",
            ));
        }
    };
    certificate.check_usable(today_in_mexico(), &curp).map_err(|e| efirma_problem(&e))?;
    let config = SignerConfig {
        school_id: school.to_string(),
        responsable: body.responsable.clone(),
        certificate_number: certificate.number().value.clone(),
        cer_base64: STANDARD.encode(&cer),
        key_base64,
        password_sealed,
        registered_by: id.email.clone().unwrap_or_else(|| id.sub.clone()),
        registered_at: Utc::now(),
    };
    api.records.put_signer(t, &config).await?;
    // The password is never returned nor logged.
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "school": school,
            "responsable": body.responsable.full_name(),
            "certificateNumber": config.certificate_number,
            "sealsOffline": config.is_offline(),
            "validFrom": certificate.not_before(),
            "validTo": certificate.not_after(),
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IssueRequest {
    students: Vec<String>,
    issue_date: Option<NaiveDate>,
}

/// One student's outcome.
pub(crate) struct Outcome {
    pub matricula: String,
    pub status: &'static str,
    pub certificate: Option<CertificateRecord>,
    pub problems: Vec<(String, String)>,
    /// The authority was unavailable (worth retrying as is).
    pub transient: bool,
}

impl Outcome {
    fn refused(matricula: &str, status: &'static str, problems: Vec<(String, String)>) -> Self {
        Outcome { matricula: matricula.to_string(), status, certificate: None, problems, transient: false }
    }

    fn one(matricula: &str, status: &'static str, code: &str, detail: impl Into<String>) -> Self {
        Outcome::refused(matricula, status, vec![(code.to_string(), detail.into())])
    }

    fn json(&self) -> Value {
        json!({
            "matricula": self.matricula,
            "status": self.status,
            "folioDigital": self.certificate.as_ref().and_then(|c| c.folio_digital.clone()),
            "certificateId": self.certificate.as_ref().map(|c| c.id.clone()),
            "problems": self.problems.iter().map(|(code, detail)| json!({"code": code, "detail": detail})).collect::<Vec<_>>(),
        })
    }
}

/// The signer's e.firma, opened with the deployment's secret, or why not
/// (an offline signer's key and password come back empty).
pub(crate) async fn load_signer<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    school: &str,
) -> Result<Option<(SignerConfig, Vec<u8>, Vec<u8>, Vec<u8>)>, Problem> {
    let Some(config) = api.records.signer(t, school).await? else { return Ok(None) };
    let unreadable = || {
        Problem::new(
            StatusCode::CONFLICT,
            "firmante_ilegible",
            "la e.firma registrada no se puede leer con la llave de esta instalación; regístrela de nuevo",
        )
    };
    let cer = STANDARD.decode(&config.cer_base64).map_err(|_| unreadable())?;
    if config.is_offline() {
        return Ok(Some((config, cer, Vec::new(), Vec::new())));
    }
    let key = STANDARD.decode(&config.key_base64).map_err(|_| unreadable())?;
    let password =
        api.config.secrets.open(&config.password_sealed, &secret_context(t, school)).map_err(|_| unreadable())?;
    Ok(Some((config, cer, key, password)))
}

/// What every student of one request (or one upload) shares.
pub(crate) struct Batch<'a> {
    pub tenant: &'a Tenant,
    pub actor: Actor,
    pub institution: &'a Institution,
    pub school: &'a School,
    pub cycle: &'a str,
    pub issue_date: NaiveDate,
    pub signer: Option<(&'a Responsable, &'a Efirma)>,
    /// AUTONOMO: the institution's own authority node.
    pub own_node: Option<&'a LocalAuthority>,
    /// Semi-electronic institutions submit through the authority's portal:
    /// issuing seals and stops at Sellado (exported with export-sealed).
    pub stamp: bool,
    /// The school's signer seals offline: new certificates arrive as uploads.
    pub offline: bool,
    /// Credits available as last known (read once per batch, counted down
    /// as certificates are stamped): the rules' early warning; holding a
    /// credit remains the authority.
    pub credits_hint: std::sync::atomic::AtomicU64,
    /// Plans already read in this batch (students of a class share one).
    pub plans: std::sync::Mutex<std::collections::HashMap<String, certifica_core::model::Plan>>,
    /// Where the batch's time went.
    pub timings: StageTimes,
}

/// Awaits `$f`, counting its time to `$stage` of `$timings` — inline, with
/// no future of its own: an extra layer around every storage call deepens
/// the stack of unoptimised builds.
macro_rules! timed {
    ($timings:expr, $stage:expr, $f:expr) => {{
        let started = std::time::Instant::now();
        let out = $f.await;
        $timings.add($stage, started);
        out
    }};
}

/// A stage of issuing a certificate, as `Server-Timing` names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stage {
    /// Rules, XML, cadena original and sello.
    Seal,
    /// The authority (simulated or the institution's node).
    Stamp,
    /// Reading the stamped XML and rendering the PDF.
    Pdf,
    /// Storing documents (sealed XML, stamped XML, PDF).
    Documents,
    /// Records: certificates, credits, audit.
    Records,
}

impl Stage {
    const ALL: [Stage; 5] = [Stage::Seal, Stage::Stamp, Stage::Pdf, Stage::Documents, Stage::Records];

    fn name(self) -> &'static str {
        match self {
            Stage::Seal => "sello",
            Stage::Stamp => "timbre",
            Stage::Pdf => "pdf",
            Stage::Documents => "documentos",
            Stage::Records => "registros",
        }
    }
}

/// Time spent per stage in one batch, summed over its certificates (the
/// storage stages are time awaited, which overlaps between the
/// certificates issued at once). Answered as a `Server-Timing` header.
#[derive(Debug, Default)]
pub(crate) struct StageTimes {
    micros: [std::sync::atomic::AtomicU64; 5],
}

impl StageTimes {
    /// Runs `f`, counting its time to `stage`.
    pub(crate) fn time<T>(&self, stage: Stage, f: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = f();
        self.add(stage, started);
        out
    }

    pub(crate) fn add(&self, stage: Stage, started: std::time::Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.micros[stage as usize].fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
    }

    /// `sello;dur=12.3, timbre;dur=…` (milliseconds).
    pub(crate) fn server_timing(&self) -> String {
        Stage::ALL
            .iter()
            .map(|s| {
                let micros = self.micros[*s as usize].load(std::sync::atomic::Ordering::Relaxed);
                format!("{};dur={:.1}", s.name(), micros as f64 / 1000.0)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Certificates of one batch issued at once: their storage and authority
/// calls overlap instead of queueing one certificate after another.
const ISSUE_CONCURRENCY: usize = 4;

pub async fn issue<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
    request_id: &str,
) -> Answer {
    id.require(school, Permission::Timbrar)?;
    let body: IssueRequest = json_body(request)?;
    let mut students = body.students.clone();
    students.sort();
    students.dedup();
    if students.is_empty() {
        return Err(Problem::unprocessable("sin_alumnos", "seleccione al menos un alumno para emitir"));
    }
    if students.len() > api.config.max_batch {
        return Err(Problem::unprocessable(
            "lote_demasiado_grande",
            format!(
                "se pueden emitir hasta {} certificados por solicitud (llegaron {}); divida la selección",
                api.config.max_batch,
                students.len()
            ),
        ));
    }
    let issue_date = issue_date_or_today(body.issue_date)?;
    crate::records::require_cycle(api, id, school, cycle).await?;
    let (answer, timings) = issue_batch(api, id, school, cycle, &students, issue_date, request_id).await?;
    let mut response = json_response(StatusCode::OK, &answer);
    if let Ok(value) = http::HeaderValue::from_str(&timings) {
        response.headers_mut().insert("server-timing", value);
    }
    Ok(response)
}

/// The caller's institution and the school, or why certificates cannot be made there.
async fn institution_and_school<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    school_id: &str,
) -> Result<(Institution, School), Problem> {
    let institution = api.records.institution(t).await?.ok_or_else(|| {
        Problem::unprocessable(
            "institucion_no_configurada",
            "la institución no está configurada; cárguela antes de emitir",
        )
    })?;
    let school = api
        .records
        .school(t, school_id)
        .await?
        .ok_or_else(|| Problem::not_found("escuela_no_encontrada", format!("no existe la escuela {school_id}")))?;
    Ok((institution, school))
}

async fn issue_batch<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school_id: &str,
    cycle: &str,
    students: &[String],
    issue_date: NaiveDate,
    request_id: &str,
) -> Result<(Value, String), Problem> {
    let t = id.tenant();
    // Credits held by crashed invocations come back first.
    api.records.release_expired(t, Utc::now()).await?;
    let (institution, school) = institution_and_school(api, t, school_id).await?;
    let signer_files = load_signer(api, t, school_id).await?;
    // A signer whose files do not open is reported per student by the rules (SignerMissing / Signer).
    let mut signer_problem: Option<IssueProblem> = None;
    let mut efirma: Option<Efirma> = None;
    let mut own_node: Option<LocalAuthority> = None;
    let offline = signer_files.as_ref().is_some_and(|(config, ..)| config.is_offline());
    if let Some((config, cer, key, password)) = signer_files.as_ref().filter(|_| !offline) {
        match Efirma::load(cer, key, password) {
            Ok(e) => efirma = Some(e),
            Err(e) => signer_problem = Some(IssueProblem::Signer(e)),
        }
        if institution.kind == InstitutionType::Autonomo
            && let Ok(node_efirma) = Efirma::load(cer, key, password)
        {
            own_node = Some(LocalAuthority::institution_node(
                node_efirma,
                AuthoritySigner {
                    curp: config.responsable.curp.clone(),
                    nombre_completo: config.responsable.full_name(),
                    cargo: config.responsable.cargo,
                },
            ));
        }
    }
    let batch = Batch {
        tenant: t,
        actor: id.actor(request_id),
        institution: &institution,
        school: &school,
        cycle,
        issue_date,
        signer: match (&signer_files, &efirma) {
            (Some((config, ..)), Some(e)) => Some((&config.responsable, e)),
            _ => None,
        },
        own_node: own_node.as_ref(),
        stamp: institution.mode != CertificationMode::SemiElectronic,
        offline,
        credits_hint: std::sync::atomic::AtomicU64::new(api.records.balance(t).await?.available),
        // Read up front, not as the first student needs them: the batch's
        // students are issued several at once.
        plans: std::sync::Mutex::new(
            api.records.plans(t, school_id).await?.into_iter().map(|p| (p.id.clone(), p)).collect(),
        ),
        timings: StageTimes::default(),
    };
    let results: Vec<Outcome> = match &signer_problem {
        Some(p) => students.iter().map(|m| Outcome::one(m, "rechazado", p.code(), p.to_string())).collect(),
        None => {
            // With fewer credits than students, one at a time: the rules then
            // refuse exactly the last ones of the selection, before sealing them.
            let enough = batch.credits_hint.load(std::sync::atomic::Ordering::Relaxed) >= students.len() as u64;
            let at_once = if enough || !batch.stamp { ISSUE_CONCURRENCY } else { 1 };
            // Collected first: a closure inside the stream would make the handler's future lose `Send`.
            let issues: Vec<_> = students.iter().map(|m| issue_one(api, &batch, m)).collect();
            futures_util::stream::iter(issues).buffered(at_once).collect().await
        }
    };
    let stamped = results.iter().filter(|o| o.status == "timbrado").count();
    let balance = api.records.balance(t).await?;
    let answer = json!({
        "issued": stamped,
        "creditsAvailable": balance.available,
        "results": results.iter().map(Outcome::json).collect::<Vec<_>>(),
    });
    Ok((answer, batch.timings.server_timing()))
}

async fn issue_one<X: Adapters>(api: &Api<X>, b: &Batch<'_>, matricula: &str) -> Outcome {
    match issue_student(api, b, matricula).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::warn!(matricula, error = %e, "issue failed");
            Outcome::one(matricula, "error", e.code(), e.to_string())
        }
    }
}

async fn issue_student<X: Adapters>(api: &Api<X>, b: &Batch<'_>, matricula: &str) -> Result<Outcome, StoreError> {
    let t = b.tenant;
    let Some(record) = api.records.student(t, &b.school.id, b.cycle, matricula).await? else {
        return Ok(Outcome::one(
            matricula,
            "rechazado",
            "alumno_no_encontrado",
            format!("no existe el alumno {matricula}"),
        ));
    };
    let history = api.records.student_certificates(t, &b.school.id, b.cycle, matricula).await?;
    if let Some(current) = roster::latest_certificate(&history, matricula).filter(|c| c.status.is_active()) {
        return match current.status {
            CertificateStatus::Timbrado => Ok(Outcome {
                matricula: matricula.to_string(),
                status: "omitido",
                certificate: Some(current.clone()),
                problems: vec![(
                    "ya_timbrado".into(),
                    format!("el alumno {matricula} ya tiene un certificado timbrado"),
                )],
                transient: false,
            }),
            CertificateStatus::Sellado if !b.stamp => Ok(Outcome {
                matricula: matricula.to_string(),
                status: "omitido",
                certificate: Some(current.clone()),
                problems: vec![(
                    "ya_sellado".into(),
                    "el certificado ya está sellado; expórtelo y entréguelo a la autoridad".into(),
                )],
                transient: false,
            }),
            // Sellado (an interrupted attempt) or Error: stamp the sealed document again.
            _ => stamp_existing(api, b, current.clone(), None).await,
        };
    }
    if b.offline {
        return Ok(Outcome::one(
            matricula,
            "rechazado",
            "firmante_sin_conexion",
            "el responsable de esta escuela sella sin conexión: exporte los datos para sellar (export-unsealed), \
             séllelos con «certifica sign» y suba los XML sellados a la bandeja de entrada",
        ));
    }
    let Some(plan) = plan_of(api, b, &record.student.plan_id).await? else {
        return Ok(Outcome::one(
            matricula,
            "rechazado",
            "plan_no_encontrado",
            format!("el plan {} del alumno no existe", record.student.plan_id),
        ));
    };
    let credits = b.credits_hint.load(std::sync::atomic::Ordering::Relaxed);
    let ctx = IssueContext {
        institution: b.institution,
        plan: &plan,
        student: &record.student,
        signer: b.signer,
        credits_available: credits,
        issue_date: b.issue_date,
    };
    let folio_control = format!("{}-{}-{}-{}", b.school.id, b.cycle, matricula, history.len() + 1);
    issue_new(api, b, &record, &ctx, &folio_control).await
}

/// The plan, read once per batch.
async fn plan_of<X: Adapters>(
    api: &Api<X>,
    b: &Batch<'_>,
    plan_id: &str,
) -> Result<Option<certifica_core::model::Plan>, StoreError> {
    let cached = b.plans.lock().ok().and_then(|plans| plans.get(plan_id).cloned());
    if let Some(plan) = cached {
        return Ok(Some(plan));
    }
    let plan = api.records.plan(b.tenant, &b.school.id, plan_id).await?;
    if let (Some(p), Ok(mut plans)) = (&plan, b.plans.lock()) {
        plans.insert(plan_id.to_string(), p.clone());
    }
    Ok(plan)
}

fn rules_outcome(matricula: &str, e: IssueError) -> Outcome {
    match e {
        IssueError::Rules(problems) => Outcome::refused(
            matricula,
            "rechazado",
            problems.iter().map(|p| (p.code().to_string(), p.to_string())).collect(),
        ),
        IssueError::Seal(e) => Outcome::one(matricula, "rechazado", e.code(), e.to_string()),
        IssueError::Stamp(e) => Outcome::one(matricula, "error", "timbrado_fallido", e.to_string()),
    }
}

async fn issue_new<X: Adapters>(
    api: &Api<X>,
    b: &Batch<'_>,
    record: &StudentRecord,
    ctx: &IssueContext<'_>,
    folio_control: &str,
) -> Result<Outcome, StoreError> {
    let matricula = record.student.control_number.as_str();
    let id = uuid::Uuid::new_v4().to_string();
    let sealed_and_stamped = b.timings.time(Stage::Seal, || match b.own_node {
        Some(node) => seal_and_stamp_autonomo(ctx, b.school, folio_control, node).map(|(s, st)| (s, Some(st))),
        None => seal_certificate(ctx, b.school, folio_control).map(|s| (s, None)),
    });
    let (sealed, stamped) = match sealed_and_stamped {
        Ok(x) => x,
        Err(e) => return Ok(rules_outcome(matricula, e)),
    };
    let certificate = match record_sealed(api, b, record, folio_control, &id, sealed.xml.clone()).await? {
        Ok(c) => c,
        Err(outcome) => return Ok(outcome),
    };
    match stamped {
        // AUTONOMO: the institution's own node already stamped it.
        Some(stamped) => commit(api, b, certificate, Ok(stamped)).await,
        None if !b.stamp => Ok(Outcome {
            matricula: matricula.to_string(),
            status: "sellado",
            certificate: Some(certificate),
            problems: Vec::new(),
            transient: false,
        }),
        None => stamp_existing(api, b, certificate, Some(sealed.xml)).await,
    }
}

/// Stores a sealed document and records its certificate as Sellado
/// (audited as sealed by the batch's actor). A concurrent issue for the same
/// student answers an "omitido" outcome instead.
pub(crate) async fn record_sealed<X: Adapters>(
    api: &Api<X>,
    b: &Batch<'_>,
    record: &StudentRecord,
    folio_control: &str,
    id: &str,
    sealed_xml: String,
) -> Result<Result<CertificateRecord, Outcome>, StoreError> {
    let matricula = record.student.control_number.as_str();
    let name = format!("{id}.xml");
    let put = api.artifacts.put(b.tenant, ArtifactKind::SealedXml, &name, sealed_xml.into_bytes(), "application/xml");
    let stored = timed!(b.timings, Stage::Documents, put)?;
    let certificate = CertificateRecord {
        id: id.to_string(),
        school_id: b.school.id.clone(),
        cycle_id: b.cycle.to_string(),
        plan_id: record.student.plan_id.clone(),
        control_number: matricula.to_string(),
        status: CertificateStatus::Sellado,
        version: 0,
        folio_control: folio_control.to_string(),
        folio_digital: None,
        issue_date: b.issue_date,
        created_at: Utc::now(),
        stamped_at: None,
        artifacts: ArtifactRefs { sealed_xml: Some(stored.key), ..ArtifactRefs::default() },
        grades_edited: record.grades_edited,
        last_error: None,
        cancellation: None,
    };
    match timed!(b.timings, Stage::Records, api.records.create(b.tenant, &certificate, &b.actor)) {
        Ok(()) => Ok(Ok(certificate)),
        Err(StoreError::AlreadyIssued(state)) => Ok(Err(Outcome::one(
            matricula,
            "omitido",
            "ya_emitido",
            format!("otra solicitud ya emitió el certificado (estado {state})"),
        ))),
        Err(e) => Err(e),
    }
}

/// Sends a Sellado / Error certificate's sealed XML to the authority and records the outcome.
/// `sealed_xml` is the document when the caller has it at hand (just
/// sealed); otherwise it is read from storage.
pub(crate) async fn stamp_existing<X: Adapters>(
    api: &Api<X>,
    b: &Batch<'_>,
    certificate: CertificateRecord,
    sealed_xml: Option<String>,
) -> Result<Outcome, StoreError> {
    let xml = match sealed_xml {
        Some(xml) => xml,
        None => {
            let Some(key) = certificate.artifacts.sealed_xml.clone() else {
                return Ok(Outcome::one(
                    &certificate.control_number,
                    "error",
                    "sin_documento",
                    "el certificado no tiene XML sellado",
                ));
            };
            let Some(xml) = api.artifacts.get(b.tenant, &key).await? else {
                return Ok(Outcome::one(
                    &certificate.control_number,
                    "error",
                    "sin_documento",
                    "no se encontró el XML sellado",
                ));
            };
            String::from_utf8_lossy(&xml).into_owned()
        }
    };
    // Hold a credit first, so the authority is only called when one is available.
    let stamped = match hold(api, b, &certificate).await? {
        Err(outcome) => return Ok(outcome),
        // AUTONOMO documents are stamped by the institution's own node, also on a retry.
        Ok(reservation) => match b.own_node {
            Some(node) => (reservation, b.timings.time(Stage::Stamp, || node.authenticate(&xml))),
            None => (reservation, timed!(b.timings, Stage::Stamp, api.stamper.stamp(&xml))),
        },
    };
    commit_held(api, b, certificate, stamped).await
}

async fn hold<X: Adapters>(
    api: &Api<X>,
    b: &Batch<'_>,
    c: &CertificateRecord,
) -> Result<Result<certifica_core::records::Reservation, Outcome>, StoreError> {
    let ttl = chrono::Duration::minutes(RESERVATION_TTL_MINUTES);
    match timed!(b.timings, Stage::Records, api.records.reserve(b.tenant, &c.id, ttl, &b.actor)) {
        Ok(r) => Ok(Ok(r)),
        Err(StoreError::NoCredits) => Ok(Err(Outcome {
            matricula: c.control_number.clone(),
            status: "sellado",
            certificate: Some(c.clone()),
            problems: vec![(
                "sin_creditos".into(),
                "la institución no tiene créditos de timbrado; el certificado quedó sellado y se timbrará al reintentar con créditos".into(),
            )],
            transient: false,
        })),
        Err(StoreError::Conflict) => Ok(Err(Outcome::one(
            &c.control_number,
            "omitido",
            "en_proceso",
            "otra solicitud está timbrando este certificado",
        ))),
        Err(e) => Err(e),
    }
}

/// Holds a credit and commits what was stamped elsewhere: by an AUTONOMO
/// institution's own node, or by the authority through its portal (an
/// uploaded authority-returned document).
pub(crate) async fn commit<X: Adapters>(
    api: &Api<X>,
    b: &Batch<'_>,
    certificate: CertificateRecord,
    stamped: Result<Stamped, StampError>,
) -> Result<Outcome, StoreError> {
    match hold(api, b, &certificate).await? {
        Err(outcome) => Ok(outcome),
        Ok(reservation) => commit_held(api, b, certificate, (reservation, stamped)).await,
    }
}

async fn commit_held<X: Adapters>(
    api: &Api<X>,
    b: &Batch<'_>,
    certificate: CertificateRecord,
    (reservation, stamped): (certifica_core::records::Reservation, Result<Stamped, StampError>),
) -> Result<Outcome, StoreError> {
    let matricula = certificate.control_number.clone();
    let stamped = match stamped {
        Ok(s) => s,
        Err(e) => {
            // Nothing was stamped: the credit comes back and the certificate shows the authority's message.
            api.records.release(b.tenant, &reservation, &b.actor).await?;
            let failed = api
                .records
                .transition(
                    b.tenant,
                    &certificate.id,
                    certificate.version,
                    Transition::StampFailed { message: e.to_string() },
                    &b.actor,
                )
                .await?;
            return Ok(Outcome {
                matricula,
                status: "error",
                certificate: Some(failed),
                problems: vec![("timbrado_fallido".into(), e.to_string())],
                transient: e.is_transient(),
            });
        }
    };
    let stored = async {
        let pdf = b.timings.time(Stage::Pdf, || {
            let dec = Dec::parse(&stamped.xml)
                .map_err(|e| StoreError::Invalid(format!("la autoridad devolvió un XML ilegible: {e}")))?;
            let options = RenderOptions {
                variant: Variant::Normal,
                verify_base_url: api.config.verify_base_url.clone(),
                logo: None,
            };
            api.render_pdf(&dec, &options).map_err(|e| StoreError::Invalid(e.to_string()))
        })?;
        let (xml_name, pdf_name) = (format!("{}.xml", certificate.id), format!("{}.pdf", certificate.id));
        let xml_bytes = stamped.xml.clone().into_bytes();
        let xml = api.artifacts.put(b.tenant, ArtifactKind::StampedXml, &xml_name, xml_bytes, "application/xml");
        let pdf = api.artifacts.put(b.tenant, ArtifactKind::Pdf, &pdf_name, pdf, "application/pdf");
        // Two independent documents: stored at once (two S3 puts, or two fsyncs, overlap).
        let (xml, pdf) = timed!(b.timings, Stage::Documents, futures_util::future::try_join(xml, pdf))?;
        Ok::<_, StoreError>((xml.key, pdf.key))
    }
    .await;
    let (xml_key, pdf_key) = match stored {
        Ok(keys) => keys,
        Err(e) => {
            // Stamped but not stored: keep the hold until it expires rather than
            // consuming a credit for a document we do not have; log for follow-up.
            tracing::error!(certificate = %certificate.id, folio = %stamped.folio_digital, error = %e, "stamped document not stored");
            return Err(e);
        }
    };
    let commit = StampCommit {
        folio_digital: stamped.folio_digital.clone(),
        stamped_at: stamped.stamped_at.and_utc(),
        stamped_xml: xml_key,
        pdf: pdf_key,
        receipt: None,
    };
    let done = api.records.commit_stamp(b.tenant, &reservation, certificate.version, commit, &b.actor);
    let done = timed!(b.timings, Stage::Records, done)?;
    let _ =
        b.credits_hint.fetch_update(std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed, |n| {
            Some(n.saturating_sub(1))
        });
    Ok(Outcome { matricula, status: "timbrado", certificate: Some(done), problems: Vec::new(), transient: false })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UnsealedRequest {
    students: Vec<String>,
    issue_date: Option<NaiveDate>,
}

/// Students per unsealed export.
const MAX_UNSEALED: usize = 200;

/// `POST …/certificates/export-unsealed`: for a signer who seals offline,
/// the unsealed Dec documents of the selected students (`{matrícula}.xml`,
/// every rule checked but the key) in a zip with a manifest. Sealed with
/// `certifica sign` and uploaded to `inbox/{institution}/{school}/{cycle}/`,
/// each is checked against the records again and stamped.
pub async fn export_unsealed<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school_id: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school_id, Permission::Timbrar)?;
    let body: UnsealedRequest = json_body(request)?;
    let students = crate::documents::selection(&body.students, MAX_UNSEALED)?;
    let issue_date = issue_date_or_today(body.issue_date)?;
    crate::records::require_cycle(api, id, school_id, cycle).await?;
    let t = id.tenant();
    let (institution, school) = institution_and_school(api, t, school_id).await?;
    let signer = api.records.signer(t, school_id).await?.ok_or_else(|| {
        Problem::unprocessable(
            IssueProblem::SignerMissing.code(),
            "registre al responsable (su certificado .cer) antes de exportar: su nombre y cargo van en el documento",
        )
    })?;
    let mut zip =
        crate::bulk_zip::BulkZip::new(api, t, &["matricula", "folioControl", "fechaExpedicion", "archivo"]).await?;
    let mut refused = Vec::new();
    let filled = async {
        for matricula in &students {
            match unsealed_one(api, t, &institution, &school, cycle, matricula, &signer, issue_date).await? {
                Ok((folio_control, xml)) => {
                    let file = format!("{matricula}.xml");
                    zip.file(file.clone(), xml.as_bytes()).await?;
                    zip.row(&[matricula, &folio_control, &issue_date.to_string(), &file])?;
                }
                Err(problems) => refused.push(json!({
                    "matricula": matricula,
                    "problems": problems.iter().map(|(code, detail)| json!({"code": code, "detail": detail})).collect::<Vec<_>>(),
                })),
            }
        }
        Ok(())
    }
    .await;
    let refused = Value::Array(refused);
    let why = format!("ningún alumno seleccionado se puede certificar: {refused}");
    zip.conclude(filled, || Problem::unprocessable("sin_documentos", why), json!({ "refused": refused })).await
}

/// One student's unsealed document and folio, or why not.
#[allow(clippy::too_many_arguments, reason = "the shared context of one export, spelled out")]
async fn unsealed_one<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    institution: &Institution,
    school: &School,
    cycle: &str,
    matricula: &str,
    signer: &SignerConfig,
    issue_date: NaiveDate,
) -> Result<Result<(String, String), Vec<(String, String)>>, Problem> {
    let one = |code: &str, detail: String| Ok(Err(vec![(code.to_string(), detail)]));
    let Some(record) = api.records.student(t, &school.id, cycle, matricula).await? else {
        return one("alumno_no_encontrado", format!("no existe el alumno {matricula}"));
    };
    let history = api.records.student_certificates(t, &school.id, cycle, matricula).await?;
    if let Some(current) = roster::latest_certificate(&history, matricula).filter(|c| c.status.is_active()) {
        return one(
            "certificado_vigente",
            format!("el alumno ya tiene el certificado {} en estado {}", current.folio_control, current.status.label()),
        );
    }
    let Some(plan) = api.records.plan(t, &school.id, &record.student.plan_id).await? else {
        return one("plan_no_encontrado", format!("el plan {} del alumno no existe", record.student.plan_id));
    };
    let ctx = IssueContext {
        institution,
        plan: &plan,
        student: &record.student,
        signer: None,
        credits_available: 1,
        issue_date,
    };
    let folio_control = format!("{}-{cycle}-{matricula}-{}", school.id, history.len() + 1);
    match certifica_core::issue::unsealed_document(&ctx, school, &signer.responsable, &folio_control) {
        Ok(dec) => Ok(Ok((folio_control, dec.to_xml()))),
        Err(problems) => Ok(Err(problems.iter().map(|p| (p.code().to_string(), p.to_string())).collect())),
    }
}

//! `issue-certificates`: registering a school's signer, issuing (through
//! [`crate::issuing`]), the watermarked preview, and the two exports of the
//! semi-electronic flow — sealed documents for the authority's portal, and
//! unsealed ones for a signer who seals offline; and stopping a job.

use crate::batch::{self, Selects};
use crate::bulk_zip::BulkZip;
use crate::dates::{issue_date_or_today, today_in_mexico, within_signer};
use crate::issuing::{Issuer, Session, secret_context};
use crate::jobs;
use crate::lookup::{
    CyclePages, document, institution_and_school, require_cycle, require_plan_of, require_school, require_student,
};
use crate::outcome::Status;
use crate::problem::json_response;
use crate::request::json_body;
use crate::router::{self, Answer, Caller, Function, FunctionRoutes, Routes};
use crate::{Adapters, Api, Problem};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use certifica_core::curp::Curp;
use certifica_core::document::{self, CertificateInput};
use certifica_core::efirma::{Efirma, EfirmaError, SignerCertificate};
use certifica_core::identity::{Identity, Permission};
use certifica_core::jobs::JobWork;
use certifica_core::model::{Institution, Recognition, Responsable, School};
use certifica_core::pdf::{RenderOptions, Variant};
use certifica_core::ports::{CertificateStore, CreditStore, InstitutionStore, JobStore, StudentStore};
use certifica_core::records::{Actor, CertificateStatus, SignerConfig, Tenant};
use certifica_core::roster;
use certifica_core::rules::{IssueContext, IssueProblem, check_before_issue};
use chrono::{NaiveDate, Utc};
use futures_util::future::BoxFuture;
use http::{Request, Response, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes of `issue-certificates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    PutSigner {
        school: String,
    },
    Issue {
        school: String,
        cycle: String,
    },
    Preview {
        school: String,
        cycle: String,
    },
    ExportSealed {
        school: String,
        cycle: String,
    },
    ExportUnsealed {
        school: String,
        cycle: String,
    },
    /// Stops a job (issue, email or cancel) where it is.
    CancelJob {
        job: String,
    },
}

impl Routes for Route {
    fn of(route: router::Route) -> Option<Self> {
        match route {
            router::Route::Issue(r) => Some(r),
            _ => None,
        }
    }

    fn writes(&self) -> Option<(&str, Permission)> {
        match self {
            Route::Issue { school, .. } => Some((school, Permission::Timbrar)),
            _ => None,
        }
    }

    fn answer<'a, X: Adapters>(
        self,
        api: &'a Api<X>,
        request: &'a Request<Bytes>,
        caller: Caller<'a>,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let id = caller.identity()?;
            match self {
                Route::PutSigner { school } => put_signer(api, id, &school, request).await,
                Route::Issue { school, cycle } => issue(api, id, &school, &cycle, request, caller.request_id).await,
                Route::Preview { school, cycle } => preview(api, id, &school, &cycle, request).await,
                Route::ExportSealed { school, cycle } => export_sealed(api, id, &school, &cycle, request).await,
                Route::ExportUnsealed { school, cycle } => export_unsealed(api, id, &school, &cycle, request).await,
                Route::CancelJob { job } => cancel_job(api, id, &job, &id.actor(caller.request_id)).await,
            }
        })
    }
}

impl FunctionRoutes for Route {
    const FUNCTION: Function = Function::IssueCertificates;
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

async fn put_signer<X: Adapters>(api: &Api<X>, id: &Identity, school: &str, request: &Request<Bytes>) -> Answer {
    id.require(school, Permission::Timbrar)?;
    id.require(school, Permission::Administrar)?;
    let body: SignerRequest = json_body(request)?;
    let t = id.tenant();
    require_school(&api.records, t, school).await?;
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
    let today = today_in_mexico();
    // Who issued it first: a certificate from outside SAT's ACs is refused whatever it says.
    api.config.signer_cas.check(certificate.der(), today).map_err(|e| efirma_problem(&e))?;
    certificate.check_usable(today, &curp).map_err(|e| efirma_problem(&e))?;
    let config = SignerConfig {
        school_id: school.to_string(),
        responsable: body.responsable.clone(),
        certificate_number: certificate.number().value.clone(),
        cer_base64: STANDARD.encode(&cer),
        key_base64,
        password_sealed,
        registered_by: id.sub.clone(),
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
    /// `AAAA-MM-DD`; checked as text so that `2026-1-5` is refused.
    issue_date: Option<String>,
}

/// `POST …/certificates/issue`: each student sealed, stamped and stored;
/// a large selection, or `all`, is a job.
async fn issue<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school_id: &str,
    cycle: &str,
    request: &Request<Bytes>,
    request_id: &str,
) -> Answer {
    let (body, selection) = batch::read_selecting::<IssueRequest>(id, school_id, Permission::Timbrar, request)?;
    let issue_date = issue_date_or_today(body.issue_date.as_deref())?;
    let selected = selection.resolve(&api.records, id, school_id, cycle, api.config.max_batch).await?;
    let t = id.tenant();
    let Issuer { institution, school, signer } = Issuer::load(api, t, school_id, issue_date).await?;
    if selected.as_job {
        let work = JobWork::Issue { issue_date };
        return jobs::queue(api, t, school_id, cycle, work, &selected.students, &id.actor(request_id)).await;
    }
    let students = selected.students;
    let session = Session::new(api, t, id.actor(request_id), &institution, &school, cycle, signer.as_ref());
    // Credits held by attempts that died are settled first (their kept stamps committed).
    session.settle_expired().await?;
    session.preload().await?;
    let results = session.issue_all(&students, issue_date).await;
    let stamped = results.iter().filter(|o| o.status == Status::Timbrado).count();
    let balance = api.records.balance(t).await?;
    let answer = json!({
        "issued": stamped,
        "creditsAvailable": balance.available,
        "results": results.iter().map(|o| json!({
            "matricula": o.matricula,
            "status": o.status.as_str(),
            "folioDigital": o.certificate.as_ref().and_then(|c| c.folio_digital.clone()),
            "certificateId": o.certificate.as_ref().map(|c| c.id.clone()),
            "problems": o.problems.iter().map(|p| json!({"code": p.code, "detail": p.detail})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let mut response = json_response(StatusCode::OK, &answer);
    if let Ok(value) = http::HeaderValue::from_str(&session.timings.server_timing()) {
        response.headers_mut().insert("server-timing", value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PreviewRequest {
    student: String,
}

/// `POST …/certificates/preview`: the PDF marked VISTA PREVIA, no seal, no
/// credit, no state change; only for plans of independent recognition.
async fn preview<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let body: PreviewRequest = json_body(request)?;
    let (t, records) = (id.tenant(), &api.records);
    let control = body.student.as_str();
    let record = require_student(records, id, school, cycle, control).await?;
    let plan = require_plan_of(records, id, school, &record).await?;
    if plan.recognition != Recognition::Independent {
        return Err(Problem::unprocessable(
            "vista_previa_no_disponible",
            format!(
                "la vista previa solo está disponible para planes de reconocimiento independiente; el plan {} tiene RVOE",
                plan.id
            ),
        ));
    }
    let institution = records
        .institution(t)
        .await?
        .ok_or_else(|| Problem::unprocessable("institucion_no_configurada", "la institución no está configurada"))?;
    let school_record = require_school(records, t, school).await?;
    let signer = records.signer(t, school).await?.ok_or_else(|| {
        Problem::unprocessable(
            "sin_firmante",
            "registre al responsable (firmante) de la escuela para ver la vista previa",
        )
    })?;
    let ctx = IssueContext {
        institution: &institution,
        plan: &plan,
        student: &record.student,
        signer: None,
        credits_available: u64::MAX,
        issue_date: today_in_mexico(),
    };
    // The preview shows the document as it would be; the signer's e.firma and credits are not needed.
    let summary = match check_before_issue(&ctx) {
        Ok(summary) => summary,
        Err(problems) => {
            let blocking: Vec<&IssueProblem> =
                problems.iter().filter(|p| !matches!(p, IssueProblem::SignerMissing)).collect();
            if !blocking.is_empty() {
                return Err(Problem::unprocessable(
                    "datos_incompletos",
                    "el alumno tiene datos por corregir antes de la vista previa",
                )
                .with(
                    "problems",
                    json!(
                        blocking.iter().map(|p| json!({"code": p.code(), "detail": p.to_string()})).collect::<Vec<_>>()
                    ),
                ));
            }
            certifica_core::rules::summarize(&plan, &record.student)
        }
    };
    let dec = document::build(&CertificateInput {
        institution: &institution,
        school: &school_record,
        plan: &plan,
        student: &record.student,
        responsable: &signer.responsable,
        summary: &summary,
        issue_date: ctx.issue_date,
        folio_control: "VISTA-PREVIA".into(),
    });
    let options =
        RenderOptions { variant: Variant::Preview, verify_base_url: api.config.verify_base_url.clone(), logo: None };
    let pdf = api
        .render_pdf(&dec, &options)
        .map_err(|e| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "pdf_fallido", e.to_string()))?;
    let mut response = Response::new(Bytes::from(pdf));
    response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/pdf"));
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExportRequest {
    /// The students whose sealed XML to export; all Sellado ones when absent.
    students: Option<Vec<String>>,
}

/// `POST …/certificates/export-sealed`: a zip of sealed XMLs for manual
/// submission to the authority, each named by its folioControl, with a manifest.
async fn export_sealed<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Timbrar)?;
    let body: ExportRequest =
        if request.body().is_empty() { ExportRequest { students: None } } else { json_body(request)? };
    let wanted: Option<Vec<String>> = body.students.map(|s| batch::selection(&s, 5_000)).transpose()?;
    let t = id.tenant();
    let mut zip = BulkZip::new(api, t, &["folioControl", "matricula", "plan", "fechaExpedicion", "archivo"]).await?;
    let mut exported = Vec::new();
    let filled = async {
        let mut pages = CyclePages::new(&api.records, t, school, cycle, 100);
        while let Some(page) = pages.next().await? {
            // Error ones too: the authority refused them once and they go back after a fix.
            for c in page.iter().filter(|c| matches!(c.status, CertificateStatus::Sellado | CertificateStatus::Error)) {
                if wanted.as_ref().is_some_and(|w| !w.contains(&c.control_number)) {
                    continue;
                }
                let Some(key) = &c.artifacts.sealed_xml else { continue };
                // Named as the authority expects: by the school's folio.
                let file = format!("{}.xml", c.folio_control);
                zip.file(file.clone(), &document(&api.artifacts, t, key).await?).await?;
                zip.row(&[c.folio_control.as_str(), &c.control_number, &c.plan_id, &c.issue_date.to_string(), &file])?;
                exported.push(c.folio_control.clone());
            }
        }
        // Recorded before the link is answered: the authority's results sheet
        // for this batch may then speak about these certificates, and only those.
        if !exported.is_empty() {
            crate::upload::record_export_batch(api, t, school, cycle, &exported).await?;
        }
        Ok(())
    }
    .await;
    let empty = || {
        Problem::not_found(
            "sin_sellados",
            format!("no hay certificados sellados pendientes de timbrar en {school}, ciclo {cycle}"),
        )
    };
    zip.conclude(filled, empty, json!({})).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UnsealedRequest {
    students: Vec<String>,
    /// `AAAA-MM-DD`, checked as text.
    issue_date: Option<String>,
}

impl Selects for UnsealedRequest {
    fn students(&self) -> &[String] {
        &self.students
    }
}

/// Students per unsealed export.
const MAX_UNSEALED: usize = 200;

/// `POST …/certificates/export-unsealed`: for a signer who seals offline,
/// the unsealed Dec documents of the selected students (`{matrícula}.xml`,
/// every rule checked but the key) in a zip with a manifest. Sealed with
/// `certifica sign` and uploaded to `inbox/{institution}/{school}/{cycle}/`,
/// each is checked against the records again and stamped.
async fn export_unsealed<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school_id: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    let (body, students) =
        batch::read::<UnsealedRequest>(id, school_id, Permission::Timbrar, request, batch::one_to(MAX_UNSEALED))?;
    let issue_date = issue_date_or_today(body.issue_date.as_deref())?;
    require_cycle(&api.records, id, school_id, cycle).await?;
    let t = id.tenant();
    let (institution, school) = institution_and_school(&api.records, t, school_id).await?;
    let signer = api.records.signer(t, school_id).await?.ok_or_else(|| {
        Problem::unprocessable(
            IssueProblem::SignerMissing.code(),
            "registre al responsable (su certificado .cer) antes de exportar: su nombre y cargo van en el documento",
        )
    })?;
    within_signer(issue_date, &STANDARD.decode(&signer.cer_base64).unwrap_or_default())?;
    let mut zip = BulkZip::new(api, t, &["matricula", "folioControl", "fechaExpedicion", "archivo"]).await?;
    let mut refused = Vec::new();
    let filled = async {
        let export = Unsealed { records: &api.records, t, institution: &institution, school: &school, cycle };
        for matricula in &students {
            match export.one(matricula, &signer, issue_date).await? {
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

/// What every student of one unsealed export shares.
struct Unsealed<'a, R> {
    records: &'a R,
    t: &'a Tenant,
    institution: &'a Institution,
    school: &'a School,
    cycle: &'a str,
}

impl<R: InstitutionStore + StudentStore + CertificateStore + CreditStore> Unsealed<'_, R> {
    /// One student's unsealed document and folio, or why not.
    async fn one(
        &self,
        matricula: &str,
        signer: &SignerConfig,
        issue_date: NaiveDate,
    ) -> Result<Result<(String, String), Vec<(String, String)>>, Problem> {
        let one = |code: &str, detail: String| Ok(Err(vec![(code.to_string(), detail)]));
        let (t, school, cycle) = (self.t, self.school, self.cycle);
        let Some(record) = self.records.student(t, &school.id, cycle, matricula).await? else {
            return one("alumno_no_encontrado", format!("no existe el alumno {matricula}"));
        };
        let history = self.records.student_certificates(t, &school.id, cycle, matricula).await?;
        let current = roster::latest_certificate(&history, matricula).filter(|c| c.status.is_active());
        // A certificate the authority refused is sealed again with its own folio de control.
        let refused = current.filter(|c| c.status == CertificateStatus::Error).map(|c| c.folio_control.clone());
        if let Some(current) = current.filter(|c| c.status != CertificateStatus::Error) {
            return one(
                "certificado_vigente",
                format!(
                    "el alumno ya tiene el certificado {} en estado {}",
                    current.folio_control,
                    current.status.label()
                ),
            );
        }
        let Some(plan) = self.records.plan(t, &school.id, &record.student.plan_id).await? else {
            return one("plan_no_encontrado", format!("el plan {} del alumno no existe", record.student.plan_id));
        };
        let ctx = IssueContext {
            institution: self.institution,
            plan: &plan,
            student: &record.student,
            signer: None,
            credits_available: 1,
            issue_date,
        };
        let folio_control =
            refused.unwrap_or_else(|| format!("{}-{cycle}-{matricula}-{}", school.id, history.len() + 1));
        match certifica_core::issue::unsealed_document(&ctx, school, &signer.responsable, &folio_control) {
            Ok(dec) => Ok(Ok((folio_control, dec.to_xml()))),
            Err(problems) => Ok(Err(problems.iter().map(|p| (p.code().to_string(), p.to_string())).collect())),
        }
    }
}

/// `POST /v1/jobs/{job}/cancel`: what has not started is not done.
async fn cancel_job<X: Adapters>(api: &Api<X>, id: &Identity, job_id: &str, actor: &Actor) -> Answer {
    let job = jobs::visible_job(api, id, job_id).await?;
    let job = api.records.cancel_job(id.tenant(), &job.id, actor).await?;
    Ok(json_response(StatusCode::OK, &json!({ "job": jobs::job_json(&job) })))
}

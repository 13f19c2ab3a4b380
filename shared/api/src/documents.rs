//! What is done with issued certificates: download one (a short-lived link),
//! download a cycle's (a zip with a CSV manifest), email them, cancel them
//! (PDF re-rendered CANCELADO as a new version; the XML is kept), and the
//! watermarked preview for plans of independent recognition.

use crate::bulk_zip::{BulkZip, LINK_MINUTES};
use crate::problem::{Problem, json_response};
use crate::request::json_body;
use crate::{Adapters, Api};
use bytes::Bytes;
use certifica_core::catalogs::MotivoCancelacion;
use certifica_core::document::{self, CertificateInput, Dec};
use certifica_core::identity::{Identity, Permission};
use certifica_core::mail::{Attachment, CertificateNotice, certificate_mail};
use certifica_core::model::Recognition;
use certifica_core::pdf::{RenderOptions, Variant};
use certifica_core::ports::{
    ArtifactKind, ArtifactStore, AuditStore, CertificateStore, InstitutionStore, Mailer, StoreError, StudentStore,
};
use certifica_core::records::{
    AuditAction, AuditEntry, Cancellation, CertificateRecord, CertificateStatus, Tenant, Transition,
};
use certifica_core::roster;
use certifica_core::rules::{IssueContext, IssueProblem, check_before_issue};
use chrono::Utc;
use futures_util::StreamExt;
use http::{Request, Response, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

type Answer = Result<Response<Bytes>, Problem>;

/// Certificates whose documents are read ahead while the zip is written.
const FETCH_AHEAD: usize = 8;

async fn latest<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
) -> Result<CertificateRecord, Problem> {
    let history = api.records.student_certificates(id.tenant(), school, cycle, control).await?;
    roster::latest_certificate(&history, control).cloned().ok_or_else(|| {
        Problem::not_found("sin_certificado", format!("el alumno {control} no tiene certificado en el ciclo {cycle}"))
    })
}

/// `GET …/students/{student}/certificate.xml|pdf`: a redirect to a short-lived link.
pub async fn download_one<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
    pdf: bool,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let c = latest(api, id, school, cycle, control).await?;
    let key = match (c.status, pdf) {
        (CertificateStatus::Timbrado | CertificateStatus::Cancelado, false) => c.artifacts.stamped_xml.clone(),
        (CertificateStatus::Timbrado | CertificateStatus::Cancelado, true) => c.artifacts.pdf.clone(),
        _ => None,
    };
    let Some(key) = key else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "sin_timbrar",
            format!(
                "el certificado del alumno {control} está {}; solo se descargan certificados timbrados",
                c.status.label().to_lowercase()
            ),
        ));
    };
    let url = api.artifacts.link(id.tenant(), &key, chrono::Duration::minutes(LINK_MINUTES)).await?;
    let mut response = json_response(
        StatusCode::FOUND,
        &json!({ "url": url, "expiresAt": Utc::now() + chrono::Duration::minutes(LINK_MINUTES) }),
    );
    if let Ok(v) = http::HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// One issued certificate with its XML, its PDF and its holder's name.
async fn issued_documents<'c, X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    c: &'c CertificateRecord,
    xml: &str,
    pdf: &str,
) -> Result<(&'c CertificateRecord, Vec<u8>, Vec<u8>, String), Problem> {
    let name = async {
        let student = api.records.student(t, &c.school_id, &c.cycle_id, &c.control_number).await?;
        Ok::<_, Problem>(student.map(|s| s.student.full_name()).unwrap_or_default())
    };
    let (xml, pdf, name) = futures_util::future::try_join3(document(api, t, xml), document(api, t, pdf), name).await?;
    Ok((c, xml, pdf, name))
}

async fn document<X: Adapters>(api: &Api<X>, t: &Tenant, key: &str) -> Result<Vec<u8>, Problem> {
    api.artifacts
        .get(t, key)
        .await?
        .ok_or_else(|| Problem::new(StatusCode::CONFLICT, "documento_faltante", format!("falta el documento {key}")))
}

/// `POST …/certificates/download`: every issued certificate of the school
/// and cycle (all plans), XML and PDF, with a CSV manifest, as one zip.
pub async fn download_all<X: Adapters>(api: &Api<X>, id: &Identity, school: &str, cycle: &str) -> Answer {
    id.require(school, Permission::Ver)?;
    let t = id.tenant();
    let mut zip = BulkZip::new(
        api,
        t,
        &["matricula", "nombre", "plan", "estado", "folioControl", "folioDigital", "fechaExpedicion", "xml", "pdf"],
    )
    .await?;
    let filled = async {
        let mut after = None::<String>;
        loop {
            let (page, next) = api.records.certificates_page(t, school, cycle, after.as_deref(), 100).await?;
            let issued = page.iter().filter_map(|c| {
                let issued = matches!(c.status, CertificateStatus::Timbrado | CertificateStatus::Cancelado);
                Some((c, c.artifacts.stamped_xml.as_deref()?, c.artifacts.pdf.as_deref()?)).filter(|_| issued)
            });
            // Documents are read a few certificates ahead while earlier ones are
            // zipped. (The futures are collected first: a closure inside the
            // stream would make the handler's future lose `Send`.)
            let reads: Vec<_> = issued.map(|(c, xml, pdf)| issued_documents(api, t, c, xml, pdf)).collect();
            let mut fetched = futures_util::stream::iter(reads).buffered(FETCH_AHEAD);
            while let Some(one) = fetched.next().await {
                let (c, xml, pdf, name) = one?;
                let folio = c.folio_digital.clone().unwrap_or_default();
                let base = format!("{}/{}", c.control_number, folio);
                let (xml_name, pdf_name) = (format!("{base}.xml"), format!("{base}.pdf"));
                zip.file(xml_name.clone(), &xml).await?;
                zip.file(pdf_name.clone(), &pdf).await?;
                zip.row(&[
                    c.control_number.as_str(),
                    &name,
                    &c.plan_id,
                    c.status.label(),
                    &c.folio_control,
                    &folio,
                    &c.issue_date.to_string(),
                    &xml_name,
                    &pdf_name,
                ])?;
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(()),
            }
        }
    }
    .await;
    let empty =
        || Problem::not_found("sin_certificados", format!("no hay certificados emitidos en {school}, ciclo {cycle}"));
    zip.conclude(filled, empty, json!({})).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Selection {
    students: Vec<String>,
}

pub(crate) fn selection(students: &[String], max: usize) -> Result<Vec<String>, Problem> {
    let mut s = students.to_vec();
    s.sort();
    s.dedup();
    if s.is_empty() || s.len() > max {
        return Err(Problem::unprocessable(
            "seleccion_invalida",
            format!("seleccione de 1 a {max} alumnos por solicitud (llegaron {})", s.len()),
        ));
    }
    Ok(s)
}

fn result(matricula: &str, ok: bool, code: Option<&str>, detail: Option<String>) -> Value {
    json!({ "matricula": matricula, "ok": ok, "code": code, "detail": detail })
}

/// `POST …/certificates/email`: each selected Timbrado student's XML and PDF
/// to their personal and institutional addresses.
pub async fn email<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
    request_id: &str,
) -> Answer {
    id.require(school, Permission::Timbrar)?;
    let body: Selection = json_body(request)?;
    let students = selection(&body.students, api.config.max_batch)?;
    let t = id.tenant();
    let institution = api.records.institution(t).await?.map(|i| i.name).unwrap_or_default();
    let actor = id.actor(request_id);
    let mut results = Vec::new();
    for control in &students {
        let outcome: Result<String, (&str, String)> = async {
            let c = latest(api, id, school, cycle, control).await.map_err(|p| (p.code, p.detail))?;
            if c.status != CertificateStatus::Timbrado {
                return Err((
                    "sin_timbrar",
                    format!("el certificado está {}; solo se envían timbrados", c.status.label().to_lowercase()),
                ));
            }
            let student =
                api.records.student(t, school, cycle, control).await.map_err(|e| (e.code(), e.to_string()))?;
            let Some(student) = student else {
                return Err(("alumno_no_encontrado", format!("no existe el alumno {control}")));
            };
            let to: Vec<String> = [&student.student.email_personal, &student.student.email_institucional]
                .into_iter()
                .flatten()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
            if to.is_empty() {
                return Err((
                    "sin_correo",
                    format!("el alumno {control} no tiene correo personal ni institucional registrado"),
                ));
            }
            let read = |key: &Option<String>| {
                let key = key.clone();
                async move {
                    let key = key.ok_or(("documento_faltante", "falta un documento del certificado".to_string()))?;
                    document(api, t, &key).await.map_err(|p| (p.code, p.detail))
                }
            };
            let folio = c.folio_digital.clone().unwrap_or_default();
            let xml = Attachment {
                filename: format!("certificado-{control}.xml"),
                content_type: "application/xml".into(),
                bytes: read(&c.artifacts.stamped_xml).await?,
            };
            let pdf = Attachment {
                filename: format!("certificado-{control}.pdf"),
                content_type: "application/pdf".into(),
                bytes: read(&c.artifacts.pdf).await?,
            };
            let notice = CertificateNotice {
                institution: &institution,
                student_name: &student.student.full_name(),
                folio_digital: &folio,
                verify_url: &format!("{}{folio}", api.config.verify_base_url),
            };
            let mail = certificate_mail(to.clone(), &notice, xml, Some(pdf), None);
            let sent = api.mailer.send(&mail).await.map_err(|e| (e.code(), e.to_string()))?;
            let entry = AuditEntry::of_certificate(&actor, AuditAction::Emailed, &c, to.join(", "));
            api.records.record(t, &entry).await.map_err(|e| (e.code(), e.to_string()))?;
            Ok(sent.message_id)
        }
        .await;
        results.push(match outcome {
            Ok(_) => result(control, true, None, None),
            Err((code, detail)) => result(control, false, Some(code), Some(detail)),
        });
    }
    let sent = results.iter().filter(|r| r["ok"] == json!(true)).count();
    Ok(json_response(StatusCode::OK, &json!({ "sent": sent, "results": results })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CancelRequest {
    students: Vec<String>,
    /// Catalog code: C1, R1 … R5.
    motive: String,
    reason: Option<String>,
}

/// `POST …/certificates/cancel`: Timbrado → Cancelado with the PDF marked CANCELADO.
pub async fn cancel<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
    request_id: &str,
) -> Answer {
    id.require(school, Permission::Timbrar)?;
    let body: CancelRequest = json_body(request)?;
    let students = selection(&body.students, api.config.max_batch)?;
    let motive = MotivoCancelacion::ALL.iter().copied().find(|m| m.code() == body.motive.trim()).ok_or_else(|| {
        let codes: Vec<String> =
            MotivoCancelacion::ALL.iter().map(|m| format!("{} ({})", m.code(), m.label())).collect();
        Problem::unprocessable(
            "motivo_invalido",
            format!("el motivo «{}» no existe; use {}", body.motive, codes.join(", ")),
        )
    })?;
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(Problem::unprocessable("motivo_demasiado_largo", "la explicación admite hasta 500 caracteres"));
    }
    if motive == MotivoCancelacion::Otro && reason.is_none() {
        return Err(Problem::unprocessable(
            "falta_explicacion",
            "con el motivo R5 (Otro) explique la razón de la cancelación",
        ));
    }
    let t = id.tenant();
    let actor = id.actor(request_id);
    let mut results = Vec::new();
    for control in &students {
        let outcome: Result<(), (&str, String)> = async {
            let c = latest(api, id, school, cycle, control).await.map_err(|p| (p.code, p.detail))?;
            if c.status != CertificateStatus::Timbrado {
                return Err((
                    "no_cancelable",
                    format!("el certificado está {}; solo se cancelan timbrados", c.status.label().to_lowercase()),
                ));
            }
            let (Some(xml_key), Some(pdf_key)) = (&c.artifacts.stamped_xml, &c.artifacts.pdf) else {
                return Err(("documento_faltante", "faltan los documentos del certificado".into()));
            };
            let store = |e: StoreError| (e.code(), e.to_string());
            let xml = document(api, t, xml_key).await.map_err(|p| (p.code, p.detail))?;
            let dec = Dec::parse(&String::from_utf8_lossy(&xml)).map_err(|e| ("documento_ilegible", e.to_string()))?;
            let pdf = api
                .render_pdf(
                    &dec,
                    &RenderOptions {
                        variant: Variant::Cancelled,
                        verify_base_url: api.config.verify_base_url.clone(),
                        logo: None,
                    },
                )
                .map_err(|e| ("pdf_fallido", e.to_string()))?;
            // The same key: the cancelled PDF is a new version, the original is kept.
            let name = pdf_key.strip_prefix(&format!("{}/", ArtifactKind::Pdf.prefix())).unwrap_or(pdf_key);
            let stored = api.artifacts.put(t, ArtifactKind::Pdf, name, pdf, "application/pdf").await.map_err(store)?;
            let cancellation = Cancellation { motive, reason: reason.clone(), by: actor.user.clone(), at: Utc::now() };
            api.records
                .transition(t, &c.id, c.version, Transition::Cancelled { cancellation, pdf: stored.key }, &actor)
                .await
                .map_err(store)?;
            Ok(())
        }
        .await;
        results.push(match outcome {
            Ok(()) => result(control, true, None, None),
            Err((code, detail)) => result(control, false, Some(code), Some(detail)),
        });
    }
    let cancelled = results.iter().filter(|r| r["ok"] == json!(true)).count();
    Ok(json_response(StatusCode::OK, &json!({ "cancelled": cancelled, "results": results })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PreviewRequest {
    student: String,
}

/// `POST …/certificates/preview`: the PDF marked VISTA PREVIA, no seal, no
/// credit, no state change; only for plans of independent recognition.
pub async fn preview<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let body: PreviewRequest = json_body(request)?;
    let t = id.tenant();
    let control = body.student.as_str();
    let record = crate::records::require_student(api, id, school, cycle, control).await?;
    let plan = crate::records::require_plan_of(api, id, school, &record).await?;
    if plan.recognition != Recognition::Independent {
        return Err(Problem::unprocessable(
            "vista_previa_no_disponible",
            format!(
                "la vista previa solo está disponible para planes de reconocimiento independiente; el plan {} tiene RVOE",
                plan.id
            ),
        ));
    }
    let institution =
        api.records.institution(t).await?.ok_or_else(|| {
            Problem::unprocessable("institucion_no_configurada", "la institución no está configurada")
        })?;
    let school_record = api
        .records
        .school(t, school)
        .await?
        .ok_or_else(|| Problem::not_found("escuela_no_encontrada", format!("no existe la escuela {school}")))?;
    let signer = api.records.signer(t, school).await?.ok_or_else(|| {
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
        issue_date: crate::certification::today_in_mexico(),
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
    let pdf = api
        .render_pdf(
            &dec,
            &RenderOptions {
                variant: Variant::Preview,
                verify_base_url: api.config.verify_base_url.clone(),
                logo: None,
            },
        )
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
pub async fn export_sealed<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
) -> Answer {
    id.require(school, Permission::Timbrar)?;
    let body: ExportRequest =
        if request.body().is_empty() { ExportRequest { students: None } } else { json_body(request)? };
    let wanted: Option<Vec<String>> = body.students.map(|s| selection(&s, 5_000)).transpose()?;
    let t = id.tenant();
    let mut zip = BulkZip::new(api, t, &["folioControl", "matricula", "plan", "fechaExpedicion", "archivo"]).await?;
    let filled = async {
        let mut after = None::<String>;
        loop {
            let (page, next) = api.records.certificates_page(t, school, cycle, after.as_deref(), 100).await?;
            // Error ones too: the authority refused them once and they go back after a fix.
            for c in page.iter().filter(|c| matches!(c.status, CertificateStatus::Sellado | CertificateStatus::Error)) {
                if wanted.as_ref().is_some_and(|w| !w.contains(&c.control_number)) {
                    continue;
                }
                let Some(key) = &c.artifacts.sealed_xml else { continue };
                // Named as the authority expects: by the school's folio.
                let file = format!("{}.xml", c.folio_control);
                zip.file(file.clone(), &document(api, t, key).await?).await?;
                zip.row(&[c.folio_control.as_str(), &c.control_number, &c.plan_id, &c.issue_date.to_string(), &file])?;
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(()),
            }
        }
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

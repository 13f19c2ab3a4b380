//! `email-certificates`: each selected Timbrado student's XML and PDF to
//! their personal and institutional addresses.

use super::{done_or_why, ok};
use crate::batch;
use crate::jobs;
use crate::lookup::{document, latest_certificate};
use crate::outcome::{Outcome, Status, StudentProblem};
use crate::router::{self, Answer, Caller, Function, FunctionRoutes, Routes};
use crate::{Adapters, Api};
use bytes::Bytes;
use certifica_core::identity::{Identity, Permission};
use certifica_core::jobs::JobWork;
use certifica_core::mail::{Attachment, CertificateNotice, certificate_mail};
use certifica_core::ports::{AuditStore, InstitutionStore, Mailer, StudentStore};
use certifica_core::records::{Actor, AuditAction, AuditEntry, CertificateRecord, CertificateStatus, Tenant};
use futures_util::future::BoxFuture;
use http::Request;
use serde::Deserialize;
use serde_json::json;

/// The route of `email-certificates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub school: String,
    pub cycle: String,
}

impl Routes for Route {
    fn of(route: router::Route) -> Option<Self> {
        match route {
            router::Route::Email(r) => Some(r),
            _ => None,
        }
    }

    fn writes(&self) -> Option<(&str, Permission)> {
        Some((&self.school, Permission::Timbrar))
    }

    fn answer<'a, X: Adapters>(
        self,
        api: &'a Api<X>,
        request: &'a Request<Bytes>,
        caller: Caller<'a>,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let id = caller.identity()?;
            email(api, id, &self.school, &self.cycle, request, &id.actor(caller.request_id)).await
        })
    }
}

impl FunctionRoutes for Route {
    const FUNCTION: Function = Function::EmailCertificates;
}

/// The body's own fields: none beside the selection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailRequest {}

/// `POST …/certificates/email`; a large selection, or `all`, is a job.
async fn email<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
    actor: &Actor,
) -> Answer {
    let (EmailRequest {}, selection) = batch::read_selecting(id, school, Permission::Timbrar, request)?;
    let selected = selection.resolve(&api.records, id, school, cycle, api.config.max_batch).await?;
    let t = id.tenant();
    if selected.as_job {
        return jobs::queue(api, t, school, cycle, JobWork::Email, &selected.students, actor).await;
    }
    let institution = api.records.institution(t).await?.map(|i| i.name).unwrap_or_default();
    let mut outcomes = Vec::new();
    for control in &selected.students {
        outcomes.push(match email_one(api, t, &institution, school, cycle, control, actor).await {
            Ok(c) => Outcome::done(control, Status::Enviado, Some(c)),
            Err(p) => Outcome::refused(control, Status::Rechazado, vec![p]),
        });
    }
    let sent = outcomes.iter().filter(|o| o.status == Status::Enviado).count();
    let results: Vec<_> = outcomes.iter().map(|o| done_or_why(o, Status::Enviado)).collect();
    ok(json!({ "sent": sent, "results": results }))
}

/// Mails one student's certificate; the certificate mailed, or why not.
pub(crate) async fn email_one<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    institution: &str,
    school: &str,
    cycle: &str,
    control: &str,
    actor: &Actor,
) -> Result<CertificateRecord, StudentProblem> {
    let c = latest_certificate(&api.records, t, school, cycle, control).await?;
    email_certificate(api, t, institution, c, actor).await
}

/// Mails `c`, a student's latest certificate (already read by the caller);
/// the certificate mailed, or why not.
pub(crate) async fn email_certificate<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    institution: &str,
    c: CertificateRecord,
    actor: &Actor,
) -> Result<CertificateRecord, StudentProblem> {
    let (school, cycle, control) = (c.school_id.as_str(), c.cycle_id.as_str(), c.control_number.as_str());
    if c.status != CertificateStatus::Timbrado {
        let why = format!("el certificado está {}; solo se envían timbrados", c.status.label().to_lowercase());
        return Err(StudentProblem::new("sin_timbrar", why));
    }
    let Some(student) = api.records.student(t, school, cycle, control).await? else {
        return Err(StudentProblem::new("alumno_no_encontrado", format!("no existe el alumno {control}")));
    };
    let to: Vec<String> = [&student.student.email_personal, &student.student.email_institucional]
        .into_iter()
        .flatten()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    if to.is_empty() {
        let why = format!("el alumno {control} no tiene correo personal ni institucional registrado");
        return Err(StudentProblem::new("sin_correo", why));
    }
    let attachment = |key: &Option<String>, extension: &str, content_type: &str| {
        let (key, filename, content_type) =
            (key.clone(), format!("certificado-{control}.{extension}"), content_type.to_string());
        async move {
            let key =
                key.ok_or_else(|| StudentProblem::new("documento_faltante", "falta un documento del certificado"))?;
            let bytes = document(&api.artifacts, t, &key).await?;
            Ok::<_, StudentProblem>(Attachment { filename, content_type, bytes })
        }
    };
    let xml = attachment(&c.artifacts.stamped_xml, "xml", "application/xml").await?;
    let pdf = attachment(&c.artifacts.pdf, "pdf", "application/pdf").await?;
    let folio = c.folio_digital.clone().unwrap_or_default();
    let notice = CertificateNotice {
        institution,
        student_name: &student.student.full_name(),
        folio_digital: &folio,
        verify_url: &format!("{}{folio}", api.config.verify_base_url),
    };
    let mail = certificate_mail(to.clone(), &notice, xml, Some(pdf), None);
    api.mailer.send(&mail).await?;
    let entry = AuditEntry::of_certificate(actor, AuditAction::Emailed, &c, to.join(", "));
    api.records.record(t, &entry).await?;
    Ok(c)
}

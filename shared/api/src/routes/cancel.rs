//! `cancel-certificates`: Timbrado → Cancelado, with the PDF re-rendered
//! CANCELADO as a new version (the original and the XML are kept).

use super::{done_or_why, ok};
use crate::batch;
use crate::jobs;
use crate::lookup::{document, latest_certificate};
use crate::outcome::{Outcome, Status, StudentProblem};
use crate::router::{self, Answer, Caller, Function, FunctionRoutes, Routes};
use crate::{Adapters, Api, Problem};
use bytes::Bytes;
use certifica_core::catalogs::MotivoCancelacion;
use certifica_core::document::Dec;
use certifica_core::identity::{Identity, Permission};
use certifica_core::jobs::JobWork;
use certifica_core::pdf::{RenderOptions, Variant};
use certifica_core::ports::{ArtifactKind, ArtifactStore, CertificateStore};
use certifica_core::records::{Actor, Cancellation, CertificateRecord, CertificateStatus, Tenant, Transition};
use chrono::Utc;
use futures_util::future::BoxFuture;
use http::Request;
use serde::Deserialize;
use serde_json::json;

/// The route of `cancel-certificates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub school: String,
    pub cycle: String,
}

impl Routes for Route {
    fn of(route: router::Route) -> Option<Self> {
        match route {
            router::Route::Cancel(r) => Some(r),
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
            cancel(api, id, &self.school, &self.cycle, request, &id.actor(caller.request_id)).await
        })
    }
}

impl FunctionRoutes for Route {
    const FUNCTION: Function = Function::CancelCertificates;
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CancelRequest {
    /// Catalog code: C1, R1 … R5.
    motive: String,
    reason: Option<String>,
}

/// The cancellation motive of catalog code `code`.
pub(crate) fn motive_of(code: &str) -> Result<MotivoCancelacion, Problem> {
    MotivoCancelacion::ALL.iter().copied().find(|m| m.code() == code.trim()).ok_or_else(|| {
        let codes: Vec<String> =
            MotivoCancelacion::ALL.iter().map(|m| format!("{} ({})", m.code(), m.label())).collect();
        Problem::unprocessable(
            "motivo_invalido",
            format!("el motivo «{}» no existe; use {}", crate::request::excerpt(code), codes.join(", ")),
        )
    })
}

/// One student's cancellation, by `actor`, now.
pub(crate) fn cancellation(motive: MotivoCancelacion, reason: Option<&str>, actor: &Actor) -> Cancellation {
    Cancellation {
        motive,
        reason: reason.map(str::to_string),
        by: actor.user.clone(),
        by_email: actor.email.clone(),
        at: Utc::now(),
    }
}

/// `POST …/certificates/cancel`: Timbrado → Cancelado with the PDF marked
/// CANCELADO; a large selection, or `all`, is a job.
async fn cancel<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
    actor: &Actor,
) -> Answer {
    let (body, selection) = batch::read_selecting::<CancelRequest>(id, school, Permission::Timbrar, request)?;
    let motive = motive_of(&body.motive)?;
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
    let selected = selection.resolve(&api.records, id, school, cycle, api.config.max_batch).await?;
    let t = id.tenant();
    if selected.as_job {
        let work = JobWork::Cancel { motive: motive.code().to_string(), reason };
        return jobs::queue(api, t, school, cycle, work, &selected.students, actor).await;
    }
    let mut outcomes = Vec::new();
    for control in &selected.students {
        let cancellation = cancellation(motive, reason.as_deref(), actor);
        outcomes.push(match cancel_one(api, t, school, cycle, control, cancellation, actor).await {
            Ok(c) => Outcome::done(control, Status::Cancelado, Some(c)),
            Err(p) => Outcome::refused(control, Status::Rechazado, vec![p]),
        });
    }
    let cancelled = outcomes.iter().filter(|o| o.status == Status::Cancelado).count();
    let results: Vec<_> = outcomes.iter().map(|o| done_or_why(o, Status::Cancelado)).collect();
    ok(json!({ "cancelled": cancelled, "results": results }))
}

/// Cancels one student's certificate; the certificate cancelled, or why not.
pub(crate) async fn cancel_one<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    school: &str,
    cycle: &str,
    control: &str,
    cancellation: Cancellation,
    actor: &Actor,
) -> Result<CertificateRecord, StudentProblem> {
    let c = latest_certificate(&api.records, t, school, cycle, control).await?;
    if c.status != CertificateStatus::Timbrado {
        let why = format!("el certificado está {}; solo se cancelan timbrados", c.status.label().to_lowercase());
        return Err(StudentProblem::new("no_cancelable", why));
    }
    let (Some(xml_key), Some(_)) = (&c.artifacts.stamped_xml, &c.artifacts.pdf) else {
        return Err(StudentProblem::new("documento_faltante", "faltan los documentos del certificado"));
    };
    let xml = document(&api.artifacts, t, xml_key).await?;
    let dec = Dec::parse(&String::from_utf8_lossy(&xml))
        .map_err(|e| StudentProblem::new("documento_ilegible", e.to_string()))?;
    let options =
        RenderOptions { variant: Variant::Cancelled, verify_base_url: api.config.verify_base_url.clone(), logo: None };
    let pdf = api.render_pdf(&dec, &options).map_err(|e| StudentProblem::new("pdf_fallido", e.to_string()))?;
    // A key of its own: the certificate serves it only once the transition
    // below switches to it, so a failed cancellation leaves a valid
    // certificate with its original PDF (which is kept after it, too).
    let name = format!("{}-cancelado.pdf", c.id);
    let stored = api.artifacts.put(t, ArtifactKind::Pdf, &name, pdf, "application/pdf").await?;
    let change = Transition::Cancelled { cancellation, pdf: stored.key };
    Ok(api.records.transition(t, &c.id, c.version, change, actor).await?)
}

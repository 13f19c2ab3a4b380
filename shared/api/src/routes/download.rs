//! `download-certificates`: one certificate's XML or PDF (a redirect to a
//! short-lived link), and every issued certificate of a school and cycle
//! (all plans), XML and PDF with a CSV manifest, as one zip.

use crate::bulk_zip::{BulkZip, LINK_MINUTES};
use crate::lookup::{CyclePages, document, latest_certificate};
use crate::problem::json_response;
use crate::router::{self, Answer, Caller, Function, FunctionRoutes, Routes};
use crate::{Adapters, Api, Problem};
use bytes::Bytes;
use certifica_core::identity::{Identity, Permission};
use certifica_core::ports::{ArtifactStore, StudentStore};
use certifica_core::records::{CertificateRecord, CertificateStatus, Tenant};
use chrono::Utc;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use http::{Request, StatusCode, header};
use serde_json::json;

/// Certificates whose documents are read ahead while the zip is written.
const FETCH_AHEAD: usize = 8;

/// The routes of `download-certificates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST …/certificates/download`.
    All { school: String, cycle: String },
    /// `GET …/students/{student}/certificate.xml|pdf`.
    Document { school: String, cycle: String, student: String, pdf: bool },
}

impl Routes for Route {
    fn of(route: router::Route) -> Option<Self> {
        match route {
            router::Route::Download(r) => Some(r),
            _ => None,
        }
    }

    fn writes(&self) -> Option<(&str, Permission)> {
        None
    }

    fn answer<'a, X: Adapters>(
        self,
        api: &'a Api<X>,
        _: &'a Request<Bytes>,
        caller: Caller<'a>,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let id = caller.identity()?;
            match self {
                Route::All { school, cycle } => download_all(api, id, &school, &cycle).await,
                Route::Document { school, cycle, student, pdf } => {
                    download_one(api, id, &school, &cycle, &student, pdf).await
                }
            }
        })
    }
}

impl FunctionRoutes for Route {
    const FUNCTION: Function = Function::DownloadCertificates;
}

/// `GET …/students/{student}/certificate.xml|pdf`: a redirect to a short-lived link.
async fn download_one<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
    pdf: bool,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let c = latest_certificate(&api.records, id.tenant(), school, cycle, control).await?;
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
async fn issued_documents<'c>(
    records: &impl StudentStore,
    artifacts: &impl ArtifactStore,
    t: &Tenant,
    c: &'c CertificateRecord,
    xml: &str,
    pdf: &str,
) -> Result<(&'c CertificateRecord, Vec<u8>, Vec<u8>, String), Problem> {
    let name = async {
        let student = records.student(t, &c.school_id, &c.cycle_id, &c.control_number).await?;
        Ok::<_, Problem>(student.map(|s| s.student.full_name()).unwrap_or_default())
    };
    let (xml, pdf, name) =
        futures_util::future::try_join3(document(artifacts, t, xml), document(artifacts, t, pdf), name).await?;
    Ok((c, xml, pdf, name))
}

/// `POST …/certificates/download`: every issued certificate of the school
/// and cycle (all plans), XML and PDF, with a CSV manifest, as one zip.
async fn download_all<X: Adapters>(api: &Api<X>, id: &Identity, school: &str, cycle: &str) -> Answer {
    id.require(school, Permission::Ver)?;
    let t = id.tenant();
    let mut zip = BulkZip::new(
        api,
        t,
        &["matricula", "nombre", "plan", "estado", "folioControl", "folioDigital", "fechaExpedicion", "xml", "pdf"],
    )
    .await?;
    let filled = async {
        let mut pages = CyclePages::new(&api.records, t, school, cycle, 100);
        while let Some(page) = pages.next().await? {
            let issued = page.iter().filter_map(|c| {
                let issued = matches!(c.status, CertificateStatus::Timbrado | CertificateStatus::Cancelado);
                Some((c, c.artifacts.stamped_xml.as_deref()?, c.artifacts.pdf.as_deref()?)).filter(|_| issued)
            });
            // Documents are read a few certificates ahead while earlier ones are
            // zipped. (The futures are collected first: a closure inside the
            // stream would make the handler's future lose `Send`.)
            let reads: Vec<_> =
                issued.map(|(c, xml, pdf)| issued_documents(&api.records, &api.artifacts, t, c, xml, pdf)).collect();
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
        }
        Ok(())
    }
    .await;
    let empty =
        || Problem::not_found("sin_certificados", format!("no hay certificados emitidos en {school}, ciclo {cycle}"));
    zip.conclude(filled, empty, json!({})).await
}
